"""``/api/v1/projects/{project}/artifacts``: the artifact store of a project (sealed trees of
files, such as a model version's), one route per store method.

The key (``<project>/...``) and a file's path are query parameters, checked by the artifact
store's own rules and against the route's project before any store sees them. A tree is
uploaded as a tar stream of regular files (spooled to disk under the upload limit), unpacked
by hand into a staging folder (no links, no special files, no path that leaves it, no name
given twice) and sealed there; files are downloaded as streams verified against the manifest
as they are read.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from fti.errors import InvalidArgumentError, InvalidNameError
from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, ProjectName
from fti.server.platform.stores import StoresDep, artifact_key, spool
from fti.stores.artifacts.base import check_path

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
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
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
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}},
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
    return StreamingResponse(_chunks(stream), media_type="application/octet-stream")


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
                unpack(body, staged)
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


def unpack(source: IO[bytes], staged: Path) -> None:
    """Write the regular files of the tar stream ``source`` under ``staged``;
    InvalidArgumentError for anything else in it."""
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=source, mode="r|") as archive:
            for member in archive:
                if not member.isfile():
                    raise InvalidArgumentError(
                        f"upload: {member.name!r} is not a regular file (a tree holds files only)"
                    )
                try:
                    rel = check_path(member.name)
                except InvalidNameError as exc:
                    raise InvalidArgumentError(f"upload: {exc}") from exc
                if rel in seen:
                    raise InvalidArgumentError(f"upload: {rel!r} is given twice")
                seen.add(rel)
                content = archive.extractfile(member)
                assert content is not None  # a regular file has content
                target = staged / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("xb") as out:
                    shutil.copyfileobj(content, out, CHUNK)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgumentError(f"upload: not a valid tar stream: {exc}") from exc
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        # One path is a file in one member and a folder in another.
        raise InvalidArgumentError(f"upload: paths collide: {exc.filename}") from exc


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk
