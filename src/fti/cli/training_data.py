"""``fti training-data``: record a training dataset of a feature view."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fti.cli.context import console, open_project

app = typer.Typer(help="Training datasets of feature views.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    view: str,
    version: Annotated[int | None, typer.Option(help="View version (default: latest).")] = None,
    start: Annotated[dt.datetime | None, typer.Option(help="First event time (UTC).")] = None,
    end: Annotated[dt.datetime | None, typer.Option(help="End of event times (UTC).")] = None,
    description: Annotated[str, typer.Option(help="What the dataset is for.")] = "",
) -> None:
    """Join the view's groups as of each root row and record the result."""
    with open_project(ctx) as project:
        fv = project.feature_store.get_feature_view(view, version)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            progress.add_task(f"point-in-time join of {len(fv.query.steps)} groups", total=None)
            number = fv.create_training_data(start, end, description=description)
        dataset = fv.training_dataset(number)
        console.print(
            f"Training dataset {number} of {fv.name} v{fv.version}: {dataset.rows:,} rows, "
            f"digest {dataset.digest[:12]}"
        )
