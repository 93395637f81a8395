"""The authenticators of :mod:`access`: API keys of the accounts store behind a short cache, or
everything allowed (authentication off, on loopback only).

A key's principal and a user's roles are cached for ``cache_seconds`` (default 5 s) in each
worker, so a request with a known key costs a hash and two dictionary look-ups, not a database
round trip, and is checked on the event loop (a key not cached is read in a worker thread).
The price: a revoked key, a removed member or a lowered role still works for up to
``cache_seconds`` on workers other than the one that made the change.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from fti.errors import UnauthenticatedError
from fti.server.platform.access import Principal, Role
from fti.stores.metadata.accounts import AccountStore

DEFAULT_CACHE_SECONDS = 5.0
_K = TypeVar("_K")
_V = TypeVar("_V")

MAX_CACHED = 10_000
"""Entries of each cache; a full cache is emptied (keys arrive again within seconds)."""


class KeyAuthenticator:
    """API keys and roles from the accounts store, cached for ``cache_seconds``."""

    def __init__(
        self,
        accounts: AccountStore,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = accounts
        self.cache_seconds = cache_seconds
        self._clock = clock
        # sha256 of the key -> (principal, until); the key itself is not kept.
        self._principals: dict[bytes, tuple[Principal, float]] = {}
        self._roles: dict[tuple[str, str], tuple[Role | None, float]] = {}

    def __repr__(self) -> str:
        return f"KeyAuthenticator({self.accounts!r}, cache_seconds={self.cache_seconds})"

    def authenticate(self, token: str | None) -> Principal:
        """The principal of ``token``; UnauthenticatedError when missing, unknown, expired or
        revoked."""
        if token is None:
            raise UnauthenticatedError(
                "this needs an API key: send the header 'Authorization: Bearer <key>'"
            )
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._principals.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        caller = self.accounts.authenticate(token)
        principal = Principal(
            caller.user, caller.is_admin, caller.key_id, caller.project, caller.read_only
        )
        until = now + self.cache_seconds
        if caller.expires_at is not None:
            until = min(until, now + (caller.expires_at - datetime.now(UTC)).total_seconds())
        _put(self._principals, digest, (principal, until))
        return principal

    def role(self, principal: Principal, project: str) -> Role | None:
        """The principal's role in ``project`` (None: not a member)."""
        key = (principal.user, project)
        now = self._clock()
        cached = self._roles.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = self.accounts.role(principal.user, project)
        role = Role(found) if found is not None else None
        _put(self._roles, key, (role, now + self.cache_seconds))
        return role

    def knows(self, token: str | None, project: str | None) -> bool:
        """Whether the principal of ``token`` and, unless an admin's or no project,
        its role in ``project`` are cached and current."""
        if token is None:
            return False
        now = self._clock()
        cached = self._principals.get(hashlib.sha256(token.encode()).digest())
        if cached is None or cached[1] <= now:
            return False
        principal = cached[0]
        if project is None or principal.is_admin:
            return True
        role = self._roles.get((principal.user, project))
        return role is not None and role[1] > now

    def forget(self) -> None:
        """Drop what is cached (this worker's accounts changed)."""
        self._principals.clear()
        self._roles.clear()


class OpenAuthenticator:
    """Authentication off: every caller is the admin ``local`` (loopback binds only)."""

    PRINCIPAL = Principal("local", is_admin=True)

    def __repr__(self) -> str:
        return "OpenAuthenticator()"

    def authenticate(self, token: str | None) -> Principal:
        """The local admin, whatever the token."""
        return self.PRINCIPAL

    def role(self, principal: Principal, project: str) -> Role | None:
        """Owner of every project."""
        return Role.OWNER

    def knows(self, token: str | None, project: str | None) -> bool:
        """Always: nothing is read."""
        return True

    def forget(self) -> None:
        """Nothing is cached."""


def _put(cache: dict[_K, _V], key: _K, value: _V) -> None:
    if len(cache) >= MAX_CACHED:
        cache.clear()
    cache[key] = value
