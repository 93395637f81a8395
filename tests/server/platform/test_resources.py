"""The server resources: users, projects and members, API keys, who the caller is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from platform_team import OTHER, PROJECT, Team


def call(team: Team, who: str, method: str, path: str, status: int, **kwargs: Any) -> Any:
    """The JSON answer of a request by ``who``, which must have ``status``."""
    answer = team.client.request(method, path, headers=team.headers(who), **kwargs)
    assert answer.status_code == status, answer.text
    return None if status == 204 else answer.json()


# Who am I -----------------------------------------------------------------------------------


def test_me_says_who_the_key_belongs_to_and_its_limits(team: Team) -> None:
    me = call(team, "read_only_key", "GET", "/api/v1/me", 200)
    assert (me["user"], me["admin"], me["read_only"], me["key_project"]) == (
        "olga",
        False,
        True,
        None,
    )
    assert me["projects"] == [{"project": PROJECT, "role": "owner"}]
    assert call(team, "key_for_other_project", "GET", "/api/v1/me", 200)["key_project"] == OTHER


# Users --------------------------------------------------------------------------------------


def test_an_admin_manages_users(team: Team) -> None:
    made = call(
        team,
        "admin",
        "POST",
        "/api/v1/users",
        201,
        json={"name": "dana", "password": "a long password"},
    )
    assert (made["name"], made["admin"], made["has_password"]) == ("dana", False, True)
    assert team.platform.accounts.check_password("dana", "a long password")
    assert "a long password" not in str(call(team, "admin", "GET", "/api/v1/users/dana", 200))

    changed = call(
        team, "admin", "PATCH", "/api/v1/users/dana", 200, json={"admin": True, "password": None}
    )
    assert (changed["admin"], changed["has_password"]) == (True, False)
    call(team, "admin", "DELETE", "/api/v1/users/dana", 204)
    call(team, "admin", "GET", "/api/v1/users/dana", 404)
    names = [u["name"] for u in call(team, "admin", "GET", "/api/v1/users", 200)]
    assert names == ["eddie", "olga", "otto", "root", "vera"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "olga"}, 409, "already exists"),
        ({"name": "Olga"}, 422, "name"),
        ({"name": "bot", "service": True, "password": "a long password"}, 422, "no password"),
        ({"name": "bob", "password": "short"}, 422, "password"),
        ({"name": "bob", "role": "owner"}, 422, "role"),
    ],
    ids=["taken", "uppercase", "service_with_password", "short_password", "unknown_field"],
)
def test_a_user_that_cannot_be_made_is_refused(
    team: Team, body: dict[str, object], status: int, message: str
) -> None:
    answer = call(team, "admin", "POST", "/api/v1/users", status, json=body)
    assert message in answer["error"]
    assert len(call(team, "admin", "GET", "/api/v1/users", 200)) == 5


def test_the_last_admin_cannot_be_removed(team: Team) -> None:
    refused = call(team, "admin", "PATCH", "/api/v1/users/root", 422, json={"admin": False})
    assert "last admin" in refused["error"]
    call(team, "admin", "DELETE", "/api/v1/users/root", 422)
    assert call(team, "admin", "GET", "/api/v1/me", 200)["admin"]


# Projects and members -----------------------------------------------------------------------


def test_projects_are_listed_as_the_key_may_see_them(team: Team) -> None:
    def names(who: str) -> list[tuple[str, str | None]]:
        return [(p["name"], p["role"]) for p in call(team, who, "GET", "/api/v1/projects", 200)]

    assert names("admin") == [(PROJECT, None), (OTHER, None)]
    assert names("owner") == [(PROJECT, "owner")]
    assert names("outsider") == [(OTHER, "owner")]
    assert names("key_for_other_project") == []  # olga is not a member of q
    assert call(team, "viewer", "GET", f"/api/v1/projects/{PROJECT}", 200)["role"] == "viewer"


def test_an_admin_makes_a_project_with_its_owner(team: Team) -> None:
    made = call(team, "admin", "POST", "/api/v1/projects", 201, json={"name": "r", "owner": "vera"})
    assert (made["name"], made["created_by"]) == ("r", "root")
    assert call(team, "viewer", "GET", "/api/v1/projects/r/members", 200) == [
        {"user": "vera", "role": "owner"}
    ]
    call(team, "admin", "POST", "/api/v1/projects", 409, json={"name": "r", "owner": "vera"})
    call(team, "admin", "POST", "/api/v1/projects", 404, json={"name": "s", "owner": "nobody"})
    call(team, "admin", "DELETE", "/api/v1/projects/r", 204)
    call(team, "admin", "GET", "/api/v1/projects/r", 404)


def test_a_project_holding_data_is_not_deleted(team: Team) -> None:
    refused = call(team, "admin", "DELETE", f"/api/v1/projects/{PROJECT}", 422)
    assert "still holds" in refused["error"]
    assert call(team, "admin", "GET", f"/api/v1/projects/{PROJECT}", 200)["name"] == PROJECT


def test_an_owner_manages_members_and_keeps_one_owner(team: Team) -> None:
    members = f"/api/v1/projects/{PROJECT}/members"
    call(team, "owner", "PUT", f"{members}/otto", 200, json={"role": "viewer"})
    call(team, "owner", "PUT", f"{members}/eddie", 200, json={"role": "owner"})
    call(team, "owner", "DELETE", f"{members}/vera", 204)
    assert call(team, "owner", "GET", members, 200) == [
        {"user": "eddie", "role": "owner"},
        {"user": "olga", "role": "owner"},
        {"user": "otto", "role": "viewer"},
    ]
    # The new member reads the project at once (this worker forgot its cached roles).
    call(team, "outsider", "GET", f"/api/v1/projects/{PROJECT}", 200)
    call(team, "viewer", "GET", f"/api/v1/projects/{PROJECT}", 403)

    call(team, "editor", "DELETE", f"{members}/olga", 204)
    assert "last owner" in call(team, "editor", "DELETE", f"{members}/eddie", 422)["error"]
    call(team, "editor", "PUT", f"{members}/nobody", 404, json={"role": "viewer"})
    call(team, "editor", "PUT", f"{members}/otto", 422, json={"role": "admin"})
    call(team, "editor", "DELETE", f"{members}/olga", 404)


# API keys -----------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_and_works(team: Team) -> None:
    made = call(team, "viewer", "POST", "/api/v1/keys", 201, json={"label": "laptop"})
    assert made["key"].startswith(f"fti_{made['id']}_")
    listed = call(team, "viewer", "GET", "/api/v1/keys", 200)
    assert listed[0]["id"] == made["id"]
    assert all("key" not in k for k in listed)
    answer = team.client.get("/api/v1/me", headers={"Authorization": f"Bearer {made['key']}"})
    assert answer.json()["key_id"] == made["id"]
    # X-API-Key is accepted too.
    assert team.client.get("/api/v1/me", headers={"X-API-Key": made["key"]}).status_code == 200


def test_a_key_makes_no_key_with_more_power_than_its_own(team: Team) -> None:
    refused = call(team, "read_only_key", "POST", "/api/v1/keys", 403, json={})
    assert "read-only" in refused["error"]
    limited = call(team, "key_for_other_project", "POST", "/api/v1/keys", 201, json={})
    assert limited["project"] == OTHER
    call(team, "key_for_other_project", "POST", "/api/v1/keys", 403, json={"project": PROJECT})
    # It sees and revokes only keys of its project, not the user's others.
    seen = call(team, "key_for_other_project", "GET", "/api/v1/keys", 200)
    assert {k["project"] for k in seen} == {OTHER} and len(seen) == 2
    unlimited = call(team, "owner", "GET", "/api/v1/keys", 200)[-1]
    assert unlimited["project"] is None
    call(team, "key_for_other_project", "DELETE", f"/api/v1/keys/{unlimited['id']}", 404)
    mine = call(team, "owner", "POST", "/api/v1/keys", 201, json={"read_only": True})
    assert mine["read_only"] and mine["project"] is None

    soon = datetime.now(UTC) + timedelta(days=1)
    short = call(team, "owner", "POST", "/api/v1/keys", 201, json={"expires_at": soon.isoformat()})
    headers = {"Authorization": f"Bearer {short['key']}"}
    later = (soon + timedelta(days=30)).isoformat()
    child = team.client.post("/api/v1/keys", json={"expires_at": later}, headers=headers).json()
    assert datetime.fromisoformat(child["expires_at"]) == soon
    endless = team.client.post("/api/v1/keys", json={}, headers=headers).json()
    assert datetime.fromisoformat(endless["expires_at"]) == soon


def test_keys_of_other_users_are_for_admins(team: Team) -> None:
    call(team, "owner", "POST", "/api/v1/keys", 403, json={"user": "vera"})
    call(team, "owner", "GET", "/api/v1/keys", 403, params={"user": "vera"})
    made = call(team, "admin", "POST", "/api/v1/keys", 201, json={"user": "vera"})
    assert made["user"] == "vera"
    assert made["id"] in [
        k["id"] for k in call(team, "admin", "GET", "/api/v1/keys", 200, params={"user": "vera"})
    ]
    # Another user's key is not found, not forbidden: its id says nothing.
    call(team, "owner", "DELETE", f"/api/v1/keys/{made['id']}", 404)
    revoked = call(team, "admin", "DELETE", f"/api/v1/keys/{made['id']}", 200)
    assert revoked["revoked_at"] is not None
    headers = {"Authorization": f"Bearer {made['key']}"}
    assert team.client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"expires_at": "2000-01-01T00:00:00Z"}, 422),
        ({"expires_at": "2999-01-01T00:00:00"}, 422),
        ({"project": "nosuch"}, 404),
        ({"label": "x" * 256}, 422),
        ({"read_only": "yes"}, 422),
    ],
    ids=["past_expiry", "naive_expiry", "unknown_project", "long_label", "not_a_boolean"],
)
def test_a_key_that_cannot_be_made_is_refused(
    team: Team, body: dict[str, object], status: int
) -> None:
    before = call(team, "owner", "GET", "/api/v1/keys", 200)
    call(team, "owner", "POST", "/api/v1/keys", status, json=body)
    assert call(team, "owner", "GET", "/api/v1/keys", 200) == before
