"""The hand-off to Dagster, run with Dagster's own in-process runner (``materialize``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import fti
from fti.pipelines import Runs

dagster = pytest.importorskip("dagster")

from fti.pipelines.dagster import asset, definitions  # noqa: E402


@fti.pipeline(kind="feature", schedule="0 * * * *", params={"rows": 2})
def hourly(project: fti.Project, rows: int, scheduled_time: dt.datetime) -> None:
    import pandas as pd

    group = project.feature_store.get_or_create_feature_group(
        "g", primary_key=["k"], event_time="t"
    )
    group.insert(pd.DataFrame({"k": range(rows), "t": pd.Timestamp(scheduled_time), "v": 1.0}))


@fti.pipeline(kind="training")
def broken(project: fti.Project) -> None:
    raise RuntimeError("no labels yet")


def test_a_partition_materialized_by_dagster_is_an_fti_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = dagster.materialize(
        [asset(hourly, home=home, project="p", start="2013-11-01")],
        partition_key="2013-11-01T05:00",
    )

    assert result.success
    [materialization] = result.asset_materializations_for_node("hourly")
    assert materialization.metadata["fti_run"].value == "hourly:1"
    with fti.connect(home, "p") as project:
        runs = Runs(project.name, project.metadata_store)
        [run] = runs.list()
        # The partition's window ends at the schedule that made it: the run's scheduled time.
        assert run.scheduled_time == dt.datetime(2013, 11, 1, 6, tzinfo=dt.UTC)
        assert run.trigger == {
            "type": "dagster",
            "run_id": result.run_id,
            "partition": "2013-11-01T05:00",
        }
        assert [o.describe() for o in runs.outputs(run)] == ["commit 0 of g v1 (2 rows)"]
        assert runs.made("commit", "g", 0) == run


def test_a_failed_run_fails_the_dagster_step_and_is_recorded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = dagster.materialize([asset(broken, home=home, project="p")], raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "fti run broken:1 failed: no labels yet" in str(failure.step_failure_data.error)
    with fti.connect(home, "p") as project:
        run = Runs(project.name, project.metadata_store).get("broken:1")
    assert run.status == "failed" and run.trigger["type"] == "dagster"


def test_definitions_schedule_the_scheduled_pipelines(tmp_path: Path) -> None:
    defs = definitions([hourly, broken], home=tmp_path, project="p")

    assert {a.key.path[-1] for a in defs.assets} == {"hourly", "broken"}  # type: ignore[union-attr]
    [schedule] = list(defs.schedules or [])
    assert (schedule.name, schedule.cron_schedule) == ("hourly_schedule", "0 * * * *")
