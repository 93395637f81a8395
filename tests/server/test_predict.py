"""``POST /v1/models/{name}/predict`` over a real server: hostile input, per-entry errors,
request values inside entries, and the features each entry lacked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from served_model import BODY_LIMIT, MODEL, TEXT_MODEL

PATH = f"/v1/models/{MODEL}/predict"
# At the server's NOW, zone "b" (rides 1, 5, ...) has an expired row; zone "d" (rides 3, 7,
# ...) has none.
FRESH, EXPIRED, NO_ZONE = 0, 1, 3


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{server_url}", timeout=10) as client:
        yield client


def entry(ride: Any, **more: Any) -> dict[str, Any]:
    return {"ride_id": ride, "speed": 30.0, **more}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"entries": [entry(0)], "passed_features": [{"distance": "abc"}]}, "'distance'"),
        ({"entries": [entry(0)], "passed_features": [{"distance": [1, 2]}]}, "'distance'"),
        ({"entries": [entry(0)], "passed_features": [{"passengers": 2.5}]}, "not an integer"),
        ({"entries": [entry(0)], "passed_features": [{"wheels": 4}]}, "'wheels' is not in"),
        ({"entries": [entry(2**70)]}, "outside its range"),
        ({"entries": [entry(0, rider=1)]}, "unknown key(s) rider; an entry gives ride_id"),
        ({"entries": [{"speed": 30.0}]}, "lacks the key 'ride_id'"),
        ({"entries": [entry("x")]}, "must be a int64"),
        ({"entries": [{"ride_id": 0}]}, "needs request parameter(s) speed"),
        ({"entries": [1]}, "entries.0"),
        ({"entries": []}, "entries"),
        ({"entries": [entry(0)], "request_parameters": [{"speed": 1, "gear": 2}]}, "gear"),
    ],
    ids=[
        "passed_text_for_float",
        "passed_list_for_float",
        "passed_fraction_for_int",
        "passed_unknown_feature",
        "key_beyond_int64",
        "unknown_entry_key",
        "missing_key",
        "text_key",
        "missing_request_parameter",
        "entry_not_an_object",
        "no_entries",
        "unknown_request_parameter",
    ],
)
def test_bad_input_is_422_with_a_message(
    http: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = http.post(PATH, json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert message in answer["error"], answer
    assert answer["code"] in ("invalid_argument", "schema_error", "invalid_request")
    assert http.get("/v2/health/live").status_code == 200  # the connection and server live on


def test_duplicate_json_keys_are_refused(http: httpx.Client) -> None:
    body = b'{"entries": [{"ride_id": 1, "ride_id": 2, "speed": 30}]}'
    response = http.post(PATH, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "given twice in one object: ride_id" in response.json()["error"]


def test_a_body_without_content_type_is_json(http: httpx.Client) -> None:
    response = http.post(PATH, content=b'{"entries": [{"ride_id": 0, "speed": 30}]}')
    assert response.status_code == 200, response.text


def test_chunked_body_over_the_limit_is_413(http: httpx.Client) -> None:
    chunk = b" " * 4096

    def body() -> Iterator[bytes]:
        yield b'{"entries": ['
        for _ in range(2 * BODY_LIMIT // len(chunk)):
            yield chunk
        yield b"]}"

    response = http.post(PATH, content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {
        "error": f"request body over {BODY_LIMIT} bytes",
        "code": "body_too_large",
    }
    assert http.post(PATH, json={"entries": [entry(0)]}).status_code == 200


def test_request_values_ride_inside_entries(http: httpx.Client) -> None:
    inside = http.post(PATH, json={"entries": [entry(FRESH)]}).json()
    beside = http.post(
        PATH,
        json={"entries": [{"ride_id": FRESH}], "request_parameters": [{"speed": 30.0}]},
    ).json()
    slower = http.post(PATH, json={"entries": [entry(FRESH, speed=5.0)]}).json()
    assert inside == beside
    assert inside["probabilities"] != slower["probabilities"]  # eta changed with the speed


def test_some_failed_entries_are_reported_per_entry(http: httpx.Client) -> None:
    entries = [entry(FRESH), entry(99_999), entry(2**70), entry(0, rider=1)]
    response = http.post(PATH, json={"entries": entries})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"][1:] == [None, None, None]
    assert answer["predictions"][0] is not None
    assert answer["probabilities"][0] is not None and answer["probabilities"][1:] == [None] * 3
    errors = answer["errors"]
    assert errors[0] is None
    assert "no online row for {'ride_id': 99999" in errors[1]
    assert "outside its range" in errors[2]
    assert "unknown key(s) rider" in errors[3]
    alone = http.post(PATH, json={"entries": [entry(FRESH)]}).json()
    assert alone["predictions"] == answer["predictions"][:1]
    assert alone["errors"] is None


@pytest.mark.parametrize(
    ("entries", "status", "message"),
    [
        ([entry(99_998), entry(99_999)], 404, "no online row"),
        ([entry("x"), entry(0, rider=1)], 422, "must be a int64"),
    ],
    ids=["all_unknown", "all_bad"],
)
def test_when_every_entry_fails_the_answer_is_an_error(
    http: httpx.Client, entries: list[dict[str, Any]], status: int, message: str
) -> None:
    response = http.post(PATH, json={"entries": entries})
    assert response.status_code == status
    assert message in response.json()["error"]


def test_missing_and_expired_features_are_listed_per_entry(http: httpx.Client) -> None:
    entries = [entry(FRESH), entry(EXPIRED), entry(NO_ZONE)]
    answer = http.post(PATH, json={"entries": entries}).json()
    assert answer["missing_features"] == [[], [], ["traffic"]]
    assert answer["expired_features"] == [[], ["traffic"], []]
    passed = http.post(
        PATH, json={"entries": entries, "passed_features": [{}, {"traffic": 0.4}, {}]}
    ).json()
    assert passed["expired_features"] == [[], [], []]  # a passed value is not missing


def test_metrics_count_missing_and_expired_features_of_served_models_only(
    http: httpx.Client,
) -> None:
    def counter(text: str, name: str, model: str, feature: str) -> float:
        prefix = f'{name}{{feature="{feature}",model="{model}"}} '
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = http.get("/metrics").text
    http.post(PATH, json={"entries": [entry(EXPIRED), entry(NO_ZONE), entry(NO_ZONE + 4)]})
    for name in ("unknown_a", "unknown_b"):
        assert http.post(f"/v1/models/{name}/predict", json={}).status_code == 404
    after = http.get("/metrics").text
    for metric, added in (("fti_features_expired_total", 1), ("fti_features_missing_total", 2)):
        change = counter(after, metric, MODEL, "traffic") - counter(
            before, metric, MODEL, "traffic"
        )
        assert change == added
    assert "unknown_a" not in after and "unknown_b" not in after
    assert 'fti_errors_total{model="-",status="404"}' in after
    models = {
        line.split('model="')[1].split('"')[0] for line in after.splitlines() if 'model="' in line
    }
    assert models <= {MODEL, TEXT_MODEL, "-"}


def test_metrics_speak_openmetrics_when_asked(http: httpx.Client) -> None:
    plain = http.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    open_metrics = http.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing", 404, "not_found"),
        ("GET", PATH, 405, "method_not_allowed"),
        ("POST", "/v1/models/nope/predict", 404, "not_found"),
    ],
    ids=["unknown_route", "wrong_method", "unknown_model"],
)
def test_every_error_body_has_error_and_code(
    http: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    response = http.request(method, path, json={"entries": [entry(0)]})
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "code"} and body["code"] == code and body["error"]
