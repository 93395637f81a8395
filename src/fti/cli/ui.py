"""``fti ui``: the web UI on this machine's project, on loopback, with no sign-in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fti.cli.context import CliState
from fti.cli.http_serving import fail, listen, serve_until_stopped
from fti.dependencies import import_optional
from fti.errors import FtiError, NotFoundError


def ui(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to bind on 127.0.0.1.")] = 8765,
    home: Annotated[
        Path | None, typer.Option(help="fti home folder (default: fti's --home, $FTI_HOME).")
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="The project to open first (default: the home's).")
    ] = None,
) -> None:
    """Open the web UI of the embedded stores on http://127.0.0.1:PORT (loopback only: whoever
    reaches it reads and changes the project, so it asks no one to sign in)."""
    uvicorn = import_optional("uvicorn", "server")
    state: CliState = ctx.obj
    try:
        from fti.settings import Settings
        from fti.stores.metadata import open_metadata_store
        from fti.ui.app import create_ui_app

        settings = Settings.load(home or state.home, project=project or state.project)
        # Fails here, naming the projects there are, rather than on the first page.
        store = open_metadata_store(settings.metadata_url, create=False)
        try:
            projects = store.projects()
        finally:
            store.close()
        first = _first_project(settings.project, projects, explicit=bool(project or state.project))
        app = create_ui_app(settings)
    except FtiError as exc:
        fail(str(exc))
    host = "127.0.0.1"
    listener = listen(host, port)
    config = uvicorn.Config(app, log_level="warning")
    serve_until_stopped(
        uvicorn,
        config,
        listener,
        1,
        ready_path="/static/ui.css",
        announce=(f"fti ui: open http://{host}:{port}/projects/{first} (Ctrl+C stops it)"),
    )


def _first_project(chosen: str, projects: list[str], *, explicit: bool) -> str:
    """The project the UI opens on: the one chosen, else the home's only one (``make demo``'s
    home holds ``flights`` alone); NotFoundError naming those there are."""
    if chosen in projects:
        return chosen
    if not explicit and projects:
        return "flights" if "flights" in projects else projects[0]
    there = f"projects there: {', '.join(projects)}" if projects else "it has no project yet"
    raise NotFoundError(f"project {chosen!r} does not exist; {there} (choose one with --project)")
