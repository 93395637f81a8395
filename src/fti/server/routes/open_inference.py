"""The Open Inference Protocol (KServe V2): health, model metadata, and ``infer`` on tensors."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from fti.errors import InvalidArgumentError
from fti.server.deployments import Deployments

router = APIRouter()

DATATYPES = {
    "bool": "BOOL",
    "int32": "INT32",
    "int64": "INT64",
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
    "date": "BYTES",
    "timestamp": "BYTES",
}


class Tensor(BaseModel):
    """One named input or output tensor."""

    model_config = ConfigDict(extra="allow")

    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferRequest(BaseModel):
    """A V2 inference request: one tensor per feature, in any order."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    inputs: list[Tensor] = Field(min_length=1)


@router.get("/v2/health/live")
def live() -> dict[str, bool]:
    """The process is up."""
    return {"live": True}


@router.get("/v2/health/ready")
def ready(request: Request) -> dict[str, bool]:
    """Every served model is loaded."""
    deployments: Deployments = request.app.state.deployments
    return {"ready": bool(deployments.by_name)}


@router.get("/v2/models/{name}")
def metadata(name: str, request: Request) -> dict[str, Any]:
    """Name, version, and the input and output tensors of a model."""
    deployments: Deployments = request.app.state.deployments
    predictor = deployments.get(name).predictor
    columns = predictor.view._serving_plan().frame([]).dtypes
    inputs = [
        {"name": str(column), "datatype": _datatype(dtype), "shape": [-1]}
        for column, dtype in columns.items()
    ]
    return {
        "name": name,
        "versions": [str(predictor.version)],
        "platform": "fti",
        "inputs": inputs,
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]},
        ],
    }


@router.get("/v2/models/{name}/ready")
def model_ready(name: str, request: Request) -> dict[str, Any]:
    """Whether a model is loaded."""
    deployments: Deployments = request.app.state.deployments
    deployments.get(name)
    return {"name": name, "ready": True}


@router.post("/v2/models/{name}/infer")
def infer(name: str, body: InferRequest, request: Request) -> dict[str, Any]:
    """Predict on feature tensors given directly (already transformed; no look-up)."""
    deployments: Deployments = request.app.state.deployments
    deployment = deployments.get(name)
    deployments.metrics.requests.labels(name, "v2").inc()
    rows = {len(t.data) for t in body.inputs}
    if len(rows) != 1:
        raise InvalidArgumentError("every input tensor must have the same number of rows")
    for tensor in body.inputs:
        if tensor.shape and tensor.shape[0] != len(tensor.data):
            raise InvalidArgumentError(
                f"input {tensor.name!r}: shape {tensor.shape} does not match "
                f"{len(tensor.data)} values"
            )
    frame = pd.DataFrame({t.name: t.data for t in body.inputs})
    started = time.perf_counter()
    result = deployment.predictor.predict_features(frame)
    deployments.metrics.latency.labels(name, "model").observe(time.perf_counter() - started)
    outputs: list[dict[str, Any]] = [
        {
            "name": "predict",
            "datatype": _datatype(np.asarray(result.predictions).dtype),
            "shape": [len(result.predictions)],
            "data": result.predictions,
        }
    ]
    if result.probabilities is not None:
        width = len(result.probabilities[0]) if result.probabilities else 0
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [len(result.probabilities), width],
                "data": [p for row in result.probabilities for p in row],
            }
        )
    return {
        "model_name": name,
        "model_version": str(result.version),
        "id": body.id,
        "outputs": outputs,
    }


def _datatype(dtype: Any) -> str:
    kind = np.dtype(dtype).kind if not isinstance(dtype, pd.StringDtype) else "O"
    return {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}.get(kind, "BYTES")
