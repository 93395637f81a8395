"""Sessions of fti server's pages, in-process: sign-in with a password or a key, the cookie's
flags, CSRF on every form (sign-in included), sign-out revoking the session's key, and no
redirect off the site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fti.project import Project
from fti.server.platform.app import create_platform_app
from fti.settings import Settings
from fti.stores.metadata.accounts import AccountStore
from fti.ui.app import EmbeddedProjects

PASSWORD = "a long enough password"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TestClient, AccountStore]]:
    home = tmp_path / "home"
    settings = Settings.load(home, metadata_url=f"sqlite:///{home / 'metadata.db'}")
    app = create_platform_app(settings, ui_projects=EmbeddedProjects(settings))
    accounts: AccountStore = app.state.platform.accounts
    accounts.create_user("alice", password=PASSWORD)
    accounts.create_user("root", admin=True)
    accounts.create_project("p", owner="alice")
    accounts.create_project("q", owner="root")
    for name in ("p", "q"):
        with Project(name, settings) as project:
            project.feature_store.create_feature_group("g", primary_key=["id"])
    with TestClient(app, base_url="https://fti.example.org", follow_redirects=False) as client:
        yield client, accounts


def csrf(client: TestClient) -> str:
    page = client.get("/signin")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_a_browser_without_a_session_is_sent_to_sign_in(
    server: tuple[TestClient, AccountStore],
) -> None:
    client, _ = server
    page = client.get("/projects/p", headers={"accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/projects/p"
    assert client.get("/projects/p").status_code == 401  # an API client is told, not sent


def test_password_sign_in_sets_a_protected_cookie_and_sign_out_revokes_its_key(
    server: tuple[TestClient, AccountStore],
) -> None:
    client, accounts = server
    token = csrf(client)
    answer = client.post(
        "/signin",
        data={"user": "alice", "password": PASSWORD, "csrf": token, "next": "/projects/p"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/projects/p"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "fti_session=" in c)
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=lax", "Secure", "Max-Age"))
    (key,) = [k for k in accounts.keys("alice") if k.label == "web UI session"]
    assert key.expires_at is not None and key.revoked_at is None
    assert client.get("/projects/p").status_code == 200
    assert client.post("/signout", data={"csrf": token}).status_code == 303
    assert accounts.get_key(key.id).revoked_at is not None


@pytest.mark.parametrize(
    "form",
    [
        {"user": "alice", "password": "wrong"},
        {"user": "nobody", "password": PASSWORD},
        {"user": "Not A Name", "password": PASSWORD},
        {"api_key": "fti_0123456789abcdef_" + "A" * 43},
    ],
)
def test_a_refused_sign_in_sets_no_session(
    server: tuple[TestClient, AccountStore], form: dict[str, str]
) -> None:
    client, accounts = server
    answer = client.post("/signin", data={**form, "csrf": csrf(client)})
    assert answer.status_code == 401
    assert "fti_session=" not in answer.headers.get("set-cookie", "")
    assert accounts.keys("alice") == []


def test_sign_in_needs_the_csrf_token_and_redirects_only_within_the_site(
    server: tuple[TestClient, AccountStore],
) -> None:
    client, _ = server
    csrf(client)
    forged = client.post("/signin", data={"user": "alice", "password": PASSWORD, "csrf": "x"})
    assert forged.status_code == 403
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        answer = client.post(
            "/signin",
            data={"user": "alice", "password": PASSWORD, "csrf": csrf(client), "next": target},
        )
        assert answer.headers["location"] == "/"


def test_an_api_key_signs_in_and_the_home_page_lists_only_its_projects(
    server: tuple[TestClient, AccountStore],
) -> None:
    client, accounts = server
    _, secret = accounts.create_key("alice", label="laptop")
    answer = client.post("/signin", data={"api_key": secret, "csrf": csrf(client)})
    assert answer.status_code == 303
    home = client.get("/").text
    assert 'href="/projects/p"' in home and 'href="/projects/q"' not in home
    assert client.get("/projects/q").status_code == 403


def test_a_browser_whose_session_was_revoked_signs_in_again(
    server: tuple[TestClient, AccountStore],
) -> None:
    client, accounts = server
    token = csrf(client)
    client.post("/signin", data={"user": "alice", "password": PASSWORD, "csrf": token})
    (key,) = accounts.keys("alice")
    accounts.revoke_key(key.id)
    client.app.state.authenticator.forget()  # type: ignore[attr-defined]
    page = client.get("/projects/p", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/signin")
    assert client.get("/projects/p").status_code == 401
