"""Feature types and coerce(): every type from pandas, polars and pyarrow; lossy casts refused."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fti.errors import InvalidNameError, SchemaError
from fti.types import (
    ARROW_TYPES,
    Feature,
    arrow_schema,
    coerce,
    infer_features,
    normalize_type,
    to_arrow,
)

UTC = dt.UTC


def one(type_name: str) -> list[Feature]:
    return [Feature("c", type_name)]


def coerce_array(array: pa.Array, type_name: str) -> pa.ChunkedArray:
    return coerce(pa.table({"c": array}), one(type_name)).column("c")


def same_values(left: list[Any], right: list[Any]) -> bool:
    """Equality where NaN equals NaN (and a null is only equal to a null)."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return type(a) is type(b) and a == b

    return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))


# --- every type, from every library -----------------------------------------------------------

ALL_FEATURES = [
    Feature("b", "bool"),
    Feature("i32", "int32"),
    Feature("i64", "int64"),
    Feature("f32", "float32"),
    Feature("f64", "float64"),
    Feature("s", "string"),
    Feature("d", "date"),
    Feature("t", "timestamp"),
    Feature("l32", "list<float32>"),
    Feature("l64", "list<float64>"),
]
D1, D2 = dt.date(2024, 1, 31), dt.date(1969, 12, 31)
T1, T2 = dt.datetime(2024, 3, 1, 12, 30, 0, 123456), dt.datetime(1999, 12, 31, 23, 59, 59)
EXPECTED_ROWS = {
    "b": [True, False, None],
    "i32": [2**31 - 1, -(2**31), None],
    "i64": [2**63 - 1, -(2**63), None],
    "f32": [1.5, -0.25, None],
    "f64": [0.1, -1e300, None],
    "s": ["x", "é 😀", None],
    "d": [D1, D2, None],
    "t": [T1.replace(tzinfo=UTC), T2.replace(tzinfo=UTC), None],
    "l32": [[1.0, 2.5], [], None],
    "l64": [[0.1], [-1e300, 0.0], None],
}


def pandas_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "b": pd.array([True, False, None], dtype="boolean"),
            "i32": pd.array([2**31 - 1, -(2**31), None], dtype="Int32"),
            "i64": pd.array([2**63 - 1, -(2**63), None], dtype="Int64"),
            "f32": pd.array([1.5, -0.25, None], dtype="Float32"),
            "f64": [0.1, -1e300, np.nan],
            "s": ["x", "é 😀", None],
            "d": [D1, D2, None],
            "t": pd.to_datetime([T1, T2, None]),
            "l32": [[1.0, 2.5], [], None],
            "l64": [np.array([0.1]), np.array([-1e300, 0.0]), None],
        }
    )


def polars_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {name: values for name, values in EXPECTED_ROWS.items() if name != "t"}
        | {"t": [T1, T2, None]},
        schema={
            "b": pl.Boolean,
            "i32": pl.Int32,
            "i64": pl.Int64,
            "f32": pl.Float32,
            "f64": pl.Float64,
            "s": pl.String,
            "d": pl.Date,
            "t": pl.Datetime("us"),
            "l32": pl.List(pl.Float32),
            "l64": pl.List(pl.Float64),
        },
    )


def arrow_table() -> pa.Table:
    rows = dict(EXPECTED_ROWS) | {"t": [T1, T2, None]}
    schema = arrow_schema(ALL_FEATURES).set(7, pa.field("t", pa.timestamp("us")))
    return pa.table(rows, schema=schema)


@pytest.mark.parametrize(
    "make", [pandas_frame, polars_frame, arrow_table], ids=["pandas", "polars", "pyarrow"]
)
def test_every_type_is_accepted(make: Callable[[], Any]) -> None:
    table = coerce(make(), ALL_FEATURES)

    assert table.schema == arrow_schema(ALL_FEATURES)
    assert table.to_pydict() == EXPECTED_ROWS


def test_a_record_batch_is_accepted() -> None:
    batch = pa.RecordBatch.from_pydict({"c": [1, 2]})

    assert coerce(batch, one("int64")).column("c").to_pylist() == [1, 2]


@pytest.mark.parametrize(
    "data",
    [[{"c": 1}], {"c": [1]}, np.array([1]), "c"],
    ids=["list-of-dicts", "dict", "numpy", "string"],
)
def test_other_inputs_are_refused(data: Any) -> None:
    with pytest.raises(SchemaError, match="cannot read a"):
        coerce(data, one("int64"))


# --- casts --------------------------------------------------------------------------------------

F32_MAX = float(np.finfo(np.float32).max)

LOSSLESS: list[Any] = [
    ("int32-int64", pa.array([2**31 - 1, None], pa.int32()), "int64", [2**31 - 1, None]),
    ("int64-int32-in-range", pa.array([2**31 - 1, -(2**31)]), "int32", [2**31 - 1, -(2**31)]),
    ("int8-int32", pa.array([-128, 127], pa.int8()), "int32", [-128, 127]),
    ("uint32-int64", pa.array([2**32 - 1], pa.uint32()), "int64", [2**32 - 1]),
    ("uint64-int64-in-range", pa.array([2**63 - 1], pa.uint64()), "int64", [2**63 - 1]),
    ("int64-float64", pa.array([3, -7, None]), "float64", [3.0, -7.0, None]),
    ("int64-float64-2**53", pa.array([2**53, -(2**53)]), "float64", [2.0**53, -(2.0**53)]),
    ("int32-float32", pa.array([2**24, 5], pa.int32()), "float32", [2.0**24, 5.0]),
    ("float64-int64-whole", pa.array([1.0, -3.0, None]), "int64", [1, -3, None]),
    ("float32-float64", pa.array([0.5, None], pa.float32()), "float64", [0.5, None]),
    (
        "float64-float32-in-range",
        pa.array([0.1, F32_MAX, -F32_MAX, math.inf, -math.inf]),
        "float32",
        [float(np.float32(0.1)), F32_MAX, -F32_MAX, math.inf, -math.inf],
    ),
    ("large-string", pa.array(["a", None], pa.large_string()), "string", ["a", None]),
    ("string-view", pa.array(["a", None], pa.string_view()), "string", ["a", None]),
    ("dictionary", pa.array(["a", "b", "a"]).dictionary_encode(), "string", ["a", "b", "a"]),
    ("date64", pa.array([dt.date(2024, 1, 2)], pa.date64()), "date", [dt.date(2024, 1, 2)]),
    (
        "timestamp-seconds",
        pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("s")),
        "timestamp",
        [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)],
    ),
    (
        "timestamp-ns-whole-us",
        pa.array([1_700_000_000_000_001_000], pa.timestamp("ns", tz="UTC")),
        "timestamp",
        [dt.datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=UTC)],
    ),
    ("list-int-float64", pa.array([[1, 2], None]), "list<float64>", [[1.0, 2.0], None]),
    (
        "large-list-float32",
        pa.array([[0.5, None], []], pa.large_list(pa.float64())),
        "list<float32>",
        [[0.5, None], []],
    ),
    (
        "fixed-size-list-float32",
        pa.array([[0.5, 1.5], None], pa.list_(pa.float64(), 2)),
        "list<float32>",
        [[0.5, 1.5], None],
    ),
    (
        "list-float64-float32-nan-inf",
        pa.array([[math.inf, 2.0]]),
        "list<float32>",
        [[math.inf, 2.0]],
    ),
    ("all-null", pa.nulls(2), "timestamp", [None, None]),
    ("empty", pa.array([], pa.string()), "int64", []),
]


@pytest.mark.parametrize(
    ("array", "type_name", "expected"),
    [case[1:] for case in LOSSLESS],
    ids=[case[0] for case in LOSSLESS],
)
def test_lossless_casts_are_allowed(array: pa.Array, type_name: str, expected: list[Any]) -> None:
    column = coerce_array(array, type_name)

    assert column.type == ARROW_TYPES[type_name]
    assert same_values(column.to_pylist(), expected)


def test_float64_to_float32_keeps_nan() -> None:
    column = coerce_array(pa.array([math.nan, 1.0]), "float32")

    assert math.isnan(column[0].as_py())


LOSSY: list[Any] = [
    ("float-fraction-int64", pa.array([1.0, 1.5]), "int64", "without losing information"),
    ("float-fraction-int32", pa.array([-0.5]), "int32", "without losing information"),
    ("float-nan-int64", pa.array([math.nan]), "int64", "without losing information"),
    ("float-huge-int64", pa.array([1e19]), "int64", "without losing information"),
    ("int64-overflow-int32", pa.array([2**31]), "int32", "2147483648 not in range"),
    ("int64-underflow-int32", pa.array([-(2**31) - 1]), "int32", "not in range"),
    ("uint64-overflow-int64", pa.array([2**63], pa.uint64()), "int64", "not in range"),
    # Arrow's safe cast checks the range |x| <= 2**53, where every int is exactly a float64:
    # 2**53 + 1 is refused, and so is 2**54, although that one has an exact float64.
    ("int64-2**53+1-float64", pa.array([2**53 + 1]), "float64", "not in range"),
    ("int64-2**54-float64", pa.array([2**54]), "float64", "not in range"),
    ("int64-negative-2**53-1-float64", pa.array([-(2**53) - 1]), "float64", "not in range"),
    ("int64-2**24+1-float32", pa.array([2**24 + 1]), "float32", "not in range"),
    ("float64-beyond-float32", pa.array([1.0, 1e39]), "float32", "beyond float32's range"),
    ("float64-below-float32", pa.array([-3.5e38]), "float32", "beyond float32's range"),
    (
        "list-beyond-float32",
        pa.array([[1.0], [2.0, 1e300]]),
        "list<float32>",
        "beyond float32's range",
    ),
    (
        "large-list-beyond-float32",
        pa.array([[1e300]], pa.large_list(pa.float64())),
        "list<float32>",
        "beyond float32's range",
    ),
    ("string-int64", pa.array(["1"]), "int64", "has type string but the feature is int64"),
    ("string-float64", pa.array(["1.5"]), "float64", "has type string"),
    ("int64-string", pa.array([1]), "string", "has type int64 but the feature is string"),
    ("bool-int64", pa.array([True]), "int64", "has type bool but the feature is int64"),
    ("int64-bool", pa.array([1]), "bool", "has type int64 but the feature is bool"),
    ("bool-float64", pa.array([False]), "float64", "has type bool"),
    ("float64-bool", pa.array([0.0]), "bool", "has type double"),
    (
        "timestamp-ns-sub-us",
        pa.array([1_700_000_000_000_000_001], pa.timestamp("ns")),
        "timestamp",
        "finer than microseconds",
    ),
    (
        "timestamp-ns-tz-sub-us",
        pa.array([1_700_000_000_000_000_999], pa.timestamp("ns", tz="Asia/Tokyo")),
        "timestamp",
        "finer than microseconds",
    ),
    ("date64-with-time", pa.array([86_400_001], pa.date64()), "date", "without losing"),
    ("date-timestamp", pa.array([dt.date(2024, 1, 1)]), "timestamp", "has type date32"),
    ("timestamp-date", pa.array([dt.datetime(2024, 1, 1)]), "date", "has type timestamp"),
    ("string-timestamp", pa.array(["2024-01-01"]), "timestamp", "has type string"),
    ("list-string-float", pa.array([["a"]]), "list<float32>", "without losing"),
    ("float-list", pa.array([1.0]), "list<float64>", "has type double"),
    ("binary-string", pa.array([b"x"]), "string", "has type binary"),
]


@pytest.mark.parametrize(
    ("array", "type_name", "match"),
    [case[1:] for case in LOSSY],
    ids=[case[0] for case in LOSSY],
)
def test_lossy_casts_are_refused(array: pa.Array, type_name: str, match: str) -> None:
    with pytest.raises(SchemaError, match=rf"column 'c' .*{match}"):
        coerce_array(array, type_name)


@pytest.mark.parametrize(
    ("data", "type_name", "match"),
    [
        (pd.DataFrame({"c": [1.0, 2.5]}), "int64", "without losing information"),
        (pd.DataFrame({"c": [2**40]}), "int32", "not in range"),
        (pd.DataFrame({"c": ["1"]}), "int64", "has type (large_)?string but"),
        (pd.DataFrame({"c": [True]}), "int64", "has type bool"),
        (
            pd.DataFrame({"c": pd.to_datetime(["2024-01-01 00:00:00.000000001"])}),
            "timestamp",
            "finer than microseconds",
        ),
        (pl.DataFrame({"c": [1.0, 2.5]}), "int64", "without losing information"),
        (pl.DataFrame({"c": [2**40]}), "int32", "not in range"),
        (pl.DataFrame({"c": [1e300]}), "float32", "beyond float32's range"),
        (pl.DataFrame({"c": [[1e300]]}), "list<float32>", "beyond float32's range"),
        (
            pl.DataFrame({"c": pl.Series([1], dtype=pl.Datetime("ns"))}),
            "timestamp",
            "finer than microseconds",
        ),
    ],
    ids=[
        "pandas-fraction",
        "pandas-overflow",
        "pandas-string",
        "pandas-bool",
        "pandas-ns",
        "polars-fraction",
        "polars-overflow",
        "polars-float32",
        "polars-list-float32",
        "polars-ns",
    ],
)
def test_lossy_casts_are_refused_from_pandas_and_polars(
    data: Any, type_name: str, match: str
) -> None:
    with pytest.raises(SchemaError, match=match):
        coerce(data, one(type_name))


def test_pandas_nan_is_a_missing_value() -> None:
    table = coerce(
        pd.DataFrame({"f": [1.0, np.nan], "i": [1.0, np.nan]}),
        [
            Feature("f", "float64"),
            Feature("i", "int64"),
        ],
    )

    assert table.to_pydict() == {"f": [1.0, None], "i": [1, None]}


# --- timestamps ----------------------------------------------------------------------------------

NOON = dt.datetime(2024, 1, 15, 12, 0)


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"c": [NOON]}),
        pl.DataFrame({"c": [NOON]}),
        pa.table({"c": pa.array([NOON], pa.timestamp("us"))}),
        pa.table({"c": pa.array([NOON], pa.timestamp("ms"))}),
        pd.DataFrame({"c": pd.Series([NOON], dtype=object)}),
    ],
    ids=["pandas", "polars", "pyarrow", "pyarrow-ms", "pandas-object"],
)
def test_naive_timestamps_are_taken_as_utc(data: Any) -> None:
    column = coerce(data, one("timestamp")).column("c")

    assert column.type == pa.timestamp("us", tz="UTC")
    assert column.to_pylist() == [NOON.replace(tzinfo=UTC)]


PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            pd.DataFrame({"c": pd.Series([NOON, NOON.replace(month=7)]).dt.tz_localize(PARIS)}),
            [dt.datetime(2024, 1, 15, 11, tzinfo=UTC), dt.datetime(2024, 7, 15, 10, tzinfo=UTC)],
        ),
        (
            pl.DataFrame({"c": [NOON]}).with_columns(
                pl.col("c").dt.replace_time_zone("Asia/Tokyo")
            ),
            [dt.datetime(2024, 1, 15, 3, tzinfo=UTC)],
        ),
        (
            pa.table(
                # Built from the epoch value: converting aware datetimes is pyarrow's job, not ours.
                {
                    "c": pa.array(
                        [int(NOON.replace(tzinfo=TOKYO).timestamp())],
                        pa.timestamp("s", tz="Asia/Tokyo"),
                    )
                }
            ),
            [dt.datetime(2024, 1, 15, 3, tzinfo=UTC)],
        ),
    ],
    ids=["pandas-paris", "polars-tokyo", "pyarrow-tokyo-seconds"],
)
def test_aware_timestamps_are_converted_to_utc(data: Any, expected: list[dt.datetime]) -> None:
    column = coerce(data, one("timestamp")).column("c")

    assert column.type == pa.timestamp("us", tz="UTC")
    assert column.to_pylist() == expected
    assert all(v.utcoffset() == dt.timedelta(0) for v in column.to_pylist())


def test_mixed_time_zones_in_an_object_column_become_utc_instants() -> None:
    values = [
        pd.Timestamp("2024-01-15 12:00", tz="Europe/Paris"),
        dt.datetime(2024, 1, 15, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(2024, 1, 15, 12, tzinfo=UTC),
        None,
    ]
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})

    column = coerce(frame, one("timestamp")).column("c")

    assert column.to_pylist() == [
        dt.datetime(2024, 1, 15, 11, tzinfo=UTC),
        dt.datetime(2024, 1, 15, 17, tzinfo=UTC),
        dt.datetime(2024, 1, 15, 12, tzinfo=UTC),
        None,
    ]


# --- categoricals, columns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"c": pd.Categorical(["b", "a", None, "b"])}),
        pd.DataFrame({"c": pd.Series(["b", "a", None, "b"], dtype="category")}),
        pl.DataFrame({"c": pl.Series(["b", "a", None, "b"], dtype=pl.Categorical)}),
        pl.DataFrame({"c": pl.Series(["b", "a", None, "b"], dtype=pl.Enum(["a", "b"]))}),
        pa.table({"c": pa.array(["b", "a", None, "b"]).dictionary_encode()}),
    ],
    ids=[
        "pandas-categorical",
        "pandas-category-dtype",
        "polars-categorical",
        "polars-enum",
        "pyarrow-dictionary",
    ],
)
def test_categoricals_become_strings(data: Any) -> None:
    column = coerce(data, one("string")).column("c")

    assert column.type == pa.string()
    assert column.to_pylist() == ["b", "a", None, "b"]


def test_pandas_categorical_of_ints_is_not_a_string() -> None:
    with pytest.raises(SchemaError, match="has type int64 but the feature is string"):
        coerce(pd.DataFrame({"c": pd.Categorical([1, 2])}), one("string"))


TWO = [Feature("a", "int64"), Feature("b", "string")]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pd.DataFrame({"a": [1]}), r"missing column\(s\): b\. The group's columns are: a, b$"),
        (
            pd.DataFrame({"a": [1], "b": ["x"], "z": [1]}),
            r"unknown column\(s\): 'z'\. The group's columns are: a, b$",
        ),
        (
            pl.DataFrame({"A": [1], "b": ["x"]}),
            r"missing column\(s\): a; unknown column\(s\): 'A'\.",
        ),
        (pa.table({"x": [1]}), r"missing column\(s\): a, b; unknown column\(s\): 'x'"),
        (pd.DataFrame([[1, 2, "x"]], columns=["a", "a", "b"]), r"duplicate column names: a"),
        (
            pa.table([pa.array([1]), pa.array([2]), pa.array(["x"])], names=["a", "a", "b"]),
            r"duplicate column names in \['a', 'a', 'b'\]",
        ),
        (
            pd.DataFrame([[1, "x"]], columns=pd.MultiIndex.from_tuples([("a", "1"), ("b", "1")])),
            "multi-level columns",
        ),
    ],
    ids=[
        "missing",
        "unknown",
        "wrong-case",
        "missing-and-unknown",
        "pandas-duplicate",
        "pyarrow-duplicate",
        "pandas-multi-level",
    ],
)
def test_column_mismatches_are_schema_errors(data: Any, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        coerce(data, TWO)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.DataFrame({"c": ["x"], "b": [2.5], "a": [1]}),
        lambda: pl.DataFrame({"c": ["x"], "b": [2.5], "a": [1]}),
        lambda: pa.table({"c": ["x"], "b": [2.5], "a": [1]}),
    ],
    ids=["pandas", "polars", "pyarrow"],
)
def test_columns_come_out_in_feature_order(make: Callable[[], Any]) -> None:
    features = [Feature("a", "int64"), Feature("b", "float64"), Feature("c", "string")]

    table = coerce(make(), features)

    assert table.column_names == ["a", "b", "c"]
    assert table.to_pylist() == [{"a": 1, "b": 2.5, "c": "x"}]


def test_the_pandas_index_is_not_a_column() -> None:
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index([10, 20], name="key"))

    assert coerce(frame, [Feature("a", "int64")]).column_names == ["a"]


# --- type names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["int128", "", "list<int64>", "varchar", "timestamp[ns]", None, 5])
def test_unknown_type_name_is_a_schema_error(name: Any) -> None:
    with pytest.raises(SchemaError, match=r"unknown feature type .*; use one of bool, int32"):
        Feature("c", name)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("str", "string"),
        ("int", "int64"),
        ("float", "float64"),
        ("double", "float64"),
        ("boolean", "bool"),
        ("datetime", "timestamp"),
        ("array<float32>", "list<float32>"),
        ("array<float64>", "list<float64>"),
        ("INT64", "int64"),
        (" Float32 ", "float32"),
        ("List<Float32>", "list<float32>"),
        ("list< float64 >", "list<float64>"),
        ("Array < Float32 >", "list<float32>"),
    ],
)
def test_type_aliases(alias: str, canonical: str) -> None:
    feature = Feature("c", alias)

    assert feature.type == canonical
    assert normalize_type(alias) == canonical
    assert feature.arrow_type == ARROW_TYPES[canonical]


@pytest.mark.parametrize("type_name", list(ARROW_TYPES))
def test_feature_round_trips_through_a_dict(type_name: str) -> None:
    feature = Feature("c", type_name, "a description")

    assert Feature.from_dict(feature.to_dict()) == feature
    assert feature.to_dict() == {"name": "c", "type": type_name, "description": "a description"}


def test_feature_name_follows_the_naming_rule() -> None:
    with pytest.raises(InvalidNameError, match="invalid feature name 'Bad'"):
        Feature("Bad", "int64")


# --- inference ------------------------------------------------------------------------------------

INFERRED = [
    (pa.bool_(), "bool"),
    (pa.int8(), "int32"),
    (pa.int16(), "int32"),
    (pa.uint8(), "int32"),
    (pa.uint16(), "int32"),
    (pa.int32(), "int32"),
    (pa.uint32(), "int64"),
    (pa.int64(), "int64"),
    (pa.uint64(), "int64"),
    (pa.float16(), "float32"),
    (pa.float32(), "float32"),
    (pa.float64(), "float64"),
    (pa.string(), "string"),
    (pa.large_string(), "string"),
    (pa.string_view(), "string"),
    (pa.dictionary(pa.int32(), pa.string()), "string"),
    (pa.date32(), "date"),
    (pa.date64(), "date"),
    (pa.timestamp("ns"), "timestamp"),
    (pa.timestamp("s", tz="Asia/Tokyo"), "timestamp"),
    (pa.list_(pa.float32()), "list<float32>"),
    (pa.list_(pa.int32()), "list<float32>"),
    (pa.list_(pa.float64()), "list<float64>"),
    (pa.list_(pa.int64()), "list<float64>"),
    (pa.large_list(pa.float64()), "list<float64>"),
    (pa.list_(pa.float32(), 3), "list<float32>"),
]


@pytest.mark.parametrize(("arrow_type", "expected"), INFERRED, ids=[str(t) for t, _ in INFERRED])
def test_infer_features_maps_arrow_types(arrow_type: pa.DataType, expected: str) -> None:
    table = pa.table({"c": pa.array([None], arrow_type)})

    assert infer_features(table) == [Feature("c", expected)]


@pytest.mark.parametrize(
    "arrow_type",
    [
        pa.binary(),
        pa.decimal128(10, 2),
        pa.time64("us"),
        pa.struct([("x", pa.int64())]),
        pa.list_(pa.string()),
        pa.null(),
        pa.duration("s"),
    ],
    ids=["binary", "decimal", "time", "struct", "list-string", "null", "duration"],
)
def test_infer_features_refuses_unstorable_types(arrow_type: pa.DataType) -> None:
    table = pa.table({"c": pa.array([None], arrow_type)})

    with pytest.raises(SchemaError, match=r"column 'c' has type .* which fti cannot store"):
        infer_features(table)


@pytest.mark.parametrize(
    "make", [pandas_frame, polars_frame, arrow_table], ids=["pandas", "polars", "pyarrow"]
)
def test_inferred_features_accept_the_frame_they_came_from(make: Callable[[], Any]) -> None:
    features = infer_features(to_arrow(make()))

    assert [f.name for f in features] == [f.name for f in ALL_FEATURES]
    assert coerce(make(), features).to_pydict() == EXPECTED_ROWS


# --- property: coercing to the type a column already has changes nothing ------------------------

INT64 = hnp.arrays(np.int64, st.integers(0, 50))
FLOAT64 = hnp.arrays(np.float64, st.integers(0, 50), elements=st.floats(width=64))


@settings(deadline=None)  # pandas' first conversions are slow on a busy machine
@given(values=INT64)
def test_int64_to_int64_is_identity(values: np.ndarray) -> None:
    expected = values.tolist()
    for data in (pa.table({"c": values}), pl.DataFrame({"c": values}), pd.DataFrame({"c": values})):
        column = coerce(data, one("int64")).column("c")
        assert column.type == pa.int64()
        assert column.to_pylist() == expected


@settings(deadline=None)
@given(values=FLOAT64)
def test_float64_to_float64_is_identity(values: np.ndarray) -> None:
    exact = values.tolist()
    # pandas reads NaN as a missing value (documented); Arrow and polars keep it a NaN.
    from_pandas = [None if math.isnan(v) else v for v in exact]
    sources = [
        (pa.table({"c": values}), exact),
        (pl.DataFrame({"c": values}), exact),
        (pd.DataFrame({"c": values}), from_pandas),
    ]
    for data, expected in sources:
        column = coerce(data, one("float64")).column("c")
        assert column.type == pa.float64()
        assert same_values(column.to_pylist(), expected)
        # Bit for bit, including the sign of zero.
        assert [math.copysign(1, v) for v in column.to_pylist() if v is not None] == [
            math.copysign(1, v) for v in expected if v is not None
        ]


def test_a_source_of_an_arrow_stream_is_read_whole_and_checked() -> None:
    import duckdb

    relation = duckdb.sql("SELECT range AS id, 'x' || range AS name FROM range(5)")
    assert to_arrow(relation).to_pydict() == {
        "id": [0, 1, 2, 3, 4],
        "name": ["x0", "x1", "x2", "x3", "x4"],
    }
    # Invalid UTF-8 from a stream is refused like that of a pyarrow Table.
    bad = pa.table({"s": pa.array([b"\xff"], pa.binary()).cast(pa.string(), safe=False)})
    with pytest.raises(SchemaError, match="'s'"):
        to_arrow(pa.RecordBatchReader.from_batches(bad.schema, bad.to_batches()))
