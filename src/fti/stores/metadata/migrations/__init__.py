"""Schema migrations of the metadata database (Alembic), applied once however many processes
open the store at the same time.

Every process that opens the store calls :func:`upgrade`. When the database is at
:data:`HEAD` already, that costs one ``SELECT``; otherwise the first process takes a lock
(PostgreSQL: a transaction-level advisory lock; SQLite: the database's write lock, taken by
``BEGIN IMMEDIATE``), migrates inside that one transaction, and the others, waiting on the
lock, find the work done. A database made before migrations existed (fti tables, no version
table) is stamped with the :data:`BASELINE` first, then upgraded.

To change the schema: change the tables in code (``sql.py``, ``accounts.py``), add
``versions/NNNN_what.py`` with ``revision = "NNNN"`` and ``down_revision`` the previous head,
and set :data:`HEAD` to it. A test fails while the migrated schema and the code's tables differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fti.errors import StoreError

HEAD = "0003"
"""The newest revision; the schema the code's tables describe."""
BASELINE = "0001"
"""The schema of metadata stores made before migrations existed."""
VERSION_TABLE = "fti_alembic_version"
"""Alembic's version table, with the fti_ prefix: a team's database may hold other apps'."""

_HERE = Path(__file__).parent
# pg_advisory_xact_lock takes one bigint: a fixed key naming "fti metadata migrations".
_ADVISORY_LOCK_KEY = 0x0F71_3E7A_0000_0001


def upgrade(engine: Engine, where: str) -> None:
    """Bring the database of ``engine`` to :data:`HEAD`; StoreError naming ``where`` when it
    cannot (unreachable, or at a revision newer than this fti knows)."""
    try:
        if current(engine) == HEAD:
            return
        _migrate(engine, where)  # Alembic is imported only on this path
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open the metadata store at {where}: {exc}") from exc


def current(engine: Engine) -> str | None:
    """The database's revision (None: no version table yet)."""
    with engine.connect() as conn:
        try:
            value = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        except (sa.exc.ProgrammingError, sa.exc.OperationalError):
            # No version table (PostgreSQL: ProgrammingError, SQLite: OperationalError).
            return None
    return None if value is None else str(value)


def config(connection: Connection) -> Any:
    """An Alembic ``Config`` of these migrations, running on ``connection``."""
    from alembic.config import Config

    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(_HERE))
    alembic_config.attributes["connection"] = connection
    return alembic_config


def _migrate(engine: Engine, where: str) -> None:
    from alembic.util.exc import CommandError

    try:
        with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the database's write lock
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                )
            _upgrade_locked(conn)
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate the metadata store at {where} to schema revision {HEAD}: {exc} "
            "(a newer fti may have migrated it: upgrade fti)"
        ) from exc


def _upgrade_locked(conn: Connection) -> None:
    from alembic import command

    tables = set(sa.inspect(conn).get_table_names())
    alembic_config = config(conn)
    if VERSION_TABLE not in tables and "fti_entities" in tables:
        command.stamp(alembic_config, BASELINE)
    command.upgrade(alembic_config, "head")
