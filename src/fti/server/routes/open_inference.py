"""The Open Inference Protocol (KServe V2): server and model metadata, health, ``infer``.

``infer`` takes feature tensors given directly (already transformed; no online look-up): one
input per column of the view's frame. Bodies are JSON, with or without a ``Content-Type``
(KServe clients send none), or a JSON header followed by binary tensor data (the binary
tensor data extension, tritonclient's default); outputs are binary when the request asks
(``binary_data_output``, or ``binary_data`` of a requested output). Bad requests are 400,
as the protocol says; an unknown model or version 404.
"""

from __future__ import annotations

import json
import math
import time
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

import fti
from fti.errors import InvalidArgumentError, NotFoundError
from fti.inference.predictor import Prediction, Predictor
from fti.server import tensors
from fti.server.bodies import parse_json, request_body, validate
from fti.server.deployments import Deployment, Deployments
from fti.server.errors import error_responses

router = APIRouter()

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]


class Parameters(BaseModel):
    """Request parameters; ``binary_data_output`` asks for every output in binary."""

    model_config = ConfigDict(extra="allow", strict=True)

    binary_data_output: bool | None = None


class TensorParameters(BaseModel):
    """Parameters of an input: ``binary_data_size`` when its data is binary."""

    model_config = ConfigDict(extra="allow", strict=True)

    binary_data_size: int | None = Field(None, ge=0)


class InputTensor(BaseModel):
    """One input: a feature column, shape ``[N]`` or ``[N, 1]``, data in JSON or binary."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=2)
    datatype: tensors.Datatype
    parameters: TensorParameters | None = None
    data: list[Any] | None = None


class OutputParameters(BaseModel):
    """Parameters of a requested output: ``binary_data`` for binary tensor data."""

    model_config = ConfigDict(extra="allow", strict=True)

    binary_data: bool | None = None


class RequestedOutput(BaseModel):
    """An output the client wants (by default: all of them)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    parameters: OutputParameters | None = None


class InferRequest(BaseModel):
    """A V2 inference request: one tensor per input of the model, in any order."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[InputTensor] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


class TensorMetadata(BaseModel):
    """Name, datatype and shape (-1: any size) of an input or output."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """A model's name, served version and tensors."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    """The server's name, version and protocol extensions."""

    name: str
    version: str
    extensions: list[str]


class OutputTensor(BaseModel):
    """One output: data in JSON, or ``parameters.binary_data_size`` bytes after the header."""

    name: str
    datatype: str
    shape: list[int]
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class InferResponse(BaseModel):
    """The outputs, with the request's ``id`` when it gave one."""

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[OutputTensor]


class Live(BaseModel):
    """Liveness."""

    live: bool


class Ready(BaseModel):
    """Readiness."""

    ready: bool


class ModelReady(BaseModel):
    """Readiness of one model."""

    name: str
    ready: bool


@router.get("/v2", response_model=ServerMetadata)
def server_metadata() -> ServerMetadata:
    """The server's name, version and the protocol extensions it supports."""
    return ServerMetadata(name="fti", version=fti.__version__, extensions=EXTENSIONS)


@router.get("/v2/health/live", response_model=Live)
def live() -> Live:
    """The process is up."""
    return Live(live=True)


@router.get("/v2/health/ready", response_model=Ready)
def ready(request: Request) -> Ready:
    """Every served model is loaded (the server starts only once they all are)."""
    deployments: Deployments = request.app.state.deployments
    return Ready(ready=bool(deployments.by_name))


@router.get("/v2/models/{name}", response_model=ModelMetadata, responses=error_responses(404))
def metadata(name: str, request: Request) -> ModelMetadata:
    """Name, version, and the input and output tensors of a model."""
    return _metadata(_deployment(request, name).predictor)


@router.get(
    "/v2/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    responses=error_responses(404),
)
def version_metadata(name: str, version: str, request: Request) -> ModelMetadata:
    """The metadata of a model version (only the version being served is known)."""
    return _metadata(_deployment(request, name, version).predictor)


@router.get("/v2/models/{name}/ready", response_model=ModelReady, responses=error_responses(404))
def model_ready(name: str, request: Request) -> ModelReady:
    """Whether a model is loaded."""
    _deployment(request, name)
    return ModelReady(name=name, ready=True)


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    response_model=ModelReady,
    responses=error_responses(404),
)
def version_ready(name: str, version: str, request: Request) -> ModelReady:
    """Whether a model version is loaded (only the version being served is)."""
    _deployment(request, name, version)
    return ModelReady(name=name, ready=True)


_INFER_DOC: dict[str, Any] = {
    "response_model": None,
    "responses": {
        200: {
            "model": InferResponse,
            "description": "JSON, or (when binary outputs were asked for) the JSON header "
            f"followed by binary tensor data, its length in the {HEADER_LENGTH} header",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            "headers": {
                HEADER_LENGTH: {
                    "description": "Length of the JSON header when binary data follows it",
                    "schema": {"type": "integer"},
                }
            },
        },
        **error_responses(400, 404, 413, 503),
    },
    "openapi_extra": request_body(InferRequest)
    | {
        "parameters": [
            {
                "name": HEADER_LENGTH,
                "in": "header",
                "required": False,
                "description": "Binary tensor data extension: the length of the JSON header; "
                "the bytes after it hold the inputs whose parameters give a "
                "binary_data_size, in their order",
                "schema": {"type": "integer", "minimum": 0},
            }
        ]
    },
}


@router.post("/v2/models/{name}/infer", **_INFER_DOC)
async def infer(name: str, request: Request) -> Response:
    """Predict on feature tensors given directly (already transformed; no look-up)."""
    return await _infer(_deployment(request, name), name, request)


@router.post("/v2/models/{name}/versions/{version}/infer", **_INFER_DOC)
async def version_infer(name: str, version: str, request: Request) -> Response:
    """Predict with a given model version (only the version being served is known)."""
    return await _infer(_deployment(request, name, version), name, request)


def _deployment(request: Request, name: str, version: str | None = None) -> Deployment:
    deployments: Deployments = request.app.state.deployments
    deployment = deployments.get(name)
    served = str(deployment.predictor.version)
    if version is not None and version != served:
        raise NotFoundError(f"model {name!r} version {version!r} is not served; served: {served}")
    return deployment


def _metadata(predictor: Predictor) -> ModelMetadata:
    inputs = [
        TensorMetadata(name=column, datatype=tensors.datatype_of(dtype), shape=[-1])
        for column, dtype in predictor.inputs.items()
    ]
    return ModelMetadata(
        name=predictor.name,
        versions=[str(predictor.version)],
        platform="fti",
        inputs=inputs,
        outputs=[
            TensorMetadata(name=n, datatype=t, shape=s) for n, (t, s) in _outputs(predictor).items()
        ],
    )


def _outputs(predictor: Predictor) -> dict[str, tuple[str, list[int]]]:
    """The model's outputs: name -> (datatype, shape)."""
    estimator = predictor.estimator
    classes = getattr(estimator, "classes_", None)
    # A classifier predicts one of its classes; anything else is taken for a regressor.
    predict = "FP64" if classes is None else tensors.datatype_of(np.asarray(classes).dtype)
    if classes is not None and np.asarray(classes).dtype.kind in "iu":
        predict = "INT64"
    outputs = {"predict": (predict, [-1])}
    if hasattr(estimator, "predict_proba"):
        outputs["predict_proba"] = ("FP64", [-1, -1])
    return outputs


async def _infer(deployment: Deployment, name: str, request: Request) -> Response:
    body = await request.body()
    header, binary = body, b""
    length = request.headers.get(HEADER_LENGTH)
    if length is not None:
        if not length.isdigit() or int(length) > len(body):
            raise InvalidArgumentError(
                f"{HEADER_LENGTH} must be the length of the JSON header (at most the body's "
                f"{len(body)} bytes), not {length!r}"
            )
        header, binary = body[: int(length)], body[int(length) :]
    payload = validate(InferRequest, parse_json(header))
    predictor = deployment.predictor
    outputs = _outputs(predictor)
    wanted = _wanted_outputs(payload, outputs)
    frame = _frame(payload, binary, predictor.inputs)
    deployments: Deployments = request.app.state.deployments
    deployments.metrics.requests.labels(name, "v2").inc()
    started = time.perf_counter()
    result = predictor.predict_features(frame)
    deployments.metrics.latency.labels(name, "model").observe(time.perf_counter() - started)
    return _answer(payload, result, outputs, wanted)


def _wanted_outputs(
    payload: InferRequest, outputs: dict[str, tuple[str, list[int]]]
) -> dict[str, bool]:
    """Requested output name -> whether its data is binary."""
    default = bool(payload.parameters and payload.parameters.binary_data_output)
    if payload.outputs is None:
        return dict.fromkeys(outputs, default)
    wanted = {}
    for output in payload.outputs:
        if output.name not in outputs:
            raise InvalidArgumentError(
                f"unknown output {output.name!r}; the model's outputs: {', '.join(outputs)}"
            )
        parameters = output.parameters
        if parameters is not None and (parameters.model_extra or {}).get("classification"):
            raise InvalidArgumentError("the classification extension is not supported")
        binary = None if parameters is None else parameters.binary_data
        wanted[output.name] = default if binary is None else binary
    return wanted


def _frame(payload: InferRequest, binary: bytes, inputs: dict[str, Any]) -> pd.DataFrame:
    """The inputs as the frame the model takes: the view's columns, in order, of its dtypes."""
    names = [t.name for t in payload.inputs]
    unknown = [n for n in names if n not in inputs]
    if unknown:
        raise InvalidArgumentError(
            f"unknown input(s) {', '.join(unknown)}; the model's inputs: {', '.join(inputs)}"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidArgumentError(f"input(s) given more than once: {', '.join(twice)}")
    missing = [n for n in inputs if n not in names]
    if missing:
        raise InvalidArgumentError(f"missing input(s): {', '.join(missing)}")
    columns: dict[str, Any] = {}
    rows: set[int] = set()
    offset = 0
    for tensor in payload.inputs:
        count = tensors.rows_of(tensor.name, tensor.shape)
        rows.add(count)
        size = tensor.parameters.binary_data_size if tensor.parameters else None
        if size is not None:
            if tensor.data is not None:
                raise InvalidArgumentError(
                    f"input {tensor.name!r} has both data and binary_data_size"
                )
            if offset + size > len(binary):
                raise InvalidArgumentError(
                    f"input {tensor.name!r}: binary_data_size {size} runs past the body's end"
                )
            raw = binary[offset : offset + size]
            offset += size
            values = tensors.from_bytes(tensor.name, tensor.datatype, raw, count)
        else:
            if tensor.data is None:
                raise InvalidArgumentError(f"input {tensor.name!r} has no data")
            values = tensors.from_json(tensor.name, tensor.datatype, tensor.data, count)
        columns[tensor.name] = _column(tensor, values, inputs[tensor.name])
    if offset != len(binary):
        raise InvalidArgumentError(
            f"{len(binary) - offset} byte(s) of binary data after the last binary input"
        )
    if len(rows) != 1:
        raise InvalidArgumentError("every input must have the same number of rows")
    return pd.DataFrame({name: columns[name] for name in inputs})


def _column(tensor: InputTensor, values: np.ndarray[Any, Any], dtype: Any) -> Any:
    """Values of one input as the model's frame holds the column.

    Numbers go to numeric columns (as float64 when the column's own type cannot hold them
    exactly, as batch data holds an int column with nulls), booleans to bool columns, text to
    the others (timestamps as ISO text).
    """
    name = tensor.name
    kind = "O" if isinstance(dtype, pd.api.extensions.ExtensionDtype) else np.dtype(dtype).kind
    given = values.dtype.kind
    expected = {"b": "b", "i": "iuf", "u": "iuf", "f": "iuf"}.get(kind, "O")
    if given not in expected:
        wanted = {"b": "BOOL", "O": "BYTES"}.get(expected, "a numeric datatype")
        raise InvalidArgumentError(f"input {name!r} takes {wanted}, not {tensor.datatype}")
    if isinstance(dtype, pd.DatetimeTZDtype):
        try:
            return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(f"input {name!r} takes ISO 8601 times: {exc}") from exc
    if kind not in "biuf" or np.can_cast(values.dtype, dtype, casting="safe"):
        return values.astype(dtype) if kind in "biuf" else values
    if kind == "f" or given == "f":
        return values.astype(np.float64)
    limits = np.iinfo(dtype)
    if values.size and (values.min() < limits.min or values.max() > limits.max):
        raise InvalidArgumentError(f"input {name!r}: a value is outside {dtype}")
    return values.astype(dtype)


def _answer(
    payload: InferRequest,
    result: Prediction,
    outputs: dict[str, tuple[str, list[int]]],
    wanted: dict[str, bool],
) -> Response:
    rows = len(result.predictions)
    tensors_out: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in wanted.items():
        datatype = outputs[name][0]
        if name == "predict":
            shape = [rows]
            try:
                data = tensors.output_values(datatype, result.predictions)
            except (TypeError, ValueError):
                # A model whose predictions are not of its classes' type: sent as text.
                datatype = "BYTES"
                data = tensors.output_values(datatype, result.predictions)
        else:
            width = len(result.probabilities[0] or []) if result.probabilities else 0
            shape = [rows, width]
            data = [
                np.nan if p is None else p for row in result.probabilities or [] for p in row or []
            ]
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            blob = tensors.to_bytes(datatype, data)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = [_json_value(v) for v in data]
        tensors_out.append(tensor)
    answer: dict[str, Any] = {
        "model_name": result.model,
        "model_version": str(result.version),
        "outputs": tensors_out,
    }
    if payload.id is not None:
        answer["id"] = payload.id
    if not blobs:
        return JSONResponse(answer)
    header = json.dumps(answer, separators=(",", ":")).encode()
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


def _json_value(value: Any) -> Any:
    """A value JSON can hold: NaN (a missing value) as null."""
    return None if isinstance(value, float) and math.isnan(value) else value
