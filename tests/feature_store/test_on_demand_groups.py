"""On-demand features of a feature group: computed at insert and again when serving."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import fti


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def eta_minutes(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"] * 60


@fti.on_demand(type="float64", inputs=["distance"])
def centered(df: pd.DataFrame) -> pd.Series:
    return df["distance"] - df["distance"].mean()


FEATURES = [fti.Feature("id", "int64"), fti.Feature("distance", "float64")]


@pytest.fixture
def trips(fs: fti.FeatureStore) -> fti.FeatureGroup:
    fg = fs.create_feature_group(
        "trips", primary_key=["id"], features=FEATURES, on_demand_features=[eta_minutes]
    )
    fg.insert(pd.DataFrame({"id": [1, 2], "distance": [10.0, 20.0], "speed": [5.0, 10.0]}))
    return fg


def test_insert_computes_the_feature_and_drops_request_parameters(trips: fti.FeatureGroup) -> None:
    rows = trips.read().sort_values("id")
    assert list(rows.columns) == ["id", "distance", "eta_minutes"]
    assert rows["eta_minutes"].tolist() == [120.0, 120.0]
    assert trips.read_online(1, return_type="dict")["eta_minutes"] == 120.0


def test_serving_recomputes_with_request_parameters(
    trips: fti.FeatureGroup, fs: fti.FeatureStore
) -> None:
    fv = fs.create_feature_view("eta", query=trips.select_all())
    vector = fv.get_feature_vector(
        {"id": 2}, request_parameters={"speed": 40.0}, return_type="dict"
    )
    assert vector == {"id": 2, "distance": 20.0, "eta_minutes": 30.0}
    with pytest.raises(fti.SchemaError, match="speed"):
        fv.get_feature_vector({"id": 2})


def test_row_dependent_function_is_refused_at_creation(fs: fti.FeatureStore) -> None:
    with pytest.raises(fti.TransformationError, match="centered"):
        fs.create_feature_group(
            "bad", primary_key=["id"], features=FEATURES, on_demand_features=[centered]
        )
    assert fs.list_feature_groups() == []


def test_insert_without_request_parameters_stores_null(
    trips: fti.FeatureGroup, fs: fti.FeatureStore
) -> None:
    trips.insert(pd.DataFrame({"id": [3], "distance": [30.0]}))
    rows = trips.read().set_index("id")
    assert math.isnan(rows.loc[3, "eta_minutes"]) and rows.loc[1, "eta_minutes"] == 120.0
    assert trips.read_online(3, return_type="dict")["eta_minutes"] is None
    vector = fs.create_feature_view("eta", query=trips.select_all()).get_feature_vector(
        {"id": 3}, request_parameters={"speed": 60.0}, return_type="dict"
    )
    assert vector["eta_minutes"] == 30.0


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed", "delay"])
def eta_with_delay(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"] * 60 + df["delay"]


def test_some_but_not_all_request_parameters_at_insert_write_nothing(
    fs: fti.FeatureStore,
) -> None:
    fg = fs.create_feature_group(
        "delayed", primary_key=["id"], features=FEATURES, on_demand_features=[eta_with_delay]
    )
    with pytest.raises(fti.TransformationError, match="delay"):
        fg.insert(pd.DataFrame({"id": [1], "distance": [1.0], "speed": [2.0]}))
    assert fg.commits() == []


def test_empty_insert_commits_nothing(trips: fti.FeatureGroup) -> None:
    assert trips.insert(pd.DataFrame({"id": [], "distance": []})) is None
    assert len(trips.commits()) == 1
