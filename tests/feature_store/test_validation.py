"""Expectations: storing pandera schemas, validating Arrow tables, reports and modes."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pandas as pd
import pandera.extensions
import pandera.pandas as pdv
import pyarrow as pa
import pytest
from pandera.config import config_context
from pandera.pandas import Check, Column, DataFrameSchema

from fti.errors import DataValidationError, ExpectationError
from fti.feature_store.validation import (
    MAX_EXAMPLES,
    CheckFailure,
    ValidationReport,
    _compare_round_trip,
    check_report,
    deserialize_expectations,
    serialize_expectations,
    validate,
    whole_batch_checks,
)

UTC = dt.UTC


def _checks(schema: DataFrameSchema) -> dict[str, list[tuple[str | None, dict[str, Any]]]]:
    """Each column's (and the frame's) check names and arguments, sets sorted."""

    def arguments(check: Check) -> dict[str, Any]:
        return {
            k: sorted(v) if isinstance(v, set | frozenset) else v
            for k, v in check.statistics.items()
        }

    by_column = {
        str(name): [(c.name, arguments(c)) for c in column.checks]
        for name, column in schema.columns.items()
    }
    by_column["<frame>"] = [(c.name, arguments(c)) for c in schema.checks]
    return by_column


def _failure(report: ValidationReport, column: str | None, check_prefix: str) -> CheckFailure:
    found = [f for f in report.failures if f.column == column and f.check.startswith(check_prefix)]
    assert len(found) == 1, report.summary()
    return found[0]


# --- storing expectations -------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(
            DataFrameSchema({"x": Column(float, [Check.ge(0), Check.le(10)], nullable=True)}),
            id="range",
        ),
        pytest.param(DataFrameSchema({"c": Column(str, Check.isin(["b", "a"]))}), id="isin-list"),
        pytest.param(DataFrameSchema({"c": Column(str, Check.isin({"a", "b"}))}), id="isin-set"),
        pytest.param(
            DataFrameSchema({"c": Column(str, [Check.str_length(1, 3), Check.str_matches("^a")])}),
            id="strings",
        ),
        pytest.param(
            DataFrameSchema(
                {"n": Column(int, Check.in_range(0, 5, include_max=False), unique=True)}
            ),
            id="in_range-unique",
        ),
        pytest.param(
            DataFrameSchema(
                {
                    "t": Column(
                        "datetime64[ns, UTC]",
                        Check.ge(pd.Timestamp("2020-01-01 12:30:00.25", tz="UTC")),
                    )
                }
            ),
            id="timestamp-bound",
        ),
        pytest.param(
            DataFrameSchema({"d": Column("date", Check.lt(dt.date(2030, 1, 1)))}), id="date-bound"
        ),
        pytest.param(
            DataFrameSchema(
                {"a": Column(int), "b": Column(int, required=False)},
                checks=[Check.ge(0), Check.lt(100)],
                unique=["a", "b"],
            ),
            id="frame-level",
        ),
        pytest.param(
            DataFrameSchema({"x": Column(float, Check.ge(0, name="non_negative", error="x < 0"))}),
            id="named-builtin",
        ),
        pytest.param(DataFrameSchema({"x": Column(checks=Check.notin([0]))}), id="no-dtype"),
    ],
)
def test_builtin_checks_survive_a_round_trip(schema: DataFrameSchema) -> None:
    text = serialize_expectations(schema)
    json.loads(text)  # plain JSON, storable as is
    restored = deserialize_expectations(text)

    assert _checks(restored) == _checks(schema)
    assert serialize_expectations(restored) == text


def test_a_named_check_keeps_its_name_and_message() -> None:
    schema = DataFrameSchema({"x": Column(float, Check.ge(0, name="non_negative", error="x < 0"))})
    (check,) = deserialize_expectations(serialize_expectations(schema)).columns["x"].checks
    assert (check.name, check.error, check.statistics) == (
        "non_negative",
        "x < 0",
        {"min_value": 0},
    )


def _positive(series: pd.Series) -> pd.Series:
    return series > 0


# A registered check serializes, but only a process that registers it again can read it back.
@pandera.extensions.register_check_method(statistics=["min_value"])
def fti_test_above(pandas_obj: pd.Series, *, min_value: float) -> pd.Series:
    return pandas_obj > min_value


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        pytest.param(
            DataFrameSchema({"price": Column(float, Check(lambda s: s > 0))}),
            "column 'price'",
            id="lambda",
        ),
        pytest.param(
            DataFrameSchema(
                {"ok": Column(int), "price": Column(float, [Check.ge(0), Check(_positive)])}
            ),
            "column 'price'",
            id="function-after-builtin",
        ),
        pytest.param(
            DataFrameSchema({"qty": Column(int, Check.fti_test_above(min_value=0))}),
            "column 'qty'",
            id="registered-extension",
        ),
        pytest.param(
            DataFrameSchema({"qty": Column(int, Check(lambda v: v > 0, element_wise=True))}),
            "column 'qty'",
            id="element-wise",
        ),
        pytest.param(
            DataFrameSchema({"a": Column(int)}, checks=[Check(lambda df: df["a"] > 0, name="pos")]),
            "frame-level",
            id="frame-level",
        ),
    ],
)
def test_custom_checks_are_refused_naming_the_column(schema: DataFrameSchema, where: str) -> None:
    with pytest.raises(ExpectationError, match=rf"{where}.*only built-in checks"):
        serialize_expectations(schema)


def test_a_check_pandera_drops_silently_is_caught_by_the_round_trip() -> None:
    original = DataFrameSchema({"price": Column(float, [Check.ge(0), Check.le(5)])})
    dropped = DataFrameSchema({"price": Column(float, [Check.ge(0)])})
    with pytest.raises(ExpectationError, match=r"column 'price'.*only built-in checks"):
        _compare_round_trip(original, dropped)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        pytest.param({"x": Column(int)}, "must be a pandera DataFrameSchema.*not dict", id="dict"),
        pytest.param("x: int", "must be a pandera DataFrameSchema.*not str", id="str"),
        pytest.param(Column(int), "must be a pandera DataFrameSchema.*not Column", id="column"),
        pytest.param(
            DataFrameSchema({"x": Column(int)}, index=pdv.Index(int)),
            "cannot check an index",
            id="index",
        ),
        pytest.param(
            DataFrameSchema({"x": Column(float, Check.ge(0, raise_warning=True))}),
            "column 'x'.*raise_warning",
            id="raise-warning",
        ),
        pytest.param(
            DataFrameSchema({"x": Column(float, Check.ge(0, groupby="g")), "g": Column(str)}),
            "column 'x'.*groupby",
            id="groupby",
        ),
        pytest.param(
            DataFrameSchema({"x": Column(float, Check.ne(float("nan")))}),
            "cannot be stored as JSON",
            id="nan-argument",
        ),
    ],
)
def test_unstorable_expectations_are_refused(schema: Any, message: str) -> None:
    with pytest.raises(ExpectationError, match=message):
        serialize_expectations(schema)


def test_a_bound_is_stored_exactly_or_refused() -> None:
    # Some pandera versions write naive timestamps to the second, others exactly: whichever is
    # installed, a stored bound is never a different bound.
    bound = pd.Timestamp("2020-01-01 00:00:00.5")
    schema = DataFrameSchema({"t": Column("datetime64[ns]", Check.ge(bound))})
    try:
        text = serialize_expectations(schema)
    except ExpectationError as exc:
        assert "the arguments of check 'greater_than_or_equal_to' change when stored" in str(exc)
        return
    (check,) = deserialize_expectations(text).columns["t"].checks
    assert check.statistics["min_value"] == bound


def test_a_check_changed_by_the_round_trip_is_refused() -> None:
    original = DataFrameSchema({"x": Column(float, Check.ge(1.5))})
    changed = DataFrameSchema({"x": Column(float, Check.ge(1.0))})
    with pytest.raises(ExpectationError, match=r"arguments of check .* change when stored"):
        _compare_round_trip(original, changed)


def test_a_dataframe_model_is_refused_with_a_hint() -> None:
    class Prices(pdv.DataFrameModel):
        price: float

    with pytest.raises(ExpectationError, match=r"Model\.to_schema\(\)"):
        serialize_expectations(Prices)
    assert deserialize_expectations(serialize_expectations(Prices.to_schema())).columns.keys() == {
        "price"
    }


_STORED = serialize_expectations(DataFrameSchema({"x": Column(float, Check.ge(0))}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("not json", "cannot be read", id="not-json"),
        pytest.param("[1, 2]", "not in the 'fti.expectations/1' format", id="not-a-mapping"),
        pytest.param(
            DataFrameSchema({"x": Column(float)}).to_json(),
            "not in the 'fti.expectations/1' format",
            id="plain-pandera-json",
        ),
        pytest.param(
            _STORED.replace('"greater_than_or_equal_to": 0', '"no_such_check": 0'),
            r"column 'x' has checks \['greater_than_or_equal_to'\] \(stored with pandera "
            r"[\d.]+\) but pandera [\d.]+ reads back \[\]",
            id="check-unknown-to-pandera",
        ),
    ],
)
def test_unreadable_stored_expectations(text: str, message: str) -> None:
    with pytest.raises(ExpectationError, match=message):
        deserialize_expectations(text)


# --- validating -----------------------------------------------------------------------------


SCHEMA = DataFrameSchema(
    {
        "price": Column(float, [Check.ge(0), Check.le(100)], nullable=True),
        "color": Column(str, Check.isin(["red", "blue"]), nullable=True),
        "code": Column(str, Check.str_length(2, 3)),
        "qty": Column(int, Check.in_range(0, 10)),
        "id": Column(int, unique=True),
    }
)


def _table(**overrides: pa.Array) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "price": pa.array([1.5, None, 99.0, 0.0], pa.float64()),
        "color": pa.array(["red", "blue", None, "red"]),
        "code": pa.array(["ab", "abc", "xy", "zz"]),
        "qty": pa.array([0, 10, 5, 1], pa.int32()),
        "not_in_schema": pa.array([[1.0], None, [], [2.0]], pa.list_(pa.float32())),
    }
    columns.update(overrides)
    return pa.table(columns)


def test_passing_data_passes() -> None:
    report = validate(_table(), deserialize_expectations(serialize_expectations(SCHEMA)))
    assert report == ValidationReport(passed=True, rows_checked=4, failures=[])
    assert report.summary() == "all expectations passed on 4 row(s)"


def test_an_empty_table_passes() -> None:
    report = validate(_table().slice(0, 0), SCHEMA)
    assert report == ValidationReport(passed=True, rows_checked=0, failures=[])


@pytest.mark.parametrize(
    ("overrides", "column", "check", "failed_rows", "examples"),
    [
        pytest.param(
            {"price": pa.array([-1.0, 101.0, -1.0, 5.0])},
            "price",
            "greater_than_or_equal_to(0)",
            2,
            [-1.0],
            id="range-low",
        ),
        pytest.param(
            {"price": pa.array([-1.0, 101.0, 250.0, 5.0])},
            "price",
            "less_than_or_equal_to(100)",
            2,
            [101.0, 250.0],
            id="range-high",
        ),
        pytest.param(
            {"color": pa.array(["green", "red", "pink", None])},
            "color",
            "isin",
            2,
            ["green", "pink"],
            id="isin",
        ),
        pytest.param(
            {"code": pa.array(["a", "abcd", None, "ab"])},
            "code",
            "not_nullable",
            1,
            [None],
            id="not-nullable",
        ),
        pytest.param(
            {"code": pa.array(["a", "abcd", "x", "ab"])},
            "code",
            "str_length(2, 3)",
            3,
            ["a", "abcd", "x"],
            id="str_length",
        ),
        pytest.param(
            {"qty": pa.array([-1, 11, 3, 12], pa.int32())},
            "qty",
            "in_range(0, 10)",
            3,
            [-1, 11, 12],
            id="in_range",
        ),
        pytest.param(
            {"qty": pa.array([None, 11, 3, 4], pa.int64())},
            "qty",
            "in_range(0, 10)",
            1,
            [11],  # an int, although pandas holds the column as float for the null
            id="in_range-int-with-null",
        ),
        pytest.param(
            {"id": pa.array([7, 7, 8, 7], pa.int64())},
            "id",
            "field_uniqueness",
            3,
            [7],
            id="unique",
        ),
        pytest.param(
            {"qty": pa.array(["1", "2", "3", "4"])},
            "qty",
            "dtype('int64')",
            4,
            ["string"],
            id="wrong-type",
        ),
    ],
)
def test_failing_data_is_counted_per_check(
    overrides: dict[str, pa.Array],
    column: str,
    check: str,
    failed_rows: int,
    examples: list[Any],
) -> None:
    report = validate(_table(**overrides), SCHEMA)
    assert not report.passed
    assert report.rows_checked == 4
    failure = _failure(report, column, check)
    assert failure.failed_rows == failed_rows
    assert failure.examples == examples
    json.dumps(report.to_dict(), allow_nan=False)


def test_a_wrong_type_is_reported_once_not_per_check() -> None:
    report = validate(_table(qty=pa.array(["1", "2", "3", "4"])), SCHEMA)
    assert [f.check for f in report.failures if f.column == "qty"] == ["dtype('int64')"]


def test_a_missing_column_is_reported() -> None:
    report = validate(_table().drop_columns(["code"]), SCHEMA)
    failure = _failure(report, "code", "column_in_dataframe")
    assert failure.failed_rows == 4
    assert failure.examples == []


def test_examples_are_distinct_and_capped() -> None:
    values = [float(-(i % 8)) - 1 for i in range(1000)]
    report = validate(pa.table({"price": pa.array(values)}), SCHEMA.select_columns(["price"]))
    failure = _failure(report, "price", "greater_than_or_equal_to")
    assert failure.failed_rows == 1000
    assert failure.examples == [-1.0, -2.0, -3.0, -4.0, -5.0]
    assert len(failure.examples) == MAX_EXAMPLES


def test_frame_level_checks_report_no_column() -> None:
    schema = DataFrameSchema(checks=[Check.lt(10)])
    report = validate(pa.table({"a": [1, 20, 3], "b": [30, 40, 5]}), schema)
    failure = _failure(report, None, "less_than(10)")
    assert failure.failed_rows == 2
    assert failure.examples == [{"b": 30.0}, {"a": 20.0, "b": 40.0}]  # only the failing cells


def test_a_duplicate_key_of_several_columns_is_one_failure() -> None:
    schema = DataFrameSchema({"a": Column(int)}, unique=["a", "b"])
    table = pa.table({"a": [1, 1, 2, 1, 2], "b": ["x", "x", "x", "y", "x"], "c": [1, 2, 3, 4, 5]})
    report = validate(table, deserialize_expectations(serialize_expectations(schema)))
    assert report.failures == [
        CheckFailure(
            None, "multiple_fields_uniqueness", 4, [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
        )
    ]


def test_columns_not_in_the_schema_are_allowed_whatever_pandera_options_say() -> None:
    schema = DataFrameSchema(
        {"qty": Column(int, Check.ge(0)), "price": Column(float, nullable=True)},
        strict=True,
        ordered=True,
        coerce=True,
    )
    assert validate(_table(), deserialize_expectations(serialize_expectations(schema))).passed


@pytest.mark.parametrize(
    ("dtype", "array"),
    [
        pytest.param(int, pa.array([1, 2], pa.int32()), id="int-int32"),
        pytest.param("Int64", pa.array([1, None], pa.int64()), id="nullable-Int64"),
        pytest.param("int32", pa.array([1, 2], pa.int64()), id="int32-int64"),
        pytest.param(float, pa.array([1.0, 2.0], pa.float32()), id="float-float32"),
        pytest.param(str, pa.array(["a", "b"], pa.large_string()), id="str-large_string"),
        pytest.param(bool, pa.array([True, None]), id="bool-with-null"),
        pytest.param(
            "datetime64[ns, UTC]",
            pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            id="ns-vs-us",
        ),
        pytest.param(
            pd.ArrowDtype(pa.timestamp("us", tz="UTC")),
            pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("ms", tz="Europe/Paris")),
            id="arrow-dtype",
        ),
        pytest.param(
            pdv.DateTime,
            pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            id="naive-vs-aware",
        ),
        pytest.param("date", pa.array([dt.date(2024, 1, 1)], pa.date32()), id="date"),
        pytest.param(object, pa.array([[1.0], None], pa.list_(pa.float32())), id="object-list"),
    ],
)
def test_dtypes_are_compared_by_kind(dtype: Any, array: pa.Array) -> None:
    schema = DataFrameSchema({"v": Column(dtype, nullable=True)})
    report = validate(pa.table({"v": array}), schema)
    assert report.passed, report.summary()


@pytest.mark.parametrize(
    ("dtype", "array"),
    [
        pytest.param(int, pa.array([1.0, 2.0]), id="int-float"),
        pytest.param(float, pa.array([1, 2]), id="float-int"),
        pytest.param(str, pa.array([1, 2]), id="str-int"),
        pytest.param("datetime64[ns, UTC]", pa.array([dt.date(2024, 1, 1)]), id="timestamp-date"),
        pytest.param("category", pa.array(["a", "b"]), id="category-string"),
    ],
)
def test_dtypes_of_another_kind_fail(dtype: Any, array: pa.Array) -> None:
    report = validate(pa.table({"v": array}), DataFrameSchema({"v": Column(dtype)}))
    failure = _failure(report, "v", "dtype(")
    assert failure.failed_rows == 2 if len(array) == 2 else 1
    assert failure.examples == [str(array.type)]


@pytest.mark.parametrize(
    ("arrow_type", "values"),
    [
        pytest.param(
            pa.timestamp("us", tz="UTC"),
            [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2023, 12, 31, 23, tzinfo=UTC)],
            id="utc",
        ),
        pytest.param(
            pa.timestamp("ms", tz="Europe/Paris"),
            [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2023, 12, 31, 23, tzinfo=UTC)],
            id="paris",
        ),
        pytest.param(
            pa.timestamp("ns"),
            [dt.datetime(2024, 1, 1), dt.datetime(2023, 12, 31, 23)],
            id="naive-taken-as-utc",
        ),
    ],
)
def test_timestamps_are_checked_as_utc(arrow_type: pa.DataType, values: list[dt.datetime]) -> None:
    schema = DataFrameSchema(
        {"t": Column("datetime64[ns, UTC]", Check.ge(pd.Timestamp("2024-01-01", tz="UTC")))}
    )
    report = validate(pa.table({"t": pa.array(values, arrow_type)}), schema)
    failure = _failure(report, "t", "greater_than_or_equal_to")
    assert failure.failed_rows == 1
    assert failure.examples == ["2023-12-31T23:00:00+00:00"]


def test_a_naive_datetime_column_sees_naive_utc() -> None:
    schema = DataFrameSchema({"t": Column(pdv.DateTime, Check.ge(pd.Timestamp("2024-01-01")))})
    values = [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2023, 12, 31, 23, tzinfo=UTC)]
    table = pa.table({"t": pa.array(values, pa.timestamp("us", tz="Asia/Tokyo"))})
    failure = _failure(
        validate(table, deserialize_expectations(serialize_expectations(schema))), "t", "greater"
    )
    assert failure.examples == ["2023-12-31T23:00:00"]


@pytest.mark.parametrize(
    ("nullable", "failed_rows"),
    [pytest.param(True, 0, id="nullable"), pytest.param(False, 2, id="not-nullable")],
)
def test_nan_and_null_floats_are_missing_values(nullable: bool, failed_rows: int) -> None:
    table = pa.table({"x": pa.array([1.0, None, float("nan"), 3.0])})
    schema = DataFrameSchema({"x": Column(float, Check.ge(0), nullable=nullable)})
    report = validate(table, schema)
    assert report.passed is nullable
    if not nullable:
        assert report.failures == [CheckFailure("x", "not_nullable", failed_rows, [None])]


def test_pandera_settings_cannot_switch_validation_off() -> None:
    with config_context(validation_enabled=False):
        report = validate(_table(qty=pa.array([99, 1, 2, 3])), SCHEMA)
    assert not report.passed


# --- reports and modes ----------------------------------------------------------------------


def _failed_report() -> ValidationReport:
    ts = pa.array([dt.datetime(2020, 1, 1, tzinfo=UTC)] * 4, pa.timestamp("us", tz="UTC"))
    schema = SCHEMA.add_columns(
        {"t": Column("datetime64[ns, UTC]", Check.ge(pd.Timestamp("2021-01-01", tz="UTC")))}
    )
    return validate(_table(t=ts, price=pa.array([-1.0, 2.0, 3.0, -2.0])), schema)


def test_a_report_survives_json() -> None:
    report = _failed_report()
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert ValidationReport.from_dict(json.loads(text)) == report
    assert _failure(report, "t", "greater").examples == ["2020-01-01T00:00:00+00:00"]


def test_summary_has_one_line_per_failure() -> None:
    report = _failed_report()
    lines = report.summary().splitlines()
    assert len(lines) == len(report.failures) == 2
    assert (
        lines[0]
        == "column 'price': greater_than_or_equal_to(0) failed on 2 of 4 row(s); e.g. -1.0, -2.0"
    )


def test_strict_mode_raises_with_the_report() -> None:
    report = _failed_report()
    with pytest.raises(DataValidationError, match="nothing was written") as info:
        check_report(report, "strict")
    assert info.value.report is report
    assert report.summary() in str(info.value)


@pytest.mark.parametrize("mode", ["strict", "warn"])
def test_passing_reports_are_accepted(mode: str) -> None:
    check_report(ValidationReport(passed=True, rows_checked=3), mode)


def test_warn_mode_accepts_a_failed_report() -> None:
    check_report(_failed_report(), "warn")


@pytest.mark.parametrize("mode", ["none", "STRICT", ""])
def test_unknown_modes_are_refused(mode: str) -> None:
    with pytest.raises(ExpectationError, match="use one of: strict, warn"):
        check_report(ValidationReport(passed=True, rows_checked=0), mode)


# --- scale ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "failing", [pytest.param(False, id="passing"), pytest.param(True, id="failing")]
)
def test_one_million_rows(failing: bool, record_property: Any) -> None:
    n = 1_000_000
    colors = ["red", "blue", "green", "red"] if failing else ["red", "blue", "blue", "red"]
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "price": pa.array([float(i % 100) - failing for i in range(n)]),  # 1 in 100 < 0
            "color": pa.array(colors * (n // 4)),  # 1 in 4 not allowed
            "code": pa.array(["ab", "abc"] * (n // 2)),
            "qty": pa.array([i % 11 for i in range(n)], pa.int32()),
            "t": pa.array(range(n), pa.timestamp("us", tz="UTC")),
        }
    )
    schema = deserialize_expectations(
        serialize_expectations(SCHEMA.add_columns({"t": Column("datetime64[ns, UTC]")}))
    )
    validate(table.slice(0, 10), schema)  # imports and first-call set-up are not measured
    start = time.perf_counter()
    report = validate(table, schema)
    seconds = time.perf_counter() - start
    record_property("validate_1m_rows_seconds", round(seconds, 2))
    print(f"\nvalidate(1,000,000 rows, 6 columns, 7 checks, failing={failing}): {seconds:.2f} s")
    assert report.passed is not failing
    if failing:
        assert _failure(report, "price", "greater").failed_rows == n // 100
        assert _failure(report, "color", "isin").failed_rows == n // 4


@pytest.mark.parametrize(
    ("schema", "whole"),
    [
        (
            DataFrameSchema({"v": Column(float, Check.ge(0)), "s": Column(str, Check.isin(["a"]))}),
            [],
        ),
        (DataFrameSchema(checks=[Check.le(10)]), []),
        (DataFrameSchema({"id": Column(int, unique=True)}), []),
        (DataFrameSchema(unique=["id", "ts"]), []),
        (DataFrameSchema(unique=["ts", "id", "v"]), []),
        (DataFrameSchema({"v": Column(float, unique=True)}), ["column 'v': unique"]),
        (DataFrameSchema(unique=["ts"]), ["the frame-level checks: unique=['ts']"]),
        (
            DataFrameSchema({"v": Column(int, Check.unique_values_eq([1, 2]))}),
            ["column 'v': check 'unique_values_eq'"],
        ),
    ],
)
def test_whole_batch_checks_are_those_a_key_partition_cannot_decide(
    schema: DataFrameSchema, whole: list[str]
) -> None:
    assert whole_batch_checks(schema, ["id"]) == whole
    if schema.columns.get("id") is not None:
        # unique of one column of a two-column key: rows of other keys share its values.
        assert whole_batch_checks(schema, ["id", "ts"]) == ["column 'id': unique"]
