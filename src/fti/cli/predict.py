"""``fti predict batch``: score a time range with a registered model."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fti.cli.context import console, open_project
from fti.inference.model_ref import ModelRef

app = typer.Typer(help="Predictions with registered models.", no_args_is_help=True)


@app.command("batch")
def batch(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="NAME, NAME@ALIAS or NAME:VERSION.")],
    start: Annotated[dt.datetime | None, typer.Option(help="First event time (UTC).")] = None,
    end: Annotated[dt.datetime | None, typer.Option(help="End of event times (UTC).")] = None,
    output: Annotated[str | None, typer.Option(help="Predictions feature group.")] = None,
) -> None:
    """Predict for every root row in [start, end) and write a predictions group."""
    from fti.inference.batch import batch_predict, predictions_group_name

    ref = ModelRef.parse(model)
    with open_project(ctx) as project:
        handle = project.model_registry.get_model(ref.name, version=ref.version, alias=ref.alias)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} chunks"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(f"{ref} batch predictions", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = batch_predict(
                handle, start, end, output_feature_group=output, progress=advance
            )
        group = output or predictions_group_name(ref.name)
        console.print(f"{len(result):,} predictions of {ref.name} v{handle.version} -> {group}")
