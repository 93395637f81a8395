"""Feature views: training data, splits, batch data and online vectors without skew."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

import fti

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def project(connected_project: fti.Project) -> fti.Project:
    """Each test runs embedded (over each online backend) and through fti server."""
    return connected_project


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def view(fs: fti.FeatureStore) -> fti.FeatureView:
    flights = fs.create_feature_group("flights", primary_key=["fid"], event_time="p")
    flights.insert(
        pd.DataFrame(
            {
                "fid": list(range(1, 9)),
                "p": [at(h) for h in (1, 2, 3, 4, 5, 6, 7, 8)],
                "origin": ["EWR", "JFK", "EWR", "LGA", "JFK", "EWR", "JFK", "EWR"],
                "distance": [100, 200, 300, 400, 500, 600, 700, 800],
                "late": [True, False, True, False, True, False, True, False],
            }
        )
    )
    weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="t")
    weather.insert(
        pd.DataFrame(
            {
                "origin": ["EWR", "JFK", "EWR", "JFK", "LGA"],
                "t": [at(0), at(0.5), at(4), at(6), at(3.5)],
                "temp": [1.0, 2.0, 3.0, 4.0, 5.0],
            }
        )
    )
    query = flights.select(["origin", "distance", "late"]).join(
        weather.select(["temp"]), on=["origin"], ttl=dt.timedelta(days=36500)
    )
    return fs.create_feature_view(
        "delays",
        query=query,
        labels=["late"],
        transformations={"distance": fti.transforms.standard_scaler},
    )


def test_views_are_versioned_and_found(view: fti.FeatureView, fs: fti.FeatureStore) -> None:
    assert fs.get_feature_view("delays").version == 1
    again = fs.create_feature_view("delays", query=view.query, labels=["late"])
    assert again.version == 2
    assert [(v.name, v.version) for v in fs.list_feature_views()] == [("delays", 1), ("delays", 2)]
    with pytest.raises(fti.NotFoundError):
        fs.get_feature_view("delays", 3)
    with pytest.raises(fti.QueryError, match="repeat"):
        fs.create_feature_view("bad", query=view.query, labels=["late", "late"])
    with pytest.raises(fti.QueryError, match="p are the root's key or event time"):
        fs.create_feature_view("bad", query=view.query, labels=["p"])
    again.delete()
    assert [v.version for v in fs.list_feature_views()] == [1]


def test_training_data_shape_and_labels(view: fti.FeatureView) -> None:
    version = view.create_training_data()
    assert version == 1
    x, y = view.get_training_data(version)
    assert list(x.columns) == ["origin", "distance", "temp"]
    assert len(x) == 8 and y.tolist() == [True, False] * 4
    assert x["distance"].mean() == pytest.approx(0.0)
    assert x["temp"].tolist()[:2] == [1.0, 2.0]
    keys, _ = view.get_training_data(version, primary_key=True, event_time=True)
    assert list(keys.columns[:2]) == ["fid", "p"]


def test_training_data_is_reproducible_after_upserts(
    view: fti.FeatureView, fs: fti.FeatureStore
) -> None:
    version = view.create_training_data()
    before, y_before = view.get_training_data(version)
    weather = fs.get_feature_group("weather")
    weather.insert(pd.DataFrame({"origin": ["EWR"], "t": [at(0)], "temp": [99.0]}))  # upsert
    fs.get_feature_group("flights").insert(
        pd.DataFrame({"fid": [9], "p": [at(9)], "origin": ["EWR"], "distance": [5], "late": [True]})
    )
    after, y_after = view.get_training_data(version)
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_series_equal(y_before, y_after)
    check = view.verify_training_data(version)
    assert check.matches and check.recomputed_digest == check.stored_digest
    fresh = view.create_training_data()
    assert view.get_training_data(fresh)[0].shape[0] == 9
    assert [d.version for d in view.training_datasets()] == [1, 2]


def test_verify_reports_vacuumed_versions(
    view: fti.FeatureView, fs: fti.FeatureStore, project: fti.Project, offline_root: str
) -> None:
    version = view.create_training_data()
    weather = fs.get_feature_group("weather")
    weather.insert(pd.DataFrame({"origin": ["EWR"], "t": [at(0)], "temp": [99.0]}))
    path = offline_root + "/" + weather._offline_table
    DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    # Through a server, the copies this side read before would still serve (and match).
    shutil.rmtree(project.settings.cache_path, ignore_errors=True)
    check = view.verify_training_data(version)
    assert not check.matches
    assert "vacuum" in check.reason


def test_random_split_is_seeded(view: fti.FeatureView) -> None:
    a = view.train_test_split(test_size=0.25, seed=7)
    b = view.train_test_split(test_size=0.25, seed=7)
    assert len(a[1]) == 2 and len(a[0]) == 6
    pd.testing.assert_frame_equal(a[1], b[1])
    again = view.get_train_test_split(1)
    pd.testing.assert_frame_equal(a[0], again[0])


def test_time_split_fits_transformations_on_train_only(view: fti.FeatureView) -> None:
    x_train, x_test, _, _ = view.train_test_split(test_start=at(6))
    assert len(x_train) == 5 and len(x_test) == 3
    state = view.training_dataset().transformation_state["distance"]
    assert state["mean"] == pytest.approx(300.0)
    assert x_train["distance"].mean() == pytest.approx(0.0)
    assert x_test["distance"].min() > 0


def test_three_way_time_split(view: fti.FeatureView) -> None:
    parts = view.train_validation_test_split(validation_start=at(4), test_start=at(7))
    assert [len(p) for p in parts[:3]] == [3, 3, 2]
    assert parts[5].tolist() == [True, False]


def test_spine_with_labels_and_duplicates(view: fti.FeatureView) -> None:
    spine = pd.DataFrame(
        {"fid": [3, 3, 1], "p": [at(5), at(3), at(0.5)], "late": [False, True, True]}
    )
    version = view.create_training_data(spine=spine)
    x, y = view.get_training_data(version)
    assert y.tolist() == [False, True, True]
    assert x["temp"].tolist()[:2] == [3.0, 1.0]
    assert x["origin"].isna().tolist() == [False, False, True]  # flight 1 not known yet at 0.5
    assert view.verify_training_data(version).matches


def test_batch_data_matches_training_columns_and_spine_order(view: fti.FeatureView) -> None:
    version = view.create_training_data()
    x, _ = view.get_training_data(version)
    batch = view.get_batch_data(training_dataset_version=version)
    pd.testing.assert_frame_equal(batch, x)
    spine = pd.DataFrame({"fid": [8, 2, 8], "p": [at(20), at(20), at(20)]})
    rows = view.get_batch_data(spine=spine, primary_key=True)
    assert rows["fid"].tolist() == [8, 2, 8]
    assert rows["temp"].tolist() == [3.0, 4.0, 3.0]
    ranged = view.get_batch_data(start_time=at(2), end_time=at(4))
    assert len(ranged) == 2


def test_feature_vector_return_types(view: fti.FeatureView) -> None:
    view.create_training_data()
    view.init_serving(1)
    vector = view.get_feature_vector({"fid": 3})
    assert vector[0] == "EWR" and vector[2] == 3.0
    as_dict = view.get_feature_vector({"fid": 3}, return_type="dict")
    assert list(as_dict) == ["origin", "distance", "temp"]
    assert view.get_feature_vector({"fid": 3}, return_type="pandas").shape == (1, 3)
    assert view.get_feature_vector({"fid": 3}, return_type="numpy").shape == (3,)
    passed = view.get_feature_vector({"fid": 3}, passed_features={"temp": -1.0}, return_type="dict")
    assert passed["temp"] == -1.0
    with pytest.raises(fti.KeyNotFoundError, match="fid"):
        view.get_feature_vector({"fid": 99})
    missing = view.get_feature_vector({"fid": 99}, allow_missing=True, return_type="dict")
    assert missing["origin"] is None and missing["temp"] is None
    with pytest.raises(fti.InvalidArgumentError):
        view.get_feature_vector({"fid": 3}, return_type="xml")


@pytest.mark.parametrize("return_type", ["list", "dict", "pandas"])
def test_no_skew_between_online_and_batch(view: fti.FeatureView, return_type: str) -> None:
    view.create_training_data()
    view.init_serving(1)
    keys = [{"fid": k} for k in range(1, 9)]
    now = pd.Timestamp.now(tz="UTC").floor("us")
    batch = view.get_batch_data(
        spine=pd.DataFrame({"fid": range(1, 9), "p": [now] * 8}), training_dataset_version=1
    )
    online = view.get_feature_vectors(keys, return_type=return_type)
    if return_type == "pandas":
        pd.testing.assert_frame_equal(online, batch)
        return
    rows = online if return_type == "list" else [list(r.values()) for r in online]
    for got, expected in zip(rows, batch.itertuples(index=False), strict=True):
        for a, b in zip(got, expected, strict=True):
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    assert view.verify_online().ok


def test_verify_online_finds_a_lagging_online_store(
    view: fti.FeatureView, project: fti.Project, fs: fti.FeatureStore
) -> None:
    view.create_training_data()
    weather = fs.get_feature_group("weather")
    project.online_store.drop(weather._online_table)
    audit = view.verify_online()
    assert not audit.ok
    assert audit.by_feature()["temp"] > 0
    assert "behind" in audit.causes()["temp"]
    weather.materialize()
    assert view.verify_online().ok


def test_series_only_transformation_is_refused(view: fti.FeatureView, fs: fti.FeatureStore) -> None:
    @fti.transformation
    def centered(x: pd.Series) -> pd.Series:
        return x - x.mean()

    with pytest.raises(fti.TransformationError, match="centered"):
        fs.create_feature_view(
            "bad", query=view.query, labels=["late"], transformations={"distance": centered}
        )
    assert [v.name for v in fs.list_feature_views()] == ["delays"]


def test_user_transformation_round_trips(view: fti.FeatureView, fs: fti.FeatureStore) -> None:
    @fti.transformation
    def log_distance(x: pd.Series) -> pd.Series:
        return np.log1p(x)

    fv = fs.create_feature_view(
        "logs", query=view.query, labels=["late"], transformations={"distance": log_distance}
    )
    version = fv.create_training_data()
    reloaded = fs.get_feature_view("logs")
    x, _ = reloaded.get_training_data(version)
    assert x["distance"].iloc[0] == pytest.approx(math.log1p(100))
    assert reloaded.get_feature_vector({"fid": 1}, return_type="dict")["distance"] == pytest.approx(
        math.log1p(100)
    )


def test_fti_now_replays_ttl_as_of_a_past_time(
    fs: fti.FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    flights = fs.create_feature_group("f", primary_key=["fid"], event_time="p")
    flights.insert(pd.DataFrame({"fid": [1], "p": [at(5)], "origin": ["EWR"]}))
    weather = fs.create_feature_group("w", primary_key=["origin"], event_time="t")
    weather.insert(pd.DataFrame({"origin": ["EWR"], "t": [at(4)], "temp": [7.0]}))
    view = fs.create_feature_view(
        "replay", query=flights.select(["origin"]).join(weather.select(["temp"]), ttl="2h")
    )
    assert view.get_feature_vector({"fid": 1}, return_type="dict")["temp"] is None
    monkeypatch.setenv("FTI_NOW", at(5).isoformat())
    assert view.get_feature_vector({"fid": 1}, return_type="dict")["temp"] == 7.0
    assert view.verify_online().ok
    monkeypatch.setenv("FTI_NOW", "yesterday")
    with pytest.raises(fti.ConfigError, match="FTI_NOW"):
        view.get_feature_vector({"fid": 1})


def test_dataset_files_are_renamed_into_place_and_failures_leave_none(
    view: fti.FeatureView, offline_root: str
) -> None:
    folder = Path(offline_root) / view._dataset_folder
    view.create_training_data()
    view.create_training_data(spine=pd.DataFrame({"fid": [1, 2], "p": [at(9), at(9)]}))
    expected = ["1.parquet", "2.parquet", "2.spine.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == expected

    # No training rows: the scaler cannot be fitted, after the files were being written.
    with pytest.raises(fti.errors.TransformationError):
        view.train_test_split(test_start=at(0))
    assert sorted(p.name for p in folder.iterdir()) == expected
    assert [d.version for d in view.training_datasets()] == [1, 2]


# Request-time features and labels in spines (Feast's quickstart) ----------------------------


@fti.on_demand(type="float64", inputs=["conv_rate"], request_parameters=["val_to_add"])
def conv_rate_plus_val1(df: pd.DataFrame) -> pd.Series:
    return df["conv_rate"] + df["val_to_add"]


LABEL = "label_driver_reported_satisfaction"


@pytest.fixture
def drivers(fs: fti.FeatureStore) -> fti.FeatureView:
    """Feast's quickstart: hourly driver stats, an on-demand feature taking ``val_to_add`` and
    a label that only the entity table (the spine) carries."""
    stats = fs.create_feature_group(
        "driver_hourly_stats",
        primary_key=["driver_id"],
        event_time="event_timestamp",
        features=[
            fti.Feature("driver_id", "int64"),
            fti.Feature("event_timestamp", "timestamp"),
            fti.Feature("conv_rate", "float64"),
            fti.Feature("acc_rate", "float64"),
        ],
        on_demand_features=[conv_rate_plus_val1],
    )
    rng = np.random.default_rng(3)
    hours = [h for h in range(6) for _ in (1001, 1002, 1003)]
    stats.insert(  # no val_to_add: conv_rate_plus_val1 is stored as null
        pd.DataFrame(
            {
                "driver_id": [1001, 1002, 1003] * 6,
                "event_timestamp": [at(h) for h in hours],
                "conv_rate": rng.random(18).round(3),
                "acc_rate": rng.random(18).round(3),
            }
        )
    )
    return fs.create_feature_view(
        "driver_activity",
        query=stats.select(["conv_rate", "acc_rate", "conv_rate_plus_val1"]),
        labels=[LABEL],
    )


def entity_df(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "driver_id": rng.choice([1001, 1002, 1003, 1004], rows),  # 1004 has no stats
            "event_timestamp": [at(h) for h in rng.uniform(-1, 7, rows)],  # some before any
            LABEL: rng.integers(1, 6, rows),
            "val_to_add": rng.integers(1, 4, rows),
        }
    )


def brute_force_drivers(view: fti.FeatureView, spine: pd.DataFrame) -> pd.DataFrame:
    stats = view.query.root.read()
    rows = []
    for entity in spine.itertuples(index=False):
        seen = stats[
            (stats["driver_id"] == entity.driver_id)
            & (stats["event_timestamp"] <= entity.event_timestamp)
        ]
        if seen.empty:
            rows.append({"conv_rate": None, "acc_rate": None, "conv_rate_plus_val1": None})
            continue
        row = seen.sort_values("event_timestamp").iloc[-1]
        rows.append(
            {
                "conv_rate": row["conv_rate"],
                "acc_rate": row["acc_rate"],
                "conv_rate_plus_val1": row["conv_rate"] + entity.val_to_add,
            }
        )
    return pd.DataFrame(rows, dtype="float64")


def test_feast_quickstart_trains_with_a_request_parameter_and_a_label_in_the_spine(
    drivers: fti.FeatureView,
) -> None:
    spine = entity_df(40)
    assert drivers.spine_labels == [LABEL]
    version = drivers.create_training_data(spine=spine)
    x, y = drivers.get_training_data(version)
    pd.testing.assert_frame_equal(x, brute_force_drivers(drivers, spine))
    assert x["conv_rate_plus_val1"].notna().sum() > 20  # not only nulls compared
    assert y.tolist() == spine[LABEL].tolist()
    assert drivers.verify_training_data(version).matches
    batch = drivers.get_batch_data(spine=spine.drop(columns=[LABEL]))
    pd.testing.assert_frame_equal(batch, x)

    x_train, x_test, y_train, y_test = drivers.train_test_split(test_size=0.25, seed=1, spine=spine)
    assert len(x_train) == 30 and len(x_test) == 10
    assert sorted(y_train.tolist() + y_test.tolist()) == sorted(spine[LABEL].tolist())
    assert drivers.verify_training_data(drivers.training_dataset().version).matches


def test_on_demand_features_from_a_spine_equal_online_values(
    drivers: fti.FeatureView, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = at(5.5)
    monkeypatch.setenv("FTI_NOW", now.isoformat())
    entries = [{"driver_id": d} for d in (1001, 1002, 1003, 1001)]
    values = [1, 2, 3, 10]
    online = drivers.get_feature_vectors(
        entries, request_parameters=[{"val_to_add": v} for v in values], return_type="pandas"
    )
    keys = [e["driver_id"] for e in entries]
    spine = pd.DataFrame({"driver_id": keys, "event_timestamp": now, "val_to_add": values})
    pd.testing.assert_frame_equal(drivers.get_batch_data(spine=spine), online)
    audit = drivers.verify_online(request_parameters={"val_to_add": 2})
    assert audit.ok and audit.all_compared
    assert audit.coverage["conv_rate_plus_val1"].compared == 3


def test_spine_labels_need_a_spine_that_carries_them(drivers: fti.FeatureView) -> None:
    with pytest.raises(fti.SchemaError, match=f"{LABEL}.*pass spine="):
        drivers.create_training_data()
    with pytest.raises(fti.SchemaError, match=LABEL):
        drivers.train_test_split(test_size=0.5, spine=entity_df(4).drop(columns=[LABEL]))
    assert drivers.training_datasets() == []
    assert len(drivers.get_batch_data(spine=entity_df(4).drop(columns=[LABEL]))) == 4


def test_labels_of_a_joined_group_come_from_the_join_or_the_spine(
    view: fti.FeatureView, fs: fti.FeatureStore
) -> None:
    by_temp = fs.create_feature_view("temps", query=view.query, labels=["temp"])
    spine = pd.DataFrame({"fid": [3, 1, 2], "p": [at(5), at(1), at(2)]})
    x, y = by_temp.get_training_data(by_temp.create_training_data(spine=spine))
    assert list(x.columns) == ["origin", "distance", "late"]
    assert y.tolist() == [3.0, 1.0, 2.0]
    overridden = spine.assign(temp=[-1.0, -2.0, None])
    version = by_temp.create_training_data(spine=overridden)
    x2, y2 = by_temp.get_training_data(version)
    pd.testing.assert_frame_equal(x2, x)
    assert y2.tolist()[:2] == [-1.0, -2.0] and math.isnan(y2.tolist()[2])
    assert by_temp.verify_training_data(version).matches


@pytest.mark.parametrize(
    ("spine", "match"),
    [
        (
            {"fid": [1], "p": [at(1)], "foo": [1]},
            r"foo are not what a spine may carry.*\(fid, p\).*\(late\).*\(none\)",
        ),
        ({"fid": [1]}, "missing column.*p"),
        ({"p": [at(1)]}, "missing column.*fid"),
    ],
    ids=["unknown-column", "no-event-time", "no-key"],
)
def test_spine_columns_are_checked(
    view: fti.FeatureView, spine: dict[str, list[object]], match: str
) -> None:
    with pytest.raises(fti.SchemaError, match=match):
        view.get_batch_data(spine=pd.DataFrame(spine))


def test_unknown_spine_column_of_a_view_with_request_parameters(drivers: fti.FeatureView) -> None:
    spine = entity_df(3).assign(val_to_ad=1)
    with pytest.raises(fti.SchemaError, match=r"val_to_ad are not.*\(val_to_add\)"):
        drivers.create_training_data(spine=spine)


def test_a_filter_on_a_recomputed_feature_is_refused(
    drivers: fti.FeatureView, fs: fti.FeatureStore
) -> None:
    filtered = fs.create_feature_view(
        "filtered",
        query=drivers.query.filter(fti.col("conv_rate_plus_val1") > 1.0),
        labels=[LABEL],
    )
    with pytest.raises(fti.QueryError, match="filter reads conv_rate_plus_val1"):
        filtered.create_training_data(spine=entity_df(3))


# Splits and time ranges that would silently give empty parts ------------------------------


@pytest.mark.parametrize(
    ("method", "arguments", "match"),
    [
        ("train_test_split", {}, "test_size=.*test_start="),
        ("train_test_split", {"test_size": 0.2, "test_start": at(5)}, "not both"),
        ("train_validation_test_split", {}, "validation_size= and test_size="),
        ("train_validation_test_split", {"test_size": 0.2}, "no part is empty"),
        ("train_validation_test_split", {"test_start": at(6)}, "no part is empty"),
        ("train_validation_test_split", {"validation_size": 0.2, "test_start": at(6)}, "kinds"),
    ],
    ids=["none", "both-kinds", "3-none", "3-test-size-only", "3-test-start-only", "3-mixed"],
)
def test_splits_without_sizes_or_starts_are_refused(
    view: fti.FeatureView, method: str, arguments: dict[str, object], match: str
) -> None:
    with pytest.raises(fti.InvalidArgumentError, match=match):
        getattr(view, method)(**arguments)
    assert view.training_datasets() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda v: v.get_batch_data(at(5), at(2)),
        lambda v: v.create_training_data(at(5), at(2)),
        lambda v: v.train_test_split(test_size=0.5, start_time=at(5), end_time=at(2)),
        lambda v: v.train_validation_test_split(0.2, 0.2, start_time=at(5), end_time=at(2)),
    ],
    ids=["batch", "training", "split", "three-way"],
)
def test_start_after_end_is_refused(view: fti.FeatureView, call: Any) -> None:
    view.create_training_data()  # get_batch_data needs the fitted scaler
    with pytest.raises(fti.InvalidArgumentError, match=r"start_time .* is after end_time"):
        call(view)
    assert len(view.training_datasets()) == 1
