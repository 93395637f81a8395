"""``fti verify VIEW``: compare online feature vectors with offline values (exit 1 on skew)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fti.cli.context import console, open_project


def verify(
    ctx: typer.Context,
    view: str,
    version: Annotated[int | None, typer.Option(help="View version (default: latest).")] = None,
    sample: Annotated[int, typer.Option(help="How many keys to compare.")] = 1000,
    training_dataset: Annotated[
        int | None, typer.Option(help="Training dataset whose transformation state to use.")
    ] = None,
) -> None:
    """Audit a view for training-serving skew: exit code 1 when any value differs."""
    with open_project(ctx) as project:
        fv = project.feature_store.get_feature_view(view, version)
        audit = fv.verify_online(sample, training_dataset)
        table = Table(title=f"Online vs offline (as of now), {audit.checked} keys of {fv.name}")
        for column in ("feature", "mismatches", "likely cause"):
            table.add_column(column)
        causes = audit.causes()
        for feature, count in audit.by_feature().items():
            style = "red" if count else "green"
            table.add_row(feature, f"[{style}]{count}[/]", causes.get(feature, ""))
        console.print(table)
        if not audit.ok:
            raise typer.Exit(1)
        console.print("[green]No skew: every online value equals the offline value.[/]")
