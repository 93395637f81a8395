"""The Ray engine: a point-in-time plan run in key partitions on a Ray cluster.

The driver lists the pinned files and plans; the workers do the reading and joining:

1. scatter: one task per chunk of a group's files reads its rows (DuckDB, the same bounds
   and columns as the local engine) and splits them by the hash of the layout's key columns
   into one Arrow table per partition, kept in Ray's object store (spilled to disk by Ray
   when it is full). Groups the layout does not split are read once and shared.
2. join: one task per partition registers its rows of every group (and its rows of the
   spine) and runs the plan's own DuckDB statement on them, with the ORDER BY values as
   columns.
3. The driver sorts the partitions' rows by those values: the result is the local engine's,
   row for row.

A task whose worker or node dies is retried by Ray (``max_retries``); a job that still fails
is an :class:`~fti.errors.EngineError`, and an fti error raised in a task is raised again as
itself. Nothing is written by the tasks, so a failed job leaves no trace in the stores.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from fti import duckdb_database
from fti.dependencies import import_optional
from fti.engines.partitioning import layout
from fti.errors import EngineError, FtiError
from fti.feature_store.point_in_time import GroupRead, execute, register_read
from fti.stores.offline.base import DataFile, OfflineStore

if TYPE_CHECKING:
    import pandas as pd

    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.ingest import Commit
    from fti.feature_store.point_in_time import Plan, Spine

OfflineOpener = Callable[[], OfflineStore]
"""Opens the project's offline store (on a worker); must pickle (a functools.partial)."""

# Parquet bytes per partition when the partition count is automatic: a partition's rows in
# memory are a few times this.
PARTITION_BYTES = 64 * 2**20
# Parquet bytes of the files one scatter task reads (at least one file): it holds their rows
# about twice (read, then split).
SCATTER_BYTES = 8 * 2**20
_PART = "__fti_partition"
# Task retries after a worker or node died (Ray's default for tasks is 3 too).
MAX_RETRIES = 3


class RayEngine:
    """Runs plans on a Ray cluster (``address``; empty: the connected one, ``$RAY_ADDRESS``,
    or a new local one) in ``partitions`` key partitions (0: automatic); a task whose worker
    died is run again up to ``max_retries`` times."""

    name = "ray"

    def __init__(
        self,
        open_offline: OfflineOpener,
        address: str = "",
        partitions: int = 0,
        *,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self._ray: Any = import_optional("ray", "ray")
        self._max_retries = max_retries
        self._open_offline = open_offline
        self._address = address
        self._partitions = partitions
        self._remote: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RayEngine(address={self._address!r}, partitions={self._partitions})"

    def point_in_time(
        self,
        plan: Plan,
        *,
        spine: Spine | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> pa.Table:
        """The rows of ``plan``, joined on the cluster, equal to :meth:`Plan.run`'s."""
        refs = self.point_in_time_parts(plan, spine=spine, start_time=start_time, end_time=end_time)
        parts = self._get(refs)
        order = plan.order_columns(spine)
        with duckdb_database.cursor() as con:
            # DuckDB names the zone of the timestamps it returns after this setting.
            con.execute("SET TimeZone = 'UTC'")
            con.register("parts", pa.concat_tables(parts))
            columns = ", ".join(_q(c) for c in order)
            table = con.sql(f"SELECT * EXCLUDE ({columns}) FROM parts ORDER BY {columns}")
            result = table.to_arrow_table()
        return plan.finish(result, spine)

    def dataset(
        self,
        plan: Plan,
        *,
        spine: Spine | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        block: Callable[[pa.Table], pd.DataFrame] | None = None,
    ) -> Any:
        """The rows of ``plan`` as a Ray Dataset, in the plan's order, without reaching the
        driver: the partitions sorted by Ray Data, then each block finished (a spine's
        recomputed features) and given to ``block`` (which must work row by row) on the
        workers."""
        refs = self.point_in_time_parts(plan, spine=spine, start_time=start_time, end_time=end_time)
        data = import_optional("ray.data", "ray")
        order = plan.order_columns(spine)
        # The spine's rows stay out of the function shipped to every block.
        light = None if spine is None else replace(spine, table=spine.table.slice(0, 0))
        finish = partial(_finish_block, order=order, spine=light, block=block)
        dataset = data.from_arrow_refs(refs).sort(order)
        # Ray Data may otherwise hand blocks of a map on in any order.
        dataset.context.execution_options.preserve_order = True
        return dataset.map_batches(finish, batch_format="pyarrow", batch_size=None)

    def insert(self, fg: FeatureGroup, data: Any) -> Commit | None:
        """Write ``data`` (a Ray Dataset, or a pandas, Polars or Arrow frame) to ``fg`` from
        the workers, in one commit: :func:`fti.engines.ray_insert.insert`."""
        from fti.engines import ray_insert

        return ray_insert.insert(self, fg, data)

    def point_in_time_parts(
        self,
        plan: Plan,
        *,
        spine: Spine | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> list[Any]:
        """Object refs of the partitions' rows, unsorted, each with the ORDER BY values of
        :meth:`Plan.order_columns` as its last columns (before a spine's recomputation)."""
        ray = self._connect()
        reads = plan.reads(spine, start_time, end_time)
        weights = [sum(_size(f) for f in read.files) for read in reads]
        shape = layout(plan.query, spine is not None, weights)
        split = sum(w for w, keys in zip(weights, shape.keys, strict=True) if keys is not None)
        count = self._partitions or max(_cpus(ray), math.ceil(split / PARTITION_BYTES))
        scatter, join = self._remote["scatter"], self._remote["join"]
        groups: list[list[list[Any]]] = []
        for read, keys in zip(reads, shape.keys, strict=True):
            chunks = _chunks(read.files, SCATTER_BYTES)
            if not chunks:
                groups.append([[ray.put(read.empty)]] * count)
            elif keys is None:
                whole = [
                    scatter.options(num_returns=1).remote(
                        self._open_offline, replace(read, files=chunk), (), 1
                    )
                    for chunk in chunks
                ]
                groups.append([whole] * count)
            else:
                outputs = [
                    scatter.options(num_returns=count).remote(
                        self._open_offline, replace(read, files=chunk), keys, count
                    )
                    for chunk in chunks
                ]
                if count == 1:
                    outputs = [[o] for o in outputs]
                groups.append([[o[p] for o in outputs] for p in range(count)])
        spines = [None] * count if spine is None else _split(spine.table, shape.root, count, ray)
        ranged = start_time is not None or end_time is not None
        sql = plan.sql(spine, ranged, ordered=True)
        parameters = plan.parameters(start_time, end_time)
        # Every block is a top-level argument: Ray fetches them before the task starts
        # (a task blocked in ray.get() would free its CPU and make Ray start more workers).
        return [
            join.remote(
                sql,
                parameters,
                spines[p],
                [len(g[p]) for g in groups],
                *(r for g in groups for r in g[p]),
            )
            for p in range(count)
        ]

    def _connect(self) -> Any:
        """Ray, connected, with this engine's remote functions."""
        ray = self._ray
        with self._lock:
            if not ray.is_initialized():
                try:
                    ray.init(
                        address=self._address or None,
                        log_to_driver=False,
                        configure_logging=False,
                    )
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    where = self._address or os.environ.get("RAY_ADDRESS") or "a new local one"
                    raise EngineError(
                        f"cannot start or reach the Ray cluster ({where}): {exc}"
                    ) from exc
            if not self._remote:
                self._remote = {
                    "scatter": ray.remote(max_retries=self._max_retries)(_scatter),
                    "join": ray.remote(max_retries=self._max_retries)(_join),
                }
        return ray

    def _get(self, refs: Sequence[Any]) -> list[pa.Table]:
        """The tasks' results (see :func:`gather`)."""
        return gather(self._ray, refs)


def gather(ray: Any, refs: Sequence[Any]) -> list[Any]:
    """The results of Ray tasks; an fti error of a task as itself, any other failure (after
    Ray's retries) as an EngineError."""
    try:
        return list(ray.get(list(refs)))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, FtiError):
            raise cause from None
        raise EngineError(f"a Ray task failed: {_first_line(exc)}") from exc
    except ray.exceptions.RayError as exc:
        raise EngineError(f"the Ray job failed: {_first_line(exc)}") from exc


_STORES: dict[str, OfflineStore] = {}
_STORES_LOCK = threading.Lock()


def _store(open_offline: OfflineOpener) -> OfflineStore:
    """The worker's offline store for ``open_offline``, opened once per worker process."""
    key = repr(open_offline)
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = open_offline()
        return _STORES[key]


def _configure(con: Any) -> None:
    """UTC, and as many DuckDB threads as the task has CPUs: Ray runs one task per CPU, and
    DuckDB would otherwise start one thread per core in each (a setting of the worker's
    database, which runs one task at a time)."""
    ray: Any = import_optional("ray", "ray")
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    con.execute(f"SET threads = {max(1, int(cpus))}")
    con.execute("SET TimeZone = 'UTC'")


def _scatter(
    open_offline: OfflineOpener, read: GroupRead, keys: tuple[str, ...], count: int
) -> pa.Table | list[pa.Table]:
    """The rows of ``read`` (on this worker), split by the hash of ``keys`` into ``count``
    tables (one table when ``count`` is 1)."""
    offline = _store(open_offline)
    with duckdb_database.cursor() as con:
        _configure(con)
        register_read(con, "g", read, offline)
        if count == 1:
            return con.sql("SELECT * FROM g").to_arrow_table()
        hashed = ", ".join(_q(k) for k in keys)
        table = con.sql(f"SELECT *, hash({hashed}) % {count} AS {_PART} FROM g").to_arrow_table()
    parts = table.column(_PART).to_numpy()
    table = table.drop_columns([_PART])
    order = np.argsort(parts, kind="stable")
    bounds = np.searchsorted(parts[order], np.arange(count + 1))
    # Each part is taken into buffers of its own: a slice would carry the whole table.
    return [table.take(order[bounds[p] : bounds[p + 1]]) for p in range(count)]


def _join(
    sql: str,
    parameters: dict[str, Any],
    spine: pa.Table | None,
    counts: list[int],
    *tables: pa.Table,
) -> pa.Table:
    """The plan's statement on one partition's rows of every group (``counts[i]`` of
    ``tables`` for group i, in order) and of the spine."""
    with duckdb_database.cursor() as con:
        _configure(con)
        offsets = np.cumsum([0, *counts])
        for i in range(len(counts)):
            parts = tables[offsets[i] : offsets[i + 1]]
            rows = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
            con.register(f"g{i}", rows)
        if spine is not None:
            con.register("spine", spine)
        return execute(con, sql, parameters)


def _finish_block(
    table: pa.Table,
    *,
    order: Sequence[str],
    spine: Spine | None,
    block: Callable[[pa.Table], pd.DataFrame] | None,
) -> pa.Table:
    """One sorted block of :meth:`RayEngine.dataset`, finished and given to ``block``."""
    from fti.feature_store.point_in_time import Plan

    finished = Plan.finish(table.drop_columns(list(order)), spine)
    if block is None:
        return finished
    return pa.Table.from_pandas(block(finished), preserve_index=False)


def _split(table: pa.Table, keys: Sequence[str], count: int, ray: Any) -> list[Any]:
    """The spine's rows by the hash of ``keys`` (as the groups' rows), put in the store."""
    with duckdb_database.cursor() as con:
        con.register("spine", table)
        hashed = ", ".join(_q(k) for k in keys)
        parts = con.sql(f"SELECT hash({hashed}) % {count} FROM spine").fetchnumpy()
    values = np.asarray(next(iter(parts.values())))
    return [ray.put(table.take(np.flatnonzero(values == p))) for p in range(count)]


def _chunks(files: Sequence[DataFile], size: int) -> list[list[DataFile]]:
    """``files`` in consecutive chunks of about ``size`` bytes."""
    chunks: list[list[DataFile]] = []
    total = 0
    for file in files:
        if not chunks or total >= size:
            chunks.append([])
            total = 0
        chunks[-1].append(file)
        total += _size(file)
    return chunks


def _size(file: DataFile) -> int:
    if file.size is not None:
        return file.size
    try:
        return os.path.getsize(file.path)
    except OSError:
        return 0


def _cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
