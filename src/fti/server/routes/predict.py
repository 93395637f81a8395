"""``POST /v1/models/{name}/predict``: predictions for entity keys (features looked up online)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from fti.server.deployments import Deployments, log_outputs

router = APIRouter()


class PredictRequest(BaseModel):
    """Entity keys, plus optional passed features and request parameters per entry."""

    model_config = ConfigDict(extra="forbid")

    entries: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    passed_features: list[dict[str, Any]] | None = None
    request_parameters: list[dict[str, Any]] | None = None


class PredictResponse(BaseModel):
    """Predictions in the order of the entries."""

    model: str
    version: int
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


@router.post("/v1/models/{name}/predict", response_model=PredictResponse)
async def predict(name: str, body: PredictRequest, request: Request) -> PredictResponse:
    """Look up the entries' features online, transform them as in training, predict."""
    # Run on the event loop, not in the thread pool: a prediction is a few hundred
    # microseconds of CPU (key look-ups on SQLite or loopback Redis, then the model), less
    # than the hand-off to a worker thread and back, and threads would only take turns on
    # the GIL.
    deployments: Deployments = request.app.state.deployments
    metrics = deployments.metrics
    deployment = deployments.get(name)
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
    if deployment.log is not None:
        probabilities: list[list[float] | None] = (
            list(result.probabilities) if result.probabilities else [None] * len(result.predictions)
        )
        deployment.log.log(
            result.version,
            result.features,
            [log_outputs(p, q) for p, q in zip(result.predictions, probabilities, strict=True)],
            total * 1000,
        )
    return PredictResponse(
        model=result.model,
        version=result.version,
        predictions=result.predictions,
        probabilities=result.probabilities,
        classes=result.classes,
    )
