"""The Open Inference Protocol (KServe V2) as real clients use it: tritonclient, raw HTTP.

tritonclient.http.InferenceServerClient talks to a uvicorn server on a loopback port, as its
documentation shows: metadata, readiness, infer with JSON and with binary tensor data (its
default), versions routes, requested outputs, missing values, and errors with the server's
message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from served_model import MODEL, TEXT_LABELS, TEXT_MODEL
from tritonclient.utils import InferenceServerException

import fti

INPUTS = ["distance", "passengers", "eta", "traffic"]
ROWS = {
    "distance": [0.5, -1.0, 2.0],
    "passengers": [1.0, np.nan, 3.0],
    "eta": [10.0, 25.0, 40.0],
    "traffic": [0.2, np.nan, 0.8],
}


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(server_url) as c:
        yield c


@pytest.fixture(scope="module")
def expected(served_project: fti.Project) -> np.ndarray[Any, Any]:
    """What the model itself gives for ROWS."""
    estimator = served_project.model_registry.get_model(MODEL).load()
    return np.asarray(estimator.predict_proba(pd.DataFrame(ROWS)[INPUTS]))


def tensors(binary: bool) -> list[triton.InferInput]:
    inputs = []
    for name in INPUTS:
        tensor = triton.InferInput(name, [3], "FP64")
        tensor.set_data_from_numpy(np.array(ROWS[name], dtype=np.float64), binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_server_metadata_and_health(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata["name"] == "fti" and metadata["version"] == fti.__version__
    assert "binary_tensor_data" in metadata["extensions"]
    assert client.is_server_live() and client.is_server_ready()


def test_model_metadata_declares_what_infer_returns(client: triton.InferenceServerClient) -> None:
    metadata = client.get_model_metadata(MODEL)
    assert metadata["versions"] == ["1"]
    # passengers is an int64 feature, null in a fifth of the rows: declared FP64, so a
    # missing value can be sent as NaN.
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == dict.fromkeys(INPUTS, "FP64")
    declared = {o["name"]: o["datatype"] for o in metadata["outputs"]}
    assert declared == {"predict": "BOOL", "predict_proba": "FP64"}
    result = client.infer(MODEL, tensors(binary=False))
    returned = {o["name"]: o["datatype"] for o in result.get_response()["outputs"]}
    assert returned == declared
    assert client.get_model_metadata(MODEL, "1") == metadata


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_gives_the_models_answer(
    client: triton.InferenceServerClient, expected: np.ndarray[Any, Any], binary: bool
) -> None:
    outputs = None
    if not binary:
        outputs = [
            triton.InferRequestedOutput("predict", binary_data=False),
            triton.InferRequestedOutput("predict_proba", binary_data=False),
        ]
    result = client.infer(MODEL, tensors(binary), outputs=outputs, request_id="r-7")
    assert result.get_response()["id"] == "r-7"
    assert np.allclose(result.as_numpy("predict_proba").reshape(3, 2), expected, atol=1e-12)
    assert result.as_numpy("predict").tolist() == (expected[:, 1] > 0.5).tolist()


def test_versions_routes(
    client: triton.InferenceServerClient, expected: np.ndarray[Any, Any]
) -> None:
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready(MODEL, "2") and not client.is_model_ready("nope")
    result = client.infer(MODEL, tensors(binary=True), model_version="1")
    assert np.allclose(result.as_numpy("predict_proba").reshape(3, 2), expected, atol=1e-12)
    with pytest.raises(InferenceServerException, match="version '2' is not served"):
        client.infer(MODEL, tensors(binary=True), model_version="2")
    with pytest.raises(InferenceServerException, match="version '2' is not served"):
        client.get_model_metadata(MODEL, "2")


def test_requested_outputs_only(client: triton.InferenceServerClient) -> None:
    wanted = [triton.InferRequestedOutput("predict_proba", binary_data=True)]
    result = client.infer(MODEL, tensors(binary=True), outputs=wanted)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["predict_proba"]
    assert result.as_numpy("predict") is None
    with pytest.raises(InferenceServerException, match="unknown output 'score'"):
        client.infer(MODEL, tensors(binary=True), outputs=[triton.InferRequestedOutput("score")])


def test_an_int64_input_may_carry_null(server_url: str, expected: np.ndarray[Any, Any]) -> None:
    """JSON null in an INT64 tensor is a missing value, as NaN in an FP64 one."""
    inputs = [
        {
            "name": n,
            "shape": [3],
            "datatype": "FP64",
            "data": [None if np.isnan(v) else v for v in ROWS[n]],
        }
        for n in INPUTS
        if n != "passengers"
    ]
    inputs.append(
        {"name": "passengers", "shape": [3, 1], "datatype": "INT64", "data": [[1], [None], [3]]}
    )
    response = httpx.post(f"http://{server_url}/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "id" not in body  # absent from the request, absent from the answer
    proba = next(o for o in body["outputs"] if o["name"] == "predict_proba")
    assert proba["shape"] == [3, 2]
    assert np.allclose(np.array(proba["data"]).reshape(3, 2), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"datatype": "FP128"}, "datatype"),
        ({"data": ["fast", 1.0, 2.0]}, "'fast' is not a FP64 value"),
        ({"shape": [3, 2]}, "shape [3, 2] is not [N] or [N, 1]"),
        ({"shape": [4]}, "shape says 4 value(s), data has 3"),
        ({"name": "speed"}, "unknown input(s) speed"),
        ({"datatype": "BOOL", "data": [True, False, True]}, "takes a numeric datatype, not BOOL"),
        ({"datatype": "BYTES", "data": ["1", "2", "3"]}, "takes a numeric datatype, not BYTES"),
        ({"datatype": "INT8", "data": [1, 2, 300]}, "a value is outside INT8"),
        ({"data": [1.0, None, True]}, "True is not a FP64 value"),
    ],
    ids=[
        "unknown_datatype",
        "text_in_fp64",
        "two_columns",
        "short_data",
        "unknown_input",
        "bool_for_number",
        "text_for_number",
        "beyond_int8",
        "bool_in_fp64",
    ],
)
def test_bad_tensors_are_400_with_the_servers_message(
    client: triton.InferenceServerClient, server_url: str, change: dict[str, Any], message: str
) -> None:
    inputs = [
        {"name": n, "shape": [3], "datatype": "FP64", "data": [0.0, 1.0, 2.0]} for n in INPUTS
    ]
    inputs[0] |= change
    response = httpx.post(f"http://{server_url}/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert response.status_code == 400
    body = response.json()
    assert message in body["error"] and body["code"] in ("invalid_argument", "invalid_request")


def test_client_errors_show_the_servers_message(client: triton.InferenceServerClient) -> None:
    short = tensors(binary=True)[:2]
    with pytest.raises(InferenceServerException, match="missing input\\(s\\): eta, traffic") as err:
        client.infer(MODEL, short)
    assert err.value.status() == "400"
    with pytest.raises(InferenceServerException, match="model 'nope' is not served") as err:
        client.get_model_metadata("nope")
    assert err.value.status() == "404"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_text_classes_are_declared_and_returned_as_bytes(
    client: triton.InferenceServerClient, expected: np.ndarray[Any, Any], binary: bool
) -> None:
    metadata = client.get_model_metadata(TEXT_MODEL)
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]}["predict"] == "BYTES"
    wanted = [triton.InferRequestedOutput("predict", binary_data=binary)]
    result = client.infer(TEXT_MODEL, tensors(binary), outputs=wanted)
    assert result.get_response()["outputs"][0]["datatype"] == "BYTES"
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")]
    assert labels == [TEXT_LABELS[bool(p > 0.5)] for p in expected[:, 1]]
