"""``fti scheduler``: run the declared pipelines when due, on the wall clock or over a past
range in simulated time."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from fti.cli.context import console, open_project
from fti.cli.pipelines import PipelinesOption, declared_pipelines, parse_time

if TYPE_CHECKING:
    from fti.pipelines.runs import Run


def scheduler(
    ctx: typer.Context,
    pipelines: PipelinesOption = None,
    once: Annotated[
        bool, typer.Option(help="Run what is due now, then exit (for cron or a CI job).")
    ] = False,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Simulate from this time (ISO 8601, UTC): a backfill."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End of the simulated range (excluded).")
    ] = None,
) -> None:
    """Run pipelines when their schedule or a trigger says so (Ctrl-C or SIGTERM stops it).

    With --from and --to, run the schedules of that past range in simulated time, as fast as
    the runs go, then print the history.
    """
    from fti.pipelines.scheduler import Scheduler

    first, last = parse_time(start, "--from"), parse_time(end, "--to")
    if (first is None) != (last is None):
        raise typer.BadParameter("give both --from and --to, or neither", param_hint="--from")
    with open_project(ctx, create=True) as project:
        scheduling = Scheduler(project, declared_pipelines(project, pipelines))
        if first is not None and last is not None:
            finished = scheduling.simulate(first, last, on_run=_print)
            console.print(
                f"{len(finished)} run(s) from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
            )
            return
        names = ", ".join(p.name for p in scheduling.pipelines) or "none"
        console.print(f"Scheduling {names} (project {project.name!r}); Ctrl-C stops.")
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            scheduling.run(stop, once=once, on_run=_print)
        except KeyboardInterrupt:
            console.print(
                "Stopped: an interrupted run is recorded cancelled and runs again at the next "
                "start."
            )
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _print(run: Run) -> None:
    colour = "green" if run.status == "succeeded" else "red"
    scheduled = f"{run.scheduled_time:%Y-%m-%d %H:%M}" if run.scheduled_time else "-"
    duration = "" if run.duration is None else f" {run.duration.total_seconds():.2f} s"
    console.print(f"{scheduled}  {run.id:<28} [{colour}]{run.status}[/]{duration}", soft_wrap=True)
