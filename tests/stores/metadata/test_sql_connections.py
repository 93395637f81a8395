"""The PostgreSQL metadata store's pooled connections: one idle for a while is pinged when
taken and replaced when dead; one used a moment ago is taken unpinged (ADR 0015)."""

from __future__ import annotations

import pytest

from fti.errors import StoreError
from fti.stores.metadata import sql
from fti.stores.metadata.sql import SqlMetadataStore, engine_for

FG = "feature_group"


def _kill_its_connections(url: str) -> int:
    """Terminate every other session on the database of ``url`` (as a server restart would)."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            killed = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar()
    finally:
        engine.dispose()
    return int(killed or 0)


def test_a_dead_connection_idle_past_the_threshold_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlMetadataStore(postgres_url)
    try:
        store.create(FG, "p", "fg", 1, {"a": 1})
        assert _kill_its_connections(postgres_url) >= 1
        monkeypatch.setattr(sql, "PING_IDLE", 0.0)  # every pooled connection counts as idle

        assert store.get(FG, "p", "fg", 1).body == {"a": 1}
    finally:
        store.close()


def test_a_dead_connection_used_a_moment_ago_fails_once_then_is_replaced(
    postgres_url: str,
) -> None:
    store = SqlMetadataStore(postgres_url)
    try:
        store.create(FG, "p", "fg", 1, {"a": 1})
        assert _kill_its_connections(postgres_url) >= 1

        with pytest.raises(StoreError, match="failed"):
            store.get(FG, "p", "fg", 1)
        assert store.get(FG, "p", "fg", 1).body == {"a": 1}
    finally:
        store.close()
