"""``fti admin``: the first admin on the server host, then users, projects, members and the
audit log through a live server."""

from __future__ import annotations

import re

import pytest
from platform_server import LiveServer, bootstrap, fti, remote

KEY = re.compile(r"^fti_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")


def test_bootstrap_prints_only_the_first_admins_key(live_server: LiveServer) -> None:
    result = fti("--home", str(live_server.home), "admin", "bootstrap", "root")

    assert result.exit_code == 0, result.output
    assert KEY.fullmatch(result.stdout.strip())
    assert "printed once" in result.stderr
    listed = remote(live_server, result.stdout.strip(), "admin", "users", "list")
    assert listed.exit_code == 0 and "root" in listed.stdout and "yes" in listed.stdout


def test_bootstrap_refuses_a_second_admin(live_server: LiveServer) -> None:
    bootstrap(live_server)
    result = fti("--home", str(live_server.home), "admin", "bootstrap", "mallory")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: the server has admins already (root)")
    assert result.stdout == ""


def test_an_admin_sets_up_a_team(live_server: LiveServer) -> None:
    root = bootstrap(live_server)
    steps = [
        ("admin", "users", "create", "alice", "--password-stdin"),
        ("admin", "users", "create", "etl", "--service"),
        ("admin", "projects", "create", "flights", "--owner", "alice"),
        ("admin", "members", "set", "flights", "etl", "editor"),
    ]
    for step in steps:
        result = remote(live_server, root, *step, stdin="a long password\n")
        assert result.exit_code == 0, (step, result.output)

    members = remote(live_server, root, "admin", "members", "list", "flights")
    assert re.search(r"alice\s*│\s*owner", members.stdout)
    assert re.search(r"etl\s*│\s*editor", members.stdout)
    users = remote(live_server, root, "admin", "users", "list").stdout
    assert re.search(r"etl\s*│\s*│\s*service", users)
    audit = remote(live_server, root, "admin", "audit").stdout
    assert "PUT /api/v1/projects/flights/members/etl" in audit
    assert audit.count("root") >= 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("admin", "users", "delete", "root"), "last admin"),
        (("admin", "projects", "create", "Bad", "--owner", "root"), "invalid request"),
        (("admin", "members", "set", "nosuch", "root", "viewer"), "does not exist"),
        (("admin", "members", "set", "x", "root", "boss"), "invalid request"),
    ],
    ids=["last_admin", "bad_name", "unknown_project", "unknown_role"],
)
def test_a_refusal_of_the_server_is_an_error(
    live_server: LiveServer, args: tuple[str, ...], message: str
) -> None:
    result = remote(live_server, bootstrap(live_server), *args)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_without_a_key_or_a_server_the_error_says_why(live_server: LiveServer) -> None:
    no_key = fti("admin", "users", "list", "--url", live_server.url)
    assert no_key.exit_code == 2 and "needs an API key" in no_key.stderr

    nowhere = fti("admin", "users", "list", "--url", "http://127.0.0.1:9", "--api-key", "x")
    assert nowhere.exit_code == 2
    assert "cannot reach the fti server at http://127.0.0.1:9" in nowhere.stderr
