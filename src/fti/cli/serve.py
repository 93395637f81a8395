"""``fti serve``: the prediction server for one or more models."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from fti.cli.context import CliState, console
from fti.dependencies import import_optional
from fti.inference.model_ref import ModelRef


def serve(
    ctx: typer.Context,
    model: Annotated[
        list[str], typer.Option("--model", help="NAME, NAME@ALIAS or NAME:VERSION (repeatable).")
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    allow_missing: Annotated[
        bool, typer.Option(help="Answer unknown entities with nulls instead of 404.")
    ] = False,
) -> None:
    """Serve predictions over HTTP (v1 predict by key, Open Inference Protocol, /metrics)."""
    uvicorn = import_optional("uvicorn", "server")
    refs = [str(ModelRef.parse(m)) for m in model]
    state: CliState = ctx.obj
    home = str(state.home) if state.home else os.environ.get("FTI_HOME", ".fti")
    config = {
        "home": home,
        "project": state.project or os.environ.get("FTI_PROJECT") or "",
        "models": refs,
        "allow_missing": allow_missing,
    }
    os.environ["FTI_SERVE_CONFIG"] = json.dumps(config)
    console.print(f"Serving {', '.join(refs)} on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "fti.server.factory:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
