"""``fti serve``: the prediction server for one or more models."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from typing import Annotated, Any

import typer

from fti import clock
from fti.cli.context import console, errors, open_project
from fti.dependencies import import_optional
from fti.errors import FtiError
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
        _fail(str(exc))
    listener = _listen(host, port)
    with open_project(ctx) as project:
        if workers == 1:
            from fti.server import create_app

            app = create_app(project, refs, allow_missing=allow_missing)
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
                }
            )
            config = uvicorn.Config(
                "fti.server.factory:from_environment",
                factory=True,
                workers=workers,
                log_level="warning",
            )
        stop = threading.Event()
        announce = f"Serving {', '.join(refs)} on http://{host}:{port} ({workers} worker(s))"
        threading.Thread(
            target=_announce_when_ready, args=(host, port, announce, stop), daemon=True
        ).start()
        try:
            _run(uvicorn, config, listener, workers)
        finally:
            stop.set()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds it); a clear error if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except (OSError, OverflowError) as exc:
        listener.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _fail(f"cannot listen on {host}:{port}: {reason}")
    listener.set_inheritable(True)
    return listener


def _run(uvicorn: Any, config: Any, listener: socket.socket, workers: int) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the handler
    # it found: with the default one the process would die with 143 after a clean shutdown.
    # Orchestrators stop servers with SIGTERM and read a clean stop as exit code 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[listener]).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the signal again on exit
        server.run(sockets=[listener])
    if not server.started:
        _fail("the server did not start (see the log above)")


def _announce_when_ready(host: str, port: int, message: str, stop: threading.Event) -> None:
    """Print ``message`` once the server answers its readiness route."""
    import urllib.error  # here: `fti --help` need not load the HTTP client
    import urllib.request

    probe = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://[{probe}]:{port}" if ":" in probe else f"http://{probe}:{port}"
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    console.print(message)
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)
