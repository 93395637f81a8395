"""Every route answers 401 without a valid key and 403 to a caller its declared access does not
admit, built from the application's own route table: a route added later is in the matrix the
day it is added, and a route that declares no access fails.

Each route is called by every kind of caller, without a body: a caller the access admits gets
past the check (any answer but 401/403, and no 5xx: a 422 for the missing body, a 404 for the
placeholder names), one it does not admit gets exactly 401 or 403. Path parameters are the
project ``p`` (where the callers' roles are) and a placeholder that names nothing, so no call
changes anything the next one relies on.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute, iter_route_contexts
from platform_team import PROJECT, Team

from fti.server.platform.access import Access, declared_access, requires
from fti.server.platform.app import DOCUMENTATION_PATHS, create_platform_app, undeclared_routes

ANONYMOUS = ("none", "bad_key", "expired", "revoked")
"""Callers without a valid key."""
ADMITTED: dict[str, set[Access]] = {
    "outsider": {Access.AUTHENTICATED},
    "viewer": {Access.AUTHENTICATED, Access.READ},
    "editor": {Access.AUTHENTICATED, Access.READ, Access.WRITE},
    "owner": {Access.AUTHENTICATED, Access.READ, Access.WRITE, Access.OWNER},
    "read_only_key": {Access.AUTHENTICATED, Access.READ},
    "key_for_other_project": {Access.AUTHENTICATED},
    "admin": set(Access),
    # An admin's key limited to p acts in p like an owner, and administers nothing.
    "admin_key_for_project": {Access.AUTHENTICATED, Access.READ, Access.WRITE, Access.OWNER},
}
"""What each caller with a valid key may do in project p (public routes: everyone)."""
PROJECT_ACCESS = {Access.READ, Access.WRITE, Access.OWNER}
PLACEHOLDER = "absent"
_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def concrete(path: str) -> str:
    """``path`` with ``{project}`` as p and every other parameter as the placeholder."""
    return _PARAMETER.sub(lambda m: PROJECT if m[1] == "project" else PLACEHOLDER, path)


def expected(who: str, access: Access) -> str:
    """``"admitted"``, ``"401"`` or ``"403"``."""
    if access is Access.PUBLIC:
        return "admitted"
    if who in ANONYMOUS:
        return "401"
    return "admitted" if access in ADMITTED[who] else "403"


def test_every_route_answers_each_caller_as_its_access_says(team: Team) -> None:
    routes = [
        r for r in iter_route_contexts(team.app.routes) if isinstance(r.original_route, APIRoute)
    ]
    assert len(routes) >= 19  # the table was read (the server resources alone have 19)
    assert set(team.keys) == {*ANONYMOUS, *ADMITTED}
    wrong: list[str] = []
    for route in routes:
        access = declared_access(route)
        assert access is not None, f"{route.path} declares no access"
        if access in PROJECT_ACCESS:
            assert "{project}" in route.path, f"{route.path} needs a role but names no project"
        for method in sorted(route.methods or ()):
            path = concrete(route.path)
            for who in team.keys:
                answer = team.client.request(method, path, headers=team.headers(who))
                want = expected(who, access)
                got = answer.status_code
                admitted = got not in (401, 403) and got < 500
                if (want == "admitted" and not admitted) or (
                    want != "admitted" and str(got) != want
                ):
                    wrong.append(
                        f"{method} {path} as {who} ({access}): {got}, want {want}: {answer.text}"
                    )
                if got == 401:
                    assert answer.headers.get("www-authenticate") == "Bearer"
    assert not wrong, "\n".join(wrong)


def test_the_only_other_routes_are_the_documentation(team: Team) -> None:
    others = {
        r.path
        for r in iter_route_contexts(team.app.routes)
        if not isinstance(r.original_route, APIRoute)
    }
    assert others == DOCUMENTATION_PATHS
    assert undeclared_routes(team.app) == []
    assert team.client.get("/openapi.json").status_code == 200


def test_an_app_with_an_undeclared_route_is_refused(team: Team) -> None:
    extra = APIRouter()

    @extra.get("/api/v1/projects/{project}/open")
    def open_route(project: str) -> dict[str, str]:
        return {"project": project}

    @extra.get("/api/v1/projects/{project}/guarded", dependencies=[Depends(requires(Access.READ))])
    def guarded(project: str) -> dict[str, str]:
        return {"project": project}

    try:
        create_platform_app(team.platform.settings, routers=[extra])
    except TypeError as exc:
        message = str(exc)
    else:
        raise AssertionError("an undeclared route was accepted")
    assert "GET /api/v1/projects/{project}/open" in message
    assert "guarded" not in message
