"""``fti maintenance [GROUP...]``: compact, vacuum and checkpoint the groups' offline tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project

if TYPE_CHECKING:
    from fti.feature_store.maintenance import GroupMaintenance


def maintenance(
    ctx: typer.Context,
    groups: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="GROUP", help="Feature groups (every version of each; default: all)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be done, change nothing.")
    ] = False,
) -> None:
    """Compact small files, delete unneeded ones and checkpoint the log of feature groups.

    Keeps every version within time_travel_retention and every version training data pins.

    Runs by itself too, after every offline_maintenance_interval-th commit of a group.
    """
    from fti.feature_store.maintenance import maintain_groups

    with open_project(ctx) as project:
        done = maintain_groups(project.feature_store, groups or [], dry_run=dry_run)
        retention = project.settings.time_travel_retention
    title = f"Maintenance of project {project.name!r}"
    if dry_run:
        title += " (dry run: nothing changed; what would be done)"
    table = Table(title=title, caption=f"kept: every version of the last {retention}, and pins")
    table.add_column("group")
    for column in ("files", "size", "compacted", "deleted", "pinned", "seconds"):
        table.add_column(column, justify="right", overflow="fold")
    table.add_column("notes", overflow="fold")
    for result in done:
        table.add_row(*_row(result))
    console.print(table if done else "No feature groups yet.")


def _row(result: GroupMaintenance) -> list[str]:
    group = f"{result.group} v{result.version}"
    pinned = ", ".join(map(str, result.pinned)) or "-"
    seconds = f"{result.seconds:.2f}"
    t = result.table
    if t is None:
        return [group, "-", "-", "-", "-", pinned, seconds, result.skipped]
    return [
        group,
        f"{t.files_before:,} -> {t.files_after:,}",
        f"{_size(t.bytes_before)}->{_size(t.bytes_after)}",
        f"{t.files_compacted:,}",
        f"{t.files_deleted:,}",
        pinned,
        seconds,
        "; ".join(t.notes),
    ]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:,.0f}{unit}" if unit == "B" else f"{value:,.1f}{unit}"
        value /= 1024
    return f"{value:,.1f}GiB"
