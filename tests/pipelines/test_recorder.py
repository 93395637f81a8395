"""Recording runs: status, times, parameters, host, log, error and what a run produced, and the
lock that lets one run of a pipeline go at a time."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from typing import Any

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import fti
from fti import run_outputs
from fti.errors import AlreadyExistsError, NotFoundError
from fti.pipelines import Runs, run_pipeline
from fti.pipelines.recorder import LOCK_PREFIX, owner_alive
from fti.pipelines.runs import host_name

AT = dt.datetime(2013, 11, 1, 6, tzinfo=dt.UTC)


@fti.pipeline(kind="training", params={"rows": 4})
def produce(project: fti.Project, rows: int, scheduled_time: dt.datetime) -> None:
    print(f"inserting {rows} rows for {scheduled_time:%Y-%m-%d %H:%M}")
    logging.getLogger("produce").warning("a warning worth keeping")
    fs = project.feature_store
    group = fs.get_or_create_feature_group("events", primary_key=["k"], event_time="t")
    group.insert(
        pd.DataFrame(
            {
                "k": range(rows),
                "t": pd.Timestamp(scheduled_time),
                "x": 1.0,
                "y": [0, 1] * (rows // 2),
            }
        )
    )
    view = fs.get_or_create_feature_view(
        "events", version=1, query=group.select(["x", "y"]), labels=["y"]
    )
    view.create_training_data()
    x, y = view.get_training_data(1)
    model = project.model_registry.create_model("m", feature_view=view, training_dataset_version=1)
    model.save(DummyClassifier().fit(x, y))


def test_a_run_records_what_it_was_asked_how_it_went_and_what_it_made(
    shared_project: fti.Project,
) -> None:
    run = run_pipeline(shared_project, produce, {"rows": 6}, scheduled_time=AT)

    assert (run.id, run.kind, run.status, run.attempt) == ("produce:1", "training", "succeeded", 1)
    assert run.params == {"rows": 6} and run.scheduled_time == AT
    assert run.trigger == {"type": "manual"}
    assert (run.host, run.pid) == (host_name(), os.getpid())
    assert run.started_at is not None and run.ended_at is not None
    assert run.duration is not None and run.duration > dt.timedelta(0)
    runs = Runs(shared_project.name, shared_project.metadata_store)
    assert runs.get("produce:1") == run == runs.get("produce")
    log = runs.logs(run)
    assert "inserting 6 rows for 2013-11-01 06:00" in log
    assert "WARNING produce: a warning worth keeping" in log
    outputs = runs.outputs(run)
    assert [o.kind for o in outputs] == ["commit", "training_dataset", "model"]
    assert outputs[0].fields == {"group": "events", "group_version": 1, "commit": 0, "rows": 6}
    assert outputs[2].describe() == "model m v1"
    # Lineage at the run level: from each thing made, the run that made it.
    assert runs.made("commit", "events", 0) == run
    assert runs.made("training_dataset", "events", 1) == run
    assert runs.made("model", "m", 1) == run
    with pytest.raises(NotFoundError, match="no run recorded making commit 1 of 'events'"):
        runs.made("commit", "events", 1)


@fti.pipeline(kind="feature")
def fails(project: fti.Project) -> None:
    print("about to fail")
    raise ValueError("the feed is empty")


def test_a_failure_is_recorded_with_its_error_and_log_not_raised(project: fti.Project) -> None:
    run = run_pipeline(project, fails)

    assert run.status == "failed"
    assert run.error is not None
    assert (run.error["type"], run.error["message"]) == ("ValueError", "the feed is empty")
    assert 'raise ValueError("the feed is empty")' in run.error["traceback"]
    log = Runs(project.name, project.metadata_store).logs(run)
    assert log.index("about to fail") < log.index("ValueError: the feed is empty")


@fti.pipeline(kind="feature", timeout=dt.timedelta(milliseconds=200))
def hangs(project: fti.Project) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_run_past_its_timeout_is_interrupted_and_recorded_timed_out(
    project: fti.Project,
) -> None:
    started = time.monotonic()
    run = run_pipeline(project, hangs)

    assert time.monotonic() - started < 5
    assert run.status == "timed_out"
    assert run.error is not None and "timed out after 0:00:00.200000" in run.error["message"]


@fti.pipeline(kind="feature")
def interrupted(project: fti.Project) -> None:
    raise KeyboardInterrupt


def test_an_interrupted_run_is_recorded_cancelled_and_the_interrupt_goes_on(
    project: fti.Project,
) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(project, interrupted)

    run = Runs(project.name, project.metadata_store).get("interrupted:1")
    assert run.status == "cancelled" and run.ended_at is not None


@fti.pipeline(kind="feature")
def quick(project: fti.Project) -> None:
    pass


def test_a_pipeline_whose_lock_a_live_process_holds_does_not_run(
    shared_project: fti.Project,
) -> None:
    metadata = shared_project.metadata_store
    live = f"{host_name()}:{os.getpid()}:other"
    metadata.lock(shared_project.name, LOCK_PREFIX + "quick", live, dt.timedelta(minutes=1))

    with pytest.raises(AlreadyExistsError, match="pipeline 'quick' is running already"):
        run_pipeline(shared_project, quick)
    assert Runs(shared_project.name, metadata).list("quick") == []

    metadata.unlock(shared_project.name, LOCK_PREFIX + "quick", live)
    assert run_pipeline(shared_project, quick).status == "succeeded"
    # The run let its lock go.
    assert (
        metadata.lock(
            shared_project.name, LOCK_PREFIX + "quick", "x", dt.timedelta(seconds=1)
        ).owner
        == "x"
    )


def test_a_lock_whose_process_died_is_taken(project: fti.Project) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner = f"{host_name()}:{int(dead.stdout)}:gone"
    assert owner_alive(owner) is False
    assert owner_alive(f"elsewhere:{os.getpid()}:x") is None
    project.metadata_store.lock(project.name, LOCK_PREFIX + "quick", owner, dt.timedelta(hours=1))

    assert run_pipeline(project, quick).status == "succeeded"


def test_reports_outside_a_run_go_nowhere() -> None:
    heard: list[tuple[str, dict[str, Any]]] = []
    assert not run_outputs.active()
    run_outputs.report("commit", group="g")  # no run: nothing happens, nothing fails

    with run_outputs.listening(lambda kind, fields: heard.append((kind, fields))):
        assert run_outputs.active()
        run_outputs.report("model", name="m", version=2)

    run_outputs.report("model", name="m", version=3)
    assert heard == [("model", {"name": "m", "version": 2})]
