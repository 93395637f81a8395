"""``fti server``: the platform server of a team (projects, users, API keys, the stores)."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from fti.cli.context import CliState, errors
from fti.cli.http_serving import check_auth, fail, listen, serve_until_stopped
from fti.dependencies import import_optional
from fti.errors import FtiError


def server(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth/--no-auth",
            help="Require an API key on every route but the health check. --no-auth makes "
            "every caller an admin: refused on any address but loopback.",
        ),
    ] = True,
    key_cache_seconds: Annotated[
        float,
        typer.Option(
            help="How long each worker trusts a checked key and role: a revoked key or a "
            "lowered role takes effect on every worker within this time.",
            min=0,
        ),
    ] = 5.0,
) -> None:
    """Serve the platform API: projects, users, API keys, the audit log and the stores.

    Stateless: run several workers, or servers on several hosts, over one metadata database
    (PostgreSQL), shared offline and artifact storage and one online store. Its schema is
    migrated first, once however many servers start together. "Serving ..." is printed once
    the server answers; a problem before that is an error, exit code 2.
    """
    uvicorn = import_optional("uvicorn", "server")
    check_auth(host, auth)
    state: CliState = ctx.obj
    try:
        from fti.server.platform.app import create_platform_app
        from fti.settings import Settings
        from fti.stores.metadata.accounts import AccountStore
        from fti.stores.metadata.sql import SqlMetadataStore

        settings = Settings.load(state.home)
        # Migrated here, once, before any worker starts; and a first hint for a new server.
        metadata = SqlMetadataStore(settings.metadata_url)
        try:
            has_admin = any(user.is_admin for user in AccountStore(metadata).users())
        finally:
            metadata.close()
    except FtiError as exc:
        fail(str(exc))
    listener = listen(host, port)
    if workers == 1:
        app = create_platform_app(settings, auth=auth, key_cache_seconds=key_cache_seconds)
        config = uvicorn.Config(app, log_level="warning")
    else:
        from fti.server.platform import factory

        os.environ[factory.ENV] = json.dumps(
            {"home": str(settings.home), "auth": auth, "key_cache_seconds": key_cache_seconds}
        )
        config = uvicorn.Config(
            "fti.server.platform.factory:from_environment",
            factory=True,
            workers=workers,
            log_level="warning",
        )
    if auth and not has_admin:
        errors.print(
            "No admin yet: create the first one on this host with `fti admin bootstrap NAME`."
        )
    with_keys = "API keys required" if auth else "no API keys: every caller is an admin"
    serve_until_stopped(
        uvicorn,
        config,
        listener,
        workers,
        ready_path="/api/v1/health",
        announce=f"Serving fti server on http://{host}:{port} ({workers} worker(s), {with_keys})",
    )
