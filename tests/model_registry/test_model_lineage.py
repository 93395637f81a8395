"""Lineage: the training data read back through a model equals what it was trained on."""

from __future__ import annotations

import pandas as pd
from registry_helpers import flights_frame, make_view
from sklearn.dummy import DummyClassifier

import fti


def test_training_data_read_back_through_the_lineage_is_exact(project: fti.Project) -> None:
    fs = project.feature_store
    view = make_view(fs)
    x_train, _, y_train, _ = view.get_train_test_split(1)
    x_all, y_all = view.get_training_data(1)
    model = project.model_registry.create_model(
        "delays", feature_view=view, training_dataset_version=1
    ).save(DummyClassifier().fit(x_train, y_train))

    # Later commits: new flights, changed distances of old ones, new weather.
    flights = fs.get_feature_group("flights")
    changed = flights_frame(1, 20, seed=5)
    flights.insert(pd.concat([changed, flights_frame(1000, 30, seed=6)]))
    weather = fs.get_feature_group("weather")
    weather.insert(pd.DataFrame({"origin": ["EWR"], "t": [changed["p"].iloc[5]], "temp": [9.0]}))

    again = project.model_registry.get_model("delays")
    lineage = again.lineage
    assert lineage is not None
    assert (lineage.feature_view, lineage.feature_view_version) == ("delays", 1)
    assert lineage.training_dataset_version == 1
    assert [(g.name, g.version, g.commit) for g in lineage.groups] == [
        ("flights", 1, 0),
        ("weather", 1, 0),
    ]
    dataset = view.training_dataset(1)
    assert dataset.versions == {"flights_v1": 0, "weather_v1": 0}
    assert lineage.training_dataset_digest == dataset.digest

    x, y = again.training_data()
    pd.testing.assert_frame_equal(x, x_all)
    pd.testing.assert_series_equal(y, y_all)
    x_again, _, y_again, _ = again.feature_view().get_train_test_split(
        lineage.training_dataset_version
    )
    pd.testing.assert_frame_equal(x_again, x_train)
    pd.testing.assert_series_equal(y_again, y_train)
    assert again.feature_view().verify_training_data(1).matches
    # The data did move on: the same view read now gives other rows.
    now, _ = view.get_training_data(view.create_training_data())
    assert len(now) == len(x_all) + 30
    assert not now["distance"].head(20).equals(x_all["distance"].head(20))
    assert model.version == again.version


def test_a_model_of_a_view_with_spine_labels_is_saved(mr: fti.ModelRegistry) -> None:
    fs = mr._feature_store
    flights = fs.create_feature_group("flights", primary_key=["fid"], event_time="p")
    flights.insert(flights_frame(1, 20).drop(columns=["late"]))
    view = fs.create_feature_view(
        "delays", query=flights.select(["distance"]), labels=["satisfaction"]
    )
    spine = flights_frame(1, 20)[["fid", "p"]].assign(satisfaction=range(20))
    x, y = view.get_training_data(view.create_training_data(spine=spine))

    model = mr.create_model("delays", feature_view=view, input_example=x.head(2))
    model.save(DummyClassifier().fit(x, y))

    signature = mr.get_model("delays", 1).signature
    assert signature is not None
    assert [(c.name, c.type) for c in signature.outputs] == [("satisfaction", "any")]
    assert [c.name for c in signature.inputs] == ["distance"]
