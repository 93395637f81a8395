"""The skew audit: it says how many values of each feature it compared, never only "no skew"."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import fti

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def groups(fs: fti.FeatureStore) -> tuple[fti.FeatureGroup, fti.FeatureGroup]:
    flights = fs.create_feature_group("flights", primary_key=["fid"], event_time="p")
    flights.insert(
        pd.DataFrame(
            {
                "fid": [1, 2, 3, 4],
                "p": [at(1), at(2), at(3), at(4)],
                "origin": ["EWR", "JFK", "EWR", "LGA"],
                "distance": [100.0, 200.0, 300.0, 400.0],
            }
        )
    )
    weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="t")
    weather.insert(
        pd.DataFrame(
            {
                "origin": ["EWR", "JFK", "LGA"],
                "t": [at(3), at(2), at(4)],
                "temp": [1.0, 2.0, 3.0],
                "sky": ["clear", "rain", "clear"],
            }
        )
    )
    return flights, weather


def make_view(
    fs: fti.FeatureStore,
    groups: tuple[fti.FeatureGroup, fti.FeatureGroup],
    transformations: dict[str, fti.Transformation] | None = None,
) -> fti.FeatureView:
    flights, weather = groups
    query = flights.select(["origin", "distance"]).join(
        weather.select(["temp", "sky"]), on=["origin"], ttl="2h"
    )
    view = fs.create_feature_view("delays", query=query, transformations=transformations)
    if transformations:
        view.create_training_data()
    return view


def test_features_null_on_both_sides_are_not_counted_as_compared(
    fs: fti.FeatureStore, groups: tuple[fti.FeatureGroup, fti.FeatureGroup]
) -> None:
    audit = make_view(fs, groups).verify_online()  # 2024 weather is older than now - 2 h
    assert audit.ok and audit.checked == 4
    assert not audit.all_compared
    assert audit.uncompared() == ["temp", "sky"]
    assert audit.coverage["temp"] == fti.feature_store.verification.Coverage(0, 1.0, 1.0)
    assert audit.coverage["distance"].compared == 4
    assert audit.coverage["distance"].null_online == 0.0


def test_the_clock_makes_the_audit_compare_as_of_the_data(
    fs: fti.FeatureStore,
    groups: tuple[fti.FeatureGroup, fti.FeatureGroup],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FTI_NOW", at(5).isoformat())  # EWR's 03:00 weather is within 2 h
    audit = make_view(fs, groups).verify_online()
    assert audit.ok and audit.all_compared
    assert audit.coverage["temp"].compared == 3  # JFK's 02:00 weather is too old at 05:00
    assert audit.coverage["temp"].null_online == audit.coverage["temp"].null_offline == 0.25


def test_encoded_nulls_count_as_missing_and_multi_column_features_are_counted_once(
    fs: fti.FeatureStore,
    groups: tuple[fti.FeatureGroup, fti.FeatureGroup],
    project: fti.Project,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = make_view(
        fs,
        groups,
        {"sky": fti.transforms.one_hot_encoder, "origin": fti.transforms.label_encoder},
    )
    expired = view.verify_online()  # sky is null (all zeros) on both sides
    assert expired.uncompared() == ["temp", "sky"]
    assert expired.coverage["origin"].compared == 4

    monkeypatch.setenv("FTI_NOW", at(5).isoformat())
    project.online_store.drop(groups[1]._online_table)  # online weather is lost
    lagging = view.verify_online()
    assert lagging.coverage["sky"] == fti.feature_store.verification.Coverage(3, 1.0, 0.25)
    # Online zeros against "clear" (EWR, LGA): sky_clear differs, sky_rain (0 and 0) does not.
    assert lagging.by_feature()["sky"] == 3
    assert {m.column for m in lagging.mismatches if m.feature == "sky"} == {"sky_clear"}
    assert "behind" in lagging.causes()["sky"]


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def eta(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"]


@pytest.mark.parametrize(
    ("parameters", "match"),
    [
        ({}, "take request parameter.*speed.*--request-param"),
        ({"speed": 2.0, "sped": 1.0}, r"sped are taken by no on-demand.*\(they take: speed\)"),
    ],
    ids=["missing", "unknown"],
)
def test_request_parameters_are_checked(
    fs: fti.FeatureStore, parameters: dict[str, float], match: str
) -> None:
    trips = fs.create_feature_group(
        "trips", primary_key=["id"], event_time="p", on_demand_features=[eta]
    )
    trips.insert(pd.DataFrame({"id": [1, 2], "p": [at(1), at(2)], "distance": [10.0, 30.0]}))
    view = fs.create_feature_view("trips", query=trips.select(["distance", "eta"]))
    with pytest.raises(fti.InvalidArgumentError, match=match):
        view.verify_online(request_parameters=parameters)
    audit = view.verify_online(request_parameters={"speed": 2.0})
    assert audit.ok and audit.all_compared
