"""``fti info``: the current configuration's stores, whether each answers, and versions."""

from __future__ import annotations

import typer
from rich.table import Table

from fti.cli.context import CliState, console, errors


def info(ctx: typer.Context) -> None:
    """Show each store (URL with secrets hidden), whether it answers, and versions.

    Exit code 1 when a store cannot be reached. Nothing is created.
    """
    from fti.errors import FtiError
    from fti.settings import Settings
    from fti.stores.status import check_all, package_versions

    state: CliState = ctx.obj
    try:
        settings = Settings.load(state.home, project=state.project)
    except FtiError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    statuses = check_all(settings)
    console.print(f"home {settings.home}   project {settings.project!r}")
    table = Table(title="Stores")
    for column in ("store", "URL", "reachable", "detail"):
        table.add_column(column)
    for status in statuses:
        reachable = "[green]yes[/]" if status.reachable else "[red]no[/]"
        table.add_row(status.store, status.url, reachable, status.detail)
    console.print(table)
    versions = package_versions()
    console.print("  ".join(f"{name} {version}" for name, version in versions.items()))
    if not all(status.reachable for status in statuses):
        raise typer.Exit(1)
