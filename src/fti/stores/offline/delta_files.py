"""Data files written outside delta-rs (by Ray workers) and committed in one Delta transaction.

A writer puts Parquet files in a table's folder with :func:`write_data_file`; they are not part
of the table until :func:`commit_files` adds them, with the files they replace removed, in one
commit. A file never committed is invisible to readers and is deleted with
:func:`delete_data_files` (or by a vacuum).

The change data feed of such a commit holds the rows of the files added with ``data_change``
as inserts, and the rows of the removed files as deletes; the rewritten files (the rows of a
removed file that stay) are added without ``data_change``, so their rows are in the feed of no
commit: as after a MERGE, the feed's inserts are the rows the write brought.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.schema import Schema
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from fti.errors import InvalidNameError
from fti.stores.offline.delta import _CONFIGURATION, DeltaOfflineStore


class CommitConflictError(Exception):
    """Another writer committed to the table after the version the files were planned on."""


@dataclass(frozen=True)
class WrittenFile:
    """A Parquet file written into a table's folder, not yet committed."""

    name: str
    """Path relative to the table's folder."""
    size: int
    rows: int
    stats: str
    """The Delta log's statistics of the file (JSON)."""


@dataclass(frozen=True)
class TableFile:
    """A data file of a committed table version."""

    name: str
    """Path relative to the table's folder."""
    size: int
    low: Any
    """Smallest value of the asked-for column in the file (from the log), None if unknown."""
    high: Any


def write_data_file(store: DeltaOfflineStore, table: str, name: str, data: pa.Table) -> WrittenFile:
    """Write ``data`` as the Parquet file ``name`` of ``table``'s folder (replacing a file of
    that name: a retried writer writes the same file again)."""
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or relative.suffix != ".parquet":
        raise InvalidNameError(f"invalid data file name {name!r}")
    target = store._path(f"{table}/{name}")
    with store._mapped(table):
        if store.location.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, target, filesystem=store._fs())
        size = store._fs().get_file_info(target).size
    return WrittenFile(name, int(size), data.num_rows, json.dumps(_stats(data)))


def delete_data_files(store: DeltaOfflineStore, table: str, names: Sequence[str]) -> None:
    """Delete files written by :func:`write_data_file` that were not committed (absent ones
    are skipped)."""
    fs = store._fs()
    for name in names:
        # An absent file was never written; another failure leaves a file no version names.
        with contextlib.suppress(OSError):
            fs.delete_file(store._path(f"{table}/{name}"))


def table_files(
    store: DeltaOfflineStore, table: str, version: int, column: str | None
) -> list[TableFile]:
    """The data files of ``table`` at ``version``, with the bounds of ``column`` in each."""
    with store._mapped(table):
        actions = pa.table(store._at(table, version).get_add_actions(flatten=True))
    low, high = f"min.{column}", f"max.{column}"
    bounded = low in actions.column_names and high in actions.column_names
    rows = actions.num_rows
    lows = actions.column(low).to_pylist() if bounded else [None] * rows
    highs = actions.column(high).to_pylist() if bounded else [None] * rows
    return [
        TableFile(name, int(size), lo, hi)
        for name, size, lo, hi in zip(
            actions.column("path").to_pylist(),
            actions.column("size_bytes").to_pylist(),
            lows,
            highs,
            strict=True,
        )
    ]


def read_data_file(store: DeltaOfflineStore, table: str, name: str) -> pa.Table:
    """The rows of the committed data file ``name`` of ``table``."""
    with store._mapped(table):
        return pq.read_table(store._path(f"{table}/{name}"), filesystem=store._fs())


def commit_files(
    store: DeltaOfflineStore,
    table: str,
    read: int | None,
    schema: pa.Schema,
    *,
    added: Sequence[WrittenFile],
    rewritten: Sequence[WrittenFile],
    removed: Sequence[TableFile],
    properties: Mapping[str, str],
) -> int:
    """Commit the files as the version after ``read`` (None: create the table as version 0,
    of ``schema``); returns the version. CommitConflictError when another writer took that
    version: the plan must then be made again on the new version."""
    store._check_commit_mode(table)
    now = int(time.time() * 1000)
    adds = [_add(f, now, True) for f in added] + [_add(f, now, False) for f in rewritten]
    removes = [RemoveAction(f.name, True, now, f.size, {}) for f in removed]
    commit = CommitProperties(dict(properties), max_commit_retries=0)
    uri = store._uri(table)
    with store._mapped(table):
        try:
            if read is None:
                create_table_with_add_actions(
                    uri,
                    Schema.from_arrow(schema),
                    adds,
                    mode="error",
                    configuration=_CONFIGURATION,
                    storage_options=store._options(),
                    commit_properties=commit,
                )
                return 0
            at = store._at(table, read)
            # The table's own schema: the files hold its columns, and the commit must not
            # change its metadata.
            at.create_write_transaction(
                [*adds, *removes], "append", at.schema(), commit_properties=commit
            )
        except (CommitFailedError, FileExistsError) as exc:
            raise CommitConflictError(str(exc)) from exc
        except DeltaError as exc:
            if "already exists" in str(exc):
                raise CommitConflictError(str(exc)) from exc
            raise
    # No commit retries: the transaction is version read + 1 or nothing.
    return read + 1


def _add(file: WrittenFile, now: int, data_change: bool) -> AddAction:
    return AddAction(file.name, file.size, {}, now, data_change, file.stats)


def _stats(data: pa.Table) -> dict[str, Any]:
    """The Delta log's statistics of ``data``: row and null counts, and the bounds of the
    integer, date and UTC timestamp columns (timestamps cut down to milliseconds, as delta-rs
    writes them; readers allow for it)."""
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field, column in zip(data.schema, data.columns, strict=True):
        kind = field.type
        if pa.types.is_nested(kind):
            continue
        nulls[field.name] = column.null_count
        timestamp = pa.types.is_timestamp(kind) and kind.tz is not None
        if not (pa.types.is_integer(kind) or pa.types.is_date(kind) or timestamp):
            continue
        bounds = pc.min_max(column)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is None:
            continue
        if timestamp:
            lo, hi = (
                f"{v.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z" for v in (lo, hi)
            )
        elif pa.types.is_date(kind):
            lo, hi = lo.isoformat(), hi.isoformat()
        low[field.name], high[field.name] = lo, hi
    return {"numRecords": data.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls}
