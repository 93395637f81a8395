"""``/api/v1/projects/{project}/artifacts``: the artifact store of a project (sealed trees of
files, such as a model version's), one route per store method.

The key (``<project>/...``) and a file's path are query parameters, checked by the artifact
store's own rules and against the route's project before any store sees them. A tree is
uploaded as a tar stream of regular files (spooled to disk under the upload limit), unpacked
by hand into a staging folder (no links, no special files, no path that leaves it, no name
given twice) and sealed there; files and whole trees are downloaded as streams, verified
against the manifest.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path, PurePath
from typing import IO, Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from fti.errors import FtiError, InvalidArgumentError
from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, ProjectName
from fti.server.platform.routes.schemas import Strict
from fti.server.platform.stores import StoresDep, artifact_key, spool
from fti.stores.artifacts.base import LEFTOVER, check_path
from fti.stores.artifacts.files import pack_tar, tree, unpack_tar

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/projects/{project}/artifacts", tags=["artifacts"])

TAR = "application/x-tar"
CHUNK = 1 << 20
Key = Annotated[str, Query(min_length=1, max_length=1024, description="<project>/...")]
Digest = Annotated[
    str | None,
    Query(pattern=r"^[0-9a-f]{64}$", description="sha256 the manifest must have"),
]
FilePath = Annotated[str, Query(min_length=1, max_length=1024, description="A file of the tree")]
Read = [Depends(requires(Access.READ))]


class Exists(BaseModel):
    """Whether a tree is stored at a key."""

    exists: bool


@router.get("/exists", dependencies=Read)
def exists(project: ProjectName, key: Key, stores: StoresDep) -> Exists:
    """Whether a tree is stored at ``key``."""
    return Exists(exists=stores.artifacts.exists(artifact_key(project, key)))


@router.get(
    "/manifest",
    dependencies=Read,
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        **error_responses(409),
    },
)
def manifest(
    project: ProjectName, key: Key, stores: StoresDep, manifest_sha256: Digest = None
) -> Response:
    """The verified ``MANIFEST.json`` of ``key``, byte for byte (its sha256 is the digest)."""
    found = stores.artifacts.manifest(artifact_key(project, key), manifest_sha256)
    return Response(found.to_bytes(), media_type="application/json")


@router.get(
    "/file",
    dependencies=Read,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
        **error_responses(409),
    },
)
def file(
    project: ProjectName,
    key: Key,
    path: FilePath,
    stores: StoresDep,
    manifest_sha256: Digest = None,
) -> StreamingResponse:
    """One file of ``key``, streamed; a file that does not match its manifest ends the
    stream early (the client verifies what it received against the manifest)."""
    stream = stores.artifacts.open(artifact_key(project, key), check_path(path), manifest_sha256)
    return StreamingResponse(_chunks(stream, key), media_type="application/octet-stream")


@router.put(
    "/tree",
    dependencies=[Depends(requires(Access.WRITE))],
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        **error_responses(413),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {TAR: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_tree(
    project: ProjectName, key: Key, request: Request, platform: PlatformDep, stores: StoresDep
) -> Response:
    """Store the files of a tar stream at ``key``, replacing what was there; answers the new
    ``MANIFEST.json``."""
    key = artifact_key(project, key)
    body = await spool(request, platform.settings.upload_size_limit)

    def store() -> bytes:
        staged = stores.artifacts.staging_dir()
        try:
            with body:
                unpack_tar(body, staged, [])
        except InvalidArgumentError as exc:
            stores.artifacts.discard(staged)
            raise InvalidArgumentError(f"upload: {exc}") from exc
        except BaseException:
            stores.artifacts.discard(staged)
            raise
        return stores.artifacts.commit(key, staged).to_bytes()

    sealed = await anyio.to_thread.run_sync(store)
    return Response(sealed, media_type="application/json")


@router.delete(
    "/tree",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.OWNER))],
)
def delete_tree(project: ProjectName, key: Key, stores: StoresDep) -> Response:
    """Remove the tree at ``key`` (no error when absent)."""
    stores.artifacts.delete(artifact_key(project, key))
    return Response(status_code=204)


@router.get(
    "/tree",
    dependencies=Read,
    response_class=StreamingResponse,
    responses={200: {"content": {TAR: {"schema": {"type": "string"}}}}, **error_responses(409)},
)
def get_tree(
    project: ProjectName, key: Key, stores: StoresDep, manifest_sha256: Digest = None
) -> StreamingResponse:
    """The verified tree of ``key`` (its files exactly those of the manifest) as a tar stream
    of its files, the manifest aside."""
    key = artifact_key(project, key)
    folder = Path(tempfile.mkdtemp(prefix="fti-tree-"))
    try:
        stores.artifacts.get(key, folder, manifest_sha256)
        spooled = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the stream)
        pack_tar(list(tree(folder, manifest=True)), spooled)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    spooled.seek(0)
    return StreamingResponse(_chunks(spooled, key), media_type=TAR)


class Cleanup(Strict):
    """The trees of saves that did not finish."""

    keys: Annotated[list[str], Field(max_length=10_000)]


class RemovedOut(BaseModel):
    """A tree a cleanup removed, named inside the artifact store (the server's paths stay on
    the server): a leftover's key, or ``staging/<folder>`` for a staging folder of uploads."""

    path: str
    bytes: int
    reason: str


@router.post("/cleanup", dependencies=[Depends(requires(Access.OWNER))])
def cleanup(project: ProjectName, body: Cleanup, stores: StoresDep) -> list[RemovedOut]:
    """Remove the trees at ``keys`` (leftovers of saves that did not finish), and the server's
    staging folders of uploads whose process died."""
    keys = [artifact_key(project, k) for k in body.keys]
    removed = stores.artifacts.cleanup(timedelta.max, keys)
    # Leftovers come after the staging folders, in the order of ``keys`` (those found).
    pending = iter(keys)
    return [
        RemovedOut(
            path=next(k for k in pending if r.path.endswith(f"/{k}"))
            if r.reason == LEFTOVER
            else f"staging/{PurePath(r.path).name}",
            bytes=r.bytes,
            reason=r.reason,
        )
        for r in removed
    ]


def _chunks(stream: IO[bytes], key: str) -> Iterator[bytes]:
    with stream:
        try:
            while chunk := stream.read(CHUNK):
                yield chunk
        except FtiError as exc:
            # The answer has started: the stream ends early, and the client, which verifies
            # what it receives against the manifest, refuses it.
            logger.warning("artifacts %s: %s", key, exc)
