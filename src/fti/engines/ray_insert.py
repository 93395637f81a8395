"""Inserts on the Ray engine: the rows coerced, checked and written to Parquet by the workers,
committed by the driver in one Delta transaction, with a local insert's outcome.

1. prepare (a task per source block: a Ray Dataset's blocks, or slices of a pandas, Polars or
   Arrow frame): on-demand features, coercion and a local insert's checks (types, value sizes,
   null keys, event times); the rows, numbered by block and position, split by the hash of the
   primary key into partitions.
2. check (a task per partition): the last row of each primary key and event time, by number
   (the batch's order, as a local insert keeps), validated against the expectations. The
   driver merges the reports and refuses a failing one as a local insert does, before any file
   is written.
3. write (a task per partition): the partition's rows as a Parquet file in the table's folder,
   and its online rows.
4. rewrite (a task per few files of the table that may hold a replaced row): the other rows
   of each file that holds one, as a new file.
5. The driver commits the new files, the rewritten ones and the removal of the files they
   replace in one transaction on the version it read (another writer's commit in between:
   steps 4 and 5 again on the new version); then the online rows with the commit id, the
   statistics (summarized by the workers while they write,
   :mod:`fti.engines.ray_statistics`) and the reports, as a local insert.

A row with the primary key and event time of a stored row replaces it, as the local MERGE does.
A job that fails (an fti error of a task as itself, a dead worker after Ray's retries as an
EngineError) deletes the files it wrote: they never were part of the table (but for a commit
that failed in a way that may have landed: its files stay, ADR 0017). Expectations are checked
per partition, which is exact for checks of single rows and for ``unique`` over columns that
hold the primary key; an insert whose expectations judge the whole batch otherwise (``unique``
of other columns, ``unique_values_eq``) is refused with ExpectationError before any work.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fti import duckdb_database
from fti.arrow_sources import batches, is_stream_source
from fti.engines.ray import _cpus, _q, _store
from fti.engines.ray_statistics import statistics_on_ray
from fti.errors import ConfigError, ExpectationError, StoreError
from fti.feature_store import maintenance
from fti.feature_store.ingest import (
    Commit,
    InsertLimits,
    OnlineRows,
    add_on_demand,
    check_event_times,
    last_per_key,
    online_table,
    replay_online,
    rows_of,
    warn_naive,
    write_online,
)
from fti.feature_store.on_demand import OnDemandFeature
from fti.feature_store.validation import (
    MAX_EXAMPLES,
    CheckFailure,
    ValidationReport,
    check_report,
    deserialize_expectations,
    validate,
    whole_batch_checks,
)
from fti.stores.offline.delta import DeltaOfflineStore
from fti.stores.offline.delta_files import (
    CommitConflictError,
    TableFile,
    WrittenFile,
    commit_files,
    delete_data_files,
    read_data_file,
    table_files,
    write_data_file,
)
from fti.types import (
    Feature,
    arrow_schema,
    check_value_sizes,
    coerce,
    infer_features,
    naive_timestamp_columns,
    require_not_null,
    to_arrow,
)

if TYPE_CHECKING:
    from fti.engines.ray import RayEngine
    from fti.feature_store.feature_group import FeatureGroup

# Rows of a pandas, Polars or Arrow source per prepare task.
BLOCK_ROWS = 250_000
# Commits lost to another writer before the insert gives up.
COMMIT_ATTEMPTS = 10
_ROW = "__fti_number"
_PART = "__fti_partition"
# The Delta log keeps timestamp bounds cut down to milliseconds.
_STATS_PRECISION = timedelta(milliseconds=1)


@dataclass(frozen=True)
class GroupSpec:
    """What the workers need of a feature group (a FeatureGroup holds store connections)."""

    features: list[Feature]
    primary_key: list[str]
    event_time: str | None
    limits: InsertLimits
    expectations: str | None = None
    on_demand: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key_features(self) -> list[Feature]:
        """The primary-key features, in key order."""
        by_name = {f.name: f for f in self.features}
        return [by_name[k] for k in self.primary_key]

    @property
    def upsert_keys(self) -> list[str]:
        """Primary key plus event time: a row's identity offline."""
        return self.primary_key + ([self.event_time] if self.event_time else [])

    @property
    def on_demand_features(self) -> list[OnDemandFeature]:
        """The group's on-demand features."""
        return [OnDemandFeature.from_dict(d) for d in self.on_demand]


def insert(engine: RayEngine, fg: FeatureGroup, data: Any) -> Commit | None:
    """Write ``data`` to ``fg`` from the workers of ``engine``'s cluster, in one commit; None
    when it has no rows (nothing is committed)."""
    offline = fg._offline
    if not isinstance(offline, DeltaOfflineStore):
        raise ConfigError(f"the ray engine inserts into Delta tables, not into {offline!r}")
    ray = engine._connect()
    blocks, head = _blocks(ray, data)
    if not blocks:
        return None  # a Ray Dataset without blocks: no rows, and no columns to learn
    on_demand = list(fg._body.get("on_demand") or [])
    features = fg.features
    inferred = features is None
    if features is None:
        features = infer_features(add_on_demand(fg, head))
        fg._check_features(features)
    # 4: the caller of FeatureGroup.insert (through RayEngine.insert).
    warn_naive(fg, naive_timestamp_columns(add_on_demand(fg, head), features), stacklevel=4)
    spec = GroupSpec(
        features,
        fg.primary_key,
        fg.event_time,
        fg._store._limits,
        fg._body.get("expectations"),
        on_demand,
    )
    _refuse_whole_batch_checks(fg)
    count = engine._partitions or _cpus(ray)
    tasks = _Tasks(ray, engine._max_retries)
    prepared = [
        tasks.prepare.options(num_returns=count).remote(spec, block, number, count)
        for number, block in enumerate(blocks)
    ]
    if count == 1:
        prepared = [[p] for p in prepared]
    checked = [
        tasks.check.options(num_returns=3).remote(spec, *(parts[p] for parts in prepared))
        for p in range(count)
    ]
    summaries: list[dict[str, Any]] = engine._get([c[2] for c in checked])
    if inferred:
        fg._set_features(features)
    rows = sum(s["rows"] for s in summaries)
    if rows == 0:
        return None
    validation = "none"
    report = None
    if spec.expectations is not None:
        report = merge_reports([ValidationReport.from_dict(s["report"]) for s in summaries])
        check_report(report, fg.validation)
        validation = "passed" if report.passed else "failed"
    replay_online(fg)
    table = fg._offline_table
    token = uuid.uuid4().hex
    names = [f"part-{p:05d}-{token}-c000.parquet" for p in range(count)]
    written: list[str] = list(names)
    try:
        outputs = [
            tasks.write.options(num_returns=2).remote(
                engine._open_offline, table, names[p], fg.online_enabled, spec, checked[p][0]
            )
            for p in range(count)
        ]
        # The statistics of the checked rows, computed while the workers write.
        statistics = _statistics(fg, spec, [c[0] for c in checked])
        added = [f for f in engine._get([o[0] for o in outputs]) if f is not None]
        properties = {"fti.rows": str(rows), "fti.validation": validation}
        commit_id = _commit(
            engine,
            tasks,
            offline,
            spec,
            table,
            token,
            added,
            checked,
            summaries,
            properties,
            written,
        )
    except BaseException:
        delete_data_files(offline, table, written)
        raise
    if fg.online_enabled:
        write_online(fg, merge_online_rows(engine._get([o[1] for o in outputs])), commit_id)
    if statistics is not None:
        fg._add_record("statistics", commit_id, {k: v.to_dict() for k, v in statistics.items()})
    if report is not None:
        fg._add_record("validation_report", commit_id, report.to_dict())
    commit = fg.commit(commit_id)
    maintenance.after_insert(fg, commit_id)
    return commit


def _statistics(fg: FeatureGroup, spec: GroupSpec, refs: Sequence[Any]) -> dict[str, Any] | None:
    """The statistics of the checked rows (the partitions' tables), summarized on the workers
    and merged here: :func:`~fti.engines.ray_statistics.statistics_on_ray`, equal to a local
    insert's (mean and stddev to the last few bits; distinct counts exact, or a merged sketch
    where the local ones are estimates)."""
    if not fg.statistics_enabled:
        return None
    return statistics_on_ray(list(refs), {f.name: f.type for f in spec.features})


def _commit(
    engine: RayEngine,
    tasks: _Tasks,
    offline: DeltaOfflineStore,
    spec: GroupSpec,
    table: str,
    token: str,
    added: list[WrittenFile],
    checked: Sequence[Sequence[Any]],
    summaries: Sequence[dict[str, Any]],
    properties: dict[str, str],
    written: list[str],
) -> int:
    """Commit ``added`` with the rewrites of the table's files that hold replaced rows, on
    the latest version; returns the commit id. ``written`` holds the names of the files to
    delete if the insert fails: those of the rewrites are added, and none are left once a
    commit was tried that may have landed."""
    rows = int(properties["fti.rows"])
    schema = arrow_schema(spec.features)
    key_refs = [c[1] for p, c in enumerate(checked) if summaries[p]["rows"]]
    bounds = _bounds(summaries)
    for attempt in range(COMMIT_ATTEMPTS):
        read = offline.version(table)
        removed: list[TableFile] = []
        rewritten: list[WrittenFile] = []
        replaced = 0
        if read is not None:
            candidates = [
                f
                for f in table_files(offline, table, read, spec.event_time)
                if _may_overlap(f, bounds)
            ]
            chunks = _chunks(candidates, max(1, len(added)))
            prefix = f"part-r{attempt}-{token}"
            written.extend(
                _rewrite_name(f"{prefix}-{i:05d}", j)
                for i, c in enumerate(chunks)
                for j in range(len(c))
            )
            results = engine._get(
                [
                    tasks.rewrite.remote(
                        engine._open_offline, table, chunk, f"{prefix}-{i:05d}", spec, *key_refs
                    )
                    for i, chunk in enumerate(chunks)
                ]
            )
            for result in results:
                for old, new, count in result:
                    removed.append(old)
                    replaced += count
                    if new is not None:
                        rewritten.append(new)
        counts = {"fti.rows_inserted": str(rows - replaced), "fti.rows_updated": str(replaced)}
        try:
            version = commit_files(
                offline,
                table,
                read,
                schema,
                added=added,
                rewritten=rewritten,
                removed=removed,
                properties={**properties, **counts},
            )
        except CommitConflictError:
            delete_data_files(offline, table, [f.name for f in rewritten])
            continue
        except BaseException:
            # The commit may have landed before the store stopped answering: its files stay
            # (a vacuum removes them when no version names them).
            written.clear()
            raise
        return version
    raise StoreError(
        f"could not commit to offline table {table}: other writers committed first "
        f"{COMMIT_ATTEMPTS} times"
    )


class _Tasks:
    """The remote functions of an insert, with the engine's retries after a worker died."""

    def __init__(self, ray: Any, retries: int) -> None:
        remote = ray.remote(max_retries=retries)
        self.prepare = remote(_prepare)
        self.check = remote(_check)
        self.write = remote(_write)
        self.rewrite = remote(_rewrite)


def _blocks(ray: Any, data: Any) -> tuple[list[Any], pa.Table]:
    """Object refs of the source's blocks (a Ray Dataset's, blocks of an Arrow stream's
    batches, or slices of a frame, put in the object store) and an empty table of its
    columns."""
    if type(data).__module__.startswith("ray.data") and hasattr(data, "to_arrow_refs"):
        refs = list(data.to_arrow_refs())
        if not refs:
            return [], pa.table({})
        return refs, ray.get(ray.remote(_empty).remote(refs[0]))
    if _streamed(data):
        # A source of an Arrow stream or a Spark DataFrame, by its batches: a block at a time
        # on the driver, not the whole source.
        reader = batches(data)
        blocks, pending, rows = [], [], 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= BLOCK_ROWS:
                blocks.append(ray.put(to_arrow(pa.Table.from_batches(pending, reader.schema))))
                pending, rows = [], 0
        if pending or not blocks:
            blocks.append(ray.put(to_arrow(pa.Table.from_batches(pending, reader.schema))))
        return blocks, reader.schema.empty_table()
    table = to_arrow(data)
    count = max(1, math.ceil(table.num_rows / BLOCK_ROWS))
    step = max(1, math.ceil(table.num_rows / count))
    blocks = [ray.put(table.slice(start, step)) for start in range(0, table.num_rows, step)]
    return blocks or [ray.put(table)], table.slice(0, 0)


def _streamed(data: Any) -> bool:
    """A source read as a stream of Arrow batches, not a frame :func:`~fti.types.to_arrow`
    converts whole (pandas and polars frames have ``__arrow_c_stream__`` too)."""
    frames = ("pandas", "polars", "pyarrow")
    return is_stream_source(data) and type(data).__module__.split(".")[0] not in frames


def _empty(block: pa.Table) -> pa.Table:
    return to_arrow(block).slice(0, 0)


def _refuse_whole_batch_checks(fg: FeatureGroup) -> None:
    """ExpectationError, before any work, for expectations a key partition cannot decide."""
    text = fg._body.get("expectations")
    if text is None:
        return
    whole = whole_batch_checks(deserialize_expectations(text), fg.primary_key)
    if whole:
        raise ExpectationError(
            f"feature group {fg.name!r}: the ray engine checks expectations one primary-key "
            f"partition at a time, and these judge the whole batch: {'; '.join(whole)}. "
            "Insert with engine='local'."
        )


def merge_reports(reports: Sequence[ValidationReport]) -> ValidationReport:
    """One report of the partitions' reports: a failure per column and check, its failed rows
    summed and its examples taken in partition order."""
    merged: dict[tuple[str | None, str], CheckFailure] = {}
    for report in reports:
        for failure in report.failures:
            key = (failure.column, failure.check)
            if key not in merged:
                merged[key] = CheckFailure(failure.column, failure.check, 0, [])
            into = merged[key]
            into.failed_rows += failure.failed_rows
            seen = {json.dumps(e, sort_keys=True) for e in into.examples}
            for example in failure.examples:
                text = json.dumps(example, sort_keys=True)
                if len(into.examples) < MAX_EXAMPLES and text not in seen:
                    into.examples.append(example)
                    seen.add(text)
    return ValidationReport(
        passed=all(r.passed for r in reports),
        rows_checked=sum(r.rows_checked for r in reports),
        failures=list(merged.values()),
    )


def merge_online_rows(parts: Sequence[pa.Table | None]) -> OnlineRows:
    """The partitions' online rows (:func:`~fti.feature_store.ingest.online_table`; disjoint
    keys) as one batch in key order."""
    tables = [p for p in parts if p is not None]
    table = pa.concat_tables(tables)
    return rows_of(table.take(pc.sort_indices(table.column("key"))))


def _bounds(summaries: Sequence[Mapping[str, Any]]) -> tuple[Any, Any] | None:
    """The smallest and largest event time of the checked rows; None without event time."""
    lows = [s["low"] for s in summaries if s["low"] is not None]
    highs = [s["high"] for s in summaries if s["high"] is not None]
    if not lows:
        return None
    return min(lows), max(highs)


def _may_overlap(file: TableFile, bounds: tuple[Any, Any] | None) -> bool:
    """Whether ``file`` may hold a row in the event-time ``bounds`` (by the log's bounds)."""
    if bounds is None or file.low is None or file.high is None:
        return True
    low, high = bounds
    top = file.high + _STATS_PRECISION if isinstance(file.high, datetime) else file.high
    try:
        return bool(file.low <= high and top >= low)
    except TypeError:  # bounds the log keeps in another form: read the file
        return True


def _chunks(files: Sequence[TableFile], count: int) -> list[list[TableFile]]:
    """``files`` dealt into at most ``count`` chunks of about equal bytes."""
    chunks: list[list[TableFile]] = [[] for _ in range(min(count, len(files)))]
    sizes = [0] * len(chunks)
    for file in sorted(files, key=lambda f: -f.size):
        smallest = sizes.index(min(sizes))
        chunks[smallest].append(file)
        sizes[smallest] += file.size
    return chunks


def _rewrite_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:05d}.parquet"


# Worker side ------------------------------------------------------------------------------


def _prepare(spec: GroupSpec, block: Any, number: int, count: int) -> pa.Table | list[pa.Table]:
    """One source block coerced and checked as a local insert checks it, numbered and split
    by the hash of the primary key into ``count`` tables (one table when ``count`` is 1)."""
    table = coerce(add_on_demand(spec, to_arrow(block)), spec.features)
    check_value_sizes(table, spec.features, spec.limits.value_bytes)
    require_not_null(table, spec.primary_key, "primary key")
    if spec.event_time:
        require_not_null(table, [spec.event_time], "event time")
        if table.num_rows:
            check_event_times(
                table.column(spec.event_time), spec.event_time, spec.limits.event_time_ahead
            )
    # Block and position: a row's place in the batch, which decides between duplicates.
    numbers = (np.int64(number) << np.int64(32)) + np.arange(table.num_rows, dtype=np.int64)
    table = table.append_column(_ROW, pa.array(numbers))
    if count == 1:
        return table
    with duckdb_database.cursor() as con:
        con.register("block", table.select(spec.primary_key))
        hashed = ", ".join(_q(k) for k in spec.primary_key)
        result = con.sql(f"SELECT hash({hashed}) % {count} AS {_PART} FROM block").fetchnumpy()
    parts = np.asarray(result[_PART])
    order = np.argsort(parts, kind="stable")
    edges = np.searchsorted(parts[order], np.arange(count + 1))
    return [table.take(order[edges[p] : edges[p + 1]]) for p in range(count)]


def _check(spec: GroupSpec, *parts: pa.Table) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """One partition's rows of every block, the last of each key and event time kept and
    validated: the rows, their key columns, and a summary (rows, report, event-time bounds)."""
    table = pa.concat_tables(parts)
    order = pc.sort_indices(table.column(_ROW))
    table = last_per_key(table.take(order), spec.upsert_keys).drop_columns([_ROW])
    report = None
    if spec.expectations is not None:
        report = validate(table, deserialize_expectations(spec.expectations)).to_dict()
    low = high = None
    if spec.event_time and table.num_rows:
        bounds = pc.min_max(table.column(spec.event_time))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
    summary = {"rows": table.num_rows, "report": report, "low": low, "high": high}
    return table, table.select(spec.upsert_keys), summary


def _write(
    open_offline: Any, table: str, name: str, online: bool, spec: GroupSpec, rows: pa.Table
) -> tuple[WrittenFile | None, pa.Table | None]:
    """One partition's checked rows written as the data file ``name`` of ``table``, and its
    online rows (when the group is online)."""
    if rows.num_rows == 0:
        return None, None
    store = _store(open_offline)
    assert isinstance(store, DeltaOfflineStore)
    written = write_data_file(store, table, name, rows)
    return written, online_table(spec, rows) if online else None


def _rewrite(
    open_offline: Any,
    table: str,
    files: list[TableFile],
    prefix: str,
    spec: GroupSpec,
    *keys: pa.Table,
) -> list[tuple[TableFile, WrittenFile | None, int]]:
    """For each of ``files`` holding rows with the keys and event times of ``keys``: the file,
    its other rows written as a new file (None when none is left), and the rows replaced."""
    store = _store(open_offline)
    assert isinstance(store, DeltaOfflineStore)
    schema = arrow_schema(spec.features)
    upsert = spec.upsert_keys
    new = pa.concat_tables(keys)
    results = []
    for index, file in enumerate(files):
        old = read_data_file(store, table, file.name)
        old = old.select(schema.names).cast(schema)
        probe = old.select(upsert).append_column(_ROW, pa.array(np.arange(old.num_rows)))
        matched = probe.join(new, keys=upsert, join_type="left semi").column(_ROW)
        if len(matched) == 0:
            continue
        kept = np.ones(old.num_rows, dtype=bool)
        kept[matched.to_numpy()] = False
        rest = old.filter(pa.array(kept))
        written = (
            write_data_file(store, table, _rewrite_name(prefix, index), rest)
            if rest.num_rows
            else None
        )
        results.append((file, written, len(matched)))
    return results
