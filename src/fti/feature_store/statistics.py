"""Descriptive statistics of a feature group's columns, computed for each commit.

:func:`compute_statistics` summarizes an Arrow table column by column into
:class:`FeatureStatistics` records that round-trip through JSON, so they can be stored beside
the commit they describe and compared between commits.

What each fti type gets:

=====================  =====================================================================
type                   statistics besides count, null_count and distinct_count
=====================  =====================================================================
int32, int64           min, max, mean, stddev, histogram
float32, float64       nan_count, inf_count, and min, max, mean, stddev, histogram over the
                       finite values only
bool                   mean (the share of ``True``), stddev
string                 min, max (by code point), top_values
date, timestamp        min, max as ISO 8601 strings (timestamps in UTC when tz-aware, to the
                       microsecond: nanoseconds are cut off)
list<float32/64>       count and null_count only: distinct_count is ``None`` and there is no
                       min, max or histogram, as an embedding has no order or single scale
=====================  =====================================================================

``distinct_count`` is exact for strings (their values are grouped anyway) and for columns of up
to :data:`EXACT_DISTINCT_ROWS` rows; beyond, it is a HyperLogLog estimate, capped at the
non-null count, and ``distinct_approximate`` is True.

Columns are summarized :data:`COLUMNS_PER_QUERY` at a time: DuckDB's planning time and memory
grow faster than linearly with the expressions of one statement (a statement over 1,000 columns
took gigabytes), so a wide table is cut into statements of a bounded width instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fti import duckdb_database
from fti.errors import SchemaError
from fti.types import ARROW_TYPES

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = [
    "COLUMNS_PER_QUERY",
    "EXACT_DISTINCT_ROWS",
    "FTI_TYPES",
    "HISTOGRAM_BINS",
    "TOP_VALUES",
    "FeatureStatistics",
    "compute_statistics",
    "histogram",
    "histogram_counts",
    "json_scalar",
    "scalar_summaries",
]

HISTOGRAM_BINS = 20
"""Number of equal-width bins in a numeric column's histogram."""

TOP_VALUES = 10
"""Largest number of most frequent values kept for a string column."""

EXACT_DISTINCT_ROWS = 100_000
"""Up to this many rows, distinct counts of non-string columns are exact (an Arrow hash
count, ~25 ms a column at this size); beyond, they are HyperLogLog estimates."""

COLUMNS_PER_QUERY = 64
"""Most columns one DuckDB statement summarizes; wider tables take several statements."""

_INTEGERS = frozenset({"int32", "int64"})
_FLOATS = frozenset({"float32", "float64"})
_NUMBERS = _INTEGERS | _FLOATS
_LISTS = frozenset({"list<float32>", "list<float64>"})
FTI_TYPES = frozenset(ARROW_TYPES)
"""The fti type names :func:`compute_statistics` accepts."""

_RELATION = "fti_statistics_input"

# Rows per Arrow record batch given to DuckDB (see _register).
_BATCH_ROWS = 64 * 1024

# JSON-friendly scalar for min and max: dates and timestamps are turned into ISO strings.
Scalar = int | float | str | None


@dataclass(frozen=True, slots=True)
class FeatureStatistics:
    """Statistics of one feature (column) at one commit; see the module docstring per type.

    ``min``, ``max``, ``mean`` and ``stddev`` are ``None`` when the column has no non-null
    (for floats: finite) value; ``stddev`` is the sample standard deviation, so it also needs two.
    ``histogram`` lists :data:`HISTOGRAM_BINS` bins ``{"lower", "upper", "count"}``: each holds
    ``lower <= x < upper`` and the last also ``x == upper``. A column whose finite values are
    all equal gets one bin ``[min, max]``; one without finite values gets ``None``.
    ``top_values`` lists up to :data:`TOP_VALUES` ``{"value", "count"}``, most frequent first,
    equal counts by value. ``distinct_count`` counts the distinct non-null values (NaN is one
    value); ``distinct_approximate`` says it is an estimate (never above the non-null count).
    """

    name: str
    type: str
    count: int
    null_count: int
    nan_count: int = 0
    inf_count: int = 0
    min: Scalar = None
    max: Scalar = None
    mean: float | None = None
    stddev: float | None = None
    distinct_count: int | None = None
    distinct_approximate: bool = False
    histogram: list[dict[str, Any]] | None = None
    top_values: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the statistics as a JSON-serializable dict (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureStatistics:
        """Build statistics from :meth:`to_dict` output; keys it does not know are ignored.

        Raises SchemaError when a required key (name, type, count, null_count) is missing.
        Records stored before distinct counts could be exact hold ``approx_distinct``, read as
        an approximate ``distinct_count``.
        """
        if "approx_distinct" in data and "distinct_count" not in data:
            legacy = data["approx_distinct"]
            data = {**data, "distinct_count": legacy, "distinct_approximate": legacy is not None}
        fields = {field.name for field in dataclasses.fields(cls)}
        missing = sorted(
            field.name
            for field in dataclasses.fields(cls)
            if field.default is dataclasses.MISSING and field.name not in data
        )
        if missing:
            raise SchemaError(f"feature statistics lack the keys {missing}")
        kwargs = {key: value for key, value in data.items() if key in fields}
        # Copy the nested lists so the frozen record shares no mutable state with the input.
        for key in ("histogram", "top_values"):
            if kwargs.get(key) is not None:
                kwargs[key] = [dict(item) for item in kwargs[key]]
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class _Column:
    """A requested column: its position in the queries, name, fti type and SQL expressions."""

    index: int
    name: str
    type: str

    @property
    def value(self) -> str:
        return f"v{self.index}"

    @property
    def finite(self) -> str:
        """The alias holding the column's finite values as DOUBLE, NULL elsewhere (floats)."""
        return f"f{self.index}"

    def projection(self) -> list[str]:
        """The inner SELECT items the aggregates of this column read."""
        column = _quote(self.name)
        if self.type == "string":
            # Dictionary-encoded strings arrive as ENUM, whose order is not lexicographic.
            items = [f"{column}::VARCHAR AS {self.value}"]
        else:
            items = [f"{column} AS {self.value}"]
        if self.type in _FLOATS:
            items.append(f"CASE WHEN isfinite({column}) THEN {column}::DOUBLE END AS {self.finite}")
        return items


def compute_statistics(table: pa.Table, types: Mapping[str, str]) -> dict[str, FeatureStatistics]:
    """Return the statistics of each column named in ``types``, keyed by column name.

    ``types`` maps a column of ``table`` to its fti type name (one of :data:`FTI_TYPES`);
    other columns of ``table`` are left out. Raises SchemaError when a named column is missing
    or duplicated, a type name is unknown, or the column's Arrow type does not fit its type.
    """
    columns = _check_columns(table, types)
    if not columns:
        return {}
    found: dict[int, dict[str, Any]] = {}
    histograms: dict[int, list[dict[str, Any]] | None] = {}
    with duckdb_database.cursor() as con:
        # Timestamps come back as datetimes in the session zone; UTC keeps them deterministic.
        con.execute("SET TimeZone = 'UTC'")
        for start in range(0, len(columns), COLUMNS_PER_QUERY):
            chunk = columns[start : start + COLUMNS_PER_QUERY]
            # Only the chunk's columns are registered: DuckDB reads the schema of the whole
            # registered table for each statement.
            _register(con, table.select([column.name for column in chunk]))
            # Strings are summarized from their grouped values (see _string_statistics), so
            # the scalar query leaves them out rather than converting every string twice.
            scalars = _scalar_statistics(
                con,
                [c for c in chunk if c.type != "string"],
                estimate_distinct=table.num_rows > EXACT_DISTINCT_ROWS,
            )
            histograms |= _histograms(con, chunk, scalars)
            found |= scalars
            strings = [column for column in chunk if column.type == "string"]
            found |= _string_statistics(con, strings, table.num_rows)
            con.unregister(_RELATION)
    results = {}
    for column in columns:
        found_here = found[column.index]
        null_count = int(found_here["null_count"])
        distinct, approximate = _distinct(table, column, found_here, table.num_rows - null_count)
        results[column.name] = FeatureStatistics(
            name=column.name,
            type=column.type,
            count=table.num_rows,
            null_count=null_count,
            nan_count=int(found_here.get("nan_count", 0)),
            inf_count=int(found_here.get("inf_count", 0)),
            min=json_scalar(found_here.get("min")),
            max=json_scalar(found_here.get("max")),
            mean=found_here.get("mean"),
            stddev=found_here.get("stddev"),
            distinct_count=distinct,
            distinct_approximate=approximate,
            histogram=histograms.get(column.index),
            top_values=found_here.get("top_values"),
        )
    return results


def _register(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Register ``table`` as the statements' input, sliced so every core can scan a part."""
    import pyarrow as pa

    # DuckDB gives each Arrow record batch to one thread; zero-copy slices share the work.
    batches = pa.Table.from_batches(table.to_batches(max_chunksize=_BATCH_ROWS), table.schema)
    con.register(_RELATION, batches)


def _distinct(
    table: pa.Table, column: _Column, found: Mapping[str, Any], non_null: int
) -> tuple[int | None, bool]:
    """The distinct count of ``column`` and whether it is an estimate."""
    import pyarrow.compute as pc

    if column.type in _LISTS:
        return None, False
    if "distinct" in found:  # strings: counted exactly from their groups
        return int(found["distinct"]), False
    if table.num_rows <= EXACT_DISTINCT_ROWS:
        exact = pc.count_distinct(table.column(column.name), mode="only_valid")
        return int(exact.as_py()), False
    # HyperLogLog can overshoot on small or repetitive columns.
    return min(int(found["approx_distinct"]), non_null), True


def _arrow_type_fits(fti_type: str, arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    checks: dict[str, Callable[[pa.DataType], bool]] = {
        "bool": pa.types.is_boolean,
        "int32": pa.types.is_integer,
        "int64": pa.types.is_integer,
        "float32": pa.types.is_floating,
        "float64": pa.types.is_floating,
        "string": lambda t: (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_string_view(t)
            or (pa.types.is_dictionary(t) and _is_string_type(t.value_type))
        ),
        "date": pa.types.is_date,
        "timestamp": pa.types.is_timestamp,
        "list<float32>": _is_float_list,
        "list<float64>": _is_float_list,
    }
    return checks[fti_type](arrow_type)


def _is_string_type(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _is_float_list(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    is_list = (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )
    return bool(is_list and pa.types.is_floating(arrow_type.value_type))


def _check_columns(table: pa.Table, types: Mapping[str, str]) -> list[_Column]:
    columns = []
    for index, (name, fti_type) in enumerate(types.items()):
        if fti_type not in FTI_TYPES:
            raise SchemaError(
                f"column {name!r} has unknown type {fti_type!r}; use one of {sorted(FTI_TYPES)}"
            )
        positions = table.schema.get_all_field_indices(name)
        if len(positions) != 1:
            problem = "is missing from" if not positions else "appears more than once in"
            raise SchemaError(f"column {name!r} {problem} the table")
        arrow_type = table.schema.field(positions[0]).type
        if not _arrow_type_fits(fti_type, arrow_type):
            raise SchemaError(
                f"column {name!r} holds Arrow {arrow_type}, which does not fit type {fti_type!r}"
            )
        columns.append(_Column(index, name, fti_type))
    return columns


def _scalar_statistics(
    con: duckdb.DuckDBPyConnection, columns: list[_Column], *, estimate_distinct: bool
) -> dict[int, dict[str, Any]]:
    """Every per-column scalar in one aggregate query, so the table is scanned once.

    With ``estimate_distinct``, a HyperLogLog distinct count too (``approx_distinct``).
    """
    if not columns:
        return {}
    aggregates: list[tuple[int, str, str]] = []
    for column in columns:
        value, finite = column.value, column.finite
        wanted = {"null_count": f"count(*) - count({value})"}
        if column.type in _LISTS:
            aggregates.extend((column.index, key, sql) for key, sql in wanted.items())
            continue
        if estimate_distinct:
            wanted["approx_distinct"] = f"approx_count_distinct({value})"
        if column.type in _FLOATS:
            # NaN sorts above every number in DuckDB and inf would swamp the moments, so the
            # order statistics, moments and histogram all read the finite values only.
            # count_if, not count(*) FILTER: each FILTER clause costs DuckDB a projection of
            # its own, which made wide statements quadratic. (count_if of no rows is NULL.)
            wanted |= {
                "nan_count": f"coalesce(count_if(isnan({value})), 0)",
                "inf_count": f"coalesce(count_if(isinf({value})), 0)",
                "finite_count": f"count({finite})",
                "min": f"min({finite})",
                "max": f"max({finite})",
                # favg sums with compensation, so values that cancel do not lose the mean.
                "mean": f"favg({finite})",
                "stddev": f"stddev_samp({finite})",
            }
        elif column.type in _INTEGERS:
            wanted |= {
                "finite_count": f"count({value})",
                "min": f"min({value})",
                "max": f"max({value})",
                "mean": f"avg({value})",
                "stddev": f"stddev_samp({value})",
            }
        elif column.type == "bool":
            wanted |= {
                "mean": f"avg({value}::INTEGER)",
                "stddev": f"stddev_samp({value}::INTEGER)",
            }
        else:
            wanted |= {"min": f"min({value})", "max": f"max({value})"}
        aggregates.extend((column.index, key, sql) for key, sql in wanted.items())

    projection = ", ".join(item for column in columns for item in column.projection())
    select = ", ".join(sql for _, _, sql in aggregates)
    # fetchall, not fetchone: the cursor must hold no pending result when the next chunk's
    # input is registered. An aggregate without GROUP BY returns exactly one row.
    (row,) = con.execute(f"SELECT {select} FROM (SELECT {projection} FROM {_RELATION})").fetchall()
    results: dict[int, dict[str, Any]] = {column.index: {} for column in columns}
    for (index, key, _), value in zip(aggregates, row, strict=True):
        results[index][key] = value
    return results


def _bin_edges(low: float, high: float) -> list[float]:
    """HISTOGRAM_BINS + 1 non-decreasing edges from ``low`` to ``high`` (``low < high``).

    The edges are numpy.linspace's (``low + i * width``, last ``high``), so the counts match
    ``numpy.histogram(values, bins=20, range=(low, high))`` value for value.
    """
    width = (high - low) / HISTOGRAM_BINS
    edges = [low + i * width for i in range(HISTOGRAM_BINS)] + [high]
    if not all(math.isfinite(edge) for edge in edges):
        # high - low overflowed: interpolate without forming the difference.
        edges = [
            low * ((HISTOGRAM_BINS - i) / HISTOGRAM_BINS) + high * (i / HISTOGRAM_BINS)
            for i in range(HISTOGRAM_BINS)
        ] + [high]
    # Rounding may put an edge a hair outside its neighbours; clamp to keep them ordered.
    for i in range(1, HISTOGRAM_BINS + 1):
        edges[i] = min(max(edges[i], edges[i - 1]), high)
    return edges


def _histograms(
    con: duckdb.DuckDBPyConnection,
    columns: list[_Column],
    scalars: dict[int, dict[str, Any]],
) -> dict[int, list[dict[str, Any]] | None]:
    """The histogram of every numeric column, binned in one query."""
    histograms: dict[int, list[dict[str, Any]] | None] = {}
    binned: list[tuple[_Column, float, float]] = []
    for column in columns:
        if column.type not in _NUMBERS:
            continue
        stats = scalars[column.index]
        finite = int(stats["finite_count"])
        if finite == 0 or float(stats["min"]) == float(stats["max"]):
            histograms[column.index] = histogram(stats["min"], stats["max"], finite, None)
            continue
        binned.append((column, float(stats["min"]), float(stats["max"])))
    counted = _bin_counts(con, binned)
    for column, low, high in binned:
        finite = int(scalars[column.index]["finite_count"])
        histograms[column.index] = histogram(low, high, finite, counted[column.index])
    return histograms


def histogram(
    low: float | None, high: float | None, finite_count: int, counts: list[int] | None
) -> list[dict[str, Any]] | None:
    """A column's histogram (see :class:`FeatureStatistics`) from its finite values' range and
    count, and, when ``low < high``, their counts in the bins :func:`histogram_counts` cuts."""
    if finite_count == 0 or low is None or high is None:
        return None
    low, high = float(low), float(high)
    if low == high:
        # One value has no width to divide into bins.
        return [{"lower": low, "upper": high, "count": finite_count}]
    if counts is None:
        raise ValueError("a histogram over a range needs its bin counts")
    edges = _bin_edges(low, high)
    return [
        {"lower": edges[i], "upper": edges[i + 1], "count": counts[i]}
        for i in range(HISTOGRAM_BINS)
    ]


def _bin_counts(
    con: duckdb.DuckDBPyConnection, binned: list[tuple[_Column, float, float]]
) -> dict[int, list[int]]:
    """The counts of each column's finite values in the bins between its ``low < high``."""
    if not binned:
        return {}
    ranged = [(column, _bin_edges(low, high)) for column, low, high in binned]
    # DuckDB's histogram(x, boundaries) counts each x into the first boundary b with
    # x <= b. Bins here are [lower, upper), so each upper edge is replaced by the double
    # just below it: x <= nextafter(e, -inf) holds exactly when x < e.
    boundaries = {
        column.index: [math.nextafter(edge, -math.inf) for edge in edges[1:-1]] + [edges[-1]]
        for column, edges in ranged
    }
    aggregates = []
    for column, _ in ranged:
        source = column.finite if column.type in _FLOATS else f"{column.value}::DOUBLE"
        aggregates.append(f"histogram({source}, $b{column.index})")
    projection = ", ".join(item for column, _ in ranged for item in column.projection())
    (row,) = con.execute(
        f"SELECT {', '.join(aggregates)} FROM (SELECT {projection} FROM {_RELATION})",
        {f"b{index}": bounds for index, bounds in boundaries.items()},
    ).fetchall()
    results: dict[int, list[int]] = {}
    for (column, _), counts in zip(ranged, row, strict=True):
        # Boundaries repeat when the range is a few ulps wide; DuckDB counts a repeated one
        # once, into the first bin that has it (the later ones are empty).
        first_bin: dict[float, int] = {}
        for i, boundary in enumerate(boundaries[column.index]):
            first_bin.setdefault(boundary, i)
        bin_counts = [0] * HISTOGRAM_BINS
        # histogram() of no rows is NULL.
        for boundary, count in (counts or {}).items():
            bin_counts[first_bin[boundary]] += int(count)
        results[column.index] = bin_counts
    return results


def scalar_summaries(table: pa.Table, types: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The scalars :func:`compute_statistics` aggregates for each non-string column of
    ``types``, raw (dates and timestamps as such, no distinct count), by column name: a
    partition's part of the statistics, for merging. Keys: ``null_count``; for numbers
    ``nan_count``, ``inf_count`` (floats), ``finite_count``, ``min``, ``max``, ``mean``,
    ``stddev``; for bool ``mean``, ``stddev``; for dates and timestamps ``min``, ``max``.
    Raises SchemaError as :func:`compute_statistics` does."""
    columns = [c for c in _check_columns(table, types) if c.type != "string"]
    found: dict[str, dict[str, Any]] = {}
    with duckdb_database.cursor() as con:
        con.execute("SET TimeZone = 'UTC'")
        for start in range(0, len(columns), COLUMNS_PER_QUERY):
            chunk = columns[start : start + COLUMNS_PER_QUERY]
            _register(con, table.select([column.name for column in chunk]))
            scalars = _scalar_statistics(con, chunk, estimate_distinct=False)
            con.unregister(_RELATION)
            found |= {column.name: scalars[column.index] for column in chunk}
    return found


def histogram_counts(
    table: pa.Table, types: Mapping[str, str], ranges: Mapping[str, tuple[float, float]]
) -> dict[str, list[int]]:
    """For each numeric column named in ``ranges``, the counts of its finite values in the
    :data:`HISTOGRAM_BINS` bins :func:`compute_statistics` cuts between ``low < high``: a
    partition's counts in the bins of the whole table's range. ``types`` as in
    :func:`compute_statistics`; a column of ``ranges`` must be a number there."""
    columns = [c for c in _check_columns(table, types) if c.name in ranges]
    if any(column.type not in _NUMBERS for column in columns):
        raise SchemaError("histogram counts are for integer and float columns only")
    found: dict[str, list[int]] = {}
    with duckdb_database.cursor() as con:
        for start in range(0, len(columns), COLUMNS_PER_QUERY):
            chunk = columns[start : start + COLUMNS_PER_QUERY]
            _register(con, table.select([column.name for column in chunk]))
            bounds = [(c, float(ranges[c.name][0]), float(ranges[c.name][1])) for c in chunk]
            counted = _bin_counts(con, bounds)
            con.unregister(_RELATION)
            found |= {column.name: counted[column.index] for column in chunk}
    return found


def _string_statistics(
    con: duckdb.DuckDBPyConnection, strings: list[_Column], row_count: int
) -> dict[int, dict[str, Any]]:
    """Null count, distinct count, min, max and top values of every string column, in one query.

    Each column's values are grouped once and everything is read from the groups: the number
    of groups is the exact distinct count, min and max see each distinct value once instead of
    once per row, and a top-N (ORDER BY ... LIMIT) keeps a heap of ten instead of sorting every
    group.
    """
    if not strings:
        return {}
    groups = ", ".join(
        f"g{column.index} AS MATERIALIZED (SELECT {column.value} AS value, count(*) AS n "
        f"FROM (SELECT {', '.join(column.projection())} FROM {_RELATION}) "
        f"WHERE {column.value} IS NOT NULL GROUP BY {column.value})"
        for column in strings
    )
    parts = " UNION ALL ".join(
        f"(SELECT {i} AS k, value, n, NULL AS lo, NULL AS hi, NULL AS distinct_values FROM g{i} "
        f"ORDER BY n DESC, value LIMIT {TOP_VALUES}) "
        f"UNION ALL (SELECT {i}, NULL, coalesce(sum(n), 0), min(value), max(value), "
        f"count(*) FROM g{i})"
        for i in (column.index for column in strings)
    )
    rows = con.execute(
        f"WITH {groups} SELECT k, value, n, lo, hi, distinct_values FROM ({parts}) "
        "ORDER BY k, n DESC, value"
    ).fetchall()
    results: dict[int, dict[str, Any]] = {column.index: {"top_values": []} for column in strings}
    for index, value, count, low, high, distinct in rows:
        if value is not None:
            results[index]["top_values"].append({"value": value, "count": int(count)})
        else:  # the summary row, the only one without a value
            results[index] |= {
                "null_count": row_count - int(count),
                "min": low,
                "max": high,
                "distinct": int(distinct),
            }
    return results


def json_scalar(value: Any) -> Scalar:
    """A min or max as :class:`FeatureStatistics` holds it: dates and timestamps as ISO 8601
    strings; everything else unchanged."""
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if value is None or isinstance(value, int | float | str):
        return value
    raise TypeError(f"unexpected statistic value {value!r}")  # pragma: no cover


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
