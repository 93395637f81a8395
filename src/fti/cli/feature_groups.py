"""``fti feature-groups``: list groups and show one's schema, commits and statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project
from fti.errors import NotFoundError

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.statistics import FeatureStatistics

app = typer.Typer(help="Feature groups: versioned tables of features.", no_args_is_help=True)


@app.command("list")
def list_groups(ctx: typer.Context) -> None:
    """List every feature group version."""
    with open_project(ctx) as project:
        groups = project.feature_store.list_feature_groups()
        table = Table(title=f"Feature groups of project {project.name!r}")
        for column in ("name", "version", "primary key", "event time", "online", "commits"):
            table.add_column(column)
        for fg in groups:
            table.add_row(
                fg.name,
                str(fg.version),
                ", ".join(fg.primary_key),
                fg.event_time or "-",
                "yes" if fg.online_enabled else "no",
                str(len(fg.commits())),
            )
        console.print(table if groups else "No feature groups yet.")


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
) -> None:
    """Show a group's schema, commits and latest statistics."""
    with open_project(ctx) as project:
        fg = project.feature_store.get_feature_group(name, version)
        console.print(f"[bold]{fg.name}[/] v{fg.version}  {fg.description}")
        console.print(_schema_table(fg))
        console.print(_commits_table(fg))
        try:
            console.print(_statistics_table(fg))
        except NotFoundError:
            console.print("No statistics yet.")


def _schema_table(fg: FeatureGroup) -> Table:
    table = Table(title="Schema")
    for column in ("feature", "type", "role", "description"):
        table.add_column(column)
    for f in fg.features or []:
        role = (
            "primary key"
            if f.name in fg.primary_key
            else "event time"
            if f.name == fg.event_time
            else ""
        )
        table.add_row(f.name, f.type, role, f.description)
    return table


def _commits_table(fg: FeatureGroup) -> Table:
    table = Table(title="Commits")
    for column in ("id", "time (UTC)", "rows", "inserted", "updated", "validation"):
        table.add_column(column, justify="right" if column != "validation" else "left")
    for c in fg.commits()[-20:]:
        table.add_row(
            str(c.id),
            c.time.strftime("%Y-%m-%d %H:%M:%S"),
            f"{c.rows:,}",
            f"{c.rows_inserted:,}",
            f"{c.rows_updated:,}",
            c.validation,
        )
    return table


def _statistics_table(fg: FeatureGroup) -> Table:
    stats = fg.statistics()
    table = Table(title="Statistics of the latest commit")
    for column in ("feature", "count", "nulls", "min", "max", "mean", "stddev", "distinct"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for name, s in stats.items():
        table.add_row(
            name,
            f"{s.count:,}",
            f"{s.null_count:,}",
            _short(s.min),
            _short(s.max),
            _short(s.mean),
            _short(s.stddev),
            _distinct(s),
        )
    if any(s.distinct_approximate for s in stats.values()):
        table.caption = "~ an estimate (HyperLogLog): the commit has too many rows to count exactly"
    return table


def _distinct(stats: FeatureStatistics) -> str:
    if stats.distinct_count is None:
        return "-"
    return ("~" if stats.distinct_approximate else "") + f"{stats.distinct_count:,}"


def _short(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)[:24]
