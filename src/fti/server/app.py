"""The prediction server: ``create_app(project, models=[...])`` builds the FastAPI app."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client.exposition import choose_encoder

import fti
from fti.errors import ConfigError
from fti.inference.model_ref import ModelRef
from fti.project import Project
from fti.server import errors, openapi
from fti.server.body_limit import BodyLimit
from fti.server.deployments import Deployments
from fti.server.error_counter import ErrorCounter
from fti.server.metrics import ServerMetrics
from fti.server.platform.access import Access, bearer_token, check
from fti.server.platform.auth import DEFAULT_CACHE_SECONDS, KeyAuthenticator
from fti.server.routes import open_inference, predict
from fti.stores.metadata.accounts import AccountStore
from fti.stores.metadata.sql import SqlMetadataStore

DEFAULT_MAX_BODY = 1024 * 1024
PUBLIC_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
"""The routes that need no key with authentication on: probes of orchestrators."""

_METRICS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text format, or OpenMetrics when the Accept header asks "
        "for application/openmetrics-text",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/openmetrics-text": {"schema": {"type": "string"}},
        },
    }
}


def create_app(
    project: Project,
    models: Sequence[str | ModelRef],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    log: bool = True,
    allow_missing: bool = False,
    refresh_seconds: float = 2.0,
    auth: bool = False,
    key_cache_seconds: float = DEFAULT_CACHE_SECONDS,
) -> FastAPI:
    """A FastAPI app serving ``models`` (``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``).

    Models with an alias follow it: when ``set_alias`` moves it, new requests use the new
    version within ``refresh_seconds``. ``allow_missing`` answers unknown entities with
    nulls instead of 404. With ``auth``, every route but the health checks needs an API key
    of a member of the project (any role: predicting is reading), checked as ``fti server``
    checks it (keys cached for ``key_cache_seconds``).
    """
    key_check = _key_check(project, key_cache_seconds) if auth else None
    guarded = [Depends(key_check)] if key_check is not None else []
    metrics = ServerMetrics()
    deployments = Deployments(
        project,
        models,
        metrics,
        log=log,
        allow_missing=allow_missing,
        refresh_seconds=refresh_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far (modules, models, feature views) lives as long as the
        # server: keep it out of the cyclic GC, whose full passes over it stalled a request
        # for ~100 ms every few thousand. Collected first, so no garbage is frozen with it.
        gc.collect()
        gc.freeze()
        yield
        deployments.close()

    app = FastAPI(title="fti prediction server", version=fti.__version__, lifespan=lifespan)
    app.state.deployments = deployments
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    # Outside the body limit, so refused bodies are counted too.
    app.add_middleware(ErrorCounter, metrics=metrics, models=list(deployments.by_name))
    errors.install(app)
    app.include_router(predict.router, dependencies=guarded)
    app.include_router(open_inference.router, dependencies=guarded)

    @app.get("/metrics", response_class=Response, responses=_METRICS_DOC, dependencies=guarded)
    def prometheus(request: Request) -> Response:
        """The server's metrics for Prometheus."""
        for name, deployment in deployments.by_name.items():
            if deployment.log is not None:
                metrics.log_dropped.labels(name).set(deployment.log.dropped)
                metrics.log_written.labels(name).set(deployment.log.written)
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), headers={"content-type": content_type})

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.document(
                app,
                [predict.PredictRequest, open_inference.InferRequest],
                deployments.by_name,
                public=None if key_check is None else PUBLIC_PATHS,
            )
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app


def _key_check(project: Project, cache_seconds: float) -> Callable[[Request], Awaitable[None]]:
    """The dependency refusing a request without a key of a member of ``project``."""
    if not isinstance(project.metadata_store, SqlMetadataStore):
        raise ConfigError("API keys need the SQL metadata store (SQLite or PostgreSQL)")
    accounts = AccountStore(project.metadata_store)
    authenticator = KeyAuthenticator(accounts, cache_seconds=cache_seconds)

    # Async, so a cached key is checked on the event loop, without a thread hop.
    async def require_key(request: Request) -> None:
        if request.scope["path"] in PUBLIC_PATHS:
            return
        principal = authenticator.authenticate(bearer_token(request))
        check(authenticator, principal, Access.READ, project.name)

    return require_key
