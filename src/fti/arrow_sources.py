"""Sources read as a stream of Arrow batches, whose batches reach the caller one at a time:
anything with the Arrow PyCapsule stream interface (``__arrow_c_stream__``: a pyarrow
RecordBatchReader, a DuckDB relation, ...), and Spark DataFrames.

Spark's own ``__arrow_c_stream__`` (pyspark 4.3) fails on a timestamp column (it asks for the
Arrow schema without the session's time zone), so a Spark DataFrame is read by its public
``mapInArrow``: each executor sends its partition's batches as Arrow IPC streams, which the
driver reads in turn. The executors import this module: fti must be installed where they run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

_IPC = "arrow_ipc"


def is_stream_source(data: Any) -> bool:
    """Whether :func:`batches` reads ``data``."""
    return _is_spark(data) or hasattr(data, "__arrow_c_stream__")


def batches(data: Any) -> pa.RecordBatchReader:
    """The Arrow batches of a stream source (see :func:`is_stream_source`)."""
    if not _is_spark(data):
        return pa.RecordBatchReader.from_stream(data)
    rows = data.mapInArrow(_to_ipc, f"{_IPC} binary").toLocalIterator()
    found = (batch for row in rows for batch in pa.ipc.open_stream(row[_IPC]))
    first = next(found, None)
    if first is None:
        return pa.RecordBatchReader.from_batches(data.limit(0).toArrow().schema, [])
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], found))


def _is_spark(data: Any) -> bool:
    return type(data).__module__.startswith("pyspark.sql")


def _to_ipc(found: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each batch of a Spark partition as one row holding its Arrow IPC stream (runs on the
    executors)."""
    for batch in found:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        yield pa.record_batch([pa.array([sink.getvalue().to_pybytes()], pa.binary())], [_IPC])
