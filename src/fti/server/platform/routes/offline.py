"""``/api/v1/projects/{project}/offline``: the offline store of a project (versioned tables and
snapshots), one route per store method.

Tables and snapshots are named by the query parameters ``table`` and ``path``
(``<project>/...``), checked before any store sees them. Rows travel as Arrow IPC streams:
an upsert or a snapshot uploads one (read and checked in a worker thread while it arrives,
under the upload limit), changes and snapshots are answered with one. The heavy reads stay
with the client (ADR 0010): it lists the data files of a pinned version and downloads each
once into its own cache; a file is served only when it is one of that version's files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
import pyarrow as pa
from anyio.streams.memory import MemoryObjectReceiveStream
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from fti.arrow_ipc import ARROW_STREAM, read_stream, table_to_stream
from fti.errors import InvalidArgumentError, NotFoundError
from fti.names import MAX_COMMIT_ID, NAME_PATTERN
from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, ProjectName
from fti.server.platform.routes.schemas import Strict
from fti.server.platform.stores import StoresDep, offline_table, snapshot_path

router = APIRouter(prefix="/api/v1/projects/{project}/offline", tags=["offline"])

Table = Annotated[str, Query(min_length=1, max_length=1024, description="<project>/<table>")]
SnapshotPath = Annotated[
    str, Query(min_length=1, max_length=1024, description="<project>/.../<file>.parquet")
]
Version = Annotated[int, Query(ge=0, le=MAX_COMMIT_ID)]
Read = [Depends(requires(Access.READ))]
Write = [Depends(requires(Access.WRITE))]
ARROW_BODY = {
    "requestBody": {
        "required": True,
        "content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
    }
}
ARROW_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {ARROW_STREAM: {"schema": {"type": "string"}}}}
}


class VersionOut(BaseModel):
    """The latest version of a table (null: no such table), or the version an upsert made."""

    version: int | None


class FileOut(BaseModel):
    """A data file of a table version: its path inside the table, and what is known of it."""

    name: str
    low: datetime | None
    high: datetime | None
    size: int | None


class CommitOut(BaseModel):
    """One version of a table."""

    version: int
    time: datetime
    operation: str
    properties: dict[str, str]
    metrics: dict[str, int]


class MaintainIn(Strict):
    """What a maintenance keeps."""

    keep_versions: Annotated[
        list[Annotated[int, Field(ge=0, le=MAX_COMMIT_ID)]], Field(max_length=100_000)
    ]
    retention_seconds: Annotated[float, Field(ge=0, le=100 * 366 * 86_400)]
    dry_run: bool = False


class MaintenanceOut(BaseModel):
    """What a maintenance did (or would do)."""

    version: int
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    files_compacted: int
    files_deleted: int
    checkpoint: int | None
    log_retention_seconds: float
    commits: list[int]
    dry_run: bool
    notes: list[str]


@router.get("/version", dependencies=Read)
def version(project: ProjectName, table: Table, stores: StoresDep) -> VersionOut:
    """The latest version of a table, null when it does not exist."""
    return VersionOut(version=stores.offline.version(offline_table(project, table)))


@router.post(
    "/upsert",
    dependencies=Write,
    responses=error_responses(413),
    openapi_extra=ARROW_BODY,
)
async def upsert(
    project: ProjectName,
    table: Table,
    keys: Annotated[list[str], Query(max_length=64)],
    request: Request,
    platform: PlatformDep,
    stores: StoresDep,
    properties: Annotated[
        str, Query(max_length=8192, description="A JSON object of strings")
    ] = "{}",
) -> VersionOut:
    """Insert the rows of an Arrow stream, replacing those equal on ``keys``."""
    table = offline_table(project, table)
    for key in keys:
        if not NAME_PATTERN.fullmatch(key):
            raise InvalidArgumentError(f"invalid key column {key!r}")
    props = _properties(properties)
    data = await _received(
        request,
        platform.settings.upload_size_limit,
        lambda body: read_stream(pa.PythonFile(body, mode="r"), None, "rows to upsert"),
    )

    def write() -> int:
        missing = [k for k in keys if k not in data.schema.names]
        if missing:
            raise InvalidArgumentError(
                f"key column(s) {', '.join(missing)} are not columns of the rows to upsert"
            )
        return stores.offline.upsert(table, data, keys, props)

    return VersionOut(version=await anyio.to_thread.run_sync(write))


@router.get("/files", dependencies=Read, responses=error_responses(404))
def files(
    project: ProjectName,
    table: Table,
    version: Version,
    stores: StoresDep,
    time_column: Annotated[str | None, Query(pattern=NAME_PATTERN.pattern)] = None,
) -> list[FileOut]:
    """The data files of a table version, with the bounds of ``time_column`` when known."""
    table = offline_table(project, table)
    found = stores.offline.files(table, version, time_column)
    return [FileOut(name=_name(table, f.path), low=f.low, high=f.high, size=f.size) for f in found]


@router.get(
    "/file",
    dependencies=Read,
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}},
)
def file(
    project: ProjectName,
    table: Table,
    version: Version,
    name: Annotated[str, Query(min_length=1, max_length=1024)],
    stores: StoresDep,
) -> FileResponse:
    """One data file of a table version (404 unless it is one of that version's files)."""
    table = offline_table(project, table)
    found = [f for f in stores.offline.files(table, version) if _name(table, f.path) == name]
    if not found:
        raise NotFoundError(f"offline table {table} version {version} has no file {name!r}")
    (local,) = stores.offline.local_paths(table, found[:1])
    if not Path(local).is_file():
        raise NotFoundError(
            f"data file {name!r} of offline table {table} version {version} is gone (a vacuum "
            "removes the files of old commits)"
        )
    return _DataFile(local, media_type="application/octet-stream")


@router.get("/schema", dependencies=Read, response_class=Response, responses=ARROW_ANSWER)
def schema(project: ProjectName, table: Table, version: Version, stores: StoresDep) -> Response:
    """The schema of a table version, as an Arrow stream of no rows."""
    dataset = stores.offline.dataset(offline_table(project, table), version)
    empty = pa.Table.from_batches([], dataset.schema)
    return Response(table_to_stream(empty), media_type=ARROW_STREAM)


@router.get("/history", dependencies=Read, responses=error_responses(404))
def history(
    project: ProjectName,
    table: Table,
    stores: StoresDep,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> list[CommitOut]:
    """Every version of a table (or the ``limit`` latest), oldest first."""
    commits = stores.offline.history(offline_table(project, table), limit)
    return [
        CommitOut(
            version=c.version,
            time=c.time,
            operation=c.operation,
            properties=c.properties,
            metrics=c.metrics,
        )
        for c in commits
    ]


@router.get("/changes", dependencies=Read, response_class=Response, responses=ARROW_ANSWER)
def changes(
    project: ProjectName,
    table: Table,
    start: Version,
    stores: StoresDep,
    end: Annotated[int | None, Query(ge=0, le=MAX_COMMIT_ID)] = None,
) -> Response:
    """The rows versions ``start``..``end`` inserted or updated, as an Arrow stream."""
    found = stores.offline.changes(offline_table(project, table), start, end)
    return Response(table_to_stream(found), media_type=ARROW_STREAM)


@router.delete(
    "/table",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.OWNER))],
)
def drop(project: ProjectName, table: Table, stores: StoresDep) -> Response:
    """Delete a table and its history."""
    stores.offline.drop(offline_table(project, table))
    return Response(status_code=204)


@router.post("/maintain", dependencies=Write, responses=error_responses(404))
def maintain(
    project: ProjectName, table: Table, body: MaintainIn, stores: StoresDep
) -> MaintenanceOut:
    """Compact, checkpoint and vacuum a table, keeping ``keep_versions`` and the retention."""
    done = stores.offline.maintain(
        offline_table(project, table),
        body.keep_versions,
        timedelta(seconds=body.retention_seconds),
        dry_run=body.dry_run,
    )
    return MaintenanceOut(
        version=done.version,
        files_before=done.files_before,
        bytes_before=done.bytes_before,
        files_after=done.files_after,
        bytes_after=done.bytes_after,
        files_compacted=done.files_compacted,
        files_deleted=done.files_deleted,
        checkpoint=done.checkpoint,
        log_retention_seconds=done.log_retention.total_seconds(),
        commits=list(done.commits),
        dry_run=done.dry_run,
        notes=list(done.notes),
    )


@router.put(
    "/snapshot",
    status_code=204,
    response_class=Response,
    dependencies=Write,
    responses=error_responses(413),
    openapi_extra=ARROW_BODY,
)
async def write_snapshot(
    project: ProjectName,
    path: SnapshotPath,
    request: Request,
    platform: PlatformDep,
    stores: StoresDep,
) -> Response:
    """Store the rows of an Arrow stream as a Parquet snapshot at ``path``."""
    path = snapshot_path(project, path, staged=True)
    data = await _received(
        request,
        platform.settings.upload_size_limit,
        lambda body: read_stream(pa.PythonFile(body, mode="r"), None, "snapshot rows"),
    )
    await anyio.to_thread.run_sync(stores.offline.write_file, path, data)
    return Response(status_code=204)


@router.get(
    "/snapshot",
    dependencies=Read,
    response_class=Response,
    responses={**ARROW_ANSWER, **error_responses(404)},
)
def read_snapshot(project: ProjectName, path: SnapshotPath, stores: StoresDep) -> Response:
    """A snapshot's rows, as an Arrow stream."""
    data = stores.offline.read_file(snapshot_path(project, path))
    return Response(table_to_stream(data), media_type=ARROW_STREAM)


@router.delete("/snapshot", status_code=204, response_class=Response, dependencies=Write)
def delete_snapshot(project: ProjectName, path: SnapshotPath, stores: StoresDep) -> Response:
    """Remove a snapshot (no error when absent)."""
    stores.offline.delete_file(snapshot_path(project, path))
    return Response(status_code=204)


@router.post(
    "/snapshot/move",
    status_code=204,
    response_class=Response,
    dependencies=Write,
    responses=error_responses(404),
)
def move_snapshot(
    project: ProjectName, source: SnapshotPath, target: SnapshotPath, stores: StoresDep
) -> Response:
    """Give a snapshot a new path."""
    stores.offline.move_file(
        snapshot_path(project, source, staged=True), snapshot_path(project, target, staged=False)
    )
    return Response(status_code=204)


class _DataFile(FileResponse):
    """A data file, sent in chunks of 4 MiB: each chunk is one trip through the ASGI server and
    its HTTP writer (with Starlette's 64 KiB, 300 MB took 1.3 to 3.6 s instead of 0.8 to 1.8 s
    to a client on loopback)."""

    chunk_size = 4 * 2**20


T = TypeVar("T")
UPLOAD_CHUNKS_AHEAD = 64
"""Chunks of an upload received ahead of the thread reading them (the socket's are ~64 KiB)."""


async def _received(request: Request, limit: int, read: Callable[[_Upload], T]) -> T:
    """What ``read`` makes of the request's body, which it reads in a worker thread as the
    body arrives (nothing spooled to disk and read again); 413 once the body passes ``limit``
    bytes. A body ``read`` refuses is still received whole, so the client reads the answer."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload over {limit} bytes (max_upload_bytes)")
    send, receive = anyio.create_memory_object_stream[bytes](UPLOAD_CHUNKS_AHEAD)
    failed: list[Exception] = []

    async def pump() -> None:
        size = 0
        with send:
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise HTTPException(413, f"upload over {limit} bytes (max_upload_bytes)")
                    if chunk:
                        await send.send(chunk)
            except Exception as exc:  # the upload's end: the reader sees a cut-off stream
                failed.append(exc)

    def run() -> T:
        body = _Upload(receive)
        try:
            return read(body)
        finally:
            body.drain()

    refused: Exception | None = None
    with receive:
        async with anyio.create_task_group() as group:
            group.start_soon(pump)
            try:
                found = await anyio.to_thread.run_sync(run)
            except Exception as exc:  # raised below: the task group would wrap it in a group
                refused = exc
    if failed:  # a 413 or a lost client, not the cut-off stream it left
        raise failed[0] from None
    if refused is not None:
        raise refused
    return found


class _Upload:
    """The body of an upload as a file a worker thread reads, each chunk as it arrives."""

    def __init__(self, chunks: MemoryObjectReceiveStream[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self.closed = False

    def readable(self) -> bool:
        """Yes."""
        return True

    def seekable(self) -> bool:
        """No: read once, in order."""
        return False

    def read(self, size: int = -1) -> bytes:
        """The next ``size`` bytes (all the rest when negative); fewer only at the end."""
        parts: list[memoryview] = []
        have = 0
        while size < 0 or have < size:
            if not self._pending:
                chunk = self._next()
                if chunk is None:
                    break
                self._pending = memoryview(chunk)
            part = self._pending if size < 0 else self._pending[: size - have]
            parts.append(part)
            have += len(part)
            self._pending = self._pending[len(part) :]
        return b"".join(parts)

    def drain(self) -> None:
        """Receive and drop the rest of the body."""
        while self._next() is not None:
            pass
        self._pending = memoryview(b"")

    def close(self) -> None:
        """Nothing to release: the body's end is the sender's."""
        self.closed = True

    def _next(self) -> bytes | None:
        try:
            return anyio.from_thread.run(self._chunks.receive)
        except anyio.EndOfStream:
            return None


def _name(table: str, path: str) -> str:
    """A data file's path inside its table (the store gives full paths or URIs)."""
    marker = f"/{table}/"
    return PurePosixPath(path[path.rindex(marker) + len(marker) :]).as_posix()


def _properties(text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"properties: not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgumentError("properties: a JSON object of strings")
    return value
