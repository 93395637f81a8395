"""Online vectors with hostile input, and what the serving plan says each entry lacked.

The SDK's online path (``get_feature_vector(s)``, the serving plan in
``feature_store/serving.py``) and the predictor built on it, over both online backends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import fti
from fti.inference.predictor import Predictor

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def minutes(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"] * 60


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def view(fs: fti.FeatureStore) -> fti.FeatureView:
    """trips (int32 key) -> zones by the trip's zone (ttl 1 h) -> cities by the zone's city."""
    trips = fs.create_feature_group(
        "trips",
        primary_key=["trip_id"],
        event_time="t",
        features=[
            fti.Feature("trip_id", "int32"),
            fti.Feature("t", "timestamp"),
            fti.Feature("zone", "string"),
            fti.Feature("distance", "float64"),
            fti.Feature("started", "timestamp"),
        ],
        on_demand_features=[minutes],
    )
    trips.insert(
        pd.DataFrame(
            {
                "trip_id": pd.array([1, 2, 3, 4], dtype="int32"),
                "t": [at(9)] * 4,
                "zone": ["fresh", "old", "nowhere", "cityless"],
                "distance": [10.0, 20.0, 30.0, 40.0],
                "started": [at(8)] * 4,
                "speed": [30.0] * 4,
            }
        )
    )
    zones = fs.create_feature_group("zones", primary_key=["zone"], event_time="t")
    zones.insert(
        pd.DataFrame(
            {
                "zone": ["fresh", "old", "cityless"],
                "t": [at(9.5), at(1), at(9.5)],
                "traffic": [0.1, 0.2, 0.3],
                "city": ["paris", "paris", "atlantis"],
            }
        )
    )
    cities = fs.create_feature_group("cities", primary_key=["city"])
    cities.insert(pd.DataFrame({"city": ["paris"], "population": [2.1]}))
    query = (
        trips.select(["distance", "started", "minutes"])
        .join(zones.select(["traffic", "city"]), on=["zone"], ttl="1h")
        .join(cities.select(["population"]), on=["city"])
    )
    return fs.create_feature_view("trip_features", query=query)


@pytest.fixture
def now_is_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTI_NOW", at(10).isoformat())


@pytest.mark.parametrize(
    ("entry", "error", "message"),
    [
        (1, fti.InvalidArgumentError, "an entry must be a mapping of key names to values"),
        ("trip_id", fti.InvalidArgumentError, "must be a mapping"),
        ({"trip_id": 2**70, "speed": 1}, fti.SchemaError, "outside its range"),
        ({"trip_id": 2**31, "speed": 1}, fti.SchemaError, "must be a int32"),
        ({"trip_id": 1.5, "speed": 1}, fti.SchemaError, "must be a int32"),
        ({"trip_id": True, "speed": 1}, fti.SchemaError, "must be a int32"),
        (
            {"trip": 1, "spede": 1},
            fti.InvalidArgumentError,
            "unknown key(s) trip, spede; an entry gives trip_id; it may give zone, city "
            "(keys of joined groups); request parameters: speed",
        ),
        ({"speed": 1}, fti.InvalidArgumentError, "lacks the key 'trip_id' of trips"),
        (
            {"trip_id": 1, "zone": "a\ud800", "speed": 1},
            fti.SchemaError,
            "key 'zone' is not valid Unicode",
        ),
    ],
    ids=[
        "int",
        "text",
        "beyond_int64",
        "beyond_int32",
        "fraction",
        "bool",
        "misspelled_keys",
        "no_key",
        "lone_surrogate_key",
    ],
)
def test_bad_entries_raise_fti_errors(
    view: fti.FeatureView, entry: Any, error: type[fti.FtiError], message: str
) -> None:
    with pytest.raises(error) as raised:
        view.get_feature_vector(entry)
    assert message in str(raised.value)
    with pytest.raises(error):
        view.get_feature_vectors([{"trip_id": 1, "speed": 1.0}, entry])


def test_request_parameters_ride_inside_the_entry(view: fti.FeatureView, now_is_ten: None) -> None:
    inside = view.get_feature_vector({"trip_id": 1, "speed": 60.0}, return_type="dict")
    beside = view.get_feature_vector(
        {"trip_id": 1}, request_parameters={"speed": 60.0}, return_type="dict"
    )
    assert inside == beside and inside["minutes"] == 10.0
    explicit_wins = view.get_feature_vector(
        {"trip_id": 1, "speed": 60.0}, request_parameters={"speed": 30.0}, return_type="dict"
    )
    assert explicit_wins["minutes"] == 20.0
    with pytest.raises(fti.InvalidArgumentError, match="unknown request parameter\\(s\\) gear"):
        view.get_feature_vector({"trip_id": 1}, request_parameters={"speed": 1, "gear": 2})


def test_a_joined_key_may_be_given_in_the_entry(view: fti.FeatureView, now_is_ten: None) -> None:
    given = view.get_feature_vector(
        {"trip_id": 3, "speed": 1.0, "zone": "fresh"}, return_type="dict"
    )
    assert given["traffic"] == 0.1 and given["population"] == 2.1


@pytest.mark.parametrize(
    ("passed", "message"),
    [
        ({"distance": "abc"}, "passed feature 'distance' must be a float64"),
        ({"distance": [1, 2]}, "passed feature 'distance' must be a float64"),
        ({"started": "soon"}, "passed feature 'started' must be a timestamp"),
        ({"started": 5}, "passed feature 'started' must be a timestamp"),
        ({"wheels": 4}, "passed feature 'wheels' is not in the view"),
    ],
    ids=["text", "list", "bad_time", "number_for_time", "unknown"],
)
def test_passed_features_of_the_wrong_type_are_schema_errors(
    view: fti.FeatureView, passed: dict[str, Any], message: str
) -> None:
    with pytest.raises(fti.SchemaError, match=message):
        view.get_feature_vector({"trip_id": 1, "speed": 1.0}, passed_features=passed)


def test_passed_time_may_be_iso_text(view: fti.FeatureView) -> None:
    vector = view.get_feature_vector(
        {"trip_id": 1, "speed": 1.0},
        passed_features={"started": "2024-02-03T04:05:06+00:00"},
        return_type="dict",
    )
    assert vector["started"] == dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


def test_label_only_group_is_not_read_online(fs: fti.FeatureStore, view: fti.FeatureView) -> None:
    """An inner join with labels that are not online would exclude every entry if read."""
    outcomes = fs.create_feature_group("outcomes", primary_key=["trip_id"], online_enabled=False)
    outcomes.insert(pd.DataFrame({"trip_id": pd.array([1], dtype="int32"), "late": [True]}))
    trips = fs.get_feature_group("trips")
    labelled = fs.create_feature_view(
        "labelled",
        query=trips.select(["distance"]).join(
            outcomes.select(["late"]), on=["trip_id"], join_type="inner"
        ),
        labels=["late"],
    )
    assert labelled.get_feature_vector({"trip_id": 1}, return_type="dict") == {"distance": 10.0}


def test_a_needed_group_that_is_not_online_is_named_at_init(fs: fti.FeatureStore) -> None:
    facts = fs.create_feature_group("facts", primary_key=["zone"], online_enabled=False)
    facts.insert(pd.DataFrame({"zone": ["fresh"], "area": [3.0]}))
    base = fs.create_feature_group("base", primary_key=["trip_id"])
    base.insert(pd.DataFrame({"trip_id": [1], "zone": ["fresh"], "distance": [1.0]}))
    offline = fs.create_feature_view(
        "offline_facts", query=base.select(["distance"]).join(facts.select(["area"]), on=["zone"])
    )
    with pytest.raises(fti.QueryError, match="'facts' is not online-enabled, and it gives area"):
        offline.init_serving()


def test_missing_and_expired_features_per_entry(view: fti.FeatureView, now_is_ten: None) -> None:
    """A fresh row, an expired one, none, a chained key's gap, and no root row at all."""
    entries = [{"trip_id": k, "speed": 30.0} for k in (1, 2, 3, 4, 99)]
    found = view._serving_plan().lookup(entries, None, None, allow_missing=True)
    assert found.expired == [(), ("traffic", "city"), (), (), ()]
    assert found.missing == [
        (),
        ("population",),  # its key (the zone's city) came from the expired row
        ("traffic", "city", "population"),
        ("population",),
        ("distance", "started", "minutes", "traffic", "city", "population"),
    ]
    passed = view._serving_plan().lookup(
        entries[:2], [{}, {"traffic": 0.5, "population": 1.0}], None, allow_missing=True
    )
    assert passed.expired == [(), ("city",)] and passed.missing == [(), ()]
    assert passed.values[1]["traffic"] == 0.5


def test_predictor_reports_failed_entries_and_raises_when_all_fail(
    project: fti.Project, view: fti.FeatureView
) -> None:
    trips = project.feature_store.get_feature_group("trips")
    distances = project.feature_store.create_feature_view(
        "distances", query=trips.select(["distance"])
    )
    model = project.model_registry.create_model(
        "by_distance",
        feature_view=distances,
        training_dataset_version=distances.create_training_data(),
    )
    model.save(LinearRegression().fit(pd.DataFrame({"distance": [0.0, 1.0]}), [0.0, 2.0]))
    predictor = Predictor(project, "by_distance")
    result = predictor.predict([{"trip_id": 1}, {"trip_id": 99}, {"trip": 1}])
    assert result.predictions[0] == pytest.approx(20.0)
    assert result.predictions[1:] == [None, None]
    assert result.errors is not None and result.errors[0] is None
    assert isinstance(result.errors[1], fti.KeyNotFoundError)
    assert isinstance(result.errors[2], fti.InvalidArgumentError)
    assert len(result.features) == 1 and result.missing_features == [(), (), ()]
    with pytest.raises(fti.KeyNotFoundError, match="no online row"):
        predictor.predict([{"trip_id": 99}, {"trip_id": 98}])
