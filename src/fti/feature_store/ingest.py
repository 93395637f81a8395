"""The insert path of a feature group: coerce, validate, commit offline, then online.

Order matters for the guarantee that bad input writes nothing: every check (schema, null
keys, expectations) and the statistics run on the in-memory batch before the offline commit.
After the commit, the online rows carry the commit id as a watermark; a crash between the two
is repaired by :func:`replay_online`, which every insert calls first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from fti.feature_store.on_demand import check_on_demand_parity
from fti.feature_store.online_codec import encode_keys, encode_values
from fti.feature_store.statistics import compute_statistics
from fti.feature_store.transform_plan import SAMPLE_ROWS
from fti.feature_store.validation import check_report, validate
from fti.types import coerce, infer_features, require_not_null, to_arrow

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup

_ROW_INDEX = "__fti_row"


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
    if fg.features is None:
        fg._set_features(infer_features(data))
    features = fg.features
    assert features is not None
    table = coerce(data, features)
    require_not_null(table, fg.primary_key, "primary key")
    if fg.event_time:
        require_not_null(table, [fg.event_time], "event time")
    if table.num_rows == 0:
        return None
    table = last_per_key(table, fg.upsert_keys)
    validation = "none"
    report = None
    if fg.expectations is not None:
        report = validate(table, fg.expectations)
        check_report(report, fg.validation)
        validation = "passed" if report.passed else "failed"
    statistics = (
        compute_statistics(table, {f.name: f.type for f in features})
        if fg.statistics_enabled
        else None
    )

    replay_online(fg)
    commit_id = fg._offline.upsert(
        fg._offline_table,
        table,
        fg.upsert_keys,
        {"fti.rows": str(table.num_rows), "fti.validation": validation},
    )
    if fg.online_enabled:
        write_online(fg, table, commit_id)
    if statistics is not None:
        fg._add_record("statistics", commit_id, {k: v.to_dict() for k, v in statistics.items()})
    if report is not None:
        fg._add_record("validation_report", commit_id, report.to_dict())
    return fg.commit(commit_id)


def add_on_demand(fg: FeatureGroup, table: pa.Table) -> pa.Table:
    """``table`` with the group's on-demand features computed and request parameters dropped."""
    features = fg.on_demand_features
    if not features or table.num_rows == 0:
        return table
    parameters = {p for odf in features for p in odf.request_parameters}
    frame = table.to_pandas()
    for odf in features:
        if odf.name not in frame.columns:
            check_on_demand_parity(odf, frame.head(SAMPLE_ROWS))
            frame[odf.name] = odf.compute(frame).to_numpy()
    kept = frame.drop(columns=[c for c in parameters if c in frame.columns])
    return pa.Table.from_pandas(kept, preserve_index=False)


def last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the last row of each key, in the batch's order (the last duplicate wins)."""
    indexed = table.append_column(_ROW_INDEX, pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(keys, use_threads=False).aggregate([(_ROW_INDEX, "max")])
    if last.num_rows == table.num_rows:
        return table
    rows = pa.compute.sort_indices(last.column(f"{_ROW_INDEX}_max"))
    return table.take(pa.compute.take(last.column(f"{_ROW_INDEX}_max"), rows))


def latest_per_primary_key(
    table: pa.Table, primary_key: list[str], event_time: str | None
) -> pa.Table:
    """The row with the greatest event time of each primary key (keys unique on pk+time)."""
    if event_time is None:
        return table
    with duckdb.connect() as con:
        con.register("batch", table)
        partition = ", ".join(f'"{k}"' for k in primary_key)
        return con.sql(
            f"SELECT * FROM batch QUALIFY row_number() OVER "
            f'(PARTITION BY {partition} ORDER BY "{event_time}" DESC) = 1'
        ).to_arrow_table()


def write_online(fg: FeatureGroup, table: pa.Table, commit_id: int) -> None:
    """Upsert the latest row per primary key of ``table`` into the online store."""
    features = fg.features
    assert features is not None
    latest = latest_per_primary_key(table, fg.primary_key, fg.event_time)
    keys = encode_keys(latest, fg.key_features)
    if fg.event_time:
        times = event_micros(latest.column(fg.event_time)).to_pylist()
    else:
        times = [0] * latest.num_rows
    values = encode_values(latest, features)
    fg._online.write(fg._online_table, keys, times, values, commit_id)


def event_micros(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch microseconds of a timestamp or date column (the online stores' event time)."""
    if pa.types.is_date(column.type):
        days = column.cast(pa.int32()).cast(pa.int64())
        return pa.compute.multiply(days, 86_400_000_000)
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
        rows = changes.filter(pa.compute.equal(changes.column("_commit_version"), version))
        rows = rows.drop_columns(["_change_type", "_commit_version"])
        write_online(fg, rows, version)
        replayed.append(version)
    return replayed
