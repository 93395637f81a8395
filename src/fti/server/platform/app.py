"""``create_platform_app(settings)``: the FastAPI app of ``fti server``.

The app holds no state of its own between requests (accounts and data live in the stores), so
any number of workers and hosts can serve one metadata database. Each route declares its access
(:mod:`access`); the app refuses to start with a route that does not. Every write of an
authenticated caller is in the audit log (:mod:`audit`), whichever router the route is in.

Routers of further resources are added to :data:`ROUTERS` (or passed as ``routers``); their
routes depend on ``requires(Access.X)`` and read the stores from ``Platform``
(``PlatformDep``).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

import fti
from fti.server import errors
from fti.server.body_limit import BodyLimit
from fti.server.platform import openapi
from fti.server.platform.access import declared_access
from fti.server.platform.audit import AuditLog
from fti.server.platform.auth import DEFAULT_CACHE_SECONDS, KeyAuthenticator, OpenAuthenticator
from fti.server.platform.deps import Platform
from fti.server.platform.routes import (
    artifacts,
    audit,
    entities,
    health,
    keys,
    me,
    offline,
    online,
    projects,
    users,
)
from fti.server.platform.stores import DOCUMENTS, MAX_DOCUMENT_BYTES, UPLOADS, Stores
from fti.settings import Settings
from fti.stores.metadata.accounts import AccountStore
from fti.stores.metadata.sql import SqlMetadataStore
from fti.ui import routes as ui
from fti.ui.app import ServerProjects

DEFAULT_MAX_BODY = 1024 * 1024
ROUTERS: tuple[APIRouter, ...] = (
    online.router,  # first: routes are matched in order, and online reads are the hot path
    health.router,
    me.router,
    users.router,
    projects.router,
    keys.router,
    audit.router,
    entities.router,
    artifacts.router,
    offline.router,
    ui.router,
)
"""The routers of every platform app, in order (the web UI's pages last)."""
DOCUMENTATION_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""FastAPI's own routes (the API's documentation): public, and not API routes."""


def create_platform_app(
    settings: Settings,
    *,
    auth: bool = True,
    key_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    routers: Sequence[APIRouter] = (),
    ui_projects: ui.ProjectSource | None = None,
) -> FastAPI:
    """The platform app on the stores of ``settings``; the metadata database is migrated first.

    ``auth=False`` lets every caller act as an admin (``fti server`` allows it on loopback
    only). A key's principal and roles are cached for ``key_cache_seconds`` per worker.
    ``routers`` are included after :data:`ROUTERS`. The web UI's pages read projects from
    ``ui_projects`` (default: through this server's API with the session's key). Raises
    TypeError when a route declares no access.
    """
    metadata = SqlMetadataStore(settings.metadata_url)
    accounts = AccountStore(metadata)
    authenticator = (
        KeyAuthenticator(accounts, cache_seconds=key_cache_seconds) if auth else OpenAuthenticator()
    )
    platform = Platform(settings, metadata, accounts, authenticator)
    pages = ui_projects or ServerProjects(accounts)
    stores = Stores(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What is loaded by now (modules, the app) lives as long as the server: keep it out of
        # the cyclic GC, as the prediction server does (a full pass over it stalls a request).
        gc.collect()
        gc.freeze()
        yield
        pages.close()
        stores.close()
        metadata.close()

    app = FastAPI(
        title="fti server",
        version=fti.__version__,
        description="Projects, users, API keys, the audit log and the stores of fti.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    app.state.authenticator = authenticator  # what access.requires() reads
    app.state.ui_projects = pages
    app.state.ui_sign_in = auth
    app.state.stores = stores  # the store routes' online, artifact and offline stores
    app.add_middleware(
        BodyLimit,
        limit=max_body_bytes,
        streamed=UPLOADS,
        larger=(DOCUMENTS, max(max_body_bytes, MAX_DOCUMENT_BYTES)),
    )
    # Outside the body limit: a write refused there never authenticated, and is not audited.
    app.add_middleware(AuditLog, accounts=accounts)
    errors.install(app)
    for router in (*ROUTERS, *routers):
        app.include_router(router)
    missing = undeclared_routes(app)
    if missing:
        metadata.close()
        raise TypeError(
            f"route(s) without a declared access: {', '.join(missing)}; give each a "
            "dependency on fti.server.platform.access.requires(Access.X)"
        )

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.document(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app


def undeclared_routes(app: FastAPI) -> list[str]:
    """``METHOD path`` of every route of ``app`` that declares no access (documentation
    routes aside)."""
    missing: list[str] = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            if declared_access(route) is None:
                missing.extend(f"{m} {route.path}" for m in sorted(route.methods or ()))
        elif route.path not in DOCUMENTATION_PATHS:
            missing.append(f"{type(route.original_route).__name__} {route.path}")
    return missing
