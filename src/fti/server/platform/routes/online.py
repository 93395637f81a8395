"""``/api/v1/projects/{project}/online/{table}``: the online store of a project, one route per
store method.

Rows travel as Arrow IPC streams (:data:`ARROW_STREAM`): a write uploads the columns
``key``, ``event_time`` (int64 microseconds) and ``value``, spooled to disk under the upload
limit; a read sends its keys as the query parameter ``keys``, the base64url form of an Arrow
stream of the column ``key`` (keys are any text; a read is a GET, not audited as a write), and
answers the column ``value``. A client sends many keys in several reads.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from fti.arrow_ipc import (
    ARROW_STREAM,
    ONLINE_KEYS,
    ONLINE_ROWS,
    ONLINE_VALUES,
    from_query,
    read_stream,
    to_stream,
)
from fti.names import MAX_COMMIT_ID, NAME_PATTERN
from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, ProjectName
from fti.server.platform.stores import StoresDep, online_table, spool

router = APIRouter(prefix="/api/v1/projects/{project}/online", tags=["online"])

Table = Annotated[
    str, Path(pattern=NAME_PATTERN.pattern, description="An online table: <project>__...")
]
MAX_KEYS_LENGTH = 8192
"""Characters of the encoded keys of one read (a longer request line passes the HTTP
server's limits)."""


class Watermark(BaseModel):
    """The highest commit id written to a table (-1: never written)."""

    watermark: int


@router.post(
    "/{table}/rows",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.WRITE))],
    responses=error_responses(413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def write_rows(
    project: ProjectName,
    table: Table,
    commit_id: Annotated[int, Query(ge=0, le=MAX_COMMIT_ID)],
    request: Request,
    platform: PlatformDep,
    stores: StoresDep,
) -> Response:
    """Upsert one row per key (an Arrow stream of ``key``, ``event_time``, ``value``) and raise
    the table's watermark to ``commit_id``."""
    online_table(project, table)
    body = await spool(request, platform.settings.upload_size_limit)

    def write() -> None:
        with body:
            rows = read_stream(body, ONLINE_ROWS, "online rows")
        keys = rows.column("key").to_pylist()
        times = rows.column("event_time").to_pylist()
        values = rows.column("value").to_pylist()
        stores.online.write(table, keys, times, values, commit_id)

    await anyio.to_thread.run_sync(write)
    return Response(status_code=204)


@router.get(
    "/{table}/rows",
    dependencies=[Depends(requires(Access.READ))],
    response_class=Response,
    responses={200: {"content": {ARROW_STREAM: {"schema": {"type": "string"}}}}},
)
def read_rows(
    project: ProjectName,
    table: Table,
    keys: Annotated[
        str,
        Query(
            pattern=r"^[A-Za-z0-9_-]+={0,2}$",
            max_length=MAX_KEYS_LENGTH,
            description="base64url of an Arrow stream of the column key",
        ),
    ],
    stores: StoresDep,
) -> Response:
    """The stored value of each key, in order (null where none): an Arrow stream of
    ``value``."""
    online_table(project, table)
    wanted = from_query(keys, ONLINE_KEYS, "online keys").column("key").to_pylist()
    values = stores.online.read(table, wanted)
    return Response(to_stream(ONLINE_VALUES, {"value": values}), media_type=ARROW_STREAM)


@router.get("/{table}/watermark", dependencies=[Depends(requires(Access.READ))])
def watermark(project: ProjectName, table: Table, stores: StoresDep) -> Watermark:
    """The highest commit id written to the table."""
    return Watermark(watermark=stores.online.watermark(online_table(project, table)))


@router.delete(
    "/{table}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.OWNER))],
)
def drop(project: ProjectName, table: Table, stores: StoresDep) -> Response:
    """Remove the table's rows and watermark."""
    stores.online.drop(online_table(project, table))
    return Response(status_code=204)
