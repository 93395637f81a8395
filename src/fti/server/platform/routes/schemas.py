"""The JSON bodies of the server resources (users, projects, members, keys, audit events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast, overload

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from fti.names import NAME_PATTERN
from fti.stores.metadata import accounts

Name = Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
RoleName = Literal["viewer", "editor", "owner"]


@overload
def role_name(role: str) -> RoleName: ...
@overload
def role_name(role: str | None) -> RoleName | None: ...
def role_name(role: str | None) -> RoleName | None:
    """A role of the accounts store as the bodies type it (None stays None)."""
    if role is None:
        return None
    if role not in accounts.ROLES:
        raise ValueError(f"unknown role {role!r} in the accounts store")
    return cast(RoleName, role)


class Strict(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    """A user or service account."""

    name: str
    admin: bool
    service: bool
    has_password: bool
    created_at: datetime

    @classmethod
    def of(cls, user: accounts.User) -> UserOut:
        """The body of ``user``."""
        return cls(
            name=user.name,
            admin=user.is_admin,
            service=user.is_service,
            has_password=user.has_password,
            created_at=user.created_at,
        )


class UserCreate(Strict):
    """A new user: a person (with a password only to sign in to the web UI) or a service
    account."""

    name: Name
    admin: StrictBool = False
    service: StrictBool = False
    password: Annotated[
        str | None, Field(min_length=accounts.MIN_PASSWORD, max_length=accounts.MAX_PASSWORD)
    ] = None


class UserUpdate(Strict):
    """Changes to a user: admin or not, a new password (null removes it)."""

    admin: StrictBool | None = None
    password: Annotated[
        str | None, Field(min_length=accounts.MIN_PASSWORD, max_length=accounts.MAX_PASSWORD)
    ] = None


class ProjectOut(BaseModel):
    """A project, with the caller's role in it (null for an admin who is not a member); made
    by nobody at no time when no one registered it (an admin wrote to it)."""

    name: str
    created_by: str | None
    created_at: datetime | None
    role: RoleName | None = None


class ProjectCreate(Strict):
    """A new project and its first owner."""

    name: Name
    owner: Name


class MemberOut(BaseModel):
    """A member of a project."""

    user: str
    role: RoleName


class MemberSet(Strict):
    """The role to give a member."""

    role: RoleName


class KeyOut(BaseModel):
    """An API key as stored: never its secret."""

    id: str
    user: str
    label: str
    project: str | None
    read_only: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: accounts.ApiKey) -> KeyOut:
        """The body of ``key``."""
        return cls(
            id=key.id,
            user=key.user,
            label=key.label,
            project=key.project,
            read_only=key.read_only,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class KeyCreated(KeyOut):
    """A new API key with its secret, which no later answer shows again."""

    key: str


class KeyCreate(Strict):
    """A new API key: of the caller, or (admins only) of ``user``; limited to one project, to
    reading, in time, as asked."""

    user: Name | None = None
    label: Annotated[str, Field(max_length=accounts.MAX_LABEL)] = ""
    project: Name | None = None
    read_only: StrictBool = False
    expires_at: AwareDatetime | None = None


class MemberOf(BaseModel):
    """A project the caller is a member of."""

    project: str
    role: RoleName


class Me(BaseModel):
    """The caller: user, admin or not, the key's limits, and the projects of the user."""

    user: str
    admin: bool
    key_id: str | None
    key_project: str | None
    read_only: bool
    projects: list[MemberOf]


class AuditEventOut(BaseModel):
    """One state-changing request."""

    id: int
    at: datetime
    user: str | None
    key_id: str | None
    project: str | None
    method: str
    route: str
    path: str
    status: int
    remote: str | None

    @classmethod
    def of(cls, event: accounts.AuditEvent) -> AuditEventOut:
        """The body of ``event``."""
        return cls(
            id=event.id,
            at=event.at,
            user=event.user,
            key_id=event.key_id,
            project=event.project,
            method=event.method,
            route=event.route,
            path=event.path,
            status=event.status,
            remote=event.remote,
        )
