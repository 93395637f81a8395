"""Feature groups end to end over real stores (Delta offline, SQLite or Redis online)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import fti
from fti.feature_store import ingest

UTC = dt.UTC


@pytest.fixture
def project(connected_project: fti.Project) -> fti.Project:
    """Each test runs embedded (over each online backend) and through fti server."""
    return connected_project


def ts(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, 1, hour, minute, tzinfo=UTC)


def frame(ids: list[int], hours: list[int], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "t": [ts(h) for h in hours], "x": values})


FEATURES = [fti.Feature("id", "int64"), fti.Feature("t", "timestamp"), fti.Feature("x", "float64")]


@pytest.fixture
def fg(fs: fti.FeatureStore) -> fti.FeatureGroup:
    return fs.create_feature_group("trips", primary_key=["id"], event_time="t", features=FEATURES)


def test_versions_are_allocated_and_looked_up(fs: fti.FeatureStore) -> None:
    first = fs.create_feature_group("trips", primary_key=["id"], features=FEATURES[:1])
    second = fs.create_feature_group("trips", primary_key=["id"], features=FEATURES[:1])
    assert (first.version, second.version) == (1, 2)
    assert fs.get_feature_group("trips").version == 2
    assert fs.get_feature_group("trips", 1).version == 1
    with pytest.raises(fti.AlreadyExistsError, match="version 2"):
        fs.create_feature_group("trips", version=2, primary_key=["id"])
    with pytest.raises(fti.NotFoundError, match="nope"):
        fs.get_feature_group("nope")
    with pytest.raises(fti.NotFoundError):
        fs.get_feature_group("trips", 3)
    assert [(g.name, g.version) for g in fs.list_feature_groups()] == [("trips", 1), ("trips", 2)]
    assert fs.get_or_create_feature_group("trips", 1, primary_key=["id"]).version == 1
    with pytest.raises(fti.SchemaError, match=r"primary_key \['id'\] \(stored\) vs \['other'\]"):
        fs.get_or_create_feature_group("trips", 1, primary_key=["other"])
    made = fs.get_or_create_feature_group("fresh", primary_key=["id"])
    assert made.version == 1


def test_delete_removes_offline_online_and_metadata(
    fg: fti.FeatureGroup, fs: fti.FeatureStore
) -> None:
    fg.insert(frame([1], [1], [1.0]))
    fg.delete()
    with pytest.raises(fti.NotFoundError):
        fs.get_feature_group("trips", 1)
    again = fs.create_feature_group(
        "trips", version=1, primary_key=["id"], event_time="t", features=FEATURES
    )
    assert again.commits() == []
    assert again.read_online({"id": 1}, return_type="dict") is None


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_insert_accepts_each_frame_type(fg: fti.FeatureGroup, kind: str) -> None:
    data = frame([1, 2], [1, 2], [0.5, 1.5])
    converted = {
        "pandas": data,
        "polars": pl.from_pandas(data),
        "pyarrow": pa.Table.from_pandas(data),
    }[kind]
    commit = fg.insert(converted)
    assert commit is not None and commit.id == 0 and commit.rows == 2
    out = fg.read().sort_values("id").reset_index(drop=True)
    assert out["x"].tolist() == [0.5, 1.5]
    assert str(out["t"].dt.tz) == "UTC"


def test_schema_is_inferred_from_first_insert(fs: fti.FeatureStore) -> None:
    fg = fs.create_feature_group("inferred", primary_key=["id"], event_time="t")
    assert fg.features is None
    fg.insert(frame([1], [1], [2.0]).assign(name=["a"], flag=[True]))
    again = fs.get_feature_group("inferred")
    assert {f.name: f.type for f in again.features or []} == {
        "id": "int64",
        "t": "timestamp",
        "x": "float64",
        "name": "string",
        "flag": "bool",
    }


def test_upsert_on_key_and_event_time(fg: fti.FeatureGroup) -> None:
    fg.insert(frame([1, 1, 2], [1, 2, 1], [1.0, 2.0, 3.0]))
    commit = fg.insert(frame([1, 3], [2, 1], [20.0, 30.0]))
    assert commit is not None and (commit.rows_inserted, commit.rows_updated) == (1, 1)
    out = fg.read().sort_values(["id", "t"])
    assert list(zip(out["id"], out["x"], strict=True)) == [(1, 1.0), (1, 20.0), (2, 3.0), (3, 30.0)]


def test_last_duplicate_in_a_batch_wins(fg: fti.FeatureGroup) -> None:
    fg.insert(frame([1, 1, 1], [1, 1, 1], [1.0, 2.0, 3.0]))
    assert fg.read()["x"].tolist() == [3.0]
    assert fg.read_online({"id": 1}, return_type="dict")["x"] == 3.0


def test_group_without_event_time_upserts_on_primary_key(fs: fti.FeatureStore) -> None:
    fg = fs.create_feature_group("planes", primary_key=["tail"])
    fg.insert(pd.DataFrame({"tail": ["a", "b"], "seats": [10, 20]}))
    fg.insert(pd.DataFrame({"tail": ["a"], "seats": [11]}))
    out = fg.read().sort_values("tail")
    assert out["seats"].tolist() == [11, 20]
    assert fg.read_online("a", return_type="dict") == {"tail": "a", "seats": 11}


def test_time_travel_by_commit_and_time(fg: fti.FeatureGroup) -> None:
    c0 = fg.insert(frame([1], [1], [1.0]))
    c1 = fg.insert(frame([1], [1], [2.0]))
    assert c0 is not None and c1 is not None
    assert fg.read(as_of=0)["x"].tolist() == [1.0]
    assert fg.read(as_of=1)["x"].tolist() == [2.0]
    assert fg.read(as_of=c0.time)["x"].tolist() == [1.0]
    assert [c.id for c in fg.commits()] == [0, 1]
    with pytest.raises(fti.NotFoundError):
        fg.read(as_of=7)


def test_read_changes_lists_rows_of_commits(fg: fti.FeatureGroup) -> None:
    fg.insert(frame([1, 2], [1, 1], [1.0, 2.0]))
    fg.insert(frame([2, 3], [1, 1], [20.0, 30.0]))
    fg.insert(frame([4], [1], [40.0]))
    changes = fg.read_changes(1, 1)
    assert sorted(changes["id"]) == [2, 3]
    assert set(changes["_change_type"]) == {"insert", "update_postimage"}
    assert sorted(fg.read_changes(0)["_commit_id"].unique()) == [0, 1, 2]


def test_online_keeps_latest_row_per_key(fg: fti.FeatureGroup) -> None:
    fg.insert(frame([1, 1, 2], [1, 3, 1], [1.0, 3.0, 2.0]))
    assert fg.read_online({"id": 1}, return_type="dict")["x"] == 3.0
    fg.insert(frame([1], [2], [99.0]))  # older row arriving later
    assert fg.read_online({"id": 1}, return_type="dict")["x"] == 3.0
    fg.insert(frame([1], [3], [33.0]))  # same event time, later commit
    row = fg.read_online({"id": 1}, return_type="dict")
    assert row == {"id": 1, "t": ts(3), "x": 33.0}
    assert fg.read_online([{"id": 2}, {"id": 9}], return_type="list") == [[2, ts(1), 2.0], None]


def test_read_online_as_frames(fg: fti.FeatureGroup) -> None:
    fg.insert(frame([1, 2], [1, 1], [1.0, 2.0]))
    df = fg.read_online([1, 5, 2])
    assert df["id"].tolist()[0] == 1 and df["x"].tolist()[2] == 2.0
    assert df["x"].isna().tolist() == [False, True, False]
    assert fg.read_online([1], return_type="pyarrow").schema.field("t").type == pa.timestamp(
        "us", tz="UTC"
    )
    assert fg.read_online([1], return_type="polars").height == 1


def test_online_disabled_group_writes_nothing_online(fs: fti.FeatureStore) -> None:
    fg = fs.create_feature_group(
        "offline_only", primary_key=["id"], event_time="t", features=FEATURES, online_enabled=False
    )
    fg.insert(frame([1], [1], [1.0]))
    assert fg.read_online({"id": 1}, return_type="dict") is None
    assert len(fg.read()) == 1


def test_crash_after_offline_commit_is_repaired_by_next_insert(
    fg: fti.FeatureGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise SystemExit("killed between offline commit and online write")

    fg.insert(frame([1], [1], [1.0]))
    with monkeypatch.context() as m:
        m.setattr(ingest, "write_online", crash)
        with pytest.raises(SystemExit):
            fg.insert(frame([1, 2], [2, 2], [2.0, 2.5]))
    assert fg.read_online({"id": 2}, return_type="dict") is None  # offline has it, online not
    fg.insert(frame([3], [1], [3.0]))
    assert fg.read_online({"id": 1}, return_type="dict")["x"] == 2.0
    assert fg.read_online({"id": 2}, return_type="dict")["x"] == 2.5


def test_materialize_replays_missing_commits(fg: fti.FeatureGroup, project: fti.Project) -> None:
    fg.insert(frame([1, 2], [1, 1], [1.0, 2.0]))
    fg.insert(frame([1], [2], [5.0]))
    project.online_store.drop(fg._online_table)
    assert fg.read_online({"id": 1}, return_type="dict") is None
    assert fg.materialize() == [0, 1]
    assert fg.read_online({"id": 1}, return_type="dict")["x"] == 5.0
    assert fg.materialize() == []


def test_statistics_per_commit(fg: fti.FeatureGroup) -> None:
    fg.insert(frame([1, 2, 3], [1, 1, 1], [1.0, None, float("inf")]))
    fg.insert(frame([4], [1], [4.0]))
    first = fg.statistics(commit=0)
    assert (first["x"].count, first["x"].null_count, first["x"].inf_count) == (3, 1, 1)
    assert first["id"].min == 1 and first["id"].max == 3
    assert fg.statistics()["id"].count == 1
    with pytest.raises(fti.NotFoundError):
        fg.statistics(commit=5)


def test_statistics_can_be_turned_off(fs: fti.FeatureStore) -> None:
    fg = fs.create_feature_group(
        "nostats", primary_key=["id"], features=FEATURES[:1], statistics=False
    )
    fg.insert(pd.DataFrame({"id": [1]}))
    with pytest.raises(fti.NotFoundError):
        fg.statistics()


def test_empty_frame_makes_no_commit(fg: fti.FeatureGroup) -> None:
    assert fg.insert(frame([], [], [])) is None
    assert fg.commits() == []
    assert len(fg.read()) == 0


def test_mixed_time_zones_are_converted_to_utc(fg: fti.FeatureGroup) -> None:
    paris = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    tokyo = dt.datetime(2024, 1, 1, 21, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    data = pd.DataFrame({"id": [1, 2], "t": [paris, tokyo], "x": [1.0, 2.0]})
    fg.insert(data)
    out = fg.read().sort_values("id")
    assert out["t"].tolist() == [
        pd.Timestamp("2024-01-01 11:00", tz="UTC"),
        pd.Timestamp("2024-01-01 12:00", tz="UTC"),
    ]


NOON = dt.datetime(2024, 1, 1, 12)
NAIVE = [
    pytest.param(lambda: pd.DataFrame({"id": [1], "t": [NOON], "x": [1.0]}), id="pandas"),
    pytest.param(
        lambda: pd.DataFrame({"id": [1], "t": pd.Series([NOON], dtype=object), "x": [1.0]}),
        id="pandas-object",
    ),
    pytest.param(lambda: pl.DataFrame({"id": [1], "t": [NOON], "x": [1.0]}), id="polars"),
    pytest.param(
        lambda: pa.table({"id": [1], "t": pa.array([NOON], pa.timestamp("ms")), "x": [1.0]}),
        id="pyarrow",
    ),
]


@pytest.mark.parametrize("make", NAIVE)
def test_naive_timestamps_are_taken_as_utc_with_a_warning(
    fg: fti.FeatureGroup, make: Callable[[], Any]
) -> None:
    with pytest.warns(
        fti.NaiveTimestampWarning, match=r"'t' of .*naive timestamps: fti took them as UTC"
    ) as record:
        fg.insert(make())

    # Shown at the caller's line, not inside fti.
    assert [w.filename for w in record] == [__file__]

    assert fg.read()["t"].tolist() == [pd.Timestamp("2024-01-01 12:00", tz="UTC")]


def test_naive_timestamps_warn_when_they_define_the_schema(fs: fti.FeatureStore) -> None:
    group = fs.create_feature_group("inferred", primary_key=["id"], event_time="t")
    data = pd.DataFrame({"id": [1], "t": [NOON], "seen": [NOON], "x": [1.0]})

    with pytest.warns(fti.NaiveTimestampWarning, match=r"'t', 'seen'"):
        group.insert(data)

    assert {f.name: f.type for f in group.features or []}["seen"] == "timestamp"


def test_aware_timestamps_insert_without_a_warning(fg: fti.FeatureGroup) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.insert(frame([1], [1], [1.0]))
    assert len(fg.read()) == 1


def test_naive_and_aware_datetimes_in_one_column_are_refused(fg: fti.FeatureGroup) -> None:
    paris = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    data = pd.DataFrame({"id": [1, 2], "t": [paris, NOON], "x": [1.0, 2.0]})

    with pytest.raises(fti.SchemaError, match="'t' mixes time-zone-aware and naive"):
        fg.insert(data)
    assert fg.commits() == []


def test_embeddings_and_all_types_round_trip(fs: fti.FeatureStore) -> None:
    features = [
        fti.Feature("id", "string"),
        fti.Feature("flag", "bool"),
        fti.Feature("small", "int32"),
        fti.Feature("big", "int64"),
        fti.Feature("f32", "float32"),
        fti.Feature("f64", "float64"),
        fti.Feature("day", "date"),
        fti.Feature("at", "timestamp"),
        fti.Feature("emb", "list<float32>"),
        fti.Feature("emb64", "list<float64>"),
    ]
    fg = fs.create_feature_group("everything", primary_key=["id"], features=features)
    row = {
        "id": "é|x",
        "flag": True,
        "small": 7,
        "big": 2**40,
        "f32": 1.5,
        "f64": 0.1,
        "day": dt.date(2024, 2, 29),
        "at": ts(5),
        "emb": [0.25, 0.5],
        "emb64": [0.1, 0.2],
    }
    fg.insert(pd.DataFrame([row]))
    assert fg.read_online("é|x", return_type="dict") == row
    offline = fg.read(return_type="pyarrow").to_pylist()[0]
    assert offline == row
