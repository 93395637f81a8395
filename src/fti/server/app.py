"""The prediction server: ``create_app(project, models=[...])`` builds the FastAPI app."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client.exposition import choose_encoder

import fti
from fti.inference.model_ref import ModelRef
from fti.project import Project
from fti.server import errors, openapi
from fti.server.body_limit import BodyLimit
from fti.server.deployments import Deployments
from fti.server.error_counter import ErrorCounter
from fti.server.metrics import ServerMetrics
from fti.server.routes import open_inference, predict

DEFAULT_MAX_BODY = 1024 * 1024

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
) -> FastAPI:
    """A FastAPI app serving ``models`` (``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``).

    Models with an alias follow it: when ``set_alias`` moves it, new requests use the new
    version within ``refresh_seconds``. ``allow_missing`` answers unknown entities with
    nulls instead of 404.
    """
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
    app.include_router(predict.router)
    app.include_router(open_inference.router)

    @app.get("/metrics", response_class=Response, responses=_METRICS_DOC)
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
            )
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app
