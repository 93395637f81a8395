"""``/api/v1/projects/{project}/online/{table}``: the online store of a project, one route per
store method.

A write uploads an Arrow IPC stream (:data:`ARROW_STREAM`) of the columns ``key``,
``event_time`` (int64 microseconds) and ``value``, spooled to disk under the upload limit. A
read is a GET (not audited as a write) with its keys as the query parameter ``keys``, a JSON
array of strings (keys are any text), and answers the values in order (null: no row): a JSON
array, or an Arrow stream of the column ``value`` when the request accepts
:data:`ARROW_STREAM` (cheaper to decode for many keys; for a few, JSON is: no schema to send
and check each time). A client sends many keys in several reads.
"""

from __future__ import annotations

import json
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from fti.arrow_ipc import ARROW_STREAM, ONLINE_ROWS, ONLINE_VALUES, read_stream, to_stream
from fti.errors import InvalidArgumentError
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
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": ["string", "null"]}}
                },
                ARROW_STREAM: {"schema": {"type": "string"}},
            }
        }
    },
)
async def read_rows(
    project: ProjectName,
    table: Table,
    keys: Annotated[
        str,
        Query(max_length=MAX_KEYS_LENGTH, description="A JSON array of the keys (strings)"),
    ],
    request: Request,
    stores: StoresDep,
) -> Response:
    """The stored value of each key, in order (null where none): a JSON array, or an Arrow
    stream of ``value`` when the request accepts one."""
    online_table(project, table)
    wanted = _keys(keys)
    # On the event loop, not in a worker thread: the read is bounded (MAX_KEYS_LENGTH) and
    # short, and the hop to a thread and back cost more than it (ADR 0016).
    values = stores.online.read(table, wanted)
    if ARROW_STREAM in request.headers.get("accept", ""):
        return Response(to_stream(ONLINE_VALUES, {"value": values}), media_type=ARROW_STREAM)
    return Response(json.dumps(values), media_type="application/json")


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


def _keys(text: str) -> list[str]:
    try:
        keys = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested too deep
        raise InvalidArgumentError(f"online keys: not a JSON array: {exc}") from None
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise InvalidArgumentError("online keys: expected a JSON array of strings")
    return keys
