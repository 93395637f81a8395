"""The hand-off to Dagster: each declared pipeline as a Dagster asset (ADR 0009).

The asset calls the same recorder as ``fti run`` and ``fti scheduler``
(:func:`~fti.pipelines.recorder.run_pipeline`), so a run started by Dagster is recorded like
any other, with the trigger ``{"type": "dagster", "run_id": ...}``; a run that does not
succeed fails the Dagster step with the run's error. A pipeline with a schedule becomes a
time-partitioned asset on that cron schedule with a Dagster schedule: a partition's window end
is the run's scheduled time, as for fti's own scheduler. Retries and timeouts are Dagster's
then (its ``RetryPolicy``, run monitoring), and fti's lock still lets one run of a pipeline
go at a time.

    # definitions.py, loaded by `dagster dev -f definitions.py`
    from fti.pipelines import load_pipelines
    from fti.pipelines.dagster import definitions
    defs = definitions(load_pipelines("pipelines.py"), home="/srv/fti", project="flights",
                       start="2024-01-01")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.dependencies import import_optional

if TYPE_CHECKING:
    import dagster as dg

    from fti.pipelines.declare import Pipeline


def asset(
    pipeline: Pipeline,
    *,
    home: str | Path | None = None,
    project: str | None = None,
    start: str | dt.datetime | None = None,
    params: Mapping[str, Any] | None = None,
    **asset_options: Any,
) -> dg.AssetsDefinition:
    """A Dagster asset that runs ``pipeline`` in project ``project`` of ``home`` (the same
    defaults as :func:`fti.connect`) and records the run.

    With a schedule and ``start``, the asset is partitioned on the schedule from ``start``.
    ``asset_options`` go to ``dagster.asset`` (``group_name``, ``retry_policy``, ``deps``...).
    """
    dagster = import_optional("dagster", "dagster")
    partitions = None
    if pipeline.schedule is not None and start is not None:
        first = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(start)
        partitions = dagster.TimeWindowPartitionsDefinition(
            cron_schedule=pipeline.schedule,
            start=first.replace(tzinfo=None) if first.tzinfo else first,
            timezone="UTC",
            fmt="%Y-%m-%dT%H:%M",
        )

    def run_in_dagster(context: Any) -> Any:
        from fti.pipelines.recorder import run_pipeline
        from fti.pipelines.runs import Runs
        from fti.project import connect

        scheduled = context.partition_time_window.end if context.has_partition_key else None
        trigger = {"type": "dagster", "run_id": context.run.run_id}
        if context.has_partition_key:
            trigger["partition"] = context.partition_key
        with connect(home, project) as opened:
            run = run_pipeline(opened, pipeline, params, scheduled_time=scheduled, trigger=trigger)
            outputs = [o.describe() for o in Runs(opened.name, opened.metadata_store).outputs(run)]
        metadata = {"fti_run": run.id, "status": run.status, "outputs": outputs}
        if run.status != "succeeded":
            error = run.error or {}
            raise dagster.Failure(
                description=f"fti run {run.id} {run.status}: {error.get('message', '')}",
                metadata=metadata,
            )
        return dagster.MaterializeResult(metadata=metadata)

    # Dagster reads the context's annotation at definition time; dagster is imported lazily
    # here, so the real classes replace the strings of `from __future__ import annotations`.
    run_in_dagster.__annotations__ = {
        "context": dagster.AssetExecutionContext,
        "return": dagster.MaterializeResult,
    }
    made: dg.AssetsDefinition = dagster.asset(
        name=pipeline.name,
        description=pipeline.description or f"fti {pipeline.kind} pipeline {pipeline.name}",
        partitions_def=partitions,
        kinds={"fti"},
        **asset_options,
    )(run_in_dagster)
    return made


def definitions(
    pipelines: Mapping[str, Pipeline] | Sequence[Pipeline],
    *,
    home: str | Path | None = None,
    project: str | None = None,
    start: str | dt.datetime | None = None,
) -> dg.Definitions:
    """Dagster definitions of every pipeline: an asset each, and a schedule for each pipeline
    with one (partitioned from ``start`` when given)."""
    dagster = import_optional("dagster", "dagster")
    declared = list(pipelines.values() if isinstance(pipelines, Mapping) else pipelines)
    assets = [asset(p, home=home, project=project, start=start) for p in declared]
    schedules = []
    for pipeline, made in zip(declared, assets, strict=True):
        if pipeline.schedule is None:
            continue
        job = dagster.define_asset_job(f"{pipeline.name}_job", selection=[made])
        if start is not None:
            schedules.append(
                dagster.build_schedule_from_partitioned_job(job, name=f"{pipeline.name}_schedule")
            )
        else:
            schedules.append(
                dagster.ScheduleDefinition(
                    name=f"{pipeline.name}_schedule",
                    job=job,
                    cron_schedule=pipeline.schedule,
                    execution_timezone="UTC",
                )
            )
    defined: dg.Definitions = dagster.Definitions(assets=assets, schedules=schedules)
    return defined
