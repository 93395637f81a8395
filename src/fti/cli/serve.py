"""``fti serve``: the prediction server for one or more models."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from fti import clock
from fti.cli.context import open_project
from fti.cli.http_serving import check_auth, fail, listen, serve_until_stopped
from fti.dependencies import import_optional
from fti.errors import FtiError
from fti.hosts import is_loopback
from fti.inference.model_ref import ModelRef


def serve(
    ctx: typer.Context,
    model: Annotated[
        list[str], typer.Option("--model", help="NAME, NAME@ALIAS or NAME:VERSION (repeatable).")
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    allow_missing: Annotated[
        bool, typer.Option(help="Answer unknown entities with nulls instead of 404.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            help="Serve as of this ISO 8601 time (naive: UTC) instead of the wall clock: ttl "
            "expiry is decided against it. Sets FTI_NOW for the server and its workers."
        ),
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require an API key of a member of the project (`fti keys create`) on every "
            "route but the health checks. Default: on, except on a loopback address; off "
            "is refused on any other address.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve predictions over HTTP (v1 predict by key, Open Inference Protocol, /metrics).

    "Serving ..." is printed once the server answers; any problem before that (an unknown
    model, a port in use, a bad --now) is an error, exit code 2.
    """
    uvicorn = import_optional("uvicorn", "server")
    try:
        refs = [str(ModelRef.parse(m)) for m in model]
        if now is not None:
            os.environ[clock.ENV] = now
            clock.now()  # refuses a time it cannot read, now rather than at the first request
    except FtiError as exc:
        fail(str(exc))
    keys = not is_loopback(host) if auth is None else auth
    check_auth(host, keys)
    listener = listen(host, port)
    with open_project(ctx) as project:
        if workers == 1:
            from fti.server import create_app

            try:
                app = create_app(project, refs, allow_missing=allow_missing, auth=keys)
            except FtiError as exc:
                fail(str(exc))
            config = uvicorn.Config(app, log_level="warning")
        else:
            # Each worker loads the models itself; loading them here first turns a model
            # that cannot be served into an error before any worker starts.
            from fti.inference.predictor import Predictor
            from fti.server import factory

            for ref in refs:
                Predictor(project, ref, allow_missing=allow_missing)
            os.environ[factory.ENV] = json.dumps(
                {
                    "home": str(project.settings.home),
                    "project": project.name,
                    "models": refs,
                    "allow_missing": allow_missing,
                    "auth": keys,
                }
            )
            config = uvicorn.Config(
                "fti.server.factory:from_environment",
                factory=True,
                workers=workers,
                log_level="warning",
            )
        with_keys = "API keys required" if keys else "no API keys"
        serve_until_stopped(
            uvicorn,
            config,
            listener,
            workers,
            ready_path="/v2/health/ready",
            announce=f"Serving {', '.join(refs)} on http://{host}:{port} ({workers} worker(s), "
            f"{with_keys})",
        )
