"""``fti monitor``: list monitors, run them (exit 1 on drift or degraded quality), show one,
write its HTML report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project
from fti.monitoring.statuses import ALERT_STATUSES

if TYPE_CHECKING:
    from fti.monitoring.monitors import MonitorResult

app = typer.Typer(help="Monitors: feature drift and model quality.", no_args_is_help=True)


@app.command("list")
def list_monitors(ctx: typer.Context) -> None:
    """Every monitor of the project: what it watches, its window and thresholds, its last run."""
    from fti.monitoring.drift import describe_threshold
    from fti.monitoring.monitors import describe_duration
    from fti.monitoring.quality import describe_quality_threshold

    with open_project(ctx) as project:
        monitors = project.monitoring.list_monitors()
        if not monitors:
            console.print(
                f"Project {project.name!r} has no monitors. Create one with "
                "view.create_monitor(...) or project.monitoring.create_model_monitor(...)."
            )
            return
        table = Table(title=f"Monitors of project {project.name}")
        columns = ("monitor", "kind", "watches", "window", "alerts when", "last run", "status")
        for column in columns:
            table.add_column(column)
        for monitor in monitors:
            on = "score: " if monitor.kind == "model" else ""
            thresholds = [on + describe_threshold(m, v) for m, v in monitor.thresholds.items()]
            thresholds += [
                describe_quality_threshold(m, v) for m, v in monitor.quality_thresholds.items()
            ]
            history = monitor.history()
            last = history[-1] if history else None
            table.add_row(
                monitor.name,
                monitor.kind,
                monitor.watches,
                describe_duration(monitor.window),
                "\n".join(thresholds) or "-",
                f"window to {last.window_end:%Y-%m-%d %H:%M}" if last else "never",
                _status(last.status) if last else "-",
            )
        console.print(table)


@app.command("run")
def run(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Monitors (default: all).")] = None,
    end: Annotated[dt.datetime | None, typer.Option(help="Window end (UTC; default now).")] = None,
) -> None:
    """Run the named monitors, or every due one (exit 1 on drift or degraded quality).

    A monitor is due when a window has passed since its last run. Exit code 1 when a window
    drifted or its quality crossed a threshold, for cron and CI.
    """
    with open_project(ctx) as project:
        monitoring = project.monitoring
        if names:
            monitors = [monitoring.get_monitor(n) for n in names]
        else:
            monitors = [m for m in monitoring.list_monitors() if m.is_due(end)]
        crossed = False
        table = Table(title="Monitor runs")
        for column in ("monitor", "window end", "status", "rows", "drifted", "quality"):
            table.add_column(column)
        for monitor in monitors:
            result = monitor.run(end)
            crossed = crossed or result.status in ALERT_STATUSES
            table.add_row(*_row(result))
        console.print(table if monitors else "No monitor is due.")
    if crossed:
        raise typer.Exit(1)


@app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    """The latest result of a monitor, feature by feature, and its recent history."""
    with open_project(ctx) as project:
        monitor = project.monitoring.get_monitor(name)
        history = monitor.history()
        if not history:
            console.print(f"Monitor {name} has not run yet.")
            return
        latest = history[-1]
        table = Table(title=f"{name}: window to {latest.window_end:%Y-%m-%d %H:%M} UTC")
        for column in ("feature", "kind", "metric values", "drifted"):
            table.add_column(column)
        for feature, drift in latest.features.items():
            values = ", ".join(
                f"{k} {v:.3g}" for k, v in drift.metrics.items() if isinstance(v, float)
            )
            table.add_row(feature, drift.kind, values, "[red]yes[/]" if drift.drifted else "no")
        console.print(table)
        recent = Table(title="History")
        for column in ("monitor", "window end", "status", "rows", "drifted", "quality"):
            recent.add_column(column)
        for result in history[-14:]:
            recent.add_row(*_row(result))
        console.print(recent)


@app.command("report")
def report(
    ctx: typer.Context,
    name: str,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
) -> None:
    """Write a self-contained HTML report (opens offline) with the monitor's plots."""
    from fti.monitoring.report import write_report

    with open_project(ctx) as project:
        path = write_report(project.monitoring.get_monitor(name), out)
    console.print(f"Report written to {path}")


def _row(result: MonitorResult) -> list[str]:
    from fti.monitoring.quality import describe_quality_threshold

    quality = ", ".join(
        f"[red]{describe_quality_threshold(k, result.quality_thresholds[k], v)}[/]"
        if k in result.degraded
        else f"{k} {v:.3f}"
        for k, v in result.quality.items()
        if v is not None and k != "labelled_rows"
    )
    return [
        result.monitor,
        f"{result.window_end:%Y-%m-%d %H:%M}",
        _status(result.status),
        f"{result.rows:,}",
        ", ".join(result.drifted) or "-",
        quality or "-",
    ]


def _status(status: str) -> str:
    return f"[red]{status}[/]" if status in ALERT_STATUSES else status
