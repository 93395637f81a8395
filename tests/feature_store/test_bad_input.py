"""Bad input: each case raises a clear fti error and leaves every store as it was."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pytest

import fti

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FEATURES = [
    fti.Feature("id", "string"),
    fti.Feature("t", "timestamp"),
    fti.Feature("n", "int64"),
    fti.Feature("x", "float64"),
]


NAMES = [f.name for f in FEATURES]
MIB = 1024 * 1024


def good(**overrides: Any) -> pd.DataFrame:
    data = {"id": ["a", "b"], "t": [T0, T0], "n": [1, 2], "x": [0.5, 1.5]}
    data.update(overrides)
    return pd.DataFrame(data)


@pytest.fixture
def fg(fs: fti.FeatureStore) -> fti.FeatureGroup:
    expectations = pa_schema.DataFrameSchema({"n": pa_schema.Column(int, pa_schema.Check.ge(0))})
    group = fs.create_feature_group(
        "guarded", primary_key=["id"], event_time="t", features=FEATURES, expectations=expectations
    )
    group.insert(good())
    return group


def snapshot(fg: fti.FeatureGroup) -> tuple[Any, ...]:
    stats = fg.statistics()
    return (
        [c.id for c in fg.commits()],
        fg.read().sort_values("id").to_dict("list"),
        fg.read_online(["a", "b", "c", "x" * 64], return_type="list"),
        {k: v.to_dict() for k, v in stats.items()},
        len(fg.validation_reports()),
    )


BAD: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("wrong_dtype", lambda: good(n=["one", "two"]), fti.SchemaError, "'n'"),
    ("lossy_float_to_int", lambda: good(n=[1.5, 2.0]), fti.SchemaError, "losing information"),
    (
        "int_overflow",
        lambda: (
            good(n=[2**63 - 1, 1])
            .astype({"n": "uint64"})
            .assign(n=lambda d: d["n"] + np.uint64(10))
        ),
        fti.SchemaError,
        "'n'",
    ),
    ("missing_column", lambda: good().drop(columns=["x"]), fti.SchemaError, "missing column"),
    ("extra_column", lambda: good(extra=[1, 2]), fti.SchemaError, "unknown column"),
    ("null_key", lambda: good(id=["a", None]), fti.SchemaError, "primary key"),
    ("null_event_time", lambda: good(t=[T0, None]), fti.SchemaError, "event time"),
    (
        "nanoseconds",
        lambda: good(t=pd.to_datetime(["2024-01-01 00:00:00.000000001"] * 2, utc=True)),
        fti.SchemaError,
        "microseconds",
    ),
    ("expectation_failure", lambda: good(n=[-1, 2]), fti.DataValidationError, "n"),
    ("sql_in_column_name", lambda: good(**{"a;drop": [1, 2]}), fti.SchemaError, "unknown column"),
    ("not_a_frame", lambda: [{"id": "a"}], fti.SchemaError, "pandas or polars"),
    (
        "value_over_max_bytes",
        lambda: good(id=["k" * (MIB + 1), "b"]),
        fti.SchemaError,
        r"'id' has 1 value\(s\) larger than max_value_bytes",
    ),
    (
        "event_time_in_year_9999",
        lambda: good(t=[dt.datetime(9999, 12, 31, tzinfo=dt.UTC), T0]),
        fti.SchemaError,
        r"'t' has a time after .*max_event_time_ahead.*9999-12-31",
    ),
    (
        "event_time_two_days_ahead",
        lambda: good(t=[dt.datetime.now(dt.UTC) + dt.timedelta(days=2), T0]),
        fti.SchemaError,
        "max_event_time_ahead",
    ),
    (
        "lone_surrogate_value",
        lambda: good(id=pd.Series(["a\ud800", "b"], dtype=object)),
        fti.SchemaError,
        r"column 'id' holds text that is not valid Unicode",
    ),
    (
        "lone_surrogate_column_name",
        lambda: pd.DataFrame(
            [["a", T0, 1, 0.5, 1]], columns=pd.Index([*NAMES, "x\ud800"], dtype=object)
        ),
        fti.SchemaError,
        "column name .* is not valid Unicode",
    ),
    (
        "invalid_utf8_in_arrow",
        lambda: pa.Table.from_pandas(good()).set_column(
            0, "id", pa.array([b"\xed\xa0\x80", b"b"], pa.binary()).view(pa.string())
        ),
        fti.SchemaError,
        "column 'id' holds text that is not valid UTF-8",
    ),
]


@pytest.mark.parametrize(("make", "error", "match"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_insert_raises_and_writes_nothing(
    fg: fti.FeatureGroup, make: Callable[[], Any], error: type[Exception], match: str
) -> None:
    before = snapshot(fg)
    with pytest.raises(error, match=match):
        fg.insert(make())
    assert snapshot(fg) == before


def test_validation_error_carries_a_report(fg: fti.FeatureGroup) -> None:
    with pytest.raises(fti.DataValidationError) as info:
        fg.insert(good(n=[-1, -2]))
    report = info.value.report
    assert not report.passed
    assert report.failures[0].column == "n" and report.failures[0].failed_rows == 2


def test_warn_mode_writes_and_keeps_the_report(fs: fti.FeatureStore) -> None:
    expectations = pa_schema.DataFrameSchema({"n": pa_schema.Column(int, pa_schema.Check.ge(0))})
    fg = fs.create_feature_group(
        "lenient",
        primary_key=["id"],
        event_time="t",
        features=FEATURES,
        expectations=expectations,
        validation="warn",
    )
    commit = fg.insert(good(n=[-1, 2]))
    assert commit is not None and commit.validation == "failed"
    ((commit_id, report),) = fg.validation_reports()
    assert commit_id == commit.id and not report.passed
    assert len(fg.read()) == 2


def test_pandas_nan_is_missing_and_inf_is_kept(fg: fti.FeatureGroup) -> None:
    commit = fg.insert(good(x=[float("nan"), float("inf")]))
    assert commit is not None
    stats = fg.statistics(commit.id)["x"]
    assert (stats.null_count, stats.nan_count, stats.inf_count) == (1, 0, 1)
    assert fg.read_online("a", return_type="dict")["x"] is None
    assert fg.read_online("b", return_type="dict")["x"] == float("inf")


def test_arrow_nan_stays_a_nan_value(fg: fti.FeatureGroup) -> None:
    data = pa.Table.from_pandas(good(), preserve_index=False)
    data = data.set_column(3, "x", pa.array([float("nan"), float("-inf")]))
    commit = fg.insert(data)
    assert commit is not None
    stats = fg.statistics(commit.id)["x"]
    assert (stats.null_count, stats.nan_count, stats.inf_count) == (0, 1, 1)
    assert np.isnan(fg.read_online("a", return_type="dict")["x"])
    assert np.isnan(fg.read().sort_values("id")["x"].iloc[0])


def test_ten_megabyte_string_key_round_trips_below_a_raised_limit(
    tmp_path: Path, online_url: str
) -> None:
    with fti.connect(tmp_path / "big", online_url=online_url, max_value_bytes="16MiB") as p:
        group = p.feature_store.create_feature_group(
            f"g{uuid.uuid4().hex[:8]}", primary_key=["id"], event_time="t", features=FEATURES
        )
        big = "k" * (10 * MIB)
        group.insert(good(id=[big, "b"]))
        assert group.read_online(big, return_type="dict")["n"] == 1
        group.delete()


def test_list_values_over_max_bytes_are_refused(fs: fti.FeatureStore) -> None:
    group = fs.create_feature_group(
        "vectors",
        primary_key=["id"],
        features=[fti.Feature("id", "int64"), fti.Feature("v", "list<float32>")],
    )
    # 4 bytes a float32: 262,144 of them are exactly 1 MiB.
    group.insert(pd.DataFrame({"id": [1], "v": [np.zeros(MIB // 4, np.float32)]}))
    with pytest.raises(fti.SchemaError, match=r"'v' .* largest 1,048,580 bytes"):
        group.insert(pd.DataFrame({"id": [2], "v": [np.zeros(MIB // 4 + 1, np.float32)]}))
    assert [c.id for c in group.commits()] == [0]


def test_event_times_up_to_the_horizon_are_accepted(fg: fti.FeatureGroup) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    commit = fg.insert(good(t=[soon, T0]))
    assert commit is not None and commit.rows == 2


def test_the_horizon_is_measured_on_the_wall_clock_not_fti_now(
    fg: fti.FeatureGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTI_NOW", "9999-01-01T00:00:00")
    with pytest.raises(fti.SchemaError, match="max_event_time_ahead"):
        fg.insert(good(t=[dt.datetime(9000, 1, 1, tzinfo=dt.UTC), T0]))
    monkeypatch.setenv("FTI_NOW", "2000-01-01T00:00:00")
    assert fg.insert(good(t=[dt.datetime.now(dt.UTC), T0])) is not None


def test_a_raised_horizon_accepts_far_event_times(tmp_path: Path, online_url: str) -> None:
    with fti.connect(tmp_path / "far", online_url=online_url, max_event_time_ahead="400w") as p:
        group = p.feature_store.create_feature_group(
            f"g{uuid.uuid4().hex[:8]}", primary_key=["id"], event_time="t", features=FEATURES
        )
        in_five_years = dt.datetime.now(dt.UTC) + dt.timedelta(days=5 * 365)
        assert group.insert(good(t=[in_five_years, T0])) is not None
        group.delete()


def test_date_event_times_are_held_to_the_horizon(fs: fti.FeatureStore) -> None:
    group = fs.create_feature_group(
        "daily",
        primary_key=["id"],
        event_time="day",
        features=[fti.Feature("id", "int64"), fti.Feature("day", "date")],
    )
    with pytest.raises(fti.SchemaError, match="'day' has a time after"):
        group.insert(pd.DataFrame({"id": [1], "day": [dt.date(9999, 12, 31)]}))
    assert group.commits() == []


def test_a_refused_first_insert_leaves_no_inferred_schema(fs: fti.FeatureStore) -> None:
    group = fs.create_feature_group("inferred", primary_key=["id"])
    with pytest.raises(fti.SchemaError, match="max_value_bytes"):
        group.insert(pd.DataFrame({"id": [1], "s": ["x" * (MIB + 1)]}))
    assert fs.get_feature_group("inferred").features is None


@pytest.mark.parametrize("key", ["a\ud800", "\udfff"], ids=["trailing", "alone"])
def test_read_online_refuses_keys_that_are_not_valid_unicode(
    fg: fti.FeatureGroup, key: str
) -> None:
    with pytest.raises(fti.SchemaError, match="not valid Unicode"):
        fg.read_online(key)


@pytest.mark.parametrize(
    "name", ["../x", "x/y", "", "Flights", "naïve", "a;drop", "a'b", 'a"b', "1abc", "x" * 64]
)
def test_bad_group_names_are_refused(fs: fti.FeatureStore, name: str) -> None:
    with pytest.raises(fti.InvalidNameError):
        fs.create_feature_group(name, primary_key=["id"])
    assert fs.list_feature_groups() == []


@pytest.mark.parametrize("name", ["a;drop", "x'y", 'q"', "naïve", "Upper", "has space"])
def test_bad_feature_names_are_refused_at_creation(fs: fti.FeatureStore, name: str) -> None:
    with pytest.raises(fti.InvalidNameError):
        fs.create_feature_group(
            "g",
            primary_key=["id"],
            features=[fti.Feature("id", "int64"), fti.Feature(name, "int64")],
        )
    assert fs.list_feature_groups() == []


def test_inferred_schema_with_bad_column_name_is_refused(fs: fti.FeatureStore) -> None:
    fg = fs.create_feature_group("g", primary_key=["id"])
    with pytest.raises(fti.InvalidNameError):
        fg.insert(pd.DataFrame({"id": [1], "a;drop": [1]}))
    assert fs.get_feature_group("g").features is None
    assert fg.commits() == []


def test_custom_expectation_check_is_refused_at_creation(fs: fti.FeatureStore) -> None:
    custom = pa_schema.DataFrameSchema(
        {"n": pa_schema.Column(int, pa_schema.Check(lambda s: s > 0))}
    )
    with pytest.raises(fti.ExpectationError, match="n"):
        fs.create_feature_group("g", primary_key=["id"], features=FEATURES, expectations=custom)
    assert fs.list_feature_groups() == []


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"primary_key": []}, fti.SchemaError),
        ({"primary_key": ["nope"]}, fti.SchemaError),
        ({"primary_key": ["id"], "event_time": "nope"}, fti.SchemaError),
        ({"primary_key": ["id"], "event_time": "n"}, fti.SchemaError),
        ({"primary_key": ["x"]}, fti.SchemaError),
        ({"primary_key": ["id"], "validation": "loud"}, fti.InvalidArgumentError),
    ],
    ids=["no_key", "unknown_key", "unknown_event_time", "int_event_time", "float_key", "bad_mode"],
)
def test_bad_group_definitions_are_refused(
    fs: fti.FeatureStore, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        fs.create_feature_group("g", features=FEATURES, **options)
    assert fs.list_feature_groups() == []


@pytest.mark.parametrize(
    "as_of",
    [-1, 2**70, True, "0", 1.5, dt.date(2024, 1, 1)],
    ids=["negative", "beyond-64-bits", "bool", "string", "float", "date"],
)
def test_read_as_of_must_be_a_commit_id_or_a_datetime(fg: fti.FeatureGroup, as_of: Any) -> None:
    with pytest.raises(fti.InvalidArgumentError, match="as_of"):
        fg.read(as_of=as_of)


def test_read_as_of_a_missing_commit_is_not_found(fg: fti.FeatureGroup) -> None:
    with pytest.raises(fti.NotFoundError, match="no version 5"):
        fg.read(as_of=5)
    assert len(fg.read(as_of=0)) == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda fg: fg.commit(-1),
        lambda fg: fg.commit("0"),
        lambda fg: fg.read_changes(-1),
        lambda fg: fg.read_changes(0, 2**64),
        lambda fg: fg.statistics(commit=2**70),
    ],
    ids=["commit-negative", "commit-string", "changes-negative", "changes-huge", "stats-huge"],
)
def test_commit_ids_out_of_range_are_refused(
    fg: fti.FeatureGroup, call: Callable[[fti.FeatureGroup], Any]
) -> None:
    with pytest.raises(fti.InvalidArgumentError, match="use an integer from 0"):
        call(fg)


@pytest.mark.parametrize("version", [2**31, 2**70], ids=["above-32-bits", "above-64-bits"])
def test_versions_beyond_what_the_metadata_store_keeps_are_refused(
    fs: fti.FeatureStore, fg: fti.FeatureGroup, version: int
) -> None:
    with pytest.raises(fti.InvalidNameError, match="positive integer up to"):
        fs.get_feature_group("guarded", version=version)
    with pytest.raises(fti.InvalidNameError, match="positive integer up to"):
        fs.create_feature_group("other", version=version, primary_key=["id"])
    assert [g.name for g in fs.list_feature_groups()] == ["guarded"]


@pytest.mark.parametrize("key", [2**63, -(2**63) - 1, 2**70], ids=["max+1", "min-1", "huge"])
def test_read_online_keys_beyond_int64_are_refused(fs: fti.FeatureStore, key: int) -> None:
    group = fs.create_feature_group(
        "ints", primary_key=["id"], features=[fti.Feature("id", "int64"), fti.Feature("x", "int64")]
    )
    group.insert(pd.DataFrame({"id": [1], "x": [1]}))
    with pytest.raises(fti.SchemaError, match="'id'"):
        group.read_online(key)
