"""``fti runs``: the recorded runs of pipelines, one run's details and log, and the run that
made a commit, training dataset or model version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project

if TYPE_CHECKING:
    from fti.pipelines.runs import Run

app = typer.Typer(help="Pipeline runs: history, details, logs, lineage.", no_args_is_help=True)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's runs.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only runs in this status (queued, running, succeeded, failed, ...)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 20,
) -> None:
    """The latest runs: status, what started them, their scheduled time and duration."""
    from fti.pipelines.runs import Runs

    with open_project(ctx) as project:
        runs = Runs(project.name, project.metadata_store).list(pipeline, status=status)
        if not runs:
            console.print("No runs yet: `fti run NAME` or `fti scheduler` makes some.")
            return
        console.print(runs_table(runs[:limit], f"Runs of project {project.name!r}"))
        if len(runs) > limit:
            console.print(f"{len(runs) - limit} older run(s) not shown (--limit).")


@app.command("show")
def show(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="PIPELINE:NUMBER, or PIPELINE for its latest run.")],
) -> None:
    """One run: parameters, trigger, times, host, outputs, decisions and error."""
    from fti.pipelines.runs import Runs

    with open_project(ctx) as project:
        runs = Runs(project.name, project.metadata_store)
        found = runs.get(run)
        console.print(f"[bold]{found.id}[/]  {found.kind}  {_status(found.status)}")
        rows = [
            ("trigger", _trigger(found)),
            ("parameters", ", ".join(f"{k}={v!r}" for k, v in found.params.items()) or "-"),
            ("scheduled time", _time(found.scheduled_time)),
            ("queued", _time(found.queued_at)),
            ("started", _time(found.started_at)),
            ("ended", _time(found.ended_at)),
            ("duration", _duration(found)),
            ("host", f"{found.host} (pid {found.pid})" if found.host else "-"),
            ("attempt", str(found.attempt)),
        ]
        for label, value in rows:
            console.print(f"{label:>15}: {value}", soft_wrap=True)
        outputs = runs.outputs(found)
        if outputs:
            console.print("Outputs:")
        for output in outputs:
            console.print(f"  {output.describe()}", soft_wrap=True)
            if output.kind == "decision":
                f = output.fields
                champion = "-" if f["champion_score"] is None else f"{f['champion_score']:.4f}"
                mine = "-" if f["candidate_score"] is None else f"{f['candidate_score']:.4f}"
                holder = "none" if f["champion"] is None else f"v{f['champion']} {champion}"
                console.print(
                    f"    {f['metric']} on {f['rows']:,} held-out rows: candidate "
                    f"v{f['candidate']} {mine}, champion {holder}, margin {f['margin']:g}"
                )
        if found.error:
            console.print(
                f"[red]{found.error['type']}: {found.error['message']}[/]", soft_wrap=True
            )
            if found.error.get("traceback"):
                console.print(
                    found.error["traceback"], markup=False, highlight=False, soft_wrap=True
                )


@app.command("logs")
def logs(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="PIPELINE:NUMBER, or PIPELINE for its latest run.")],
) -> None:
    """What a run printed and logged."""
    from fti.pipelines.runs import Runs

    with open_project(ctx) as project:
        runs = Runs(project.name, project.metadata_store)
        text = runs.logs(runs.get(run))
    typer.echo(text if text else "(the run printed and logged nothing)", nl=not text.endswith("\n"))


@app.command("which")
def which(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="commit, training-dataset or model.")],
    name: Annotated[str, typer.Argument(help="The feature group, feature view or model.")],
    ident: Annotated[int, typer.Argument(help="The commit id, training dataset or model version.")],
    version: Annotated[int, typer.Option(help="The group's or view's version.")] = 1,
) -> None:
    """The run that made a commit of a group, a training dataset of a view or a model version."""
    from fti.pipelines.runs import Runs

    with open_project(ctx) as project:
        found = Runs(project.name, project.metadata_store).made(
            kind.replace("-", "_"), name, ident, version=version
        )
        console.print(runs_table([found], f"The run that made {kind} {ident} of {name}"))


def runs_table(runs: list[Run], title: str) -> Table:
    """Runs as a table, one row each."""
    table = Table(title=title)
    for column in (
        "run",
        "kind",
        "status",
        "trigger",
        "scheduled (UTC)",
        "started (UTC)",
        "duration",
    ):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id,
            run.kind,
            _status(run.status),
            _trigger(run),
            _time(run.scheduled_time),
            _time(run.started_at),
            _duration(run),
        )
    return table


def _status(status: str) -> str:
    colour = {"succeeded": "green", "running": "cyan", "queued": "cyan"}.get(status, "red")
    return f"[{colour}]{status}[/]"


def _trigger(run: Run) -> str:
    trigger = run.trigger
    text = str(trigger.get("type", "?"))
    if trigger.get("reason"):
        text += f": {trigger['reason']}"
    if trigger.get("missed"):
        text += f" ({trigger['missed']} missed skipped)"
    if trigger.get("retry_of"):
        again = "resumed" if trigger.get("resumes") else "retry"
        text += f" ({again} of {run.pipeline}:{trigger['retry_of']})"
    return text


def _time(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _duration(run: Run) -> str:
    return "-" if run.duration is None else f"{run.duration.total_seconds():.2f} s"
