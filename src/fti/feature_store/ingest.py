"""The insert path of a feature group: coerce, validate, commit offline, then online.

Order matters for the guarantee that bad input writes nothing: every check (schema, value
sizes, null keys, event times too far ahead, expectations) runs on the in-memory batch before
the offline commit, and a schema inferred from the batch is stored only once it passed them.
The statistics and the online rows are computed from the checked batch while the offline
commit is written. After the commit, the online rows carry the commit id as a watermark; a
crash between the two is repaired by :func:`replay_online`, which every insert calls first.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fti.errors import NaiveTimestampWarning, SchemaError
from fti.feature_store import maintenance
from fti.feature_store.on_demand import check_on_demand_parity
from fti.feature_store.online_codec import encode_keys, encode_values
from fti.feature_store.statistics import compute_statistics
from fti.feature_store.transform_plan import SAMPLE_ROWS
from fti.feature_store.validation import check_report, validate
from fti.types import (
    check_value_sizes,
    coerce,
    infer_features,
    naive_timestamp_columns,
    require_not_null,
    to_arrow,
)

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.on_demand import OnDemandFeature
    from fti.types import Feature

_ROW_INDEX = "__fti_row"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class InsertLimits:
    """What an insert refuses besides bad types: from the settings ``max_event_time_ahead``
    and ``max_value_bytes`` (:class:`~fti.settings.Settings`)."""

    event_time_ahead: timedelta
    """How far past the wall clock an event time may lie."""
    value_bytes: int
    """The largest string (UTF-8) or list value, in bytes."""


class GroupShape(Protocol):
    """What the row functions below read of a group: a :class:`FeatureGroup`, or a
    picklable copy of these on a Ray worker."""

    @property
    def features(self) -> list[Feature] | None: ...

    @property
    def key_features(self) -> list[Feature]: ...

    @property
    def event_time(self) -> str | None: ...

    @property
    def on_demand_features(self) -> list[OnDemandFeature]: ...


@dataclass(frozen=True)
class Commit:
    """One write to a feature group; ``id`` is the Delta version of its offline table."""

    id: int
    time: datetime
    rows: int
    rows_inserted: int
    rows_updated: int
    validation: str


def insert(fg: FeatureGroup, data: Any) -> Commit | None:
    """Write ``data`` to ``fg``; None when it has no rows (nothing is committed)."""
    data = add_on_demand(fg, to_arrow(data))
    features = fg.features
    inferred = features is None
    if features is None:
        features = infer_features(data)
        fg._check_features(features)
    # 4: the caller of FeatureGroup.insert (through LocalEngine.insert).
    warn_naive(fg, naive_timestamp_columns(data, features), stacklevel=4)
    table = coerce(data, features)
    limits: InsertLimits = fg._store._limits
    check_value_sizes(table, features, limits.value_bytes)
    require_not_null(table, fg.primary_key, "primary key")
    if fg.event_time:
        require_not_null(table, [fg.event_time], "event time")
        check_event_times(table.column(fg.event_time), fg.event_time, limits.event_time_ahead)
    if inferred:
        fg._set_features(features)
    if table.num_rows == 0:
        return None
    table = last_per_key(table, fg.upsert_keys)
    validation = "none"
    report = None
    if fg.expectations is not None:
        report = validate(table, fg.expectations)
        check_report(report, fg.validation)
        validation = "passed" if report.passed else "failed"
    # The statistics and the online rows depend only on the batch, and the offline commit only
    # on the batch too: computed side by side (DuckDB, Arrow and delta-rs release the GIL).
    with ThreadPoolExecutor(max_workers=2) as pool:
        statistics = (
            pool.submit(compute_statistics, table, {f.name: f.type for f in features})
            if fg.statistics_enabled
            else None
        )
        rows = pool.submit(online_rows, fg, table) if fg.online_enabled else None
        replay_online(fg)
        commit_id = fg._offline.upsert(
            fg._offline_table,
            table,
            fg.upsert_keys,
            {"fti.rows": str(table.num_rows), "fti.validation": validation},
        )
        if rows is not None:
            write_online(fg, rows.result(), commit_id)
        if statistics is not None:
            fg._add_record(
                "statistics", commit_id, {k: v.to_dict() for k, v in statistics.result().items()}
            )
    if report is not None:
        fg._add_record("validation_report", commit_id, report.to_dict())
    commit = fg.commit(commit_id)
    # Every offline_maintenance_interval-th commit compacts the small files inserts leave:
    # decided from the commit id alone, and never failing the insert (a failure is logged).
    maintenance.after_insert(fg, commit_id)
    return commit


def warn_naive(fg: FeatureGroup, naive: list[str], *, stacklevel: int) -> None:
    """A NaiveTimestampWarning that the columns ``naive`` of rows inserted into ``fg`` held
    time-zone-naive timestamps, taken as UTC (nothing when there are none); ``stacklevel`` is
    the one the caller would give :func:`warnings.warn`."""
    if naive:
        warnings.warn(
            NaiveTimestampWarning(
                f"column(s) {', '.join(map(repr, naive))} of the rows inserted into {fg!r} hold "
                "time-zone-naive timestamps: fti took them as UTC. Give them a zone to say so "
                "(pandas: .dt.tz_localize('UTC'))"
            ),
            stacklevel=stacklevel + 1,
        )


def add_on_demand(fg: GroupShape, table: pa.Table) -> pa.Table:
    """``table`` with the group's on-demand features computed and request parameters dropped.

    A feature none of whose request parameters ``table`` has is stored as null: serving
    computes it from the request, training data from a spine that carries them. An empty
    ``table`` gets empty columns.
    """
    features = fg.on_demand_features
    if not features:
        return table
    parameters = {p for odf in features for p in odf.request_parameters}
    frame = table.to_pandas()
    absent = []
    for odf in features:
        if odf.name in frame.columns:
            continue
        given = frame.columns.intersection(odf.request_parameters)
        if frame.empty or (odf.request_parameters and given.empty):
            absent.append(odf)
            continue
        check_on_demand_parity(odf, frame.head(SAMPLE_ROWS))
        frame[odf.name] = odf.compute(frame).to_numpy()
    kept = frame.drop(columns=[c for c in parameters if c in frame.columns])
    result = pa.Table.from_pandas(kept, preserve_index=False)
    for odf in absent:
        result = result.append_column(odf.name, pa.nulls(result.num_rows, odf.arrow_type))
    return result


def last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the last row of each key, in the batch's order (the last duplicate wins)."""
    indexed = table.append_column(_ROW_INDEX, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    # Groups come out in any order with threads; the sort below restores the batch's.
    last = indexed.group_by(keys, use_threads=True).aggregate([(_ROW_INDEX, "max")])
    if last.num_rows == table.num_rows:
        return table
    rows = pc.sort_indices(last.column(f"{_ROW_INDEX}_max"))
    return table.take(pc.take(last.column(f"{_ROW_INDEX}_max"), rows))


@dataclass(frozen=True)
class OnlineRows:
    """The rows a batch writes to the online store: one per primary key, in key order."""

    keys: list[str]
    event_times: list[int]
    values: list[str]


def online_rows(fg: GroupShape, table: pa.Table) -> OnlineRows:
    """The latest row of each primary key of ``table`` (keys unique on key + event time).

    Sorted by key, because the stores' B-trees take rows in key order several times faster.
    """
    return rows_of(online_table(fg, table))


def rows_of(table: pa.Table) -> OnlineRows:
    """The rows of an :func:`online_table`."""
    return OnlineRows(
        keys=table.column("key").to_pylist(),
        event_times=table.column("event_time").to_pylist(),
        values=table.column("value").to_pylist(),
    )


def online_table(fg: GroupShape, table: pa.Table) -> pa.Table:
    """:func:`online_rows` as an Arrow table (``key``, ``event_time``, ``value``): cheap to
    send between processes."""
    features = fg.features
    assert features is not None
    keys = encode_keys(table, fg.key_features)
    if fg.event_time:
        times = event_micros(table.column(fg.event_time)).combine_chunks()
    else:
        times = pa.repeat(pa.scalar(0, pa.int64()), table.num_rows)
    order = pc.sort_indices(
        pa.table({"k": keys, "t": times}), sort_keys=[("k", "ascending"), ("t", "descending")]
    )
    keys = keys.take(order)
    if len(keys) > 1:
        # After sorting, the first row of each run of equal keys is its latest.
        first = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
        first = pa.concat_arrays([pa.array([True]), first])
        if not pc.all(first).as_py():
            order = order.filter(first)
            keys = keys.filter(first)
    return pa.table(
        {
            "key": keys,
            "event_time": times.take(order),
            "value": encode_values(table.take(order), features),
        }
    )


def write_online(fg: FeatureGroup, rows: OnlineRows, commit_id: int) -> None:
    """Upsert ``rows`` into the group's online table, as commit ``commit_id``."""
    fg._online.write(fg._online_table, rows.keys, rows.event_times, rows.values, commit_id)


def check_event_times(column: pa.ChunkedArray, name: str, ahead: timedelta) -> None:
    """Raise SchemaError when an event time lies more than ``ahead`` past the wall clock.

    Such a row would stay the online row of its key until that time, whatever real event came
    later. The wall clock, not ``FTI_NOW``: replaying the past must not refuse today's data.
    """
    latest = pc.max(event_micros(column)).as_py()
    if latest is None:
        return
    limit = datetime.now(UTC) + ahead
    if latest <= (limit - _EPOCH) // timedelta(microseconds=1):
        return
    try:
        shown = (_EPOCH + timedelta(microseconds=latest)).isoformat()
    except OverflowError:
        shown = f"{latest:,} microseconds after 1970"
    raise SchemaError(
        f"event time column {name!r} has a time after {limit.isoformat(timespec='seconds')} "
        f"(now + max_event_time_ahead, {ahead}): {shown}. Fix the times, or raise the setting "
        "(max_event_time_ahead in fti.toml, FTI_MAX_EVENT_TIME_AHEAD or connect())"
    )


def event_micros(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch microseconds of a timestamp or date column (the online stores' event time)."""
    if pa.types.is_date(column.type):
        days = column.cast(pa.int32()).cast(pa.int64())
        return pc.multiply(days, 86_400_000_000)
    return column.cast(pa.int64())


def replay_online(fg: FeatureGroup) -> list[int]:
    """Apply offline commits the online store has not seen; returns the replayed ids."""
    if not fg.online_enabled:
        return []
    latest = fg._offline.version(fg._offline_table)
    if latest is None:
        return []
    watermark = fg._online.watermark(fg._online_table)
    if watermark >= latest:
        return []
    changes = fg._offline.changes(fg._offline_table, watermark + 1, latest)
    replayed = []
    for version in range(watermark + 1, latest + 1):
        rows = changes.filter(pc.equal(changes.column("_commit_version"), version))
        rows = rows.drop_columns(["_change_type", "_commit_version"])
        write_online(fg, online_rows(fg, rows), version)
        replayed.append(version)
    return replayed
