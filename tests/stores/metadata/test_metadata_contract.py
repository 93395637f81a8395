"""The contract every metadata store passes, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from fti.errors import (
    AlreadyExistsError,
    ConfigError,
    InvalidArgumentError,
    InvalidNameError,
    NotFoundError,
    StoreError,
)
from fti.stores.metadata import MetadataStore, open_metadata_store
from fti.stores.metadata.remote import RemoteMetadataStore
from support.remote_stores import SERVER, in_process_client, server_settings

FG = "feature_group"


@pytest.fixture(params=["sqlite", "postgres", "server"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty metadata store: a SQLite file, a fresh PostgreSQL database, then a
    SQLite file behind fti server (``server+sqlite://...``: the remote backend)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'metadata.db'}"
    if request.param == "server":
        return f"{SERVER}sqlite:///{tmp_path / 'meta' / 'metadata.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[MetadataStore]:
    """An open store of each backend, closed before its database is dropped."""
    if store_url.startswith(SERVER):
        settings = server_settings(tmp_path / "server", metadata_url=store_url[len(SERVER) :])
        opened: MetadataStore = RemoteMetadataStore(in_process_client(settings))
    else:
        opened = open_metadata_store(store_url)
    yield opened
    opened.close()


def embedded_only(store_url: str) -> None:
    """Skip a test of what only an embedded store does (several processes on one database)."""
    if store_url.startswith(SERVER):
        pytest.skip("several processes opening the database itself: embedded stores only")


def test_create_with_none_numbers_versions_from_one(store: MetadataStore) -> None:
    assert isinstance(store, MetadataStore)

    created = [store.create(FG, "p", "fg", None, {"i": i}) for i in range(3)]

    assert [e.version for e in created] == [1, 2, 3]
    assert [e.body for e in created] == [{"i": 0}, {"i": 1}, {"i": 2}]
    # Another name, kind or project starts its own numbering.
    assert store.create(FG, "p", "other", None, {}).version == 1
    assert store.create("model", "p", "fg", None, {}).version == 1
    assert store.create(FG, "q", "fg", None, {}).version == 1


def test_create_with_explicit_version(store: MetadataStore) -> None:
    entity = store.create(FG, "p", "fg", 5, {"a": 1})

    assert (entity.kind, entity.project, entity.name, entity.version) == (FG, "p", "fg", 5)
    assert entity.body == {"a": 1}
    assert entity.created_at.utcoffset() is not None
    # None continues after the highest version, and a gap below it can still be filled.
    assert store.create(FG, "p", "fg", None, {}).version == 6
    assert store.create(FG, "p", "fg", 2, {}).version == 2
    assert [e.version for e in store.list(FG, "p", "fg")] == [2, 5, 6]


def test_create_returns_what_get_returns(store: MetadataStore) -> None:
    created = store.create(FG, "p", "fg", None, {"pair": (1, 2), "nested": {"t": ("x",)}})

    assert created == store.get(FG, "p", "fg", 1)
    assert created.body == {"pair": [1, 2], "nested": {"t": ["x"]}}


def test_duplicate_version_is_already_exists(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {"first": True})

    with pytest.raises(AlreadyExistsError, match=r"feature group 'fg' version 1 already exists"):
        store.create(FG, "p", "fg", 1, {"first": False})

    assert store.get(FG, "p", "fg", 1).body == {"first": True}
    assert len(store.list(FG, "p", "fg")) == 1


def test_get_latest_and_explicit(store: MetadataStore) -> None:
    for i in range(3):
        store.create(FG, "p", "fg", None, {"i": i})
    store.create(FG, "p", "fg_2", None, {"other": True})

    latest = store.get(FG, "p", "fg")
    assert (latest.version, latest.body) == (3, {"i": 2})
    second = store.get(FG, "p", "fg", 2)
    assert (second.name, second.version, second.body) == ("fg", 2, {"i": 1})


def test_get_not_found_messages(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})
    store.create(FG, "p", "fg", 2, {})
    store.create(FG, "p", "other", 1, {})
    found = "feature groups in it: fg, other"
    cases = [
        (
            "missing",
            None,
            rf"^feature group 'missing' \(any version\) not found in project 'p'; {found}$",
        ),
        (
            "missing",
            1,
            rf"^feature group 'missing' \(version 1\) not found in project 'p'; {found}$",
        ),
        (
            "fg",
            9,
            r"^feature group 'fg' \(version 9\) not found in project 'p'; its versions: 1, 2$",
        ),
    ]

    for name, version, message in cases:
        with pytest.raises(NotFoundError, match=message):
            store.get(FG, "p", name, version)
    with pytest.raises(NotFoundError, match=r"the project has no feature group yet$"):
        store.get(FG, "empty", "fg")


def test_projects_are_those_holding_entities(store: MetadataStore) -> None:
    # Through a server without keys, the caller is an admin: it may use every project.
    assert store.projects() == []
    store.create(FG, "p2", "fg", 1, {})
    store.create("model", "p1", "m", 1, {})

    assert store.projects() == ["p1", "p2"]


def test_get_does_not_cross_kind_or_project(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})

    with pytest.raises(NotFoundError, match="in project 'q'"):
        store.get(FG, "q", "fg")
    with pytest.raises(NotFoundError, match="model 'fg'"):
        store.get("model", "p", "fg")


def test_names_with_a_slash_are_refused_and_the_others_read_back(store: MetadataStore) -> None:
    with pytest.raises(InvalidNameError, match="no '/'"):
        store.create(FG, "p", "a/b", None, {})
    assert store.list(FG, "p") == []

    name = "commit:g_1:2 at 2024-01-01T00:00:00.5+00:00#x@y"
    store.create(FG, "p", name, None, {"a": 1})
    store.update(FG, "p", name, 1, {"a": 2})
    store.add_record(FG, "p", name, 1, "stats", "k", {})
    assert store.get(FG, "p", name).body == {"a": 2}
    assert [r.key for r in store.records(FG, "p", name, 1, "stats")] == ["k"]
    store.delete(FG, "p", name, 1)


def test_list_orders_by_name_then_version(store: MetadataStore) -> None:
    # Created out of order; names chosen where byte order and natural-language collations differ.
    for name, version in [("ab", 2), ("b", 1), ("a_c", 1), ("ab", 10), ("a1", 1), ("ab", 1)]:
        store.create(FG, "p", name, version, {})

    listed = [(e.name, e.version) for e in store.list(FG, "p")]

    assert listed == [("a1", 1), ("a_c", 1), ("ab", 1), ("ab", 2), ("ab", 10), ("b", 1)]


def test_list_filters_by_name_kind_and_project(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", None, {})
    store.create(FG, "p", "fg", None, {})
    store.create(FG, "p", "fgx", None, {})
    store.create("model", "p", "fg", None, {})
    store.create(FG, "q", "fg", None, {"project": "q"})

    assert [(e.name, e.version) for e in store.list(FG, "p", "fg")] == [("fg", 1), ("fg", 2)]
    assert [e.project for e in store.list(FG, "p")] == ["p", "p", "p"]
    assert [(e.project, e.body) for e in store.list(FG, "q")] == [("q", {"project": "q"})]
    assert [e.kind for e in store.list("model", "p")] == ["model"]
    assert store.list(FG, "p", "nothing") == []
    assert store.list(FG, "empty_project") == []


def test_update_replaces_the_body(store: MetadataStore) -> None:
    created = store.create(FG, "p", "fg", None, {"old": 1, "kept": False})
    store.create(FG, "p", "fg", None, {"v": 2})

    updated = store.update(FG, "p", "fg", 1, {"new": 1})

    assert updated.body == {"new": 1}
    assert updated.version == 1
    assert updated.created_at == created.created_at
    assert store.get(FG, "p", "fg", 1).body == {"new": 1}
    assert store.get(FG, "p", "fg", 2).body == {"v": 2}


# (project, name, version) that do not exist next to ("p", "fg", 1).
MISSING = [("p", "fg", 2), ("p", "nope", 1), ("q", "fg", 1)]


def test_update_missing_is_not_found(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {"a": 1})

    for project, name, version in MISSING:
        message = f"^feature group '{name}' version {version} not found in project '{project}'$"
        with pytest.raises(NotFoundError, match=message):
            store.update(FG, project, name, version, {"b": 2})

    assert store.get(FG, "p", "fg", 1).body == {"a": 1}


def test_delete_removes_the_version_and_its_records(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})
    store.create(FG, "p", "fg", 2, {})
    store.add_record(FG, "p", "fg", 1, "stats", "c1", {"n": 1})
    store.add_record(FG, "p", "fg", 2, "stats", "c1", {"n": 2})

    store.delete(FG, "p", "fg", 1)

    assert [e.version for e in store.list(FG, "p", "fg")] == [2]
    with pytest.raises(NotFoundError, match=r"version 1"):
        store.get(FG, "p", "fg", 1)
    with pytest.raises(NotFoundError, match="feature group 'fg' version 1 not found in project"):
        store.delete(FG, "p", "fg", 1)
    with pytest.raises(NotFoundError, match="version 1 not found"):
        store.add_record(FG, "p", "fg", 1, "stats", "c2", {})
    # The other version keeps its records, and a re-created version 1 starts without any.
    assert [r.body for r in store.records(FG, "p", "fg", 2, "stats")] == [{"n": 2}]
    store.create(FG, "p", "fg", 1, {})
    assert store.records(FG, "p", "fg", 1, "stats") == []


def test_delete_of_the_last_version_frees_the_name(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", None, {})

    store.delete(FG, "p", "fg", 1)

    with pytest.raises(NotFoundError, match="any version"):
        store.get(FG, "p", "fg")
    assert store.create(FG, "p", "fg", None, {}).version == 1


def test_records_in_insertion_order_and_filtered_by_key(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})
    store.create(FG, "p", "fg", 2, {})
    for key in ["c3", "c1", "c2"]:
        store.add_record(FG, "p", "fg", 1, "stats", key, {"key": key})
    store.add_record(FG, "p", "fg", 1, "validation", "c1", {"ok": True})
    store.add_record(FG, "p", "fg", 2, "stats", "c1", {"version": 2})

    stats = store.records(FG, "p", "fg", 1, "stats")

    assert [(r.kind, r.key, r.body) for r in stats] == [
        ("stats", "c3", {"key": "c3"}),
        ("stats", "c1", {"key": "c1"}),
        ("stats", "c2", {"key": "c2"}),
    ]
    assert all(r.created_at.utcoffset() is not None for r in stats)
    assert [r.body for r in store.records(FG, "p", "fg", 1, "stats", key="c1")] == [{"key": "c1"}]
    assert [r.body for r in store.records(FG, "p", "fg", 1, "validation")] == [{"ok": True}]
    assert [r.body for r in store.records(FG, "p", "fg", 2, "stats")] == [{"version": 2}]
    assert store.records(FG, "p", "fg", 1, "stats", key="absent") == []
    assert store.records(FG, "p", "fg", 1, "nothing") == []


def test_add_record_replaces_the_same_kind_and_key(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})
    store.add_record(FG, "p", "fg", 1, "stats", "a", {"n": 1})
    store.add_record(FG, "p", "fg", 1, "stats", "b", {"n": 2})
    store.add_record(FG, "p", "fg", 1, "validation", "a", {"n": 3})

    store.add_record(FG, "p", "fg", 1, "stats", "a", {"n": 4})

    # The replacement is the newest record of its kind; other kinds and keys are untouched.
    assert [(r.key, r.body) for r in store.records(FG, "p", "fg", 1, "stats")] == [
        ("b", {"n": 2}),
        ("a", {"n": 4}),
    ]
    assert [r.body for r in store.records(FG, "p", "fg", 1, "validation")] == [{"n": 3}]


def test_add_record_to_a_missing_entity_is_not_found(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})

    for project, name, version in MISSING:
        message = f"^feature group '{name}' version {version} not found in project '{project}'$"
        with pytest.raises(NotFoundError, match=message):
            store.add_record(FG, project, name, version, "stats", "k", {})

    assert store.records(FG, "p", "fg", 1, "stats") == []


BODIES: list[Any] = [
    {},
    {"nested": {"list": [1, 2.5, None, True, False, "x"], "deep": {"a": {"b": {"c": []}}}}},
    {"unicode": "é ü 中文 😀 \u0000 \n\t\"quote\" 'single' \\ backslash"},
    {"ключ": "значение", "🔑": ["🎉"]},
    {"big": 2**62, "negative": -(2**62), "float": 0.1, "tiny": 1e-300, "huge": 1e300},
    {"items": [{"name": f"f{i}", "type": "float64"} for i in range(500)]},
]


def test_json_bodies_round_trip(store: MetadataStore) -> None:
    for i, body in enumerate(BODIES):
        name = f"fg{i}"
        store.create(FG, "p", name, 1, body)
        store.create(FG, "p", name, 2, {})
        store.update(FG, "p", name, 2, body)
        store.add_record(FG, "p", name, 2, "stats", "k", body)

    for i, body in enumerate(BODIES):
        name = f"fg{i}"
        assert store.get(FG, "p", name, 1).body == body, name
        assert store.get(FG, "p", name, 2).body == body, name
        assert store.list(FG, "p", name)[0].body == body, name
        assert store.records(FG, "p", name, 2, "stats")[0].body == body, name


def test_too_long_strings_are_refused_on_every_backend(store: MetadataStore) -> None:
    store.create(FG, "p", "fg", 1, {})
    calls: list[tuple[str, Callable[[], object]]] = [
        ("kind", lambda: store.create("k" * 65, "p", "fg", None, {})),
        ("project", lambda: store.create(FG, "p" * 65, "fg", None, {})),
        ("name", lambda: store.create(FG, "p", "n" * 256, None, {})),
        ("record_kind", lambda: store.add_record(FG, "p", "fg", 1, "r" * 65, "k", {})),
        ("key", lambda: store.add_record(FG, "p", "fg", 1, "stats", "k" * 256, {})),
    ]

    for field, call in calls:
        if isinstance(store, RemoteMetadataStore):
            # The server's schema refuses them first (kinds and projects are fti names).
            with pytest.raises((InvalidArgumentError, InvalidNameError)):
                call()
            continue
        with pytest.raises(InvalidArgumentError, match=rf"^{field} .* characters long"):
            call()
    if isinstance(store, RemoteMetadataStore):
        return

    # The longest allowed strings are stored.
    store.add_record(FG, "p", "fg", 1, "r" * 64, "k" * 255, {})
    assert store.create("k" * 64, "p" * 64, "n" * 255, None, {}).version == 1


def _create_versions(url: str, worker: int, count: int, ready: Any, results: Any) -> None:
    """Create ``count`` versions of one name with version None; report the versions taken."""
    store = open_metadata_store(url)
    try:
        ready.wait(60)  # every process has started: the writes overlap
        taken = [
            store.create(FG, "p", "fg", None, {"w": worker, "i": i}).version for i in range(count)
        ]
        results.put((worker, taken))
    except Exception as exc:
        results.put((worker, repr(exc)))
        raise
    finally:
        store.close()


def _collect(results: Any, workers: list[Any]) -> dict[int, Any]:
    """Each worker's outcome; fail at once when a worker dies without one."""
    outcomes: dict[int, Any] = {}
    deadline = time.monotonic() + 120
    while len(outcomes) < len(workers):
        try:
            worker, outcome = results.get(timeout=0.2)
        except queue.Empty:
            dead = [p.exitcode for p in workers if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                pytest.fail(f"a worker died or hung (exit codes {dead}); outcomes: {outcomes}")
        else:
            outcomes[worker] = outcome
    return outcomes


def test_concurrent_writers_get_every_version_once(store: MetadataStore, store_url: str) -> None:
    embedded_only(store_url)
    per_worker, total = 20, 40
    context = get_context("spawn")
    ready, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_create_versions, args=(store_url, w, per_worker, ready, results))
        for w in (0, 1)
    ]
    for process in workers:
        process.start()
    try:
        outcomes = _collect(results, workers)
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.exitcode is None:
                process.terminate()
    assert [p.exitcode for p in workers] == [0, 0], outcomes

    assert sorted(outcomes[0] + outcomes[1]) == list(range(1, total + 1))
    # Each worker saw its versions increase, and every body is stored under the version it got.
    assert all(taken == sorted(taken) for taken in outcomes.values())
    stored = {e.version: (e.body["w"], e.body["i"]) for e in store.list(FG, "p", "fg")}
    assert sorted(stored) == list(range(1, total + 1))
    for worker, taken in outcomes.items():
        assert [stored[v] for v in taken] == [(worker, i) for i in range(per_worker)]


def test_list_order_ignores_the_postgres_collation(postgres_server_url: str) -> None:
    """Byte order of names even in a database whose collation sorts 'a_c' before 'a1'."""
    import sqlalchemy as sa

    name = f"fti_test_icu_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        postgres_server_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        store = open_metadata_store(f"{postgres_server_url.rsplit('/', 1)[0]}/{name}")
        try:
            for entity_name in ["ab", "a_c", "a1"]:
                store.create(FG, "p", entity_name, None, {})
            assert [e.name for e in store.list(FG, "p")] == ["a1", "a_c", "ab"]
        finally:
            store.close()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user:secret@127.0.0.1/db",
        "sqlite://",
        "sqlite:/relative.db",
        "",
        "metadata.db",
        "redis://127.0.0.1:6379/0",
    ],
    ids=["mysql", "sqlite-memory", "sqlite-two-slashes", "empty", "bare-path", "redis"],
)
def test_unsupported_url_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="unsupported metadata store URL") as info:
        open_metadata_store(url)

    assert "secret" not in str(info.value)


def test_unreachable_postgres_is_store_error() -> None:
    url = "postgresql://fti:secret@127.0.0.1:1/fti"

    with pytest.raises(
        StoreError, match=r"cannot open the metadata store at .*127\.0\.0\.1:1"
    ) as info:
        open_metadata_store(url)

    assert "secret" not in str(info.value)


def test_opening_without_create_needs_an_existing_store(store_url: str, tmp_path: Path) -> None:
    embedded_only(store_url)
    with pytest.raises(NotFoundError, match="no fti metadata store"):
        open_metadata_store(store_url, create=False)
    assert not (tmp_path / "meta").exists()

    open_metadata_store(store_url).close()
    reopened = open_metadata_store(store_url, create=False)
    assert reopened.projects() == []
    reopened.close()


# Locks ----------------------------------------------------------------------------------------

MINUTE = timedelta(minutes=1)


def test_a_lock_is_held_by_one_owner_until_released(store: MetadataStore) -> None:
    first = store.lock("p", "job", "a", MINUTE)
    assert (first.name, first.owner) == ("job", "a")
    assert first.expires_at > datetime.now(UTC)

    refused = store.lock("p", "job", "b", MINUTE)
    assert refused.owner == "a" and refused.expires_at == first.expires_at
    # Another name or project is another lock.
    assert store.lock("p", "other", "b", MINUTE).owner == "b"
    assert store.lock("q", "job", "b", MINUTE).owner == "b"

    assert store.unlock("p", "job", "b") is False  # not b's to release
    assert store.lock("p", "job", "b", MINUTE).owner == "a"
    assert store.unlock("p", "job", "a") is True
    assert store.unlock("p", "job", "a") is False
    assert store.lock("p", "job", "b", MINUTE).owner == "b"


def test_the_holder_renews_and_an_expired_lock_is_taken(store: MetadataStore) -> None:
    first = store.lock("p", "job", "a", MINUTE)
    renewed = store.lock("p", "job", "a", 2 * MINUTE)
    assert renewed.owner == "a" and renewed.expires_at > first.expires_at

    store.lock("p", "short", "a", timedelta(milliseconds=50))
    time.sleep(0.1)
    assert store.lock("p", "short", "b", MINUTE).owner == "b"


def test_owners_racing_for_a_free_lock_get_one_holder(store: MetadataStore) -> None:
    owners = [f"o{i}" for i in range(6)]
    with ThreadPoolExecutor(len(owners)) as pool:
        held = list(pool.map(lambda owner: store.lock("p", "race", owner, MINUTE).owner, owners))

    assert len(set(held)) == 1 and held[0] in owners  # all see the one winner
    assert store.lock("p", "race", "late", MINUTE).owner == held[0]


def test_a_dead_holder_is_taken_from_only_when_named(store: MetadataStore) -> None:
    store.lock("p", "job", "dead", MINUTE)

    assert store.lock("p", "job", "b", MINUTE, take_from="someone else").owner == "dead"
    assert store.lock("p", "job", "b", MINUTE, take_from="dead").owner == "b"
    # Once taken, naming the dead holder again takes nothing from the new one.
    assert store.lock("p", "job", "c", MINUTE, take_from="dead").owner == "b"


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1)], ids=["zero", "negative"])
def test_a_lock_needs_a_positive_ttl(store: MetadataStore, ttl: timedelta) -> None:
    with pytest.raises(InvalidArgumentError, match="ttl must be positive"):
        store.lock("p", "job", "a", ttl)


def test_a_store_opened_without_create_gets_locks_on_first_use(store_url: str) -> None:
    embedded_only(store_url)
    open_metadata_store(store_url).close()
    reopened = open_metadata_store(store_url, create=False)
    try:
        assert reopened.lock("p", "job", "a", MINUTE).owner == "a"
        assert reopened.unlock("p", "job", "a") is True
    finally:
        reopened.close()


def _take_lock(url: str, worker: int, attempts: int, ready: Any, results: Any) -> None:
    """Try to take one lock ``attempts`` times; report how many attempts won it."""
    store = open_metadata_store(url)
    try:
        ready.wait(60)
        won = [store.lock("p", "race", f"w{worker}", MINUTE).owner == f"w{worker}"]
        won += [
            store.lock("p", f"race{i}", f"w{worker}", MINUTE).owner == f"w{worker}"
            for i in range(attempts)
        ]
        results.put((worker, won))
    except Exception as exc:
        results.put((worker, repr(exc)))
        raise
    finally:
        store.close()


def test_concurrent_takers_never_both_win(store: MetadataStore, store_url: str) -> None:
    embedded_only(store_url)
    attempts = 20
    context = get_context("spawn")
    ready, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_take_lock, args=(store_url, w, attempts, ready, results))
        for w in (0, 1)
    ]
    for process in workers:
        process.start()
    try:
        outcomes = _collect(results, workers)
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.exitcode is None:
                process.terminate()
    assert [p.exitcode for p in workers] == [0, 0], outcomes

    # Each lock (the shared one and each of the others) went to exactly one worker.
    assert all(a != b for a, b in zip(outcomes[0], outcomes[1], strict=True))
