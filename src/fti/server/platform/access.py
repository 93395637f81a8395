"""Who may call a route: every route of the platform declares an :class:`Access`, once.

A route depends on ``requires(Access.X)``; the dependency authenticates the caller's API key
(``Authorization: Bearer <key>``), checks the access against the caller's role in the route's
``{project}`` and returns the :class:`Principal`. Because the declaration is an object on the
route, a test can read every route's access from the application's route table and build the
401/403 matrix from it: a route without one fails that test.

Roles, from least to most: ``viewer`` (reads), ``editor`` (also writes groups, views,
datasets, models, aliases, monitors), ``owner`` (also manages members, deletes). A server-wide
admin manages users and projects and may do anything. A key may be limited to one project and
to reading.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import anyio.to_thread
from fastapi import Request

from fti.errors import PermissionDeniedError


class Access(StrEnum):
    """What a route needs."""

    PUBLIC = "public"
    """No key: health checks only."""
    AUTHENTICATED = "authenticated"
    """Any valid key (who am I, my projects, my keys)."""
    READ = "read"
    """A role in the route's project: viewer or more."""
    WRITE = "write"
    """Editor or owner of the route's project, with a key that is not read-only."""
    OWNER = "owner"
    """Owner of the route's project (members, deletes), key not read-only."""
    ADMIN = "admin"
    """A server admin (users, projects), key not read-only."""


class Role(StrEnum):
    """A member's role in a project."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"


RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}
NEEDED = {Access.READ: Role.VIEWER, Access.WRITE: Role.EDITOR, Access.OWNER: Role.OWNER}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user: str
    is_admin: bool = False
    key_id: str | None = None
    project: str | None = None
    """The one project the key is limited to, if any."""
    read_only: bool = False


class Authenticator(Protocol):
    """Checks keys and roles (the accounts store, or everything allowed with auth off)."""

    def authenticate(self, token: str | None) -> Principal:
        """The principal of ``token``; UnauthenticatedError when missing, unknown, expired or
        revoked."""
        ...

    def role(self, principal: Principal, project: str) -> Role | None:
        """The principal's role in ``project`` (None: not a member)."""
        ...

    def knows(self, token: str | None, project: str | None) -> bool:
        """Whether the principal of ``token`` and its role in ``project`` are at hand without
        reading a store (then checking them does no I/O)."""
        ...


@dataclass(frozen=True)
class Requirement:
    """The dependency object of a route: its declared access, readable from the route table."""

    access: Access

    async def __call__(self, request: Request) -> Principal | None:
        if self.access is Access.PUBLIC:
            return None
        authenticator: Authenticator = request.app.state.authenticator
        if authenticator.knows(bearer_token(request), request.path_params.get("project")):
            # A cached key: dictionary look-ups, cheaper here than a hop to a worker thread.
            return self.authorize(request)
        return await anyio.to_thread.run_sync(self.authorize, request)

    def authorize(self, request: Request) -> Principal | None:
        """The caller's principal (kept in ``request.state`` for the audit log, even when
        refused); UnauthenticatedError or PermissionDeniedError unless it has the access."""
        authenticator: Authenticator = request.app.state.authenticator
        principal = authenticator.authenticate(bearer_token(request))
        request.state.principal = principal
        check(authenticator, principal, self.access, request.path_params.get("project"))
        return principal


def requires(access: Access) -> Callable[[Request], Awaitable[Principal | None]]:
    """The FastAPI dependency of a route needing ``access``."""
    return Requirement(access)


def check(
    authenticator: Authenticator, principal: Principal, access: Access, project: str | None
) -> None:
    """PermissionDeniedError unless ``principal`` has ``access`` (in ``project``, if needed)."""
    if access is Access.AUTHENTICATED:
        return
    if principal.read_only and access is not Access.READ:
        raise PermissionDeniedError("this API key is read-only")
    if access is Access.ADMIN:
        if not principal.is_admin:
            raise PermissionDeniedError("only a server admin may do this")
        if principal.project is not None:
            # A key limited to a project acts in that project only, whoever owns it.
            raise PermissionDeniedError(
                f"this API key is limited to project {principal.project!r}: server-wide "
                "administration needs an unlimited key"
            )
        return
    if project is None:
        raise PermissionDeniedError("this route names no project")
    if principal.project is not None and principal.project != project:
        raise PermissionDeniedError(f"this API key is limited to project {principal.project!r}")
    if principal.is_admin:
        return
    role = authenticator.role(principal, project)
    if role is None:
        raise PermissionDeniedError(f"{principal.user!r} is not a member of project {project!r}")
    needed = NEEDED[access]
    if RANK[role] < RANK[needed]:
        raise PermissionDeniedError(
            f"{principal.user!r} is a {role} of project {project!r}; this needs a {needed}"
        )


def declared_access(route: Any) -> Access | None:
    """The access a route declared (None: none), for the route-matrix test."""
    dependant = getattr(route, "dependant", None)
    for dependency in getattr(dependant, "dependencies", []):
        if isinstance(dependency.call, Requirement):
            return dependency.call.access
    return None


def bearer_token(request: Request) -> str | None:
    """The API key of ``request``: ``Authorization: Bearer <key>``, else ``X-API-Key``."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return request.headers.get("x-api-key")
