"""Public objects say what they are in repr(), never ``<... object at 0x...>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

import fti
from fti.stores.locations import open_location


@pytest.fixture
def objects(tmp_path: Path) -> list[Any]:
    project = fti.connect(tmp_path, "p")
    fs = project.feature_store
    group = fs.create_feature_group("g", primary_key=["k"], event_time="t")
    commit = group.insert(
        pd.DataFrame(
            {
                "k": [1, 2],
                "t": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                "x": [1.0, 2.0],
            }
        )
    )
    view = fs.create_feature_view("v", query=group.select(["x"]))
    view.create_training_data()
    model = project.model_registry.create_model("m", feature_view=view)
    model.save(DummyRegressor().fit([[1.0]], [1.0]))
    monitor = view.create_monitor("drift", reference_training_dataset_version=1)
    found = [
        project,
        project.settings,
        fs,
        group,
        commit,
        group.statistics()["x"],
        view,
        view.query,
        view.training_dataset(),
        view.verify_online(),
        view.verify_training_data(1),
        fti.Feature("a", "int64"),
        fti.col("x") > 1,
        fti.transforms.standard_scaler,
        project.model_registry,
        model,
        model.lineage,
        model.signature,
        project.monitoring,
        monitor,
        open_location(tmp_path),
        project.metadata_store,
        project.online_store,
        project.artifact_store,
    ]
    yield found
    project.close()


def test_reprs_say_what_objects_are(objects: list[Any]) -> None:
    for value in objects:
        text = repr(value)
        assert " object at 0x" not in text, text
        assert type(value).__name__.lstrip("_") in text, text
