"""Batch predictions and the HTTP server, end to end over real stores and a registered model."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fti
from fti.inference.batch import batch_predict
from fti.inference.predictor import Predictor
from fti.server import create_app

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
N = 40


@pytest.fixture
def trained(project: fti.Project) -> fti.Model:
    return train(project, LogisticRegression())


def train(project: fti.Project, estimator: Any) -> fti.Model:
    """The trips x zones view, ``estimator`` fitted on it, registered as delays@production."""
    fs = project.feature_store
    rng = np.random.default_rng(1)
    trips = fs.create_feature_group("trips", primary_key=["trip_id"], event_time="t")
    trips.insert(
        pd.DataFrame(
            {
                "trip_id": np.arange(N),
                "t": [T0 + dt.timedelta(hours=int(h)) for h in rng.integers(0, 72, N)],
                "zone": rng.choice(["a", "b", "c"], N),
                "distance": rng.gamma(2.0, 3.0, N),
                "late": rng.random(N) > 0.5,
            }
        )
    )
    zones = fs.create_feature_group("zones", primary_key=["zone"])
    zones.insert(pd.DataFrame({"zone": ["a", "b", "c"], "traffic": [0.1, 0.5, 0.9]}))
    view = fs.create_feature_view(
        "trip_delays",
        query=trips.select(["distance", "late"]).join(zones.select(["traffic"]), on=["zone"]),
        labels=["late"],
        transformations={"distance": fti.transforms.standard_scaler},
    )
    x, _, y, _ = view.train_test_split(test_size=0.25, seed=3)
    estimator.fit(x, y)
    model = project.model_registry.create_model(
        "delays",
        metrics={"accuracy": 0.5},
        feature_view=view,
        training_dataset_version=1,
        input_example=x.head(2),
    )
    model.save(estimator)
    model.set_alias("production")
    return model


@pytest.fixture
def client(project: fti.Project, trained: fti.Model) -> Iterator[TestClient]:
    app = create_app(project, ["delays@production"], max_body_bytes=4096, refresh_seconds=0.2)
    with TestClient(app) as test_client:
        yield test_client


def test_batch_predict_writes_the_predictions_group(
    project: fti.Project, trained: fti.Model
) -> None:
    out = batch_predict(trained, T0, T0 + dt.timedelta(days=3))
    assert len(out) == N
    assert set(out.columns) >= {
        "trip_id",
        "t",
        "prediction",
        "probabilities",
        "score",
        "model_name",
        "model_version",
        "predicted_at",
    }
    stored = project.feature_store.get_feature_group("delays_predictions").read()
    assert len(stored) == N and (stored["model_version"] == 1).all()
    chunked = batch_predict(trained, T0, T0 + dt.timedelta(days=3), chunk=dt.timedelta(hours=5))
    merged = out.merge(chunked, on="trip_id")
    assert (merged["prediction_x"] == merged["prediction_y"]).all()
    assert np.allclose(merged["score_x"], merged["score_y"], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("estimator", "fed_an_array"),
    [
        # A plain estimator fitted on the view's columns is fed an array; pipelines and other
        # meta-estimators (which may select columns by name inside) a frame.
        (LogisticRegression(), True),
        (make_pipeline(StandardScaler(), LogisticRegression(C=0.5)), False),
        (HistGradientBoostingClassifier(max_iter=5), True),
        (
            VotingClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())], voting="soft"),
            False,
        ),
        (CalibratedClassifierCV(LogisticRegression(), cv=2), False),
    ],
    ids=["plain", "pipeline", "trees", "voting", "calibrated"],
)
def test_http_predictions_equal_batch_predictions(
    project: fti.Project, estimator: Any, fed_an_array: bool
) -> None:
    trained = train(project, estimator)
    assert (Predictor(project, "delays@production")._loaded.array_path is not None) == (
        fed_an_array
    )
    app = create_app(project, ["delays@production"])
    with TestClient(app) as client:
        one_by_one = [
            client.post("/v1/models/delays/predict", json={"entries": [{"trip_id": k}]}).json()
            for k in range(3)
        ]
        assert_equal_to_batch(client, trained, one_by_one)


def assert_equal_to_batch(client: TestClient, trained: fti.Model, one_by_one: list[Any]) -> None:
    keys = list(range(N))
    response = client.post(
        "/v1/models/delays/predict", json={"entries": [{"trip_id": k} for k in keys]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "delays" and body["version"] == 1
    view = trained.feature_view()
    now = pd.Timestamp.now(tz="UTC").floor("us")
    batch = view.get_batch_data(
        spine=pd.DataFrame({"trip_id": keys, "t": [now] * N}), training_dataset_version=1
    )
    estimator = trained.load()
    assert body["predictions"] == estimator.predict(batch).tolist()
    assert np.allclose(body["probabilities"], estimator.predict_proba(batch), rtol=0, atol=1e-9)
    for k, single in enumerate(one_by_one):
        assert single["predictions"] == body["predictions"][k : k + 1]
        assert np.allclose(single["probabilities"], body["probabilities"][k : k + 1], atol=1e-9)


@pytest.mark.parametrize(
    ("path", "payload", "status", "match"),
    [
        ("/v1/models/nope/predict", {"entries": [{"trip_id": 1}]}, 404, "nope"),
        ("/v1/models/delays/predict", {"entries": [{"trip_id": 9999}]}, 404, "9999"),
        ("/v1/models/delays/predict", {"entries": []}, 422, "entries"),
        ("/v1/models/delays/predict", {"entry": [{"trip_id": 1}]}, 422, "entries"),
        ("/v1/models/delays/predict", {"entries": "x"}, 422, "entries"),
        ("/v1/models/delays/predict", {"entries": [{"trip_id": "x"}]}, 422, "trip_id"),
        ("/v1/models/delays/predict", {"entries": [{"other": 1}]}, 422, "other"),
        ("/v1/models/delays/predict", {"entries": [{}]}, 422, "trip_id"),
        ("/v1/models/delays/predict", {"entries": [{"trip_id": 1}] * 500}, 413, "body"),
        ("/v2/models/delays/infer", {"inputs": []}, 400, "inputs"),
        (
            "/v2/models/delays/infer",
            {"inputs": [{"name": "distance", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            400,
            "traffic",
        ),
    ],
    ids=[
        "unknown_model",
        "unknown_entity",
        "empty",
        "wrong_field",
        "wrong_type",
        "bad_key_type",
        "unknown_key",
        "missing_key",
        "too_large",
        "v2_empty",
        "v2_missing_input",
    ],
)
def test_bad_requests_get_4xx(
    client: TestClient, path: str, payload: object, status: int, match: str
) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"error", "code", "details"} and match in body["error"]
    assert client.get("/v2/health/live").json() == {"live": True}


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/models/delays/predict",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


def test_open_inference_protocol(client: TestClient, trained: fti.Model) -> None:
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/delays/ready").json()["ready"] is True
    meta = client.get("/v2/models/delays").json()
    assert [i["name"] for i in meta["inputs"]] == ["distance", "traffic"]
    assert client.get("/v2/models/nope").status_code == 404
    inputs = [
        {"name": "distance", "shape": [2], "datatype": "FP64", "data": [0.5, -1.0]},
        {"name": "traffic", "shape": [2], "datatype": "FP64", "data": [0.1, 0.9]},
    ]
    out = client.post("/v2/models/delays/infer", json={"inputs": inputs}).json()
    expected = trained.load().predict_proba(
        pd.DataFrame({"distance": [0.5, -1.0], "traffic": [0.1, 0.9]})
    )
    proba = next(o for o in out["outputs"] if o["name"] == "predict_proba")
    assert np.allclose(np.array(proba["data"]).reshape(2, 2), expected, atol=1e-12)


def test_metrics_count_requests_errors_and_stage_latency(client: TestClient) -> None:
    client.post("/v1/models/delays/predict", json={"entries": [{"trip_id": 1}]})
    client.post("/v1/models/delays/predict", json={"entries": [{"trip_id": 9999}]})
    client.post("/v1/models/delays/predict", json={"entries": [{"trip_id": 1}] * 500})
    client.post("/v1/models/delays/predict", json={"entries": "x"})
    text = client.get("/metrics").text
    assert 'fti_requests_total{endpoint="v1",model="delays"} 2.0' in text
    assert 'fti_errors_total{model="delays",status="404"} 1.0' in text
    assert 'fti_errors_total{model="delays",status="422"} 1.0' in text
    # Refused before routing, so no model name is known.
    assert 'fti_errors_total{model="-",status="413"} 1.0' in text
    for stage in ("lookup", "transform", "model", "total"):
        assert f'fti_latency_seconds_count{{model="delays",stage="{stage}"}} 1.0' in text


def test_alias_move_is_followed_without_failed_requests(
    client: TestClient, project: fti.Project, trained: fti.Model
) -> None:
    second = project.model_registry.create_model(
        "delays", feature_view=trained.feature_view(), training_dataset_version=1
    )
    second.save(trained.load())
    statuses: list[int] = []
    versions: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = client.post("/v1/models/delays/predict", json={"entries": [{"trip_id": 3}]})
            statuses.append(r.status_code)
            if r.status_code == 200:
                versions.append(r.json()["version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    time.sleep(0.3)
    second.set_alias("production")
    deadline = time.monotonic() + 10
    while (not versions or versions[-1] != 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    worker.join()
    assert set(statuses) == {200}
    assert versions[0] == 1 and versions[-1] == 2


def test_inference_log_is_written(project: fti.Project, trained: fti.Model) -> None:
    app = create_app(project, ["delays"])
    with TestClient(app) as c:
        c.post("/v1/models/delays/predict", json={"entries": [{"trip_id": k} for k in range(5)]})
    log = project.feature_store.get_feature_group("delays_inference_log").read()
    assert len(log) == 5
    assert set(log.columns) >= {
        "distance",
        "traffic",
        "prediction",
        "score",
        "model_version",
        "latency_ms",
    }


@pytest.mark.parametrize(
    "passed",
    [{"traffic": 1}, {"traffic": 0.25}, {"traffic": None}, {"traffic": True}],
    ids=["int", "float", "none", "bool"],
)
def test_passed_features_of_any_kind_predict_as_the_frame_would(
    client: TestClient, trained: fti.Model, passed: dict[str, object]
) -> None:
    entries = [{"trip_id": 3}, {"trip_id": 4}]
    body = {"entries": entries, "passed_features": [passed, passed]}
    response = client.post("/v1/models/delays/predict", json=body)
    frame = trained.feature_view().get_feature_vectors(
        entries, passed_features=[passed, passed], return_type="pandas"
    )
    estimator = trained.load()
    try:
        expected = estimator.predict_proba(frame)
    except ValueError:  # LogisticRegression takes no NaN: the request's fault, not the server's
        assert response.status_code == 422
        assert "cannot predict on this input" in response.json()["error"]
        return
    assert response.status_code == 200, response.text
    assert np.allclose(response.json()["probabilities"], expected, rtol=0, atol=1e-12)
