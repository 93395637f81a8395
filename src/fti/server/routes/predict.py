"""``POST /v1/models/{name}/predict``: predictions for entity keys (features looked up online)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fti.inference.predictor import Prediction
from fti.server.bodies import parse_json, request_body, validate
from fti.server.deployments import Deployment, Deployments, log_outputs
from fti.server.errors import error_responses

router = APIRouter()

MAX_ENTRIES = 10_000


class PredictRequest(BaseModel):
    """Entries (entity keys, and request parameters of on-demand features), plus optional
    passed features and request parameters per entry."""

    model_config = ConfigDict(extra="forbid")

    entries: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_ENTRIES,
        description='One object per prediction: the root\'s key (e.g. {"trip_id": 3}), and '
        "optionally a joined group's key or the request parameters of on-demand features.",
    )
    passed_features: list[dict[str, Any]] | None = Field(
        None, description="Per entry, feature values to use instead of the online ones."
    )
    request_parameters: list[dict[str, Any]] | None = Field(
        None, description="Per entry, request parameters (they may also be given in the entry)."
    )


class PredictResponse(BaseModel):
    """Predictions in the order of the entries, with what each entry lacked."""

    model: str
    version: int
    predictions: list[Any] = Field(description="One per entry; null for an entry that failed.")
    probabilities: list[list[float | None] | None] | None = Field(
        None, description="Per entry, the probability of each class (classifiers)."
    )
    classes: list[Any] | None = None
    missing_features: list[list[str]] = Field(
        description="Per entry, features served as null: no online row for the entry in their "
        "group (or a null key)."
    )
    expired_features: list[list[str]] = Field(
        description="Per entry, features served as null: their row is older than the ttl of "
        "their join at the server's now."
    )
    errors: list[str | None] | None = Field(
        None,
        description="When some entries failed, one message per entry (null for those that did "
        "not); when every entry fails the answer is an error instead.",
    )


@router.post(
    "/v1/models/{name}/predict",
    response_model=None,
    responses={200: {"model": PredictResponse}, **error_responses(404, 413, 422, 503)},
    openapi_extra=request_body(PredictRequest),
)
async def predict(name: str, request: Request) -> JSONResponse:
    """Look up the entries' features online, transform them as in training, predict."""
    # Run on the event loop, not in the thread pool: a prediction is a few hundred
    # microseconds of CPU (key look-ups on SQLite or loopback Redis, then the model), less
    # than the hand-off to a worker thread and back, and threads would only take turns on
    # the GIL (ADR 0006).
    deployments: Deployments = request.app.state.deployments
    deployment = deployments.get(name)
    body = validate(PredictRequest, parse_json(await request.body()))
    metrics = deployments.metrics
    metrics.requests.labels(name, "v1").inc()
    started = time.perf_counter()
    result = deployment.predictor.predict(
        body.entries, body.passed_features, body.request_parameters
    )
    total = time.perf_counter() - started
    for stage, seconds in (
        ("lookup", result.timings.lookup),
        ("transform", result.timings.transform),
        ("model", result.timings.model),
        ("total", total),
    ):
        metrics.latency.labels(name, stage).observe(seconds)
    _count_gaps(deployments, name, result)
    if deployment.log is not None:
        _log(deployment, result, total)
    return JSONResponse(
        {
            "model": result.model,
            "version": result.version,
            "predictions": result.predictions,
            "probabilities": result.probabilities,
            "classes": result.classes,
            "missing_features": result.missing_features,
            "expired_features": result.expired_features,
            "errors": None
            if result.errors is None
            else [None if e is None else str(e) for e in result.errors],
        }
    )


def _count_gaps(deployments: Deployments, name: str, result: Prediction) -> None:
    metrics = deployments.metrics
    for features in result.missing_features:
        for feature in features:
            metrics.features_missing.labels(name, feature).inc()
    for features in result.expired_features:
        for feature in features:
            metrics.features_expired.labels(name, feature).inc()


def _log(deployment: Deployment, result: Prediction, seconds: float) -> None:
    """Queue the predictions of the entries that did not fail for the inference log."""
    assert deployment.log is not None
    probabilities = result.probabilities or [None] * len(result.predictions)
    outputs = [
        log_outputs(p, q)
        for n, (p, q) in enumerate(zip(result.predictions, probabilities, strict=True))
        if result.errors is None or result.errors[n] is None
    ]
    deployment.log.log(result.version, result.features, outputs, seconds * 1000)
