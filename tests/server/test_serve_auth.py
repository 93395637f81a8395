"""API keys on the prediction server: the keys of ``fti server`` in the project's metadata
database, a member of the project (any role) may predict; health checks stay open."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from served_model import MODEL, NOW
from test_serve_cli import environment, free_port, fti_serve

import fti
from fti.server import create_app
from fti.stores.metadata.accounts import AccountStore
from fti.stores.metadata.sql import SqlMetadataStore

BODY = {"entries": [{"ride_id": 0, "speed": 30.0}]}
PROTECTED = [
    ("POST", f"/v1/models/{MODEL}/predict"),
    ("POST", f"/v2/models/{MODEL}/infer"),
    ("GET", f"/v2/models/{MODEL}"),
    ("GET", "/v2"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="module")
def keys(served_project: fti.Project) -> dict[str, str]:
    """Keys of a viewer of the served project, an outsider, a key limited to another project,
    a read-only key and a revoked one."""
    assert isinstance(served_project.metadata_store, SqlMetadataStore)
    accounts = AccountStore(served_project.metadata_store)
    accounts.bootstrap("root")
    for name in ("owner", "viewer", "outsider"):
        accounts.create_user(name)
    # The project holds data already (made embedded): the server's record of it is added.
    accounts.create_project(served_project.name, "owner")
    accounts.create_project("elsewhere", "outsider")
    accounts.set_member(served_project.name, "viewer", "viewer")
    revoked, revoked_secret = accounts.create_key("viewer")
    accounts.revoke_key(revoked.id)
    return {
        "viewer": accounts.create_key("viewer")[1],
        "read_only": accounts.create_key("owner", read_only=True)[1],
        "outsider": accounts.create_key("outsider")[1],
        "other_project": accounts.create_key("owner", project="elsewhere")[1],
        "revoked": revoked_secret,
    }


@pytest.fixture(scope="module")
def app(served_project: fti.Project, keys: dict[str, str]) -> Iterator[FastAPI]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTI_NOW", NOW.isoformat())
        app = create_app(served_project, [MODEL], log=False, auth=True)
        with TestClient(app):
            yield app


def bearer(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def ask(app: FastAPI, method: str, path: str, key: str | None) -> int:
    body = BODY if path.endswith("predict") else None
    with TestClient(app) as client:
        answer = client.request(method, path, json=body, headers=bearer(key))
    return answer.status_code


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[p for _, p in PROTECTED])
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (None, 401),
        ("revoked", 401),
        ("outsider", 403),
        ("other_project", 403),
    ],
    ids=["no_key", "revoked", "not_a_member", "limited_to_another_project"],
)
def test_every_route_but_the_health_checks_needs_a_member_key(
    app: FastAPI, keys: dict[str, str], method: str, path: str, who: str | None, expected: int
) -> None:
    assert ask(app, method, path, keys.get(who or "")) == expected


@pytest.mark.parametrize("who", ["viewer", "read_only"])
def test_a_member_predicts_whatever_the_role_or_key(
    app: FastAPI, keys: dict[str, str], who: str
) -> None:
    with TestClient(app) as client:
        answer = client.post(f"/v1/models/{MODEL}/predict", json=BODY, headers=bearer(keys[who]))
        metrics = client.get("/metrics", headers=bearer(keys[who]))
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1
    assert metrics.status_code == 200


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready"])
def test_health_checks_need_no_key(app: FastAPI, path: str) -> None:
    assert ask(app, "GET", path, None) == 200


def test_the_document_says_which_routes_need_a_key(app: FastAPI) -> None:
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    predict = paths["/v1/models/{name}/predict"]["post"]
    assert predict["security"] == [{"apiKey": []}]
    assert {"401", "403"} <= set(predict["responses"])
    live = paths["/v2/health/live"]["get"]
    assert "security" not in live and "401" not in live["responses"]


def test_serving_off_loopback_without_keys_is_refused(served_project: fti.Project) -> None:
    done = subprocess.run(
        [*fti_serve(served_project, "--model", MODEL, "--host", "0.0.0.0", "--no-auth")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
    )
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: refusing to serve on 0.0.0.0 without API keys")


def test_serve_with_keys_on_loopback_refuses_a_request_without_one(
    served_project: fti.Project, keys: dict[str, str]
) -> None:
    import httpx

    port = free_port()
    command = [*fti_serve(served_project, "--model", MODEL, "--port", str(port), "--auth")]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith(f"Serving {MODEL} on http://127.0.0.1:{port}"), line
            assert "API keys required" in line
            url = f"http://127.0.0.1:{port}/v1/models/{MODEL}/predict"
            assert httpx.post(url, json=BODY).status_code == 401
            answer = httpx.post(url, json=BODY, headers=bearer(keys["viewer"]))
            assert answer.status_code == 200, answer.text
        finally:
            process.terminate()
            process.wait(timeout=30)
