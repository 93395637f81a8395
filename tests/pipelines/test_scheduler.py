"""The scheduler: cron schedules in simulated and wall-clock time, misfires, retries, two
schedulers on one store, a scheduler killed mid-run, and triggers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import fti
from fti.errors import InvalidArgumentError
from fti.pipelines import Runs
from fti.pipelines.recorder import Timing
from fti.pipelines.scheduler import STATE_KIND, Scheduler
from fti.pipelines.triggers import on_monitor, on_new_labels

FAST = Timing(heartbeat_every=dt.timedelta(milliseconds=50), lock_ttl=dt.timedelta(seconds=2))
"""Heartbeats and lock expiry short enough for tests to see them."""
START = dt.datetime(2013, 11, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def test_a_simulated_day_runs_each_hour_once_and_again_runs_nothing(
    shared_project: fti.Project,
) -> None:
    seen: list[dt.datetime] = []

    @fti.pipeline(kind="feature", schedule="0 * * * *")
    def hourly(project: fti.Project, scheduled_time: dt.datetime) -> None:
        seen.append(scheduled_time)

    @fti.pipeline(kind="training")
    def by_hand(project: fti.Project) -> None:
        raise AssertionError("a pipeline without schedule or trigger is not scheduled")

    scheduler = Scheduler(shared_project, [hourly, by_hand], timing=FAST)
    runs = scheduler.simulate(START, START + dt.timedelta(days=1))

    assert seen == [START + i * HOUR for i in range(24)]
    assert [r.scheduled_time for r in runs] == seen
    assert {(r.status, r.trigger["type"]) for r in runs} == {("succeeded", "schedule")}
    # The range is done: simulating it again resumes after its last schedule.
    assert scheduler.simulate(START, START + dt.timedelta(days=1)) == []
    assert len(seen) == 24


def test_the_state_is_written_once_per_tick_and_ended_runs_are_not_run_again(
    shared_project: fti.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dt.datetime] = []

    @fti.pipeline(kind="feature", schedule="0 * * * *", misfire="catch_up")
    def hourly(project: fti.Project, scheduled_time: dt.datetime) -> None:
        seen.append(scheduled_time)

    store = shared_project.metadata_store
    writes: list[list[int]] = []
    for method in ("create", "update"):
        real = getattr(store, method)

        def counted(kind: str, *args: Any, _real: Any = real) -> Any:
            written = _real(kind, *args)  # an update of a state not yet stored raises
            if kind == STATE_KIND:
                writes.append(list(args[-1]["pending"]))
            return written

        monkeypatch.setattr(store, method, counted)

    first = Scheduler(shared_project, [hourly], timing=FAST)
    assert first.tick(START - dt.timedelta(minutes=30)) == []
    assert len(first.tick(START + 3 * HOUR)) == 4  # four due schedules, caught up in one tick
    assert writes == [[], [1, 2, 3, 4]]  # before they ran; their end goes with the next write
    assert first.tick(START + 3 * HOUR + dt.timedelta(minutes=30)) == []
    assert len(writes) == 2  # nothing due: nothing written

    # A scheduler started afresh finds them ended in the stored queue: none runs again.
    again = Scheduler(shared_project, [hourly], timing=FAST)
    [run] = again.tick(START + 4 * HOUR)
    assert (run.number, run.scheduled_time) == (5, START + 4 * HOUR)
    assert again.next_time(START + 4 * HOUR, "live") == START + 5 * HOUR
    assert len(again.tick(START + 5 * HOUR)) == 1
    # It read them ended as it went, and wrote the queue without them the next time.
    assert writes[2:] == [[1, 2, 3, 4, 5], [6]]
    assert seen == [START + i * HOUR for i in range(6)]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START, START, "is not after start"),
        (START.replace(tzinfo=None), START + HOUR, "time-zone-aware"),
    ],
    ids=["empty-range", "naive"],
)
def test_a_bad_simulated_range_is_refused(
    project: fti.Project, start: dt.datetime, end: dt.datetime, message: str
) -> None:
    @fti.pipeline(kind="feature", schedule="0 * * * *")
    def hourly(project: fti.Project) -> None:
        pass

    with pytest.raises(InvalidArgumentError, match=message):
        Scheduler(project, [hourly]).simulate(start, end)


@pytest.mark.parametrize(
    ("misfire", "expected"),
    [("skip", [START + 5 * HOUR]), ("catch_up", [START + i * HOUR for i in range(1, 6)])],
    ids=["skip", "catch_up"],
)
def test_schedules_missed_while_down_are_skipped_or_caught_up(
    project: fti.Project, misfire: str, expected: list[dt.datetime]
) -> None:
    seen: list[dt.datetime] = []

    @fti.pipeline(kind="feature", schedule="0 * * * *", misfire=misfire)
    def hourly(project: fti.Project, scheduled_time: dt.datetime) -> None:
        seen.append(scheduled_time)

    scheduler = Scheduler(project, [hourly], timing=FAST)
    assert scheduler.tick(START + dt.timedelta(minutes=30)) == []  # the first tick: from now on
    runs = scheduler.tick(START + 5 * HOUR + dt.timedelta(minutes=1))  # after 4.5 hours down

    assert seen == expected
    if misfire == "skip":
        assert runs[0].trigger == {"type": "schedule", "missed": 4}


def test_a_failing_run_is_retried_with_a_doubling_delay(project: fti.Project) -> None:
    attempts: list[int] = []

    @fti.pipeline(kind="inference", schedule="0 6 * * *", retries=2, retry_delay="10m")
    def flaky(project: fti.Project) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError(f"attempt {len(attempts)} failed")

    runs = Scheduler(project, [flaky], timing=FAST).simulate(START, START + dt.timedelta(hours=12))

    assert [(r.status, r.attempt) for r in runs] == [("failed", 1), ("failed", 2), ("succeeded", 3)]
    six = START + 6 * HOUR
    assert [r.scheduled_time for r in runs] == [six] * 3
    assert [r.not_before for r in runs] == [
        None,
        six + dt.timedelta(minutes=10),
        six + dt.timedelta(minutes=30),
    ]
    assert runs[2].trigger == {"type": "schedule", "retry_of": 2}


def test_retries_stop_at_the_policy(project: fti.Project) -> None:
    @fti.pipeline(
        kind="feature",
        schedule="0 0 * * *",
        retries=1,
        retry_delay="1m",
        timeout=dt.timedelta(milliseconds=100),
    )
    def slow(project: fti.Project) -> None:
        time.sleep(5)

    runs = Scheduler(project, [slow], timing=FAST).simulate(START, START + HOUR)

    assert [(r.status, r.attempt) for r in runs] == [("timed_out", 1), ("timed_out", 2)]


PIPELINES = """
import datetime as dt
import os
import time
from pathlib import Path

import fti

OUT = Path(os.environ["FTI_TEST_OUT"])


@fti.pipeline(kind="feature", schedule="0 * * * *")
def hourly(project, scheduled_time):
    with open(OUT / "ran.txt", "a") as f:
        f.write(scheduled_time.isoformat() + "\\n")
    if scheduled_time.hour == 2 and not (OUT / "killed").exists():
        (OUT / "started").write_text(str(os.getpid()))
        time.sleep(60)
"""

WORKER = """
import datetime as dt, sys
import fti
from fti.pipelines import load_pipelines
from fti.pipelines.recorder import Timing
from fti.pipelines.recorder import Timing
from fti.pipelines.scheduler import STATE_KIND, Scheduler

home, metadata_url, module, hours = sys.argv[1:5]
start = dt.datetime(2013, 11, 1, tzinfo=dt.UTC)
timing = Timing(dt.timedelta(milliseconds=50), dt.timedelta(seconds=2))
with fti.connect(home, "shared", metadata_url=metadata_url) as project:
    Scheduler(project, load_pipelines(module), timing=timing).simulate(
        start, start + dt.timedelta(hours=int(hours))
    )
"""


def _workers(
    tmp_path: Path, metadata_url: str, count: int, hours: int
) -> list[subprocess.Popen[str]]:
    module = tmp_path / "pipelines.py"
    module.write_text(PIPELINES)
    env = {**os.environ, "FTI_TEST_OUT": str(tmp_path)}
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(tmp_path / "home"),
                metadata_url,
                str(module),
                str(hours),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def test_two_schedulers_on_one_store_run_each_schedule_once(
    tmp_path: Path, metadata_url: str
) -> None:
    (tmp_path / "killed").write_text("no pause in this test")
    workers = _workers(tmp_path, metadata_url, 2, 12)
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err

    ran = (tmp_path / "ran.txt").read_text().split()
    assert sorted(ran) == [(START + i * HOUR).isoformat() for i in range(12)]
    with fti.connect(tmp_path / "home", "shared", metadata_url=metadata_url) as project:
        runs = Runs(project.name, project.metadata_store).list("hourly")
    assert len(runs) == 12 and {r.status for r in runs} == {"succeeded"}


def test_a_killed_scheduler_resumes_without_lost_or_double_runs(
    tmp_path: Path, metadata_url: str
) -> None:
    [worker] = _workers(tmp_path, metadata_url, 1, 4)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert worker.poll() is None, worker.communicate()[1]
        assert time.monotonic() < deadline, "the 02:00 run never started"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)  # no chance to record anything
    worker.communicate(timeout=10)
    (tmp_path / "killed").write_text("the run at 02:00 goes through now")

    from fti.pipelines import load_pipelines

    os.environ["FTI_TEST_OUT"] = str(tmp_path)
    try:
        with fti.connect(tmp_path / "home", "shared", metadata_url=metadata_url) as project:
            runs = Runs(project.name, project.metadata_store)
            killed = runs.get("hourly:3")
            assert killed.status == "running"  # as the killed process left it
            scheduler = Scheduler(
                project, load_pipelines(str(tmp_path / "pipelines.py")), timing=FAST
            )
            resumed = scheduler.simulate(START, START + 4 * HOUR)

            killed = runs.get("hourly:3")
            assert killed.status == "failed" and killed.error is not None
            assert killed.error["type"] == "Lost" and "is gone" in killed.error["message"]
            assert [(r.scheduled_time, r.status) for r in resumed] == [
                (START + 2 * HOUR, "succeeded"),
                (START + 3 * HOUR, "succeeded"),
            ]
            assert resumed[0].trigger == {"type": "schedule", "resumes": 1, "retry_of": 3}
            done = [r for r in runs.list("hourly") if r.status == "succeeded"]
    finally:
        del os.environ["FTI_TEST_OUT"]
    assert sorted(r.scheduled_time for r in done) == [START + i * HOUR for i in range(4)]


def test_a_run_silent_past_the_lock_ttl_on_another_host_is_marked_failed(
    project: fti.Project,
) -> None:
    @fti.pipeline(kind="feature", schedule="0 * * * *")
    def hourly(project: fti.Project) -> None:
        pass

    runs = Runs(project.name, project.metadata_store)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    created = runs.create(
        "hourly", "feature", status="running", params={}, trigger={}, scheduled_time=START
    )
    silent = runs.save(replace(created, host="elsewhere", pid=1, started_at=old))
    fresh = runs.save(
        replace(
            runs.create(
                "hourly", "feature", status="running", params={}, trigger={}, scheduled_time=START
            ),
            host="elsewhere",
            pid=1,
        )
    )

    lost = Scheduler(project, [hourly], timing=FAST).recover()

    assert [r.id for r in lost] == [silent.id]
    assert "no heartbeat since" in str(runs.get(silent.id).error)
    assert runs.get(fresh.id).status == "running"


# Triggers -----------------------------------------------------------------------------------


def _labelled_view(project: fti.Project, rows: int) -> fti.FeatureView:
    fs = project.feature_store
    group = fs.get_or_create_feature_group("trips", primary_key=["k"], event_time="t")
    _insert(group, 0, rows, shift=0.0)
    return fs.get_or_create_feature_view(
        "trips", version=1, query=group.select(["x", "late"]), labels=["late"]
    )


def _insert(group: fti.FeatureGroup, first: int, rows: int, shift: float) -> None:
    rng = np.random.default_rng(first)
    group.insert(
        pd.DataFrame(
            {
                "k": range(first, first + rows),
                "t": START + pd.to_timedelta(np.arange(first, first + rows), unit="min"),
                "x": rng.normal(shift, 1.0, rows),
                "late": rng.integers(0, 2, rows).astype(bool),
            }
        )
    )


def test_new_labels_trigger_training_once_per_training_dataset(project: fti.Project) -> None:
    view = _labelled_view(project, 100)
    view.create_training_data()
    trained: list[str] = []

    @fti.pipeline(kind="training", triggers=[on_new_labels("trips", rows=50)])
    def retrain(project: fti.Project) -> None:
        trained.append("trained")
        project.feature_store.get_feature_view("trips", 1).create_training_data()

    scheduler = Scheduler(project, [retrain], timing=FAST)
    group = project.feature_store.get_feature_group("trips")
    _insert(group, 100, 30, shift=0.0)
    assert scheduler.tick(START + HOUR) == []  # 30 new rows: not yet

    _insert(group, 130, 30, shift=0.0)
    [run] = scheduler.tick(START + 2 * HOUR)
    assert run.trigger["type"] == "labels" and run.status == "succeeded"
    assert run.trigger["reason"] == "60 new rows in trips since training dataset 1 (>= 50)"
    # The run made training dataset 2: counting starts again from it.
    assert scheduler.tick(START + 3 * HOUR) == []
    assert trained == ["trained"]


def test_a_monitor_alert_triggers_training_once_per_window(project: fti.Project) -> None:
    view = _labelled_view(project, 500)
    reference = view.create_training_data()
    monitor = view.create_monitor(
        "x_drift", reference_training_dataset_version=reference, window="1d", features=["x"]
    )
    trained: list[Any] = []

    @fti.pipeline(kind="training", triggers=[on_monitor("x_drift")])
    def retrain(project: fti.Project) -> None:
        trained.append(1)

    scheduler = Scheduler(project, [retrain], timing=FAST)
    day = dt.timedelta(days=1)
    assert monitor.run(START + day).status == "ok"
    assert scheduler.tick(START + day) == []

    _insert(project.feature_store.get_feature_group("trips"), 2000, 500, shift=3.0)
    assert monitor.run(START + 2 * day).status == "drift"
    [run] = scheduler.tick(START + 2 * day)
    assert run.trigger["type"] == "monitor"
    assert run.trigger["reason"].startswith(
        f"monitor x_drift window to {(START + 2 * day).isoformat()}: drift"
    )
    assert scheduler.tick(START + 2 * day + HOUR) == []  # the same window fires once
    assert len(trained) == 1


def test_a_cooldown_spaces_triggered_runs(project: fti.Project) -> None:
    view = _labelled_view(project, 100)
    view.create_training_data()

    @fti.pipeline(kind="training", triggers=[on_new_labels("trips", rows=10)], cooldown="1d")
    def retrain(project: fti.Project) -> None:
        project.feature_store.get_feature_view("trips", 1).create_training_data()

    scheduler = Scheduler(project, [retrain], timing=FAST)
    group = project.feature_store.get_feature_group("trips")
    fired = []
    for hour in range(1, 30):
        _insert(group, 1000 * hour, 20, shift=0.0)  # enough new labels every hour
        fired += [hour for _ in scheduler.tick(START + hour * HOUR)]

    assert fired == [1, 25]  # then not again before a day has passed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: on_new_labels("trips", rows=0), "rows must be"),
        (lambda: on_monitor("m", statuses=["bad"]), "statuses must be"),
        (lambda: on_monitor("Not a name"), "monitor name"),
    ],
    ids=["zero-rows", "unknown-status", "bad-name"],
)
def test_bad_triggers_are_refused(make: Any, message: str) -> None:
    with pytest.raises(fti.FtiError, match=message):
        make()
