"""Every write is in the audit log (who, what, when, from where), whichever router its route is
in; owners read their project's, admins everyone's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from platform_team import PROJECT, Team, make_team, settings_in

from fti.server.platform.access import Access, Principal, requires
from fti.server.platform.app import create_platform_app


def events(team: Team, **params: str | int) -> list[dict[str, object]]:
    answer = team.client.get("/api/v1/audit", params=params, headers=team.headers("admin"))
    assert answer.status_code == 200, answer.text
    body: list[dict[str, object]] = answer.json()
    return body


def test_a_write_is_recorded_with_who_what_when_and_from_where(team: Team) -> None:
    started = datetime.now(UTC)
    answer = team.client.put(
        f"/api/v1/projects/{PROJECT}/members/otto",
        json={"role": "viewer"},
        headers=team.headers("owner"),
    )
    assert answer.status_code == 200, answer.text
    me = team.client.get("/api/v1/me", headers=team.headers("owner")).json()

    (event,) = events(team)
    assert {k: v for k, v in event.items() if k not in ("id", "at")} == {
        "user": "olga",
        "key_id": me["key_id"],
        "project": PROJECT,
        "method": "PUT",
        "route": "/api/v1/projects/{project}/members/{user}",
        "path": f"/api/v1/projects/{PROJECT}/members/otto",
        "status": 200,
        "remote": "testclient",
    }
    at = datetime.fromisoformat(str(event["at"]))
    assert started - timedelta(seconds=1) <= at <= datetime.now(UTC)


def test_reads_and_calls_without_a_valid_key_are_not_recorded(team: Team) -> None:
    team.client.get(f"/api/v1/projects/{PROJECT}/members", headers=team.headers("viewer"))
    team.client.post("/api/v1/users", json={"name": "x"}, headers=team.headers("none"))
    team.client.post("/api/v1/users", json={"name": "x"}, headers=team.headers("revoked"))

    assert events(team) == []


def test_a_refused_write_is_recorded_with_its_status(team: Team) -> None:
    answer = team.client.post("/api/v1/users", json={"name": "x"}, headers=team.headers("owner"))
    assert answer.status_code == 403
    invalid = team.client.post("/api/v1/users", json={"name": "X"}, headers=team.headers("admin"))
    assert invalid.status_code == 422

    assert [(e["user"], e["route"], e["status"]) for e in events(team)] == [
        ("root", "/api/v1/users", 422),
        ("olga", "/api/v1/users", 403),
    ]


def test_a_route_added_later_is_audited_without_code_of_its_own(team: Team) -> None:
    later = APIRouter()

    @later.post("/api/v1/projects/{project}/things", status_code=201)
    def make_thing(
        project: str, principal: Annotated[Principal, Depends(requires(Access.WRITE))]
    ) -> dict[str, str]:
        return {"project": project, "by": principal.user}

    @later.delete(
        "/api/v1/projects/{project}/things", dependencies=[Depends(requires(Access.WRITE))]
    )
    def break_thing(project: str) -> None:
        raise RuntimeError("a bug")

    app = create_platform_app(team.platform.settings, routers=[later])
    with TestClient(app, raise_server_exceptions=False) as client:
        made = client.post(f"/api/v1/projects/{PROJECT}/things", headers=team.headers("editor"))
        broken = client.delete(f"/api/v1/projects/{PROJECT}/things", headers=team.headers("owner"))
    assert made.status_code == 201 and broken.status_code == 500

    assert [(e["user"], e["method"], e["project"], e["status"]) for e in events(team)] == [
        ("olga", "DELETE", PROJECT, 500),
        ("eddie", "POST", PROJECT, 201),
    ]


def test_owners_read_their_project_and_admins_everything(team: Team) -> None:
    for who, user in [("owner", "otto"), ("admin", "vera")]:
        team.client.put(
            f"/api/v1/projects/{PROJECT}/members/{user}",
            json={"role": "editor"},
            headers=team.headers(who),
        )
    team.client.post("/api/v1/users", json={"name": "newbie"}, headers=team.headers("admin"))

    of_project = team.client.get(
        f"/api/v1/projects/{PROJECT}/audit", headers=team.headers("owner")
    ).json()
    assert [e["path"].rsplit("/", 1)[-1] for e in of_project] == ["vera", "otto"]
    assert len(events(team)) == 3
    assert len(events(team, project=PROJECT)) == 2
    newest, older = events(team, limit=2)
    assert [e["id"] for e in events(team, before=older["id"])] == [of_project[-1]["id"]]
    assert newest["path"] == "/api/v1/users"
    refused = team.client.get(f"/api/v1/projects/{PROJECT}/audit", headers=team.headers("editor"))
    assert refused.status_code == 403


def test_with_authentication_off_writes_are_recorded_as_local(tmp_path: Path) -> None:
    home = tmp_path / "home"
    app = create_platform_app(settings_in(home), auth=False)
    make_team(app, home)
    with TestClient(app) as client:
        answer = client.post("/api/v1/users", json={"name": "anyone"})
        assert answer.status_code == 201
        (event,) = client.get("/api/v1/audit").json()
    assert (event["user"], event["key_id"], event["route"]) == ("local", None, "/api/v1/users")
