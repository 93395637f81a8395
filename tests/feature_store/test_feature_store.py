"""FeatureStore: get_or_create never ignores a changed definition silently."""

from __future__ import annotations

from typing import Any

import pytest

import fti

FEATURES = [
    fti.Feature("id", "int64"),
    fti.Feature("t", "timestamp"),
    fti.Feature("k", "string"),
    fti.Feature("x", "float64"),
]
DEFINITION: dict[str, Any] = {"primary_key": ["id"], "event_time": "t", "features": FEATURES}


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"primary_key": ["id", "k"]}, "primary_key ['id'] (stored) vs ['id', 'k'] (given)"),
        ({"event_time": None}, "event_time 't' (stored) vs None (given)"),
        (
            {"features": [*FEATURES[:3], fti.Feature("x", "int64")]},
            "('x', 'float64')] (stored) vs [('id', 'int64'), ('t', 'timestamp'), ('k', 'string'), "
            "('x', 'int64')] (given)",
        ),
        ({"online_enabled": False}, "online_enabled True (stored) vs False (given)"),
    ],
    ids=["primary-key", "event-time", "features", "online-enabled"],
)
def test_changed_group_definition_is_refused_or_makes_a_new_version(
    fs: fti.FeatureStore, change: dict[str, Any], difference: str
) -> None:
    fs.create_feature_group("g", **DEFINITION)
    with pytest.raises(fti.SchemaError) as raised:
        fs.get_or_create_feature_group("g", **DEFINITION | change)
    message = str(raised.value)
    assert "feature group 'g' v1 exists with another definition" in message
    assert difference in message
    assert "on_change='new_version'" in message
    assert [g.version for g in fs.list_feature_groups()] == [1]

    new = fs.get_or_create_feature_group("g", **DEFINITION | change, on_change="new_version")
    assert new.version == 2
    assert fs.get_or_create_feature_group("g", **DEFINITION | change).version == 2


def test_same_group_definition_returns_the_group_and_unpassed_options_are_not_compared(
    fs: fti.FeatureStore,
) -> None:
    fs.create_feature_group("g", **DEFINITION, description="first")
    assert fs.get_or_create_feature_group("g", **DEFINITION, description="other").version == 1
    assert fs.get_or_create_feature_group("g").version == 1
    assert fs.get_or_create_feature_group("g", primary_key="id").version == 1
    assert fs.get_or_create_feature_group("new", **DEFINITION).version == 1


@pytest.fixture
def groups(fs: fti.FeatureStore) -> tuple[fti.FeatureGroup, fti.FeatureGroup]:
    flights = fs.create_feature_group(
        "flights",
        primary_key=["fid"],
        event_time="p",
        features=[
            fti.Feature("fid", "int64"),
            fti.Feature("p", "timestamp"),
            fti.Feature("origin", "string"),
            fti.Feature("distance", "float64"),
            fti.Feature("late", "bool"),
        ],
    )
    weather = fs.create_feature_group(
        "weather",
        primary_key=["origin"],
        event_time="t",
        features=[
            fti.Feature("origin", "string"),
            fti.Feature("t", "timestamp"),
            fti.Feature("temp", "float64"),
        ],
    )
    return flights, weather


def query(groups: tuple[fti.FeatureGroup, fti.FeatureGroup], ttl: str = "2h") -> fti.Query:
    flights, weather = groups
    return flights.select(["distance", "late"]).join(weather.select(["temp"]), ttl=ttl)


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"ttl": "3h"}, "query join weather v1 ttl_seconds 7200.0 (stored) vs 10800.0 (given)"),
        ({"labels": []}, "labels ['late'] (stored) vs [] (given)"),
        (
            {"transformations": {"distance": fti.transforms.min_max_scaler}},
            "transformation of 'distance' standard_scaler (stored) vs min_max_scaler (given)",
        ),
        (
            {"transformations": {}},
            "transformation of 'distance' standard_scaler (stored) vs none (given)",
        ),
    ],
    ids=["query-ttl", "labels", "transformation", "no-transformation"],
)
def test_changed_view_definition_is_refused_or_makes_a_new_version(
    fs: fti.FeatureStore,
    groups: tuple[fti.FeatureGroup, fti.FeatureGroup],
    change: dict[str, Any],
    difference: str,
) -> None:
    definition: dict[str, Any] = {
        "query": query(groups),
        "labels": ["late"],
        "transformations": {"distance": fti.transforms.standard_scaler},
    }
    fs.create_feature_view("v", **definition)
    changed = definition | {k: v for k, v in change.items() if k != "ttl"}
    if "ttl" in change:
        changed["query"] = query(groups, change["ttl"])
    with pytest.raises(fti.QueryError) as raised:
        fs.get_or_create_feature_view("v", **changed)
    assert "feature view 'v' v1 exists with another definition" in str(raised.value)
    assert difference in str(raised.value)
    assert fs.get_or_create_feature_view("v", **definition).version == 1
    assert fs.get_or_create_feature_view("v", **changed, on_change="new_version").version == 2
    assert [v.version for v in fs.list_feature_views()] == [1, 2]


def test_a_view_over_other_groups_names_them(
    fs: fti.FeatureStore, groups: tuple[fti.FeatureGroup, fti.FeatureGroup]
) -> None:
    fs.create_feature_view("v", query=query(groups), labels=["late"])
    with pytest.raises(fti.QueryError, match=r"query groups flights v1, weather v1 \(stored\) vs"):
        fs.get_or_create_feature_view("v", query=groups[0].select(["distance"]))


def test_unknown_on_change_is_refused(fs: fti.FeatureStore) -> None:
    with pytest.raises(fti.InvalidArgumentError, match="on_change must be one of error, new_vers"):
        fs.get_or_create_feature_group("g", on_change="replace", **DEFINITION)
    with pytest.raises(fti.InvalidArgumentError, match="on_change"):
        fs.get_or_create_feature_view("v", on_change="ignore")
    assert fs.list_feature_groups() == []
