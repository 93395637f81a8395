"""Alembic's environment: migrations run on the connection :func:`migrations.config` hands in,
inside the caller's transaction (which holds the migration lock)."""

from __future__ import annotations

from alembic import context

from fti.stores.metadata.migrations import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
