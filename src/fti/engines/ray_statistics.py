"""Feature statistics and drift of a table spread over a Ray cluster, merged on the driver.

:func:`statistics_on_ray` gives what :func:`~fti.feature_store.statistics.compute_statistics`
gives for the concatenation of the partitions, without bringing the rows to the driver:

1. one task per partition counts its rows, and the driver decides, as the local statistics
   do of the whole table, whether non-string distinct counts are exact (up to
   :data:`~fti.feature_store.statistics.EXACT_DISTINCT_ROWS` rows in all) or estimates;
2. one summary task per partition: the scalar aggregates of the local statistics' own query
   (:func:`~fti.feature_store.statistics.scalar_summaries`); the distinct values of each
   column counted exactly (strings always: with their row counts), split by a hash of the
   value into buckets; and, where the count is an estimate, an HLL sketch of each non-string
   column (Apache DataSketches);
3. the driver merges the scalars: counts, null, NaN and inf counts are sums; min and max are
   the least and greatest of the partitions'; mean and standard deviation are merged by
   Chan et al.'s parallel algorithm from each partition's count, mean and sum of squared
   deviations;
4. one histogram task per partition counts its values into the bins of the whole table's
   range (:func:`~fti.feature_store.statistics.histogram_counts`, the local binning), and
   one task per bucket merges the buckets' values: every value is in exactly one bucket, so
   the distinct count is the sum of the buckets' and the top values are the best of the
   buckets' top values;
5. the driver adds up the bins and the buckets' distinct counts, picks the top values, and
   takes the union of the partitions' sketches of each column.

What equals the local result: count, null_count, nan_count, inf_count, min, max, histogram
(edges and counts), top_values (ties by value), and distinct_count wherever the local one is
exact. Mean and stddev are merged in floating point and may differ from the local ones in the
last bits (the tests hold them within 1e-12 of the local values, relative to the column's
magnitude).

Where the local distinct count is an estimate (a non-string column of a table of more than
``EXACT_DISTINCT_ROWS`` rows: DuckDB's HyperLogLog), this one is too, with
``distinct_approximate`` True and capped at the non-null count as locally, but from another
sketch: DuckDB does not export its sketch's state, so partitions' DuckDB estimates cannot be
merged. Each partition builds an HLL sketch of the column with ``lg_k`` =
:data:`DISTINCT_SKETCH_LG_K` (2^14 registers) and the driver merges them (a union: the
registers of one sketch of all the rows, whatever the partitioning). Its relative standard
error is 1.04 / sqrt(2^14) = 0.81 %; the estimate lies within 2.44 % of the true distinct
count (three standard errors) with probability about 99.7 %, and closer on small counts,
where the sketch still lists its values' hashes. The local estimate and this one differ by both
estimates' errors (DuckDB's was 1.8-2.1 % off at 10M rows). Values are hashed as DuckDB
compares them: 0.0 and -0.0 are one value, so are all NaNs (the exact counts go by the
values' bits, as Arrow's, the local exact count).

:func:`drift_on_ray` gives what :func:`~fti.monitoring.drift.compute_drift` gives for a
reference in this process (a training dataset, as monitors read it) and a current window
spread over the cluster. Each partition of the window is summarized on a worker
(:func:`~fti.monitoring.drift.summarize_window`): a numeric feature by its null count, mean
and how many values lie at or below each of the reference's distinct values and PSI cut
points; a categorical one by its category counts. The sums of these are enough for the exact
PSI, histogram, null rates and Kolmogorov-Smirnov statistic and p-value (the gap of the two
cumulative distributions is largest at a reference value or just below one); the current mean
(and so ``mean_shift``) and the JS distance may differ from the local ones in the last bits.
A worker receives the reference's distinct values of each numeric feature, so the reference
must fit in the driver's and a worker's memory; the window need not.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fti import duckdb_database
from fti.dependencies import import_optional
from fti.engines.ray import MAX_RETRIES, gather
from fti.errors import InvalidArgumentError, SchemaError
from fti.feature_store import statistics as local_statistics
from fti.feature_store.statistics import (
    FTI_TYPES,
    TOP_VALUES,
    FeatureStatistics,
    histogram,
    histogram_counts,
    json_scalar,
    scalar_summaries,
)
from fti.monitoring.drift import (
    FeatureDrift,
    compute_drift_of_window,
    merge_windows,
    summarize_window,
    window_plan,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DISTINCT_SKETCH_LG_K", "drift_on_ray", "statistics_on_ray"]

DISTINCT_SKETCH_LG_K = 14
"""log2 of the registers of the HLL sketches that estimate distinct counts on Ray: a relative
standard error of 0.81 %, 2.44 % at three standard errors (about 99.7 %); 16 KiB a sketch."""

_NUMBERS = frozenset({"int32", "int64", "float32", "float64"})
_LISTS = frozenset({"list<float32>", "list<float64>"})
# Fibonacci hashing: spreads consecutive integers (and the bits of floats) over the buckets.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

_REMOTE: dict[str, Any] = {}
_REMOTE_LOCK = threading.Lock()


def statistics_on_ray(
    data: Any, types: Mapping[str, str], *, buckets: int = 0
) -> dict[str, FeatureStatistics]:
    """The statistics of each column named in ``types`` over all rows of ``data``, computed
    on the Ray cluster this process is connected to; equal to
    :func:`~fti.feature_store.statistics.compute_statistics` of the concatenated rows (see
    the module docstring for mean, stddev and distinct counts).

    ``data`` is a Ray Dataset or a sequence of object refs of Arrow tables (the partitions,
    in any order; empty ones are fine). ``types`` maps column names to fti types as for
    ``compute_statistics``. ``buckets`` is the number of tasks merging distinct values (0: the
    cluster's CPUs). Raises SchemaError as ``compute_statistics`` does (a missing column, a
    type that does not fit), InvalidArgumentError for ``data`` of another kind, and
    EngineError when the Ray job fails.
    """
    ray: Any = import_optional("ray", "ray")
    refs = _partitions(data, ray)
    unknown = {name: t for name, t in types.items() if t not in FTI_TYPES}
    if unknown:
        raise SchemaError(f"unknown types {unknown}; use one of {sorted(FTI_TYPES)}")
    if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 0:
        raise InvalidArgumentError(f"buckets must be an integer >= 0, got {buckets!r}")
    types = dict(types)
    remote = _remote(ray)
    rows = sum(gather(ray, [remote["rows"].remote(ref) for ref in refs]))
    # Read at call time, as compute_statistics reads it.
    sketched = rows > local_statistics.EXACT_DISTINCT_ROWS
    exact = {
        name: t for name, t in types.items() if t not in _LISTS and (t == "string" or not sketched)
    }
    count = buckets or max(1, int(ray.cluster_resources().get("CPU", 1)))
    outputs = [
        remote["summarize"].options(num_returns=count + 1).remote(ref, types, count, sketched)
        for ref in refs
    ]
    summaries = gather(ray, [output[0] for output in outputs])
    merged = _merge_scalars(types, summaries)
    ranges = {
        name: (found["min"], found["max"])
        for name, found in merged.items()
        if types[name] in _NUMBERS
        and found["finite_count"]
        and float(found["min"]) < float(found["max"])
    }
    numeric = {name: types[name] for name in ranges}
    histogram_refs = (
        [remote["histogram"].remote(ref, numeric, ranges) for ref in refs] if ranges else []
    )
    bucket_refs = [
        remote["bucket"].remote(exact, *(output[1 + b] for output in outputs)) for b in range(count)
    ]
    results = gather(ray, [*histogram_refs, *bucket_refs])
    split = len(histogram_refs)
    return _finish(types, summaries, merged, results[:split], results[split:])


def drift_on_ray(
    reference: pd.DataFrame | pa.Table,
    current: Any,
    *,
    features: Sequence[str] | None = None,
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = 10,
) -> dict[str, FeatureDrift]:
    """:func:`~fti.monitoring.drift.compute_drift` of ``reference`` (in this process) against
    ``current``, a window spread over the Ray cluster this process is connected to: a Ray
    Dataset or a sequence of object refs of Arrow tables, in the order of its rows (that order
    only decides the order of categories tied in a histogram). Arguments and errors as
    ``compute_drift``'s; EngineError when the Ray job fails. See the module docstring for what
    is exact."""
    ray: Any = import_optional("ray", "ray")
    refs = _partitions(current, ray)
    remote = _remote(ray)
    if not refs:
        raise InvalidArgumentError("no rows in the current window")
    (schema,) = gather(ray, [remote["schema"].remote(refs[0])])
    plan = window_plan(reference, schema, features=features, bins=bins)
    shared = ray.put(plan)
    parts = gather(ray, [remote["window"].remote(ref, shared) for ref in refs])
    if sum(rows for rows, _ in parts) == 0:
        raise InvalidArgumentError("no rows in the current window")
    window = merge_windows([summary for _, summary in parts])
    return compute_drift_of_window(reference, window, thresholds=thresholds, bins=bins)


def _partitions(data: Any, ray: Any) -> list[Any]:
    """Object refs of the partitions of a Ray Dataset or a sequence of refs."""
    if hasattr(data, "to_arrow_refs"):
        return list(data.to_arrow_refs())
    if isinstance(data, Sequence) and all(isinstance(r, ray.ObjectRef) for r in data):
        return list(data)
    raise InvalidArgumentError(
        "statistics on Ray need a Ray Dataset or a list of object refs of Arrow tables, "
        f"got {type(data).__name__}"
    )


def _remote(ray: Any) -> dict[str, Any]:
    with _REMOTE_LOCK:
        if not _REMOTE:
            options = ray.remote(max_retries=MAX_RETRIES)
            _REMOTE.update(
                rows=options(_rows),
                summarize=options(_summarize),
                histogram=options(histogram_counts),
                bucket=options(_merge_bucket),
                schema=options(_schema),
                window=options(_window),
            )
        return _REMOTE


# Workers ------------------------------------------------------------------------------------


def _rows(table: pa.Table) -> int:
    return int(table.num_rows)


def _summarize(table: pa.Table, types: dict[str, str], buckets: int, sketched: bool) -> list[Any]:
    """A partition's summary, then its distinct values of each column counted exactly in
    ``buckets`` parts: ``[summary, part_0, ..., part_{buckets-1}]``, a part mapping a column
    to an Arrow array of distinct values (strings: a table of ``value`` and its row count
    ``n``). With ``sketched``, non-string columns are not in the parts but sketched in the
    summary's ``sketches`` (see :func:`_sketch`)."""
    summary: dict[str, Any] = {
        "rows": table.num_rows,
        "scalars": scalar_summaries(table, types),
        "strings": {},
        "sketches": {},
    }
    parts: list[dict[str, Any]] = [{} for _ in range(buckets)]
    for name, fti_type in types.items():
        if fti_type in _LISTS:
            continue
        if fti_type != "string" and sketched:
            summary["sketches"][name] = _sketch(table.column(name))
            continue
        if fti_type == "string":
            counts, hashes = _string_counts(table, name, buckets)
            summary["strings"][name] = int(pc.sum(counts.column("n")).as_py() or 0)
            split = [counts.filter(pc.equal(hashes, b)) for b in range(buckets)]
        else:
            values = pc.unique(table.column(name)).drop_null()
            keys = _bucket_keys(values, buckets)
            split = [values.filter(pa.array(keys == b)) for b in range(buckets)]
        for part, values in zip(parts, split, strict=True):
            part[name] = values
    return [summary, *parts]


def _string_counts(table: pa.Table, name: str, buckets: int) -> tuple[pa.Table, pa.Array]:
    """The column's distinct non-null strings with their row counts, and each one's bucket."""
    with duckdb_database.cursor() as con:
        con.register("t", table.select([name]))
        column = '"' + name.replace('"', '""') + '"'
        # ::VARCHAR as the local statistics: a dictionary column arrives as an ENUM.
        found = con.sql(
            f"SELECT value, n, (hash(value) % {buckets})::INTEGER AS bucket FROM ("
            f"SELECT {column}::VARCHAR AS value, count(*) AS n FROM t "
            f"WHERE {column} IS NOT NULL GROUP BY 1)"
        ).to_arrow_table()
        con.unregister("t")
    return found.select(["value", "n"]), found.column("bucket").combine_chunks()


def _sketch(column: pa.ChunkedArray) -> bytes:
    """The serialized HLL sketch of the column's distinct non-null values, each hashed as its
    64 bits with floats made equal where DuckDB's HyperLogLog (the local estimate) finds
    them equal, so that a value hashes alike on every worker."""
    datasketches: Any = import_optional("datasketches", "ray")
    sketch = datasketches.hll_sketch(DISTINCT_SKETCH_LG_K)
    # Arrow's unique is cheaper than the sketch's one Python call per value it saves.
    bits = _bits(pc.unique(column).drop_null(), like_duckdb=True)
    # The sketch takes one value a call; a zero-length deque drives map's calls without a
    # Python loop (about half the time of one).
    collections.deque(map(sketch.update, bits.view(np.int64).tolist()), maxlen=0)
    return bytes(sketch.serialize_compact())


def _bucket_keys(values: pa.Array, buckets: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Each value's bucket, from its bits: Arrow counts distinct values by their bits (0.0
    and -0.0 are two values, so are NaNs of different payloads), so equal bits, one bucket."""
    bits = _bits(values)
    return ((bits * _GOLDEN) >> np.uint64(32)) % np.uint64(buckets)


def _bits(values: pa.Array, *, like_duckdb: bool = False) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Each non-null value's bits as 64 bits, distinct for distinct values of the array's
    type. With ``like_duckdb``, floats are widened to float64 and 0.0 and -0.0, and all
    NaNs, get the same bits: DuckDB counts each as one value."""
    arrow_type = values.type
    bits: np.ndarray[Any, np.dtype[np.uint64]]
    if pa.types.is_boolean(arrow_type):
        bits = values.cast(pa.uint8()).to_numpy().astype(np.uint64)
    elif pa.types.is_date32(arrow_type):
        bits = values.view(pa.int32()).to_numpy().astype(np.int64).view(np.uint64)
    elif pa.types.is_date64(arrow_type) or pa.types.is_timestamp(arrow_type):
        bits = values.view(pa.int64()).to_numpy().view(np.uint64)
    elif pa.types.is_floating(arrow_type) and like_duckdb:
        array = values.to_numpy(zero_copy_only=False).astype(np.float64)
        # -0.0 + 0.0 is 0.0; np.nan is one NaN.
        bits = np.where(np.isnan(array), np.nan, array + 0.0).view(np.uint64)
    elif pa.types.is_floating(arrow_type):
        array = values.to_numpy(zero_copy_only=False)
        width = {2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize]
        bits = array.view(width).astype(np.uint64)
    else:  # integers of any width and sign: a wrapping cast keeps them apart
        bits = values.to_numpy().astype(np.int64).view(np.uint64)
    return bits


def _merge_bucket(types: dict[str, str], *parts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One bucket's values of every partition, merged: per column of ``types`` the distinct
    count and, for strings, min, max and the top values (every value of the bucket is only
    here)."""
    merged: dict[str, dict[str, Any]] = {}
    for name, fti_type in types.items():
        pieces = [part[name] for part in parts]
        if fti_type != "string":
            values = pa.chunked_array(pieces) if pieces else pa.chunked_array([], pa.null())
            distinct = pc.count_distinct(values, mode="only_valid").as_py()
            merged[name] = {"distinct": int(distinct)}
            continue
        with duckdb_database.cursor() as con:
            con.register("parts", pa.concat_tables(pieces) if pieces else _EMPTY_COUNTS)
            rows = con.sql(
                "WITH g AS MATERIALIZED (SELECT value, sum(n)::BIGINT AS n FROM parts "
                "GROUP BY value) "
                "SELECT NULL AS value, NULL AS n, count(*), min(value), max(value) FROM g "
                f"UNION ALL (SELECT value, n, NULL, NULL, NULL FROM g "
                f"ORDER BY n DESC, value LIMIT {TOP_VALUES})"
            ).fetchall()
            con.unregister("parts")
        summary = next(row for row in rows if row[0] is None)
        merged[name] = {
            "distinct": int(summary[2]),
            "min": summary[3],
            "max": summary[4],
            "top": [(value, int(n)) for value, n, *_ in rows if value is not None],
        }
    return merged


def _schema(table: pa.Table) -> pa.Schema:
    return table.schema


def _window(table: pa.Table, plan: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A partition's rows and its summary for the drift of ``plan``'s features."""
    return table.num_rows, summarize_window(table, plan)


_EMPTY_COUNTS = pa.table({"value": pa.array([], pa.string()), "n": pa.array([], pa.int64())})


# Driver -------------------------------------------------------------------------------------


def _merge_scalars(
    types: Mapping[str, str], summaries: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The partitions' scalars of each non-string column merged (raw min and max)."""
    merged: dict[str, dict[str, Any]] = {}
    for name, fti_type in types.items():
        if fti_type == "string":
            continue
        found = [s["scalars"][name] for s in summaries]
        result: dict[str, Any] = {
            key: sum(int(f.get(key) or 0) for f in found)
            for key in ("null_count", "nan_count", "inf_count", "finite_count")
        }
        lows = [f["min"] for f in found if f.get("min") is not None]
        highs = [f["max"] for f in found if f.get("max") is not None]
        result["min"] = min(lows) if lows else None
        result["max"] = max(highs) if highs else None
        if fti_type in _NUMBERS or fti_type == "bool":
            moments = [
                (int(f["finite_count"]) if fti_type != "bool" else s["rows"] - f["null_count"], f)
                for s, f in zip(summaries, found, strict=True)
            ]
            result["mean"], result["stddev"] = _moments(
                [(n, f["mean"], f["stddev"]) for n, f in moments if n]
            )
        merged[name] = result
    return merged


def _moments(parts: Sequence[tuple[int, float, float | None]]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the union of parts given as (count, mean, sample
    standard deviation), by Chan, Golub and LeVeque's pairwise update of the count, the mean
    and the sum of squared deviations M2. Parts with equal means merge to that mean exactly."""
    count, mean, m2 = 0, 0.0, 0.0
    for n, part_mean, part_stddev in parts:
        part_m2 = part_stddev * part_stddev * (n - 1) if part_stddev is not None else 0.0
        if count == 0:
            count, mean, m2 = n, float(part_mean), part_m2
            continue
        total = count + n
        delta = float(part_mean) - mean
        mean += delta * n / total
        m2 += part_m2 + delta * delta * count * n / total
        count = total
    if count == 0:
        return None, None
    return mean, math.sqrt(m2 / (count - 1)) if count > 1 else None


def _finish(
    types: Mapping[str, str],
    summaries: Sequence[Mapping[str, Any]],
    merged: Mapping[str, dict[str, Any]],
    histograms: Sequence[Mapping[str, list[int]]],
    buckets: Sequence[Mapping[str, dict[str, Any]]],
) -> dict[str, FeatureStatistics]:
    """The statistics of each column from the partitions' summaries and bin counts, the merged
    scalars and the buckets' merged values."""
    rows = sum(int(s["rows"]) for s in summaries)
    results = {}
    for name, fti_type in types.items():
        found = [b[name] for b in buckets if name in b]
        distinct = sum(int(f["distinct"]) for f in found) if fti_type not in _LISTS else None
        sketches = [s["sketches"][name] for s in summaries if name in s["sketches"]]
        if sketches:
            non_null = rows - int(merged[name]["null_count"])
            distinct = _union_estimate(sketches, non_null)
        if fti_type == "string":
            lows = [f["min"] for f in found if f["min"] is not None]
            highs = [f["max"] for f in found if f["max"] is not None]
            # Equal counts by value, as the local statistics' ORDER BY n DESC, value: Python
            # compares strings by code point, DuckDB by UTF-8 bytes, the same order.
            top = sorted((pair for f in found for pair in f["top"]), key=lambda p: (-p[1], p[0]))
            results[name] = FeatureStatistics(
                name=name,
                type=fti_type,
                count=rows,
                null_count=rows - sum(int(s["strings"][name]) for s in summaries),
                min=min(lows) if lows else None,
                max=max(highs) if highs else None,
                distinct_count=distinct,
                top_values=[{"value": v, "count": int(n)} for v, n in top[:TOP_VALUES]],
            )
            continue
        scalars = merged[name]
        bins = None
        if fti_type in _NUMBERS:
            counted = [h[name] for h in histograms if name in h]
            totals = [sum(column) for column in zip(*counted, strict=True)] if counted else None
            bins = histogram(scalars["min"], scalars["max"], scalars["finite_count"], totals)
        results[name] = FeatureStatistics(
            name=name,
            type=fti_type,
            count=rows,
            null_count=scalars["null_count"],
            nan_count=scalars["nan_count"],
            inf_count=scalars["inf_count"],
            min=json_scalar(scalars["min"]),
            max=json_scalar(scalars["max"]),
            mean=scalars.get("mean"),
            stddev=scalars.get("stddev"),
            distinct_count=distinct,
            distinct_approximate=bool(sketches),
            histogram=bins,
        )
    return results


def _union_estimate(sketches: Sequence[bytes], non_null: int) -> int:
    """The distinct count estimated by the union of the partitions' serialized sketches."""
    datasketches: Any = import_optional("datasketches", "ray")
    union = datasketches.hll_union(DISTINCT_SKETCH_LG_K)
    for image in sketches:
        union.update(datasketches.hll_sketch.deserialize(image))
    # As the local estimate: HyperLogLog can overshoot on small or repetitive columns.
    return min(round(float(union.get_estimate())), non_null)
