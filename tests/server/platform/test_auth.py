"""The key check: a short per-worker cache in front of the accounts store, and what a change
of accounts costs on the other workers (at most the cache's time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from platform_team import PROJECT, Team

from fti.errors import UnauthenticatedError
from fti.server.platform.access import Principal, Role
from fti.server.platform.auth import KeyAuthenticator, OpenAuthenticator


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def worker(team: Team, clock: Clock, seconds: float = 5.0) -> KeyAuthenticator:
    """Another worker's authenticator on the same database."""
    return KeyAuthenticator(team.platform.accounts, cache_seconds=seconds, clock=clock)


def test_a_revoked_key_stops_working_on_every_worker_within_the_cache_time(team: Team) -> None:
    clock = Clock()
    other = worker(team, clock)
    secret = team.keys["editor"]
    assert secret is not None
    principal = other.authenticate(secret)
    assert principal.user == "eddie"

    revoked = team.client.delete(f"/api/v1/keys/{principal.key_id}", headers=team.headers("editor"))
    assert revoked.status_code == 200, revoked.text
    # The worker that revoked it forgets at once; the other one within the cache's time.
    assert team.client.get("/api/v1/me", headers=team.headers("editor")).status_code == 401
    clock.now += 4.9
    assert other.authenticate(secret) == principal
    clock.now += 0.2
    with pytest.raises(UnauthenticatedError, match="was revoked"):
        other.authenticate(secret)


def test_a_lowered_role_applies_on_every_worker_within_the_cache_time(team: Team) -> None:
    clock = Clock()
    other = worker(team, clock)
    eddie = Principal("eddie")
    assert other.role(eddie, PROJECT) is Role.EDITOR

    team.client.put(
        f"/api/v1/projects/{PROJECT}/members/eddie",
        json={"role": "viewer"},
        headers=team.headers("owner"),
    )
    assert other.role(eddie, PROJECT) is Role.EDITOR
    clock.now += 5.1
    assert other.role(eddie, PROJECT) is Role.VIEWER
    assert other.role(Principal("otto"), PROJECT) is None


def test_a_key_expiring_sooner_than_the_cache_time_is_cached_until_it_expires(
    team: Team,
) -> None:
    accounts = team.platform.accounts
    _, secret = accounts.create_key("vera", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    authenticator = KeyAuthenticator(accounts, cache_seconds=3600)
    assert authenticator.authenticate(secret).user == "vera"

    time.sleep(1.2)

    with pytest.raises(UnauthenticatedError, match="expired"):
        authenticator.authenticate(secret)


def test_a_missing_key_is_refused_with_how_to_send_one(team: Team) -> None:
    with pytest.raises(UnauthenticatedError, match="Authorization: Bearer <key>"):
        team.platform.authenticator.authenticate(None)


def test_authentication_off_makes_every_caller_the_local_admin() -> None:
    open_door = OpenAuthenticator()
    principal = open_door.authenticate(None)
    assert principal == open_door.authenticate("anything")
    assert (principal.user, principal.is_admin) == ("local", True)
    assert open_door.role(principal, "any") is Role.OWNER
