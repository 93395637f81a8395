"""Feature statistics: each type against numpy/pandas, edge cases, a float property, JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fti.errors import SchemaError
from fti.feature_store.statistics import (
    COLUMNS_PER_QUERY,
    EXACT_DISTINCT_ROWS,
    FTI_TYPES,
    HISTOGRAM_BINS,
    TOP_VALUES,
    FeatureStatistics,
    compute_statistics,
)

UTC = dt.UTC
ARROW_TYPES = {
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<float32>": pa.list_(pa.float32()),
    "list<float64>": pa.list_(pa.float64()),
}
NUMBERS = {"int32", "int64", "float32", "float64"}


def _stats(values: list[Any], fti_type: str) -> FeatureStatistics:
    table = pa.table({"x": pa.array(values, type=ARROW_TYPES[fti_type])})
    return compute_statistics(table, {"x": fti_type})["x"]


def _with_nulls(values: list[Any], every: int = 7) -> list[Any]:
    return [None if i % every == 3 else value for i, value in enumerate(values)]


def _expected(values: list[Any], fti_type: str) -> dict[str, Any]:
    """The statistics numpy and pandas give for ``values`` as stored in Arrow."""
    # Read the values back from Arrow so float32 rounding is the one the column holds.
    stored = pa.array(values, type=ARROW_TYPES[fti_type]).to_pylist()
    present = [value for value in stored if value is not None]
    expected: dict[str, Any] = {
        "count": len(stored),
        "null_count": len(stored) - len(present),
        "nan_count": 0,
        "inf_count": 0,
        "min": None,
        "max": None,
        "mean": None,
        "stddev": None,
        "histogram": None,
        "top_values": None,
    }
    if fti_type in NUMBERS or fti_type == "bool":
        array = np.array(present, dtype=np.float64)
        finite = array[np.isfinite(array)]
        if fti_type in {"float32", "float64"}:
            expected["nan_count"] = int(np.isnan(array).sum())
            expected["inf_count"] = int(np.isinf(array).sum())
        if len(finite):
            expected["mean"] = float(np.mean(finite))
        if len(finite) > 1:
            expected["stddev"] = float(np.std(finite, ddof=1))
        if fti_type in NUMBERS and len(finite):
            low, high = float(finite.min()), float(finite.max())
            expected["min"], expected["max"] = low, high
            if low < high:
                counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS, range=(low, high))
                expected["histogram"] = [
                    {"lower": float(edges[i]), "upper": float(edges[i + 1]), "count": int(c)}
                    for i, c in enumerate(counts)
                ]
    elif fti_type == "string":
        series = pd.Series(present, dtype=object)
        if len(series):
            expected["min"], expected["max"] = series.min(), series.max()
        frequencies = series.value_counts().rename_axis("value").reset_index(name="count")
        frequencies = frequencies.sort_values(["count", "value"], ascending=[False, True])
        top = frequencies.head(TOP_VALUES)
        expected["top_values"] = [
            {"value": value, "count": int(count)}
            for value, count in zip(top["value"], top["count"], strict=True)
        ]
    elif fti_type in {"date", "timestamp"} and present:
        series = pd.Series(present)
        expected["min"], expected["max"] = series.min().isoformat(), series.max().isoformat()
    return expected


_rng = np.random.default_rng(42)
_N = 2_000
_floats = _rng.normal(10.0, 3.0, _N).tolist()
_floats[5], _floats[50], _floats[500] = math.nan, math.inf, -math.inf
_DAY0 = dt.date(2024, 1, 1)
_T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
CASES = [
    pytest.param("bool", _with_nulls((_rng.random(_N) < 0.3).tolist()), id="bool"),
    pytest.param("int32", _with_nulls(_rng.integers(-500, 500, _N).tolist()), id="int32"),
    pytest.param("int64", _with_nulls(_rng.integers(-(10**12), 10**12, _N).tolist()), id="int64"),
    # Every value once: many fall exactly on bin edges, where bins are [lower, upper).
    pytest.param("int64", list(range(101)), id="int64-on-edges"),
    pytest.param("float32", _with_nulls(_floats), id="float32"),
    pytest.param("float64", _with_nulls(_floats), id="float64"),
    pytest.param("float64", _rng.exponential(1.0, _N).tolist(), id="float64-skewed"),
    pytest.param(
        "string",
        _with_nulls([f"v{int(i)}" for i in _rng.zipf(1.5, _N) % 40]),
        id="string",
    ),
    pytest.param("string", ["b", "a", "c", "a", "b", "é", "B", ""], id="string-ties"),
    pytest.param(
        "date",
        _with_nulls([_DAY0 + dt.timedelta(days=int(d)) for d in _rng.integers(-900, 900, _N)]),
        id="date",
    ),
    pytest.param(
        "timestamp",
        _with_nulls(
            [_T0 + dt.timedelta(microseconds=int(u)) for u in _rng.integers(0, 10**13, _N)]
        ),
        id="timestamp",
    ),
    pytest.param(
        "list<float32>", _with_nulls([[1.0, 2.0], [0.5, 0.25], [1.0, 2.0]] * 10), id="embedding32"
    ),
    pytest.param("list<float64>", [[1.0, math.nan], None, []], id="embedding64"),
]


@pytest.mark.parametrize(("fti_type", "values"), CASES)
def test_statistics_match_numpy_and_pandas(fti_type: str, values: list[Any]) -> None:
    stats = _stats(values, fti_type)
    expected = _expected(values, fti_type)

    assert (stats.name, stats.type) == ("x", fti_type)
    for key in ("count", "null_count", "nan_count", "inf_count", "min", "max", "top_values"):
        assert getattr(stats, key) == expected[key], key
    for key in ("mean", "stddev"):
        if expected[key] is None:
            assert getattr(stats, key) is None, key
        else:
            assert getattr(stats, key) == pytest.approx(expected[key], rel=1e-9), key
    # numpy.histogram bins the same way, so counts and edges match exactly.
    assert stats.histogram == expected["histogram"]


@pytest.mark.parametrize(("fti_type", "values"), CASES)
def test_distinct_count_is_exact_below_the_threshold(fti_type: str, values: list[Any]) -> None:
    stats = _stats(values, fti_type)
    if fti_type.startswith("list"):
        assert (stats.distinct_count, stats.distinct_approximate) == (None, False)
        return
    exact = len({repr(v) for v in pa.array(values, ARROW_TYPES[fti_type]).to_pylist()} - {"None"})
    assert (stats.distinct_count, stats.distinct_approximate) == (exact, False)


def test_distinct_count_of_the_issue_is_exact() -> None:
    # HyperLogLog said 1,819 for these 1,800 distinct values.
    stats = _stats([float(i) for i in range(1_800)], "float64")

    assert (stats.distinct_count, stats.distinct_approximate) == (1_800, False)


@pytest.mark.parametrize(
    ("fti_type", "values"),
    [
        pytest.param("int64", list(range(EXACT_DISTINCT_ROWS + 1)), id="all-distinct"),
        pytest.param("float64", [0.5, 1.5, None] * (EXACT_DISTINCT_ROWS // 3 + 1), id="repeats"),
    ],
)
def test_distinct_count_beyond_the_threshold_is_a_flagged_estimate(
    fti_type: str, values: list[Any]
) -> None:
    stats = _stats(values, fti_type)

    exact = len(set(values) - {None})
    assert stats.distinct_approximate is True
    assert stats.distinct_count is not None
    assert stats.distinct_count <= stats.count - stats.null_count
    assert stats.distinct_count == pytest.approx(exact, rel=0.1)


def test_string_distinct_count_stays_exact_beyond_the_threshold() -> None:
    values = [f"v{i}" for i in range(EXACT_DISTINCT_ROWS + 1)]
    stats = _stats(values, "string")

    assert (stats.distinct_count, stats.distinct_approximate) == (len(values), False)


@pytest.mark.parametrize("fti_type", ["int32", "int64", "float32", "float64"])
def test_histogram_has_every_bin_and_counts_every_finite_value(fti_type: str) -> None:
    # Two clusters far apart leave the bins between them empty.
    values: list[Any] = [0, 1, 1, 2, 100, None]
    if fti_type.startswith("float"):
        values += [math.nan, math.inf]
    stats = _stats(values, fti_type)

    assert stats.histogram is not None
    assert len(stats.histogram) == HISTOGRAM_BINS
    assert sum(b["count"] for b in stats.histogram) == 5
    assert [b["count"] for b in stats.histogram][:2] == [4, 0]
    assert stats.histogram[-1]["count"] == 1
    assert stats.histogram[0]["lower"] == 0.0
    assert stats.histogram[-1]["upper"] == 100.0
    for left, right in zip(stats.histogram, stats.histogram[1:], strict=False):
        assert left["upper"] == right["lower"]


# --- edge cases -------------------------------------------------------------------------------


@pytest.mark.parametrize("fti_type", sorted(FTI_TYPES))
def test_empty_table(fti_type: str) -> None:
    stats = _stats([], fti_type)

    assert (stats.count, stats.null_count, stats.nan_count, stats.inf_count) == (0, 0, 0, 0)
    assert (stats.min, stats.max, stats.mean, stats.stddev, stats.histogram) == (None,) * 5
    assert stats.distinct_count == (None if fti_type.startswith("list") else 0)
    assert stats.top_values == ([] if fti_type == "string" else None)


@pytest.mark.parametrize("fti_type", sorted(FTI_TYPES))
def test_all_null_column(fti_type: str) -> None:
    stats = _stats([None, None, None], fti_type)

    assert (stats.count, stats.null_count, stats.nan_count, stats.inf_count) == (3, 3, 0, 0)
    assert (stats.min, stats.max, stats.mean, stats.stddev, stats.histogram) == (None,) * 5
    assert stats.distinct_count == (None if fti_type.startswith("list") else 0)
    assert stats.top_values == ([] if fti_type == "string" else None)


@pytest.mark.parametrize(
    ("fti_type", "value"),
    [
        pytest.param("int32", 7, id="int32"),
        pytest.param("int64", -(2**40), id="int64"),
        pytest.param("float32", 0.5, id="float32"),
        pytest.param("float64", 3.25, id="float64"),
    ],
)
def test_constant_numeric_column_has_one_bin(fti_type: str, value: float) -> None:
    stats = _stats([value] * 4 + [None], fti_type)

    assert (stats.min, stats.max, stats.mean) == (value, value, value)
    assert stats.stddev == 0.0
    assert stats.distinct_count == 1
    assert stats.histogram == [{"lower": value, "upper": value, "count": 4}]


def test_single_value_has_no_sample_stddev() -> None:
    stats = _stats([2.0, None], "float64")

    assert (stats.mean, stats.stddev) == (2.0, None)
    assert stats.histogram == [{"lower": 2.0, "upper": 2.0, "count": 1}]


@pytest.mark.parametrize("fti_type", ["float32", "float64"])
def test_nan_and_inf_are_counted_and_kept_out_of_the_rest(fti_type: str) -> None:
    values = [math.nan, math.inf, -math.inf, None, 1.0, 3.0, math.nan, math.inf]
    stats = _stats(values, fti_type)

    assert (stats.count, stats.null_count, stats.nan_count, stats.inf_count) == (8, 1, 2, 3)
    assert (stats.min, stats.max, stats.mean) == (1.0, 3.0, 2.0)
    assert stats.stddev == pytest.approx(math.sqrt(2.0))
    assert stats.histogram is not None
    assert sum(b["count"] for b in stats.histogram) == 2


def test_only_nan_and_inf_leave_no_finite_statistics() -> None:
    stats = _stats([math.nan, math.inf, -math.inf], "float64")

    assert (stats.nan_count, stats.inf_count) == (1, 2)
    assert (stats.min, stats.max, stats.mean, stats.stddev, stats.histogram) == (None,) * 5


def test_range_wider_than_the_largest_float_still_bins() -> None:
    stats = _stats([-1e308, 1e308, 0.0], "float64")

    assert stats.histogram is not None
    counts = [b["count"] for b in stats.histogram]
    assert (counts[0], counts[HISTOGRAM_BINS // 2], counts[-1], sum(counts)) == (1, 1, 1, 3)
    assert all(math.isfinite(b["lower"]) and math.isfinite(b["upper"]) for b in stats.histogram)


def test_range_of_one_ulp_still_bins_by_lower_and_upper() -> None:
    # numpy refuses this range (its edges repeat); here the repeated edges make empty bins.
    upper = math.nextafter(1.0, 2.0)
    stats = _stats([1.0, upper] * 3, "float64")

    assert stats.histogram is not None
    assert len(stats.histogram) == HISTOGRAM_BINS
    for b in stats.histogram[:-1]:
        expected = sum(b["lower"] <= v < b["upper"] for v in [1.0, upper] * 3)
        assert b["count"] == expected
    assert stats.histogram[-1] == {"lower": upper, "upper": upper, "count": 3}


def test_timestamps_are_utc_iso_strings() -> None:
    values = [
        dt.datetime(2024, 3, 1, 12, 30, tzinfo=UTC),
        dt.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ]
    stats = _stats(values, "timestamp")

    assert stats.min == "2023-12-31T23:59:59.999999+00:00"
    assert stats.max == "2024-03-01T12:30:00+00:00"
    assert stats.mean is None


def test_timestamps_in_another_zone_are_reported_in_utc() -> None:
    table = pa.table(
        {"t": pa.array([0, 3_600_000_000], type=pa.timestamp("us", tz="America/New_York"))}
    )
    stats = compute_statistics(table, {"t": "timestamp"})["t"]

    assert (stats.min, stats.max) == ("1970-01-01T00:00:00+00:00", "1970-01-01T01:00:00+00:00")


def test_dates_are_iso_strings() -> None:
    stats = _stats([dt.date(2024, 2, 29), dt.date(1999, 1, 1), None], "date")

    assert (stats.min, stats.max) == ("1999-01-01", "2024-02-29")


def test_bool_mean_is_the_share_of_true() -> None:
    stats = _stats([True, False, True, True, None], "bool")

    assert stats.mean == 0.75
    assert (stats.min, stats.max, stats.histogram, stats.distinct_count) == (None, None, None, 2)


@pytest.mark.parametrize(
    "array",
    [
        pytest.param(pa.array(["zz", "a", None, "zz"], pa.large_string()), id="large_string"),
        pytest.param(pa.array(["zz", "a", None, "zz"], pa.string_view()), id="string_view"),
        # The dictionary lists "zz" first; min and max must still compare the strings.
        pytest.param(pa.array(["zz", "a", None, "zz"]).dictionary_encode(), id="dictionary"),
    ],
)
def test_other_string_encodings(array: pa.Array) -> None:
    stats = compute_statistics(pa.table({"s": array}), {"s": "string"})["s"]

    assert (stats.min, stats.max, stats.null_count, stats.distinct_count) == ("a", "zz", 1, 2)
    assert stats.top_values == [{"value": "zz", "count": 2}, {"value": "a", "count": 1}]


def test_top_values_keep_the_ten_most_frequent_ties_by_value() -> None:
    values = [f"k{i:02d}" for i in range(15) for _ in range(2)] + ["z"] * 3 + [None]
    stats = _stats(values, "string")

    assert stats.top_values == [{"value": "z", "count": 3}] + [
        {"value": f"k{i:02d}", "count": 2} for i in range(TOP_VALUES - 1)
    ]


def test_many_columns_in_one_call_and_other_columns_left_out() -> None:
    table = pa.table(
        {
            "a": pa.array([1, 2, 3], pa.int64()),
            "b": pa.array(["x", "y", "x"]),
            "c": pa.array([0.5, math.nan, None]),
            "ignored": pa.array([1, 2, 3]),
        }
    )
    stats = compute_statistics(table, {"a": "int64", "b": "string", "c": "float64"})

    assert list(stats) == ["a", "b", "c"]
    assert (stats["a"].mean, stats["b"].max, stats["c"].nan_count) == (2.0, "y", 1)
    assert compute_statistics(table, {}) == {}


def test_a_table_wider_than_one_query_gives_each_column_its_own_statistics() -> None:
    kinds = ["float64", "int64", "string", "timestamp", "bool"]
    columns = {
        f"c{i}": pa.array(
            [
                [0.5, None, 2.5],
                [1, 2, None],
                ["a", "b", "a"],
                [_T0, None, _T0],
                [True, None, False],
            ][i % len(kinds)],
            ARROW_TYPES[kinds[i % len(kinds)]],
        )
        for i in range(2 * COLUMNS_PER_QUERY + 3)
    }
    table = pa.table(columns)
    types = {name: kinds[i % len(kinds)] for i, name in enumerate(columns)}

    stats = compute_statistics(table, types)

    assert list(stats) == list(columns)
    for name, fti_type in types.items():
        alone = compute_statistics(table.select([name]), {name: fti_type})[name]
        assert stats[name] == alone, name


WIDE_INSERT = """
import sys
import pandas as pd
import fti

home, columns = sys.argv[1], int(sys.argv[2])
features = [fti.Feature("id", "int64")] + [fti.Feature(f"c{i}", "float64") for i in range(columns)]
with fti.connect(home) as project:
    fg = project.feature_store.create_feature_group("wide", primary_key=["id"], features=features)
    fg.insert(pd.DataFrame({"id": [1], **{f"c{i}": [i + 0.5] for i in range(columns)}}))
    assert len(fg.statistics()) == columns + 1
# VmHWM, not ru_maxrss: Linux carries the parent's peak into a child's ru_maxrss across
# fork and exec, so under a big pytest process ru_maxrss measured the parent.
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_one_row_insert_into_a_thousand_columns_stays_under_1_5_gb(tmp_path: Path) -> None:
    # A fresh process, so the peak is this insert's (it was over 3 GB at 500 columns).
    done = subprocess.run(
        [sys.executable, "-c", WIDE_INSERT, str(tmp_path / "home"), "1000"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stdout.split()[-1])
    assert peak_kib < 1.5 * 1024 * 1024


def test_statistics_stored_before_exact_counts_read_as_approximate() -> None:
    data = _stats([1, 2], "int64").to_dict()
    del data["distinct_count"], data["distinct_approximate"]

    stats = FeatureStatistics.from_dict({**data, "approx_distinct": 3})

    assert (stats.distinct_count, stats.distinct_approximate) == (3, True)


@pytest.mark.parametrize(
    ("types", "match"),
    [
        pytest.param({"missing": "int64"}, "'missing' is missing", id="missing-column"),
        pytest.param({"a": "int128"}, "unknown type 'int128'", id="unknown-type"),
        pytest.param({"a": "string"}, "does not fit type 'string'", id="wrong-arrow-type"),
    ],
)
def test_bad_columns_raise_schema_error(types: dict[str, str], match: str) -> None:
    table = pa.table({"a": pa.array([1, 2], pa.int64())})

    with pytest.raises(SchemaError, match=match):
        compute_statistics(table, types)


# --- property: floats against a pure-Python reference -----------------------------------------

_SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, None])
# Bounded so that sums of a few hundred values cannot overflow float64.
_FINITE = st.floats(min_value=-1e150, max_value=1e150, allow_nan=False, allow_infinity=False)


@settings(deadline=None, max_examples=150)
@given(st.lists(st.one_of(_FINITE, _SPECIAL), max_size=200))
def test_float_statistics_match_a_python_reference(values: list[float | None]) -> None:
    stats = _stats(values, "float64")

    present = [v for v in values if v is not None]
    finite = [v for v in present if math.isfinite(v)]
    assert stats.count == len(values)
    assert stats.null_count == len(values) - len(present)
    assert stats.nan_count == sum(math.isnan(v) for v in present)
    assert stats.inf_count == sum(math.isinf(v) for v in present)
    if not finite:
        assert (stats.min, stats.max, stats.mean) == (None, None, None)
        return
    assert stats.min == min(finite)
    assert stats.max == max(finite)
    assert stats.mean is not None
    # Relative to the mean alone no summation can promise 1e-9 when values cancel (the mean of
    # [1e20, 1, -1e20] is tiny next to its terms), so the tolerance also scales with the data.
    scale = max(abs(v) for v in finite)
    expected_mean = math.fsum(finite) / len(finite)
    assert math.isclose(stats.mean, expected_mean, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert stats.histogram is not None
    assert sum(b["count"] for b in stats.histogram) == len(finite)


# --- JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fti_type", "values"), CASES)
def test_json_round_trip(fti_type: str, values: list[Any]) -> None:
    original = _stats(values, fti_type)

    text = json.dumps(original.to_dict(), allow_nan=False)
    assert FeatureStatistics.from_dict(json.loads(text)) == original


def test_from_dict_ignores_unknown_keys_and_needs_the_required_ones() -> None:
    data = _stats([1, 2], "int64").to_dict()

    assert FeatureStatistics.from_dict({**data, "added_later": 1}) == _stats([1, 2], "int64")
    del data["null_count"]
    with pytest.raises(SchemaError, match="null_count"):
        FeatureStatistics.from_dict(data)
