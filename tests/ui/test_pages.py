"""The UI's pages over HTTP on the lean flights project (``fti ui``'s app): each answers with
what it must show, names in URLs are checked, forms need their CSRF token, files download
verified."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from flights_project import MODEL, MONITOR, PROJECT, VIEW, Served

P = f"/projects/{PROJECT}"
PAGES = {
    P: ["Feature groups", "flights v1", MODEL, MONITOR],
    f"{P}/groups/flights/1": [
        "Primary key",
        "flight_id",
        "prediction_time",
        "Commits",
        "A sample of rows",
        "Statistics of commit",
        VIEW,
    ],
    f"{P}/groups/weather/1?commit=0": ["Statistics of commit 0", "Validation reports"],
    f"{P}/views/{VIEW}/1": [
        "Query",
        "weather v1",
        "carrier_delays v1",
        "Training datasets",
        "Last skew audit",
        f"{MODEL} v1",
    ],
    f"{P}/models/{MODEL}": [
        "production",
        "Lineage",
        "training dataset 1",
        "Signature",
        "sha256",
    ],
    f"{P}/monitors/{MONITOR}": ["Windows", "temp", "Drift per window"],
    f"{P}/runs": ["flight_backfill:1", "flight_training:1", "succeeded", "commit"],
}


@pytest.fixture(scope="module")
def client(local_ui: Served) -> httpx.Client:
    with httpx.Client(base_url=local_ui.url, timeout=60) as client:
        yield client


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_shows_what_it_must(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text[-500:]
    assert answer.headers["content-type"].startswith("text/html")
    for text in PAGES[path]:
        assert text in answer.text, f"{path} lacks {text!r}"


def test_the_home_page_lists_the_project_and_search_finds_a_feature_by_description(
    client: httpx.Client,
) -> None:
    assert f'href="{P}"' in client.get("/").text
    found = client.get(P, params={"q": "great-circle miles"}).text
    assert "distance (flights v1)" in found
    assert "Nothing matches" in client.get(P, params={"q": "no such words here"}).text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{P}/groups/Bad-Name/1", 422),
        (f"{P}/groups/flights/0", 422),
        (f"{P}/groups/flights/x", 422),
        (f"{P}/groups/absent/1", 404),
        (f"{P}/views/absent/1", 404),
        (f"{P}/models/absent", 404),
        (f"{P}/monitors/absent", 404),
        ("/projects/absent", 404),
        ("/projects/..%2Fetc", 404),
        ("/projects/Bad.Name", 422),
        ("/static/../../etc/passwd", 404),
        ("/static/app.py", 404),
        (f"{P}/models/{MODEL}/1/files/..%2F..%2Fmetadata.db", 404),
    ],
)
def test_names_in_urls_are_checked(client: httpx.Client, path: str, status: int) -> None:
    assert client.get(path).status_code == status


def test_static_files_are_served_from_the_package(client: httpx.Client) -> None:
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and b"plotly" in plotly.content[:2000].lower()
    assert "text/css" in client.get("/static/ui.css").headers["content-type"]


def test_a_model_file_downloads_with_the_sha256_its_page_shows(client: httpx.Client) -> None:
    page = client.get(f"{P}/models/{MODEL}").text
    path, digest = re.search(
        r'/files/([^"]+)" download>.*?<code>([0-9a-f]{64})</code>', page, re.S
    ).groups()
    answer = client.get(f"{P}/models/{MODEL}/1/files/{path}")
    assert answer.status_code == 200
    assert hashlib.sha256(answer.content).hexdigest() == digest
    assert "attachment" in answer.headers["content-disposition"]


def csrf_of(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, f"{path} has no form"
    return match.group(1)


def test_a_write_needs_the_csrf_token_of_the_browser(client: httpx.Client) -> None:
    form = f"{P}/models/{MODEL}/1/tag"
    assert client.post(form, data={"key": "k", "value": "v"}).status_code == 422
    refused = client.post(form, data={"key": "k", "value": "v", "csrf": "x" * 43})
    assert refused.status_code == 403
    token = csrf_of(client, f"{P}/models/{MODEL}")
    done = client.post(form, data={"key": "owner", "value": "ui test", "csrf": token})
    assert done.status_code == 303
    assert "ui test" in client.get(done.headers["location"]).text


def test_a_feature_description_and_a_skew_audit_from_their_forms(client: httpx.Client) -> None:
    token = csrf_of(client, f"{P}/groups/planes/1")
    described = client.post(
        f"{P}/groups/planes/1/describe",
        data={"feature": "engines", "description": "Engines on the wing", "csrf": token},
    )
    assert described.status_code == 303
    assert "engines (planes v1)" in client.get(P, params={"q": "wing"}).text
    unknown = client.post(
        f"{P}/groups/planes/1/describe",
        data={"feature": "wings", "description": "x", "csrf": token},
    )
    assert unknown.status_code == 404
    audited = client.post(f"{P}/views/{VIEW}/1/skew-audit", data={"csrf": token})
    assert audited.status_code == 303
    page = client.get(f"{P}/views/{VIEW}/1").text
    assert "Never audited" not in page and "200 keys" in page


def test_a_refused_promotion_says_why(client: httpx.Client) -> None:
    token = csrf_of(client, f"{P}/models/{MODEL}")
    answer = client.post(
        f"{P}/models/{MODEL}/1/alias", data={"alias": "Not An Alias", "csrf": token}
    )
    assert answer.status_code == 422
    assert "Refused" in answer.text and "alias" in answer.text


def test_verifying_a_training_dataset_shows_its_outcome(client: httpx.Client) -> None:
    page = f"{P}/views/{VIEW}/1"
    assert "not yet" in client.get(page).text
    answer = client.post(f"{page}/datasets/1/verify", data={"csrf": csrf_of(client, page)})
    assert answer.status_code == 303
    row = re.search(r'<tr id="dataset-1">.*?</tr>', client.get(page).text, re.S)
    assert row and "identical" in row.group(0)
    missing = client.post(f"{page}/datasets/99/verify", data={"csrf": csrf_of(client, page)})
    assert missing.status_code == 404


def test_server_pages_reach_the_server_itself_whatever_host_a_client_names(
    team_ui: Served,
) -> None:
    from fti.stores.metadata.accounts import AccountStore
    from fti.stores.metadata.sql import SqlMetadataStore

    metadata = SqlMetadataStore(f"sqlite:///{team_ui.home / 'metadata.db'}")
    _, key = AccountStore(metadata).create_key("ed", label="host header")
    metadata.close()
    # Were the API reached at the Host header's address, nothing would answer there (503).
    page = httpx.get(
        f"{team_ui.url}/projects/{PROJECT}",
        headers={"Authorization": f"Bearer {key}", "Host": "127.0.0.2:9"},
        timeout=30,
    )
    assert page.status_code == 200, page.text[:300]
    assert VIEW in page.text
