"""``fti monitor``: run monitors (exit 1 on drift), show one, write its HTML report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project
from fti.monitoring.monitors import MonitorResult

app = typer.Typer(help="Monitors: feature drift and model quality.", no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Monitors (default: all).")] = None,
    end: Annotated[dt.datetime | None, typer.Option(help="Window end (UTC; default now).")] = None,
) -> None:
    """Run the named monitors, or every monitor that is due (a window has passed since its
    last run); exit code 1 when any threshold is crossed (for cron and CI)."""
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
            crossed = crossed or result.status == "drift"
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
    quality = ", ".join(
        f"{k} {v:.3f}" for k, v in result.quality.items() if v is not None and k != "labelled_rows"
    )
    status = "[red]drift[/]" if result.status == "drift" else result.status
    return [
        result.monitor,
        f"{result.window_end:%Y-%m-%d %H:%M}",
        status,
        f"{result.rows:,}",
        ", ".join(result.drifted) or "-",
        quality or "-",
    ]
