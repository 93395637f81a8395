"""Rows on the wire between fti server and the remote stores: Arrow IPC streams.

A stream read from the network is checked before anything uses it: its schema must be the
expected one exactly, and every batch is fully validated (offsets and lengths inside their
buffers), so a malformed or hostile stream is an InvalidArgumentError, not a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

import pyarrow as pa

from fti.errors import InvalidArgumentError

ARROW_STREAM = "application/vnd.apache.arrow.stream"
"""The media type of an Arrow IPC stream."""

ONLINE_ROWS = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("event_time", pa.int64(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
    ]
)
"""Rows written to an online table."""
ONLINE_VALUES = pa.schema([pa.field("value", pa.string())])
"""The values an online read answers (null: no row)."""


def to_stream(schema: pa.Schema, columns: Mapping[str, Sequence[Any]]) -> bytes:
    """An Arrow IPC stream of one batch of ``columns`` (Python sequences) under ``schema``."""
    batch = pa.record_batch([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
    return table_to_stream(pa.Table.from_batches([batch], schema))


def table_to_stream(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_stream(source: IO[bytes] | bytes, schema: pa.Schema | None, what: str) -> pa.Table:
    """The table of the Arrow IPC stream ``source``, validated; with ``schema``, it must have
    exactly that schema. InvalidArgumentError naming ``what`` otherwise."""
    data = pa.py_buffer(source) if isinstance(source, bytes) else source
    try:
        with pa.ipc.open_stream(data) as reader:
            if schema is not None and not reader.schema.equals(schema):
                raise InvalidArgumentError(
                    f"{what}: the Arrow stream's schema is {_fields(reader.schema)}, expected "
                    f"{_fields(schema)}"
                )
            table = reader.read_all()
        table.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidArgumentError(f"{what}: not a valid Arrow IPC stream: {exc}") from exc
    return table


def _fields(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name}: {f.type}{'' if f.nullable else ' not null'}" for f in schema)
