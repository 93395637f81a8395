"""Aliases move between versions one at a time; promotion checks refuse unservable models."""

from __future__ import annotations

import pandas as pd
import pytest
from registry_helpers import flights_frame, make_view
from sklearn.dummy import DummyClassifier

import fti


def trained(view: fti.FeatureView) -> tuple[DummyClassifier, pd.DataFrame]:
    x, y = view.get_training_data(1)
    return DummyClassifier(strategy="prior").fit(x, y), x


def register(
    mr: fti.ModelRegistry, view: fti.FeatureView, example: pd.DataFrame | None = None
) -> fti.Model:
    clf, x = trained(view)
    return mr.create_model(
        "delays",
        metrics={"auc": 0.5},
        feature_view=view,
        training_dataset_version=1,
        input_example=x if example is None else example,
    ).save(clf)


def test_an_alias_points_to_one_version_at_a_time(mr: fti.ModelRegistry) -> None:
    one = mr.create_model("churn").save(DummyClassifier().fit([[0]], [0]))
    two = mr.create_model("churn").save(DummyClassifier().fit([[0]], [0]))

    one.set_alias("production")
    two.set_alias("staging")
    assert mr.aliases("churn") == {"production": 1, "staging": 2}
    two.set_alias("production")

    assert mr.aliases("churn") == {"production": 2, "staging": 2}
    assert one.aliases == [] and two.aliases == ["production", "staging"]
    assert mr.get_model("churn", alias="production").version == 2
    with pytest.raises(fti.NotFoundError, match="does not point to"):
        one.delete_alias("production")
    two.delete_alias("staging")
    assert mr.aliases("churn") == {"production": 2}
    with pytest.raises(fti.NotFoundError):
        mr.get_model("churn", alias="staging")
    one.set_alias("production")
    assert mr.get_model("churn", alias="production").version == 1
    assert [p["alias"] for p in one.promotions] == ["production", "production"]


def test_an_unsaved_model_takes_no_alias(mr: fti.ModelRegistry) -> None:
    with pytest.raises(fti.InvalidArgumentError, match="not saved yet"):
        mr.create_model("churn").set_alias("production")


def test_a_servable_model_is_promoted_and_listed_by_its_view(project: fti.Project) -> None:
    view = make_view(project.feature_store)
    model = register(project.model_registry, view)

    assert model.set_alias("production") == []
    assert model.promotions[0]["forced"] is False
    assert [(m.name, m.version) for m in view.models()] == [("delays", 1)]
    assert model.signature is not None
    assert [(c.name, c.type) for c in model.signature.inputs] == [
        ("origin", "string"),
        ("distance", "int64"),
        ("temp", "float64"),
    ]
    assert [(c.name, c.type) for c in model.signature.outputs] == [("late", "bool")]


def test_each_problem_is_listed_and_force_is_recorded(project: fti.Project) -> None:
    fs = project.feature_store
    view = make_view(fs)
    _, x = trained(view)
    example = x[["distance", "origin"]].assign(distance=lambda f: f["distance"].astype(str))
    model = register(project.model_registry, view, example)
    weather = fs.get_feature_group("weather")
    weather._online.drop(weather._online_table)  # the online copy is lost: not materialized

    with pytest.raises(fti.PromotionError) as refused:
        model.set_alias("production")

    problems = refused.value.problems
    assert len(problems) == 4, problems
    assert "feature group 'weather' v1 is not materialized" in problems[0]
    assert "input example lacks column(s) the view serves: temp" in problems[1]
    assert "another order" in problems[2]
    assert "input example column 'distance' is string, the view serves int64" in problems[3]
    for problem in problems:
        assert problem in str(refused.value)
    assert project.model_registry.aliases("delays") == {}

    assert model.set_alias("production", force=True) == problems
    assert project.model_registry.get_model("delays", alias="production").version == 1
    (promotion,) = model.promotions
    assert promotion["forced"] is True and promotion["problems"] == problems


def test_a_group_that_is_not_online_is_a_problem(project: fti.Project) -> None:
    view = make_view(project.feature_store, online=False)
    model = register(project.model_registry, view)

    with pytest.raises(fti.PromotionError, match="'flights' v1 is not online-enabled"):
        model.set_alias("production")


def test_a_label_group_that_is_not_online_is_no_problem(project: fti.Project) -> None:
    # Serving never reads a group that gives only labels, so it need not be online.
    fs = project.feature_store
    frame = flights_frame(1, 40)
    flights = fs.create_feature_group("flights", primary_key=["fid"], event_time="p")
    flights.insert(frame.drop(columns=["late"]))
    outcomes = fs.create_feature_group(
        "outcomes", primary_key=["fid"], event_time="p", online_enabled=False
    )
    outcomes.insert(frame[["fid", "p", "late"]])
    view = fs.create_feature_view(
        "delays",
        query=flights.select(["distance"]).join(outcomes.select(["late"]), on=["fid"]),
        labels=["late"],
    )
    view.train_test_split(test_size=0.25, seed=1)
    model = register(project.model_registry, view)

    assert model.set_alias("production") == []
    assert project.model_registry.get_model("delays", alias="production").version == 1


def test_a_missing_training_dataset_or_view_is_a_problem(project: fti.Project) -> None:
    view = make_view(project.feature_store)
    model = register(project.model_registry, view)
    metadata = project.metadata_store
    metadata.delete("training_dataset", project.name, "delays_v1", 1)

    with pytest.raises(fti.PromotionError, match="training dataset 1 of feature view 'delays'"):
        model.set_alias("production")
    view.delete()
    with pytest.raises(fti.PromotionError, match="feature view 'delays' v1 no longer exists"):
        model.set_alias("production")


def test_the_signature_is_the_view_after_its_transformations(project: fti.Project) -> None:
    fs = project.feature_store
    make_view(fs)
    query = fs.get_feature_view("delays").query
    view = fs.create_feature_view(
        "encoded",
        query=query,
        labels=["late"],
        transformations={
            "origin": fti.transforms.one_hot_encoder,
            "distance": fti.transforms.standard_scaler,
        },
    )
    view.create_training_data()
    x, y = view.get_training_data(1)
    model = project.model_registry.create_model("encoded", feature_view=view, input_example=x).save(
        DummyClassifier().fit(x, y)
    )

    assert model.signature is not None
    inputs = [(c.name, c.type) for c in model.signature.inputs]
    assert inputs == [
        ("origin_EWR", "int8"),
        ("origin_JFK", "int8"),
        ("origin_LGA", "int8"),
        ("distance", "float64"),
        ("temp", "float64"),
    ]
    assert [name for name, _ in inputs] == list(x.columns)
    assert model.training_dataset_version == 1
    assert model.set_alias("production") == []
