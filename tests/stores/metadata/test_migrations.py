"""Migrations of the metadata database: the schema they make is the code's, a store made before
them is stamped and upgraded, and many processes opening one database at once migrate it once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fti.errors import StoreError
from fti.stores.metadata import accounts, migrations, open_metadata_store, sql

FG = "feature_group"
PROCESSES = 5


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    """A plain engine on the database, to look at it from outside the store."""
    created = sql.engine_for(url)
    yield created
    created.dispose()


def old_schema(with_locks: bool) -> sa.MetaData:
    """The tables a store made before migrations had (the locks came in between)."""
    metadata = sa.MetaData()
    for table in (sql.entities, sql.records, *((sql.locks,) if with_locks else ())):
        table.to_metadata(metadata)
    return metadata


def version_rows(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.text(f"SELECT version_num FROM {migrations.VERSION_TABLE}")).scalars()
        )


def test_the_newest_migration_is_head() -> None:
    from alembic.script import ScriptDirectory

    with sa.create_engine("sqlite://").connect() as conn:
        script = ScriptDirectory.from_config(migrations.config(conn))

    assert script.get_heads() == [migrations.HEAD]
    assert script.get_base() == migrations.BASELINE


def test_a_new_store_has_exactly_the_tables_of_the_code(url: str, engine: sa.Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    open_metadata_store(url).close()

    code = sa.MetaData()
    for table in [*sql.schema.tables.values(), *accounts.schema.tables.values()]:
        table.to_metadata(code)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": migrations.VERSION_TABLE, "compare_type": True}
        )
        differences = compare_metadata(context, code)
    assert differences == []
    assert version_rows(engine) == [migrations.HEAD]


@pytest.mark.parametrize("with_locks", [False, True], ids=["before_locks", "with_locks"])
def test_a_store_made_before_migrations_is_stamped_then_upgraded(
    url: str, engine: sa.Engine, with_locks: bool
) -> None:
    old_schema(with_locks).create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sql.entities.insert().values(
                kind=FG, project="p", name="fg", version=1, body='{"a": 1}', created_at=now
            )
        )

    store = sql.SqlMetadataStore(url, create=False)
    try:
        assert store.get(FG, "p", "fg", 1).body == {"a": 1}
        assert store.lock("p", "job", "me", timedelta(minutes=1)).owner == "me"
        assert accounts.AccountStore(store).create_user("alice").name == "alice"
    finally:
        store.close()
    assert version_rows(engine) == [migrations.HEAD]


def test_a_store_of_a_newer_fti_is_refused_with_the_reason(url: str, engine: sa.Engine) -> None:
    open_metadata_store(url).close()
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'"))

    with pytest.raises(StoreError, match=r"schema revision 0003: .*9999.* upgrade fti"):
        open_metadata_store(url)


def _open_and_write(url: str, worker: int, barrier: Any, outcomes: Any) -> None:
    barrier.wait(timeout=60)
    try:
        store = open_metadata_store(url)
        store.create(FG, "p", f"fg_{worker}", None, {"worker": worker})
        store.close()
        outcomes.put((worker, "ok"))
    except Exception as exc:
        outcomes.put((worker, f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("start", ["empty", "before_migrations"])
def test_processes_opening_one_database_at_once_migrate_it_once(
    url: str, engine: sa.Engine, start: str
) -> None:
    if start == "before_migrations":
        old_schema(with_locks=False).create_all(engine)
    context = get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    outcomes = context.Queue()
    workers = [
        context.Process(target=_open_and_write, args=(url, i, barrier, outcomes))
        for i in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    results = dict(outcomes.get(timeout=120) for _ in workers)
    for process in workers:
        process.join(timeout=60)

    assert results == {i: "ok" for i in range(PROCESSES)}
    assert version_rows(engine) == [migrations.HEAD]
    store = open_metadata_store(url, create=False)
    try:
        assert [e.body["worker"] for e in store.list(FG, "p")] == list(range(PROCESSES))
    finally:
        store.close()


def test_opening_a_store_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    open_metadata_store(url).close()
    script = (
        "import sys\n"
        "from fti.stores.metadata import open_metadata_store\n"
        f"open_metadata_store({url!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.strip() == "False"
