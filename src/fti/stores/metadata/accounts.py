"""Who may use fti server: users and service accounts, projects with their members and roles,
API keys, and the audit log, in the metadata database beside the entities.

API keys are random secrets (``fti_<id>_<secret>``) shown once when made; only their SHA-256
is stored (a secret of 256 random bits needs no slow hash) and compared in constant time. A
password, only for people who sign in to the web UI, is stored as a salted scrypt hash. Names of
users and projects follow the naming rule of every fti name.

The tables share the metadata store's engine and transactions (SQLite writers queue, and a
locked database is retried); their schema comes from the same migrations.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fti.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from fti.names import check_name, check_project_name
from fti.stores.metadata.sql import SqlMetadataStore, _aware, entities

_T = TypeVar("_T")

ROLES = ("viewer", "editor", "owner")
"""A member's roles, from least to most."""
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_LABEL = 255
KEY_PREFIX = "fti_"
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
"""An API key's public id: 16 hex digits (the part of a key that is not secret)."""
_KEY = re.compile(r"^fti_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
# scrypt at n=2**14, r=8: 16 MiB and ~50 ms per check, OWASP's minimum for a password.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

schema = sa.MetaData()

users = sa.Table(
    "fti_users",
    schema,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("is_service", sa.Boolean, nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

projects = sa.Table(
    "fti_projects",
    schema,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

members = sa.Table(
    "fti_members",
    schema,
    sa.Column("project", sa.String(64), sa.ForeignKey("fti_projects.name"), primary_key=True),
    sa.Column("user_name", sa.String(64), sa.ForeignKey("fti_users.name"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)
sa.Index("ix_members_user", members.c.user_name)

api_keys = sa.Table(
    "fti_api_keys",
    schema,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_name", sa.String(64), sa.ForeignKey("fti_users.name"), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(255), nullable=False),
    sa.Column("project", sa.String(64), nullable=True),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_api_keys_user", api_keys.c.user_name)

audit_log = sa.Table(
    "fti_audit",
    schema,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_name", sa.String(64), nullable=True),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("project", sa.String(64), nullable=True),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("route", sa.String(512), nullable=False),
    sa.Column("path", sa.String(2048), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("remote", sa.String(255), nullable=True),
)
sa.Index("ix_audit_project", audit_log.c.project, audit_log.c.id)


@dataclass(frozen=True)
class User:
    """A person or a service account (``is_service``: a program, never signs in)."""

    name: str
    is_admin: bool
    is_service: bool
    has_password: bool
    created_at: datetime


@dataclass(frozen=True)
class ProjectEntry:
    """A project of the server: made by an admin, with at least one owner."""

    name: str
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class Membership:
    """A user's role in a project."""

    project: str
    user: str
    role: str


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (never its secret)."""

    id: str
    user: str
    label: str
    project: str | None
    """The one project the key may be used in (None: any of its user's)."""
    read_only: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Caller:
    """Who a valid key belongs to, and what the key is limited to."""

    user: str
    is_admin: bool
    key_id: str
    project: str | None
    read_only: bool
    expires_at: datetime | None


@dataclass(frozen=True)
class AuditEvent:
    """One state-changing request: who, what, when, from where, and how it ended."""

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


class AccountStore:
    """Users, projects, memberships, API keys and the audit log of one metadata database."""

    def __init__(self, metadata: SqlMetadataStore) -> None:
        """Accounts in the database of ``metadata`` (already migrated when it opened)."""
        self._metadata = metadata

    def __repr__(self) -> str:
        return f"AccountStore({self._metadata!r})"

    # Users -----------------------------------------------------------------------------

    def create_user(
        self,
        name: str,
        *,
        admin: bool = False,
        service: bool = False,
        password: str | None = None,
    ) -> User:
        """A new user (``service``: a service account, which has no password)."""
        check_name(name, "user name")
        if service and password is not None:
            raise InvalidArgumentError("a service account has no password: it signs in by key")
        hashed = hash_password(password) if password is not None else None

        def work(conn: Connection) -> User:
            now = datetime.now(UTC)
            conn.execute(
                users.insert().values(
                    name=name,
                    is_admin=admin,
                    is_service=service,
                    password_hash=hashed,
                    created_at=now,
                )
            )
            return User(name, admin, service, hashed is not None, now)

        return self._insert(work, f"user {name!r} already exists")

    def get_user(self, name: str) -> User:
        """One user; NotFoundError when there is none of that name."""
        with self._metadata._connect() as conn:
            return _user(_user_row(conn, name))

    def users(self) -> builtins.list[User]:
        """Every user and service account, by name."""
        with self._metadata._connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [_user(r) for r in rows]

    def set_admin(self, name: str, admin: bool) -> User:
        """Make ``name`` a server admin or not; the last admin stays one."""

        def work(conn: Connection) -> User:
            row = _user_row(conn, name)
            if row.is_admin and not admin:
                _keep_an_admin(conn, name, "stop being an admin")
            conn.execute(users.update().where(users.c.name == name).values(is_admin=admin))
            return _user(_user_row(conn, name))

        return self._metadata._transaction(work)

    def set_password(self, name: str, password: str | None) -> User:
        """Set (or, with None, remove) the password ``name`` signs in to the web UI with."""
        hashed = hash_password(password) if password is not None else None

        def work(conn: Connection) -> User:
            row = _user_row(conn, name)
            if row.is_service and hashed is not None:
                raise InvalidArgumentError(f"{name!r} is a service account: it has no password")
            conn.execute(users.update().where(users.c.name == name).values(password_hash=hashed))
            return _user(_user_row(conn, name))

        return self._metadata._transaction(work)

    def check_password(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s (False for an unknown user or none set)."""
        with self._metadata._connect() as conn:
            stored = conn.execute(
                sa.select(users.c.password_hash).where(users.c.name == name)
            ).scalar()
        if stored is None:
            # The same work as a real check, so the answer's time does not say who exists.
            verify_password(password, _DUMMY_HASH)
            return False
        return verify_password(password, stored)

    def delete_user(self, name: str) -> None:
        """Remove a user with its keys and memberships; refused for the last admin and for
        the last owner of a project."""

        def work(conn: Connection) -> None:
            row = _user_row(conn, name)
            if row.is_admin:
                _keep_an_admin(conn, name, "be deleted")
            for membership in _memberships(conn, name):
                if membership.role == "owner":
                    _keep_an_owner(conn, membership.project, name, "be deleted")
            conn.execute(members.delete().where(members.c.user_name == name))
            conn.execute(api_keys.delete().where(api_keys.c.user_name == name))
            conn.execute(users.delete().where(users.c.name == name))

        self._metadata._transaction(work)

    def bootstrap(self, name: str) -> tuple[User, ApiKey, str]:
        """The first admin ``name`` and a key for it (its secret is returned once).

        When admins exist, ``name`` must be one of them: it gets a new key (a lost key is
        recovered on the server host, where the database is reachable anyway).
        """
        check_name(name, "user name")

        def work(conn: Connection) -> tuple[User, ApiKey, str]:
            admins = sorted(
                conn.execute(sa.select(users.c.name).where(users.c.is_admin.is_(True))).scalars()
            )
            if admins and name not in admins:
                raise InvalidArgumentError(
                    f"the server has admins already ({', '.join(admins)}): bootstrap gives one "
                    "of them a new key; an admin adds users with `fti admin users create`"
                )
            if not admins:
                existing = conn.execute(sa.select(users).where(users.c.name == name)).first()
                if existing is None:
                    conn.execute(
                        users.insert().values(
                            name=name,
                            is_admin=True,
                            is_service=False,
                            password_hash=None,
                            created_at=datetime.now(UTC),
                        )
                    )
                else:
                    conn.execute(users.update().where(users.c.name == name).values(is_admin=True))
            key, secret = _new_key(conn, name, "bootstrap", None, False, None)
            return _user(_user_row(conn, name)), key, secret

        return self._metadata._transaction(work)

    # Projects and members --------------------------------------------------------------

    def create_project(
        self, name: str, owner: str, *, created_by: str | None = None
    ) -> ProjectEntry:
        """A new project with ``owner`` as its first owner. A project that already holds data
        (made embedded, before the server) can be created: its data stays."""
        check_project_name(name)

        def work(conn: Connection) -> ProjectEntry:
            _user_row(conn, owner)
            now = datetime.now(UTC)
            conn.execute(projects.insert().values(name=name, created_by=created_by, created_at=now))
            conn.execute(members.insert().values(project=name, user_name=owner, role="owner"))
            return ProjectEntry(name, created_by, now)

        return self._insert(work, f"project {name!r} already exists")

    def get_project(self, name: str) -> ProjectEntry:
        """One project; NotFoundError when the server has none of that name."""
        with self._metadata._connect() as conn:
            return _project(_project_row(conn, name))

    def projects(self) -> builtins.list[ProjectEntry]:
        """Every project of the server, by name."""
        with self._metadata._connect() as conn:
            rows = conn.execute(sa.select(projects).order_by(projects.c.name)).all()
        return [_project(r) for r in rows]

    def delete_project(self, name: str) -> None:
        """Remove a project and its memberships; refused while it holds any data."""

        def work(conn: Connection) -> None:
            _project_row(conn, name)
            held = conn.execute(
                sa.select(entities.c.id).where(entities.c.project == name).limit(1)
            ).first()
            if held is not None:
                raise InvalidArgumentError(
                    f"project {name!r} still holds feature groups, views, models or other "
                    "objects: delete them first"
                )
            conn.execute(members.delete().where(members.c.project == name))
            conn.execute(api_keys.delete().where(api_keys.c.project == name))
            conn.execute(projects.delete().where(projects.c.name == name))

        self._metadata._transaction(work)

    def set_member(self, project: str, user: str, role: str) -> Membership:
        """Give ``user`` ``role`` in ``project`` (adding or changing it); a project keeps at
        least one owner."""
        if role not in ROLES:
            raise InvalidArgumentError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")

        def work(conn: Connection) -> Membership:
            _project_row(conn, project)
            _user_row(conn, user)
            where = (members.c.project == project, members.c.user_name == user)
            current = conn.execute(sa.select(members.c.role).where(*where)).scalar()
            if current is None:
                conn.execute(members.insert().values(project=project, user_name=user, role=role))
            else:
                if current == "owner" and role != "owner":
                    _keep_an_owner(conn, project, user, f"become a {role}")
                conn.execute(members.update().where(*where).values(role=role))
            return Membership(project, user, role)

        return self._metadata._transaction(work)

    def remove_member(self, project: str, user: str) -> None:
        """Take ``user`` out of ``project``; a project keeps at least one owner."""

        def work(conn: Connection) -> None:
            _project_row(conn, project)
            where = (members.c.project == project, members.c.user_name == user)
            current = conn.execute(sa.select(members.c.role).where(*where)).scalar()
            if current is None:
                raise NotFoundError(f"{user!r} is not a member of project {project!r}")
            if current == "owner":
                _keep_an_owner(conn, project, user, "leave it")
            conn.execute(members.delete().where(*where))

        self._metadata._transaction(work)

    def members(self, project: str) -> builtins.list[Membership]:
        """The members of ``project``, by name; NotFoundError for an unknown project."""
        with self._metadata._connect() as conn:
            _project_row(conn, project)
            rows = conn.execute(
                sa.select(members).where(members.c.project == project).order_by(members.c.user_name)
            ).all()
        return [Membership(r.project, r.user_name, r.role) for r in rows]

    def memberships(self, user: str) -> builtins.list[Membership]:
        """The projects ``user`` is a member of, by project."""
        with self._metadata._connect() as conn:
            return _memberships(conn, user)

    def role(self, user: str, project: str) -> str | None:
        """``user``'s role in ``project`` (None: not a member)."""
        with self._metadata._connect() as conn:
            value = conn.execute(
                sa.select(members.c.role).where(
                    members.c.project == project, members.c.user_name == user
                )
            ).scalar()
        return None if value is None else str(value)

    # API keys --------------------------------------------------------------------------

    def create_key(
        self,
        user: str,
        *,
        label: str = "",
        project: str | None = None,
        read_only: bool = False,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key of ``user`` and its secret, which is returned here only."""
        if len(label) > MAX_LABEL:
            raise InvalidArgumentError(f"a key's label has at most {MAX_LABEL} characters")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidArgumentError("a key's expiry needs a time zone")
            if expires_at <= datetime.now(UTC):
                raise InvalidArgumentError(f"a key's expiry must lie ahead, not {expires_at}")

        def work(conn: Connection) -> tuple[ApiKey, str]:
            _user_row(conn, user)
            if project is not None:
                _project_row(conn, project)
            return _new_key(conn, user, label, project, read_only, expires_at)

        return self._metadata._transaction(work)

    def get_key(self, key_id: str) -> ApiKey:
        """One key by its id; NotFoundError when there is none."""
        with self._metadata._connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}")
        return _key(row)

    def keys(self, user: str | None = None) -> builtins.list[ApiKey]:
        """The keys of ``user`` (of everyone when None), newest first, revoked ones included."""
        query = sa.select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.id)
        if user is not None:
            query = query.where(api_keys.c.user_name == user)
        with self._metadata._connect() as conn:
            rows = conn.execute(query).all()
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key now (revoking a revoked key keeps its first revocation time)."""

        def work(conn: Connection) -> ApiKey:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}")
            return _key(row)

        return self._metadata._transaction(work)

    def authenticate(self, secret: str) -> Caller:
        """Who ``secret`` belongs to; UnauthenticatedError when it is not a key, unknown,
        revoked or expired."""
        match = _KEY.fullmatch(secret)
        if match is None:
            raise UnauthenticatedError("invalid API key")
        with self._metadata._connect() as conn:
            row = conn.execute(
                sa.select(api_keys, users.c.is_admin)
                .join(users, users.c.name == api_keys.c.user_name)
                .where(api_keys.c.id == match.group(1))
            ).first()
        # Compared even when there is no such key, so the time does not tell ids apart.
        stored = row.secret_hash if row is not None else "0" * 64
        if not hmac.compare_digest(_hash_key(secret), stored) or row is None:
            raise UnauthenticatedError("invalid API key")
        if row.revoked_at is not None:
            raise UnauthenticatedError(f"API key {row.id} was revoked")
        expires = _aware(row.expires_at) if row.expires_at is not None else None
        if expires is not None and expires <= datetime.now(UTC):
            raise UnauthenticatedError(f"API key {row.id} expired at {expires:%Y-%m-%d %H:%M} UTC")
        return Caller(
            row.user_name, bool(row.is_admin), row.id, row.project, bool(row.read_only), expires
        )

    # Audit -----------------------------------------------------------------------------

    def record(
        self,
        *,
        user: str | None,
        key_id: str | None,
        project: str | None,
        method: str,
        route: str,
        path: str,
        status: int,
        remote: str | None,
    ) -> None:
        """Append one event to the audit log (over-long fields are cut to their column)."""
        values = {
            "at": datetime.now(UTC),
            "user_name": user,
            "key_id": key_id,
            "project": project,
            "method": method[:16],
            "route": route[:512],
            "path": path[:2048],
            "status": status,
            "remote": remote[:255] if remote is not None else None,
        }
        if project is not None and len(project) > 64:
            values["project"] = None  # not a project name: the path keeps what was asked

        def work(conn: Connection) -> None:
            conn.execute(audit_log.insert().values(**values))

        self._metadata._transaction(work)

    def audit(
        self, project: str | None = None, *, limit: int = 100, before: int | None = None
    ) -> builtins.list[AuditEvent]:
        """The newest ``limit`` events (of ``project``, if given), before event id ``before``."""
        if not 1 <= limit <= 10_000:
            raise InvalidArgumentError(f"limit must be from 1 to 10000, not {limit}")
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if project is not None:
            query = query.where(audit_log.c.project == project)
        if before is not None:
            query = query.where(audit_log.c.id < before)
        with self._metadata._connect() as conn:
            rows = conn.execute(query).all()
        return [
            AuditEvent(
                r.id,
                _aware(r.at),
                r.user_name,
                r.key_id,
                r.project,
                r.method,
                r.route,
                r.path,
                r.status,
                r.remote,
            )
            for r in rows
        ]

    def _insert(self, work: Callable[[Connection], _T], exists: str) -> _T:
        try:
            return self._metadata._transaction(work)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExistsError(exists) from exc


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, as ``scrypt$n$r$p$salt$hash`` (base64)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidArgumentError(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters, not {len(password)}"
        )
    salt = secrets.token_bytes(16)
    try:
        encoded = password.encode()
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError("a password must be valid Unicode text") from exc
    digest = hashlib.scrypt(encoded, salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` gives the ``stored`` hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:  # not an scrypt hash, or a password that is not valid Unicode
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_DUMMY_HASH = (
    f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(bytes(16))}${_b64(bytes(32))}"
)


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key(
    conn: Connection,
    user: str,
    label: str,
    project: str | None,
    read_only: bool,
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    key_id = secrets.token_hex(8)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    conn.execute(
        api_keys.insert().values(
            id=key_id,
            user_name=user,
            secret_hash=_hash_key(secret),
            label=label,
            project=project,
            read_only=read_only,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    return ApiKey(key_id, user, label, project, read_only, now, expires_at, None), secret


def _user_row(conn: Connection, name: str) -> Any:
    row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user {name!r}")
    return row


def _project_row(conn: Connection, name: str) -> Any:
    row = conn.execute(sa.select(projects).where(projects.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"project {name!r} does not exist on this server")
    return row


def _memberships(conn: Connection, user: str) -> builtins.list[Membership]:
    rows = conn.execute(
        sa.select(members).where(members.c.user_name == user).order_by(members.c.project)
    ).all()
    return [Membership(r.project, r.user_name, r.role) for r in rows]


def _keep_an_admin(conn: Connection, name: str, what: str) -> None:
    others = conn.execute(
        sa.select(sa.func.count()).where(users.c.is_admin.is_(True), users.c.name != name)
    ).scalar()
    if not others:
        raise InvalidArgumentError(f"{name!r} is the server's last admin and cannot {what}")


def _keep_an_owner(conn: Connection, project: str, user: str, what: str) -> None:
    others = conn.execute(
        sa.select(sa.func.count()).where(
            members.c.project == project, members.c.role == "owner", members.c.user_name != user
        )
    ).scalar()
    if not others:
        raise InvalidArgumentError(
            f"{user!r} is the last owner of project {project!r} and cannot {what}: "
            "make another member an owner first"
        )


def _user(row: Any) -> User:
    return User(
        row.name,
        bool(row.is_admin),
        bool(row.is_service),
        row.password_hash is not None,
        _aware(row.created_at),
    )


def _project(row: Any) -> ProjectEntry:
    return ProjectEntry(row.name, row.created_by, _aware(row.created_at))


def _key(row: Any) -> ApiKey:
    return ApiKey(
        row.id,
        row.user_name,
        row.label,
        row.project,
        bool(row.read_only),
        _aware(row.created_at),
        _aware(row.expires_at) if row.expires_at is not None else None,
        _aware(row.revoked_at) if row.revoked_at is not None else None,
    )
