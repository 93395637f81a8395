"""The accounts of fti server in the metadata database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fti.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidNameError,
    NotFoundError,
    UnauthenticatedError,
)
from fti.stores.metadata.accounts import AccountStore, api_keys, users
from fti.stores.metadata.sql import SqlMetadataStore

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgres"])
def metadata(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    """A metadata store on a SQLite file, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = SqlMetadataStore(url)
    yield store
    store.close()


@pytest.fixture
def accounts(metadata: SqlMetadataStore) -> AccountStore:
    """Accounts with admin ``root``, user ``alice`` owning project ``p``."""
    store = AccountStore(metadata)
    store.create_user("root", admin=True)
    store.create_user("alice")
    store.create_project("p", "alice", created_by="root")
    return store


def rows(metadata: SqlMetadataStore, table: sa.Table) -> list[tuple[object, ...]]:
    with metadata._connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table)).all()]


# Users --------------------------------------------------------------------------------------


def test_users_are_listed_by_name_with_their_kind(accounts: AccountStore) -> None:
    accounts.create_user("bot", service=True)
    accounts.create_user("bob", password=PASSWORD)

    listed = {u.name: (u.is_admin, u.is_service, u.has_password) for u in accounts.users()}

    assert list(listed) == ["alice", "bob", "bot", "root"]
    assert listed == {
        "alice": (False, False, False),
        "bob": (False, False, True),
        "bot": (False, True, False),
        "root": (True, False, False),
    }
    assert accounts.get_user("bob").has_password


@pytest.mark.parametrize(
    ("name", "error"),
    [("alice", AlreadyExistsError), ("Alice", InvalidNameError), ("../x", InvalidNameError)],
    ids=["taken", "uppercase", "traversal"],
)
def test_a_user_name_must_be_new_and_valid(
    accounts: AccountStore, name: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        accounts.create_user(name)
    assert [u.name for u in accounts.users()] == ["alice", "root"]


def test_a_service_account_has_no_password(accounts: AccountStore) -> None:
    with pytest.raises(InvalidArgumentError, match="service account has no password"):
        accounts.create_user("bot", service=True, password=PASSWORD)
    accounts.create_user("bot", service=True)
    with pytest.raises(InvalidArgumentError, match="service account"):
        accounts.set_password("bot", PASSWORD)


def test_a_password_is_stored_as_a_salted_scrypt_hash(
    accounts: AccountStore, metadata: SqlMetadataStore
) -> None:
    accounts.create_user("bob", password=PASSWORD)
    accounts.create_user("carol", password=PASSWORD)

    stored = {r[0]: r[3] for r in rows(metadata, users)}
    assert stored["bob"].startswith("scrypt$16384$8$1$")
    assert PASSWORD not in stored["bob"]
    assert stored["bob"] != stored["carol"]  # salted
    assert accounts.check_password("bob", PASSWORD)
    assert not accounts.check_password("bob", PASSWORD + "!")
    assert not accounts.check_password("alice", PASSWORD)  # no password set
    assert not accounts.check_password("nobody", PASSWORD)

    accounts.set_password("bob", None)
    assert not accounts.check_password("bob", PASSWORD)
    assert not accounts.get_user("bob").has_password


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "8 to 1024 characters"), ("x" * 1025, "8 to 1024"), ("ab\udc80cdefgh", "Unicode")],
    ids=["too_short", "too_long", "lone_surrogate"],
)
def test_a_bad_password_is_refused(accounts: AccountStore, password: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        accounts.set_password("alice", password)
    assert not accounts.get_user("alice").has_password


def test_the_last_admin_stays_one(accounts: AccountStore) -> None:
    with pytest.raises(InvalidArgumentError, match="last admin and cannot stop being an admin"):
        accounts.set_admin("root", False)
    with pytest.raises(InvalidArgumentError, match="last admin and cannot be deleted"):
        accounts.delete_user("root")

    accounts.set_admin("alice", True)
    accounts.set_admin("root", False)
    assert [u.name for u in accounts.users() if u.is_admin] == ["alice"]


def test_deleting_a_user_removes_its_keys_and_memberships(
    accounts: AccountStore, metadata: SqlMetadataStore
) -> None:
    accounts.create_user("bob")
    accounts.set_member("p", "bob", "editor")
    _, secret = accounts.create_key("bob")

    accounts.delete_user("bob")

    assert [m.user for m in accounts.members("p")] == ["alice"]
    assert all(r[1] != "bob" for r in rows(metadata, api_keys))
    with pytest.raises(UnauthenticatedError):
        accounts.authenticate(secret)
    with pytest.raises(NotFoundError, match="no user 'bob'"):
        accounts.get_user("bob")


# Projects and members -----------------------------------------------------------------------


def test_a_project_starts_with_its_owner(accounts: AccountStore) -> None:
    project = accounts.get_project("p")

    assert (project.name, project.created_by) == ("p", "root")
    assert [(m.user, m.role) for m in accounts.members("p")] == [("alice", "owner")]
    assert accounts.role("alice", "p") == "owner"
    assert accounts.role("root", "p") is None
    with pytest.raises(AlreadyExistsError, match="project 'p' already exists"):
        accounts.create_project("p", "root")
    with pytest.raises(NotFoundError, match="no user 'nobody'"):
        accounts.create_project("q", "nobody")
    assert [p.name for p in accounts.projects()] == ["p"]


def test_roles_change_but_a_project_keeps_an_owner(accounts: AccountStore) -> None:
    accounts.create_user("bob")
    accounts.set_member("p", "bob", "viewer")
    accounts.set_member("p", "bob", "editor")
    assert accounts.role("bob", "p") == "editor"

    with pytest.raises(InvalidArgumentError, match="last owner of project 'p'"):
        accounts.set_member("p", "alice", "viewer")
    with pytest.raises(InvalidArgumentError, match="last owner of project 'p'"):
        accounts.remove_member("p", "alice")
    with pytest.raises(InvalidArgumentError, match="last owner of project 'p'"):
        accounts.delete_user("alice")
    with pytest.raises(InvalidArgumentError, match="unknown role 'admin'"):
        accounts.set_member("p", "bob", "admin")

    accounts.set_member("p", "bob", "owner")
    accounts.remove_member("p", "alice")
    assert [(m.user, m.role) for m in accounts.members("p")] == [("bob", "owner")]
    assert [m.project for m in accounts.memberships("bob")] == ["p"]
    with pytest.raises(NotFoundError, match="'alice' is not a member"):
        accounts.remove_member("p", "alice")


def test_a_project_holding_data_is_not_deleted(
    accounts: AccountStore, metadata: SqlMetadataStore
) -> None:
    metadata.create("feature_group", "p", "fg", None, {})
    with pytest.raises(InvalidArgumentError, match="still holds"):
        accounts.delete_project("p")

    metadata.delete("feature_group", "p", "fg", 1)
    _, secret = accounts.create_key("alice", project="p")
    accounts.delete_project("p")

    assert accounts.projects() == []
    assert accounts.memberships("alice") == []
    with pytest.raises(UnauthenticatedError):
        accounts.authenticate(secret)


# API keys -----------------------------------------------------------------------------------


def test_a_key_is_stored_only_as_its_sha256(
    accounts: AccountStore, metadata: SqlMetadataStore
) -> None:
    key, secret = accounts.create_key("alice", label="laptop", project="p", read_only=True)

    assert secret.startswith(f"fti_{key.id}_") and len(secret) == 4 + 16 + 1 + 43
    stored = rows(metadata, api_keys)
    assert len(stored) == 1
    assert all(secret not in str(value) for value in stored[0])
    assert hashlib.sha256(secret.encode()).hexdigest() in stored[0]
    caller = accounts.authenticate(secret)
    assert (caller.user, caller.is_admin, caller.key_id) == ("alice", False, key.id)
    assert (caller.project, caller.read_only, caller.expires_at) == ("p", True, None)
    assert accounts.keys("alice") == [key]
    assert accounts.get_key(key.id) == key


def test_an_admin_key_says_so(accounts: AccountStore) -> None:
    _, secret = accounts.create_key("root")
    assert accounts.authenticate(secret).is_admin


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),
        lambda s: s.replace("fti_", "ftx_"),
        lambda s: "fti_0123456789abcdef_" + s[-43:],
        lambda s: s + "x",
        lambda s: "",
        lambda s: s.upper(),
    ],
    ids=["wrong_secret", "wrong_prefix", "unknown_id", "too_long", "empty", "uppercase"],
)
def test_anything_but_the_key_is_refused(
    accounts: AccountStore, tamper: Callable[[str], str]
) -> None:
    _, secret = accounts.create_key("alice")
    with pytest.raises(UnauthenticatedError, match=r"^invalid API key$"):
        accounts.authenticate(tamper(secret))


def test_a_revoked_key_stops_working(accounts: AccountStore) -> None:
    key, secret = accounts.create_key("alice")

    revoked = accounts.revoke_key(key.id)

    assert revoked.revoked_at is not None
    with pytest.raises(UnauthenticatedError, match=f"API key {key.id} was revoked"):
        accounts.authenticate(secret)
    assert accounts.revoke_key(key.id).revoked_at == revoked.revoked_at
    with pytest.raises(NotFoundError, match="no API key"):
        accounts.revoke_key("0123456789abcdef")


def test_an_expired_key_stops_working(accounts: AccountStore, metadata: SqlMetadataStore) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    key, secret = accounts.create_key("alice", expires_at=soon)
    assert accounts.authenticate(secret).expires_at == soon
    with metadata._engine.begin() as conn:
        conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    with pytest.raises(UnauthenticatedError, match=f"API key {key.id} expired at"):
        accounts.authenticate(secret)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"expires_at": datetime(2000, 1, 1, tzinfo=UTC)}, InvalidArgumentError, "lie ahead"),
        ({"expires_at": datetime(2999, 1, 1)}, InvalidArgumentError, "time zone"),
        ({"project": "nosuch"}, NotFoundError, "project 'nosuch' does not exist"),
        ({"label": "x" * 256}, InvalidArgumentError, "at most 255"),
    ],
    ids=["expired", "naive_expiry", "unknown_project", "long_label"],
)
def test_a_key_that_cannot_be_made_is_refused(
    accounts: AccountStore, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        accounts.create_key("alice", **options)  # type: ignore[arg-type]
    assert accounts.keys() == []


def test_bootstrap_makes_the_first_admin_then_only_gives_admins_keys(
    metadata: SqlMetadataStore,
) -> None:
    accounts = AccountStore(metadata)
    accounts.create_user("alice")

    user, key, secret = accounts.bootstrap("root")
    assert (user.name, user.is_admin, key.user, key.label) == ("root", True, "root", "bootstrap")
    assert accounts.authenticate(secret).is_admin

    with pytest.raises(InvalidArgumentError, match=r"has admins already \(root\)"):
        accounts.bootstrap("alice")
    assert not accounts.get_user("alice").is_admin
    _, again, second = accounts.bootstrap("root")
    assert again.id != key.id and accounts.authenticate(second).user == "root"


def test_bootstrap_can_make_an_existing_user_the_first_admin(metadata: SqlMetadataStore) -> None:
    accounts = AccountStore(metadata)
    accounts.create_user("alice", password=PASSWORD)

    user, _, _ = accounts.bootstrap("alice")

    assert user.is_admin and user.has_password


# Audit --------------------------------------------------------------------------------------


def test_the_audit_log_is_read_newest_first_by_project(accounts: AccountStore) -> None:
    for i, project in enumerate(["p", "q", "p", None]):
        accounts.record(
            user="alice",
            key_id="0123456789abcdef",
            project=project,
            method="POST",
            route="/api/v1/projects/{project}/x",
            path=f"/api/v1/projects/{project}/x/{i}",
            status=201,
            remote="10.0.0.1",
        )

    everything = accounts.audit()
    assert [e.path[-1] for e in everything] == ["3", "2", "1", "0"]
    of_p = accounts.audit("p")
    assert [e.path[-1] for e in of_p] == ["2", "0"]
    assert (of_p[0].user, of_p[0].method, of_p[0].status, of_p[0].remote) == (
        "alice",
        "POST",
        201,
        "10.0.0.1",
    )
    assert of_p[0].at.utcoffset() == timedelta(0)
    assert [e.path[-1] for e in accounts.audit(before=everything[1].id, limit=1)] == ["1"]
    with pytest.raises(InvalidArgumentError, match="limit"):
        accounts.audit(limit=0)


def test_over_long_audit_fields_are_cut_to_their_columns(accounts: AccountStore) -> None:
    accounts.record(
        user=None,
        key_id=None,
        project="x" * 300,
        method="M" * 40,
        route="/r",
        path="/" + "p" * 5000,
        status=422,
        remote="r" * 300,
    )

    event = accounts.audit()[0]
    assert event.project is None and len(event.method) == 16
    assert len(event.path) == 2048 and event.remote is not None and len(event.remote) == 255
