"""The metadata store on SQLAlchemy 2: SQLite by default, PostgreSQL for teams.

One implementation, two dialects (MLflow's lesson: a second metadata backend doubles every
feature). SQLAlchemy rows never leave this module: callers get :class:`Entity` and
:class:`Record` values.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fti.dependencies import import_optional
from fti.errors import (
    AlreadyExistsError,
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    StoreError,
)
from fti.names import check_entity_name
from fti.settings import redact_url
from fti.stores.metadata import migrations
from fti.stores.metadata.base import Entity, Lock, Record

_T = TypeVar("_T")

# The tables as the code uses them; the migrations (``migrations/``) create them.
schema = sa.MetaData()

entities = sa.Table(
    "fti_entities",
    schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("project", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("kind", "project", "name", "version", name="uq_entity_version"),
)

records = sa.Table(
    "fti_records",
    schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("fti_entities.id"), nullable=False),
    sa.Column("record_kind", sa.String(64), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("entity_id", "record_kind", "key", name="uq_record_key"),
)
sa.Index("ix_records_entity", records.c.entity_id, records.c.record_kind)

locks = sa.Table(
    "fti_locks",
    schema,
    sa.Column("project", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

_RETRIES = 20
PING_IDLE = 1.0
"""Seconds a pooled PostgreSQL connection may sit idle before it is pinged when taken (ADR 0015)."""


class SqlMetadataStore:
    """Metadata store on a SQLAlchemy URL (``sqlite:///...`` or ``postgresql://...``)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open the store; with ``create=False``, NotFoundError when it holds no fti metadata
        (nothing is created)."""
        self.url = url
        if not create and url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if not path.is_file():
                raise NotFoundError(f"no fti metadata store at {path}")
        self._engine = engine_for(url)
        try:
            if not create and not sa.inspect(self._engine).has_table(entities.name):
                self._engine.dispose()
                raise NotFoundError(f"no fti metadata store at {_safe(url)}")
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open the metadata store at {_safe(url)}: {exc}") from exc
        # The schema is the migrations' (a store made by an older fti is upgraded, once).
        try:
            migrations.upgrade(self._engine, _safe(url))
        except StoreError:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlMetadataStore({_safe(self.url)!r})"

    def create(
        self, kind: str, project: str, name: str, version: int | None, body: Mapping[str, Any]
    ) -> Entity:
        """Store a new entity version; ``None`` takes the next free version atomically."""
        _check_lengths(kind=kind, project=project, name=name)
        check_entity_name(name)

        def attempt(conn: Connection) -> Entity:
            number = version
            if number is None:
                latest = conn.execute(
                    sa.select(sa.func.max(entities.c.version)).where(*_where(kind, project, name))
                ).scalar()
                number = (latest or 0) + 1
            now = datetime.now(UTC)
            dumped = _dump(body)
            conn.execute(
                entities.insert().values(
                    kind=kind,
                    project=project,
                    name=name,
                    version=number,
                    body=dumped,
                    created_at=now,
                )
            )
            # The body as get() will return it (tuples become lists...), not the caller's object.
            return Entity(kind, project, name, number, json.loads(dumped), now)

        for _ in range(_RETRIES):
            try:
                return self._transaction(attempt)
            except sa.exc.IntegrityError as exc:
                if version is not None:
                    raise AlreadyExistsError(
                        f"{kind.replace('_', ' ')} {name!r} version {version} already exists "
                        f"in project {project!r}"
                    ) from exc
                # Another writer took the same next version first: read the max again.
        raise StoreError(f"could not allocate a version for {kind} {name!r}: too much contention")

    def get(self, kind: str, project: str, name: str, version: int | None = None) -> Entity:
        """One version, the latest when ``version`` is None; NotFoundError when absent."""
        query = sa.select(entities).where(*_where(kind, project, name))
        if version is None:
            query = query.order_by(entities.c.version.desc()).limit(1)
        else:
            query = query.where(entities.c.version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                which = "any version" if version is None else f"version {version}"
                raise NotFoundError(
                    f"{kind.replace('_', ' ')} {name!r} ({which}) not found in project "
                    f"{project!r}; {_existing(conn, kind, project, name if version else None)}"
                )
        return _entity(row)

    def list(self, kind: str, project: str, name: str | None = None) -> list[Entity]:
        """All versions of ``name`` (or of every name), ordered by name then version."""
        query = sa.select(entities).where(entities.c.kind == kind, entities.c.project == project)
        if name is not None:
            query = query.where(entities.c.name == name)
        with self._read() as conn:
            rows = conn.execute(query).all()
        # Sorted here, not in SQL: PostgreSQL orders names by the database's collation
        # (en_US puts 'a_c' before 'a1'), SQLite by bytes; the contract is one order.
        return sorted((_entity(r) for r in rows), key=lambda e: (e.name, e.version))

    def projects(self) -> builtins.list[str]:
        """The projects that hold at least one entity, sorted."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(entities.c.project).distinct()).scalars().all()
        return sorted(rows)

    def update(
        self, kind: str, project: str, name: str, version: int, body: Mapping[str, Any]
    ) -> Entity:
        """Replace an entity's body; NotFoundError when absent."""

        dumped = _dump(body)

        def attempt(conn: Connection) -> datetime | None:
            # RETURNING, not a get() after: one round trip fewer on every update (the
            # scheduler updates run records and its state several times per run).
            return conn.execute(
                entities.update()
                .where(*_where(kind, project, name), entities.c.version == version)
                .values(body=dumped)
                .returning(entities.c.created_at)
            ).scalar()

        created_at = self._transaction(attempt)
        if created_at is None:
            raise NotFoundError(
                f"{kind.replace('_', ' ')} {name!r} version {version} not found "
                f"in project {project!r}"
            )
        # The body as get() will return it (tuples become lists...), not the caller's object.
        return Entity(kind, project, name, version, json.loads(dumped), _aware(created_at))

    def delete(self, kind: str, project: str, name: str, version: int) -> None:
        """Remove an entity version and its records; NotFoundError when absent."""

        def attempt(conn: Connection) -> int:
            entity_id = self._entity_id(conn, kind, project, name, version)
            conn.execute(records.delete().where(records.c.entity_id == entity_id))
            conn.execute(entities.delete().where(entities.c.id == entity_id))
            return entity_id

        self._transaction(attempt)

    def add_record(
        self,
        kind: str,
        project: str,
        name: str,
        version: int,
        record_kind: str,
        key: str,
        body: Mapping[str, Any],
    ) -> None:
        """Attach a record to an entity version (replacing one with the same kind and key)."""
        _check_lengths(record_kind=record_kind, key=key)

        def attempt(conn: Connection) -> None:
            entity_id = self._entity_id(conn, kind, project, name, version)
            conn.execute(
                records.delete().where(
                    records.c.entity_id == entity_id,
                    records.c.record_kind == record_kind,
                    records.c.key == key,
                )
            )
            conn.execute(
                records.insert().values(
                    entity_id=entity_id,
                    record_kind=record_kind,
                    key=key,
                    body=_dump(body),
                    created_at=datetime.now(UTC),
                )
            )

        self._transaction(attempt)

    def records(
        self,
        kind: str,
        project: str,
        name: str,
        version: int,
        record_kind: str,
        key: str | None = None,
    ) -> builtins.list[Record]:
        """Records of one kind attached to an entity version, oldest first."""
        query = (
            sa.select(records)
            .join(entities, records.c.entity_id == entities.c.id)
            .where(
                *_where(kind, project, name),
                entities.c.version == version,
                records.c.record_kind == record_kind,
            )
            .order_by(records.c.id)
        )
        if key is not None:
            query = query.where(records.c.key == key)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            Record(r.record_kind, r.key, json.loads(r.body), _aware(r.created_at)) for r in rows
        ]

    def lock(
        self, project: str, name: str, owner: str, ttl: timedelta, *, take_from: str | None = None
    ) -> Lock:
        """Take or renew lock ``name`` for ``owner`` until now + ``ttl``, atomically."""
        _check_lengths(project=project, name=name, owner=owner)
        if ttl <= timedelta(0):
            raise InvalidArgumentError(f"a lock's ttl must be positive, not {ttl}")
        where = (locks.c.project == project, locks.c.name == name)

        def attempt(conn: Connection) -> Lock:
            now = datetime.now(UTC)
            expires = now + ttl
            takeable = [locks.c.owner == owner, locks.c.expires_at <= now]
            if take_from is not None:
                takeable.append(locks.c.owner == take_from)
            # One statement takes a free lock, renews ours or takes a takeable one (both
            # dialects' INSERT ... ON CONFLICT waits for a concurrent insert of the same lock).
            insert = _upsert_dialect(conn).insert(locks)
            taken = conn.execute(
                insert.values(project=project, name=name, owner=owner, expires_at=expires)
                .on_conflict_do_update(
                    index_elements=[locks.c.project, locks.c.name],
                    set_={"owner": owner, "expires_at": expires},
                    where=sa.or_(*takeable),
                )
                .returning(locks.c.owner)
            ).first()
            if taken is not None:
                return Lock(name, owner, expires)
            row = conn.execute(sa.select(locks).where(*where)).one()
            return Lock(name, row.owner, _aware(row.expires_at))

        return self._transaction(attempt)

    def unlock(self, project: str, name: str, owner: str) -> bool:
        """Release lock ``name`` if ``owner`` holds it; whether it did."""

        def attempt(conn: Connection) -> int:
            if conn.dialect.name == "postgresql":
                # No wait for the WAL flush (ADR 0014): an unlock lost to a server crash only
                # keeps the lock until its ttl, or until its owner is seen dead.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            result = conn.execute(
                locks.delete().where(
                    locks.c.project == project, locks.c.name == name, locks.c.owner == owner
                )
            )
            return int(result.rowcount)

        return self._transaction(attempt) > 0

    def close(self) -> None:
        """Release connections."""
        self._engine.dispose()

    def _entity_id(self, conn: Connection, kind: str, project: str, name: str, version: int) -> int:
        entity_id = conn.execute(
            sa.select(entities.c.id).where(
                *_where(kind, project, name), entities.c.version == version
            )
        ).scalar()
        if entity_id is None:
            raise NotFoundError(
                f"{kind.replace('_', ' ')} {name!r} version {version} not found "
                f"in project {project!r}"
            )
        return int(entity_id)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"metadata store {_safe(self.url)} failed: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads: outside a transaction on PostgreSQL (a single SELECT sees
        one snapshot anyway), which saves the BEGIN and ROLLBACK round trips."""
        with self._connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    def _transaction(self, work: Callable[[Connection], _T]) -> _T:
        """Run ``work`` in one transaction, retrying while SQLite reports a locked database."""
        delay = 0.01
        for attempt in range(_RETRIES):
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except sa.exc.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or attempt == _RETRIES - 1:
                    raise StoreError(f"metadata store {_safe(self.url)} failed: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")


def _upsert_dialect(conn: Connection) -> Any:
    """The SQLAlchemy dialect module whose ``insert`` has ``on_conflict_do_update``, imported
    when first needed: the PostgreSQL dialect alone costs a command on a SQLite home ~60 ms."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql
    from sqlalchemy.dialects import sqlite

    return sqlite


def engine_for(url: str) -> Engine:
    """A SQLAlchemy engine for a metadata store URL (``sqlite:///...``, ``postgresql://...``)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _begin_immediate(engine)
        return engine
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        import_optional("psycopg", "postgres")
        driver_url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine = sa.create_engine(driver_url)
        _ping_when_idle(engine)
        return engine
    raise ConfigError(
        f"unsupported metadata store URL {_safe(url)}: use sqlite:///path or postgresql://..."
    )


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection when it is taken after more than PING_IDLE seconds idle, and
    replace it when it is dead (a restarted server, an idle timeout); one used a moment ago
    goes unpinged: a ping is a round trip, and a run takes eight connections (ADR 0015)."""

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards the connection and takes a new one.
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _begin_immediate(engine: Engine) -> None:
    """Take SQLite's write lock at BEGIN, so concurrent writers queue instead of deadlocking."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        _wal(dbapi_connection)
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _wal(dbapi_connection: Any, wait: float = 30.0) -> None:
    """Put the database in WAL mode. Several processes opening a new database at once each
    ask for it, and SQLite answers "database is locked" at once, without its busy timeout,
    to all but one: ask again until ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_MAX_LENGTHS = {
    "kind": 64,
    "project": 64,
    "name": 255,
    "record_kind": 64,
    "key": 255,
    "owner": 255,
}


def _check_lengths(**values: str) -> None:
    """Refuse strings longer than their column, the same way on every dialect.

    PostgreSQL would raise a raw DataError and SQLite would store them silently.
    """
    for field, value in values.items():
        if len(value) > _MAX_LENGTHS[field]:
            raise InvalidArgumentError(
                f"{field} {value[:40]!r}... is {len(value)} characters long; "
                f"the metadata store keeps at most {_MAX_LENGTHS[field]}"
            )


def _existing(conn: Connection, kind: str, project: str, name: str | None) -> str:
    """What exists instead, for a not-found message: the versions of ``name`` when given and
    present, else the names of ``kind`` in the project (the first 20)."""
    noun = kind.replace("_", " ")
    if name is not None:
        versions = (
            conn.execute(
                sa.select(entities.c.version)
                .where(*_where(kind, project, name))
                .order_by(entities.c.version)
            )
            .scalars()
            .all()
        )
        if versions:
            return f"its versions: {', '.join(map(str, versions))}"
    names = sorted(
        conn.execute(
            sa.select(entities.c.name)
            .where(entities.c.kind == kind, entities.c.project == project)
            .distinct()
        )
        .scalars()
        .all()
    )
    if not names:
        return f"the project has no {noun} yet"
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{noun}s in it: {', '.join(names[:20])}{more}"


def _where(kind: str, project: str, name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (entities.c.kind == kind, entities.c.project == project, entities.c.name == name)


def _entity(row: Any) -> Entity:
    return Entity(
        row.kind, row.project, row.name, row.version, json.loads(row.body), _aware(row.created_at)
    )


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes even for timezone=True columns; they were written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _dump(body: Mapping[str, Any]) -> str:
    return json.dumps(body, default=str, sort_keys=True)


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    return redact_url(url)
