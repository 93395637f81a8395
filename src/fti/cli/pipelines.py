"""``fti pipelines list`` and ``fti run``: the declared pipelines, and running one now."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project

if TYPE_CHECKING:
    from fti.pipelines.declare import Pipeline
    from fti.pipelines.runs import Run, Runs
    from fti.project import Project

app = typer.Typer(help="Declared pipelines: kinds, schedules, last runs.", no_args_is_help=True)

PipelinesOption = Annotated[
    str | None,
    typer.Option(
        "--pipelines",
        help="The module declaring the pipelines: a .py path or a module name "
        "(default: the `pipelines` setting).",
    ),
]


@app.command("list")
def list_pipelines(ctx: typer.Context, pipelines: PipelinesOption = None) -> None:
    """Every declared pipeline: kind, schedule, next time, triggers, last run."""
    from croniter import croniter

    from fti.pipelines.runs import Runs

    with open_project(ctx) as project:
        declared = declared_pipelines(project, pipelines)
        runs = Runs(project.name, project.metadata_store)
        now = dt.datetime.now(dt.UTC)
        table = Table(title=f"Pipelines of project {project.name!r}")
        for column in ("pipeline", "kind", "schedule (UTC)", "next", "triggers", "last run"):
            table.add_column(column)
        for pipeline in declared.values():
            after = (
                f"{croniter(pipeline.schedule, now).get_next(dt.datetime):%Y-%m-%d %H:%M}"
                if pipeline.schedule
                else "-"
            )
            last = runs.last(pipeline.name)
            table.add_row(
                pipeline.name,
                pipeline.kind,
                pipeline.schedule or "-",
                after,
                "\n".join(t.key for t in pipeline.triggers) or "-",
                describe_last(last),
            )
        console.print(table)


def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline to run.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="KEY=VALUE (a JSON value, else text); repeat for more."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="The scheduled time the run receives (ISO 8601, UTC; default now)."),
    ] = None,
    pipelines: PipelinesOption = None,
) -> None:
    """Run a declared pipeline now and record the run (exit code 1 when it fails)."""
    from fti.pipelines.declare import find, parse_params
    from fti.pipelines.recorder import run_pipeline
    from fti.pipelines.runs import Runs

    scheduled = parse_time(at, "--at")
    with open_project(ctx, create=True) as project:
        pipeline = find(declared_pipelines(project, pipelines), name)
        finished = run_pipeline(
            project, pipeline, parse_params(param or []), scheduled_time=scheduled
        )
        print_run(finished, Runs(project.name, project.metadata_store))
    if finished.status != "succeeded":
        raise typer.Exit(1)


def declared_pipelines(project: Project, source: str | None) -> dict[str, Pipeline]:
    """The pipelines of ``source``, else of the project's ``pipelines`` setting."""
    from fti.pipelines.declare import load_pipelines

    return load_pipelines(source or project.settings.pipelines)


def parse_time(text: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 time from the command line, UTC when it has no zone."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=option) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def describe_last(run: Run | None) -> str:
    """A run in a cell: ``name:3 succeeded 2024-01-01 10:00``."""
    if run is None:
        return "never"
    when = run.started_at or run.queued_at
    return f"{run.id} {run.status} {when:%Y-%m-%d %H:%M}"


def print_run(run: Run, runs: Runs) -> None:
    """A finished run: status, duration, outputs and error."""
    colour = "green" if run.status == "succeeded" else "red"
    duration = f" in {run.duration.total_seconds():.2f} s" if run.duration is not None else ""
    console.print(f"run {run.id}: [{colour}]{run.status}[/]{duration}")
    for output in runs.outputs(run):
        console.print(f"  {output.describe()}", soft_wrap=True)
    if run.error:
        console.print(f"  [red]{run.error['type']}: {run.error['message']}[/]", soft_wrap=True)
        console.print(f"  `fti runs logs {run.id}` shows its log.")
