"""``/api/v1/projects/{project}/entities`` and ``/locks``: the metadata store of a project
(versioned JSON documents, their records, and named locks), one route per store method.

Kinds are names (fti's naming rule); entity names follow
:data:`~fti.names.ENTITY_NAME_PATTERN` (one segment of the path: no ``/``); lock names, record
kinds and keys and lock owners follow :data:`ENTITY_NAME` (the services write ``:``, ``/`` and
spaces in them, never ``..``); record kinds and keys travel in the body or the query. Reads
need a viewer, writes an editor, deleting an entity version an owner.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from fti.names import ENTITY_NAME_PATTERN, MAX_VERSION, NAME_PATTERN
from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, ProjectName
from fti.server.platform.routes.schemas import Strict
from fti.stores.metadata.base import Entity, Lock, Record

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["metadata"])

_PART = r"[A-Za-z0-9_][A-Za-z0-9_:.+# @-]*"
ENTITY_NAME = rf"^{_PART}(/{_PART})*$"
"""A lock name, lock owner, record kind or key: ``/``-separated parts of ASCII letters, digits
and ``_:.+# @-`` (what the services write: ISO times, ``maintenance/group``), none empty or
starting with ``.``; at most 255 characters."""
Kind = Annotated[str, Path(pattern=NAME_PATTERN.pattern, description="The kind of entity")]
EntityName = Annotated[
    str, Path(pattern=ENTITY_NAME_PATTERN.pattern, description="An entity's name")
]
LockName = Annotated[str, Path(pattern=ENTITY_NAME, max_length=255, description="A lock's name")]
Version = Annotated[int, Path(ge=1, le=MAX_VERSION, description="An entity version")]
Text = Annotated[str, Field(pattern=ENTITY_NAME, max_length=255)]
QueryText = Query(pattern=ENTITY_NAME, max_length=255)
Read = [Depends(requires(Access.READ))]
Write = [Depends(requires(Access.WRITE))]


class EntityOut(BaseModel):
    """One version of an entity."""

    kind: str
    project: str
    name: str
    version: int
    body: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entity: Entity) -> EntityOut:
        """The body of ``entity``."""
        return cls(
            kind=entity.kind,
            project=entity.project,
            name=entity.name,
            version=entity.version,
            body=entity.body,
            created_at=entity.created_at,
        )


class EntityCreate(Strict):
    """A new entity version (``version`` null: the next free one)."""

    name: Annotated[str, Field(pattern=ENTITY_NAME_PATTERN.pattern)]
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)] | None = None
    body: dict[str, Any]


class EntityUpdate(Strict):
    """The new body of an entity version."""

    body: dict[str, Any]


class RecordIn(Strict):
    """A record to attach (replacing one of the same kind and key)."""

    record_kind: Text
    key: Text
    body: dict[str, Any]


class RecordOut(BaseModel):
    """A record of an entity version."""

    kind: str
    key: str
    body: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, record: Record) -> RecordOut:
        """The body of ``record``."""
        return cls(kind=record.kind, key=record.key, body=record.body, created_at=record.created_at)


class LockIn(Strict):
    """Take or renew a lock for ``owner`` for ``ttl_seconds``."""

    owner: Text
    # Not below 0 here: the store itself says why a ttl must be positive.
    ttl_seconds: Annotated[float, Field(le=366 * 86_400)]
    take_from: Text | None = None


class LockOut(BaseModel):
    """Who holds a lock, until when."""

    name: str
    owner: str
    expires_at: datetime

    @classmethod
    def of(cls, lock: Lock) -> LockOut:
        """The body of ``lock``."""
        return cls(name=lock.name, owner=lock.owner, expires_at=lock.expires_at)


class Released(BaseModel):
    """Whether an unlock released the lock."""

    released: bool


@router.post(
    "/entities/{kind}", status_code=201, dependencies=Write, responses=error_responses(409)
)
def create_entity(
    project: ProjectName, kind: Kind, body: EntityCreate, platform: PlatformDep
) -> EntityOut:
    """Store a new entity version (409: that version exists)."""
    made = platform.metadata.create(kind, project, body.name, body.version, body.body)
    return EntityOut.of(made)


@router.get("/entities/{kind}", dependencies=Read)
def list_entities(
    project: ProjectName,
    kind: Kind,
    platform: PlatformDep,
    name: Annotated[str | None, QueryText] = None,
) -> list[EntityOut]:
    """Every version of ``name`` (or of every name), by name then version."""
    return [EntityOut.of(e) for e in platform.metadata.list(kind, project, name)]


@router.get("/entities/{kind}/{name}", dependencies=Read, responses=error_responses(404))
def get_entity(
    project: ProjectName,
    kind: Kind,
    name: EntityName,
    platform: PlatformDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> EntityOut:
    """One version of an entity, the latest without ``version``."""
    return EntityOut.of(platform.metadata.get(kind, project, name, version))


@router.put("/entities/{kind}/{name}/{version}", dependencies=Write, responses=error_responses(404))
def update_entity(
    project: ProjectName,
    kind: Kind,
    name: EntityName,
    version: Version,
    body: EntityUpdate,
    platform: PlatformDep,
) -> EntityOut:
    """Replace an entity version's body."""
    return EntityOut.of(platform.metadata.update(kind, project, name, version, body.body))


@router.delete(
    "/entities/{kind}/{name}/{version}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.OWNER))],
    responses=error_responses(404),
)
def delete_entity(
    project: ProjectName, kind: Kind, name: EntityName, version: Version, platform: PlatformDep
) -> Response:
    """Remove an entity version and its records."""
    platform.metadata.delete(kind, project, name, version)
    return Response(status_code=204)


@router.put(
    "/entities/{kind}/{name}/{version}/records",
    status_code=204,
    response_class=Response,
    dependencies=Write,
    responses=error_responses(404),
)
def add_record(
    project: ProjectName,
    kind: Kind,
    name: EntityName,
    version: Version,
    body: RecordIn,
    platform: PlatformDep,
) -> Response:
    """Attach a record to an entity version."""
    platform.metadata.add_record(
        kind, project, name, version, body.record_kind, body.key, body.body
    )
    return Response(status_code=204)


@router.get(
    "/entities/{kind}/{name}/{version}/records",
    dependencies=Read,
    responses=error_responses(404),
)
def list_records(
    project: ProjectName,
    kind: Kind,
    name: EntityName,
    version: Version,
    record_kind: Annotated[str, QueryText],
    platform: PlatformDep,
    key: Annotated[str | None, QueryText] = None,
) -> list[RecordOut]:
    """The records of one kind (and ``key``) of an entity version, oldest first."""
    found = platform.metadata.records(kind, project, name, version, record_kind, key)
    return [RecordOut.of(r) for r in found]


# A lock name is a path of the URL (it may hold "/"); one with a line break matches no route,
# so both routes also answer 404.
@router.put("/locks/{name:path}", dependencies=Write, responses=error_responses(404))
def lock(project: ProjectName, name: LockName, body: LockIn, platform: PlatformDep) -> LockOut:
    """Take or renew a lock; the answer names its holder after the attempt."""
    ttl = timedelta(seconds=body.ttl_seconds)
    held = platform.metadata.lock(project, name, body.owner, ttl, take_from=body.take_from)
    return LockOut.of(held)


@router.delete("/locks/{name:path}", dependencies=Write, responses=error_responses(404))
def unlock(
    project: ProjectName,
    name: LockName,
    owner: Annotated[str, QueryText],
    platform: PlatformDep,
) -> Released:
    """Release a lock ``owner`` holds."""
    return Released(released=platform.metadata.unlock(project, name, owner))
