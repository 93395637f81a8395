"""A lean flights project for the UI tests: the demo's pipelines on two months of the real data
(Sep-Oct 2013; ~8 s), through run_pipeline so that the runs page has runs, with a training
dataset, a model in production and a drift monitor that ran once."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import fti
from fti.pipelines import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
FIRST, LAST = dt.date(2013, 9, 1), dt.date(2013, 10, 31)
PROJECT = "flights"
MODEL = "flight_delays"
VIEW = "flight_delays"
MONITOR = "flight_feature_drift"
SCREENSHOTS = ROOT / "tests" / "screenshots"
PASSWORDS = {"ed": "ed-password-1", "vic": "vic-password-1", "otto": "otto-password-1"}
"""ed edits flights, vic views it, otto owns another project."""


@dataclass(frozen=True)
class Served:
    """A live app of the UI tests: its base URL and home."""

    url: str
    home: Path


def build(home: Path) -> None:
    """The flights project in ``home``."""
    sys.path.insert(0, str(ROOT / "examples" / "flights"))
    import feature_pipeline
    import features as ff
    import training_pipeline

    frames = ff.build_all()

    @fti.pipeline(kind="feature")
    def flight_backfill(project: fti.Project) -> None:
        feature_pipeline.run(project, FIRST, LAST, frames, progress=False)

    @fti.pipeline(kind="training")
    def flight_training(project: fti.Project) -> None:
        training_pipeline.main(
            project,
            validation_start=dt.datetime(2013, 10, 1, tzinfo=dt.UTC),
            test_start=dt.datetime(2013, 10, 20, tzinfo=dt.UTC),
        )

    with fti.connect(home, PROJECT) as project:
        for pipeline in (flight_backfill, flight_training):
            run = run_pipeline(project, pipeline)
            assert run.status == "succeeded", run.error
        view = project.feature_store.get_feature_view(VIEW)
        monitor = view.create_monitor(
            MONITOR, reference_training_dataset_version=1, window="7d", features=["temp"]
        )
        monitor.run(dt.datetime(2013, 10, 31, 23, tzinfo=dt.UTC))
