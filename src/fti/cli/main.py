"""The ``fti`` command: one sub-command module per noun; they parse, call and print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fti.cli import (
    admin,
    demo,
    feature_groups,
    feature_views,
    info,
    keys,
    maintenance,
    models,
    monitor,
    pipelines,
    predict,
    runs,
    scheduler,
    serve,
    server,
    training_data,
    ui,
    verify,
)
from fti.cli.context import CliState

app = typer.Typer(
    name="fti",
    help="Feature, training and inference pipelines over one feature store and model registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(feature_groups.app, name="feature-groups")
app.add_typer(feature_views.app, name="feature-views")
app.add_typer(training_data.app, name="training-data")
app.add_typer(models.app, name="models")
app.add_typer(predict.app, name="predict")
app.add_typer(monitor.app, name="monitor")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(runs.app, name="runs")
app.command("run")(pipelines.run)
app.command("scheduler")(scheduler.scheduler)
app.command("verify")(verify.verify)
app.command("maintenance")(maintenance.maintenance)
app.command("info")(info.info)
app.command("serve")(serve.serve)
app.command("server")(server.server)
app.command("ui")(ui.ui)
app.add_typer(admin.app, name="admin")
app.add_typer(keys.app, name="keys")
app.command("demo")(demo.run)


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="fti home folder (default: $FTI_HOME or ./.fti).")
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(help="Project name (default: $FTI_PROJECT, fti.toml, else 'default')."),
    ] = None,
) -> None:
    """fti: versioned features, point-in-time training data, models and predictions."""
    ctx.obj = CliState(home=home, project=project)
