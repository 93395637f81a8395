"""The online store backends the contract suite runs against: SQLite, and a real Redis server
(the ``redis_url`` fixture of tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from fti.stores.online import OnlineStore, open_online_store

TableFactory = Callable[..., str]


@pytest.fixture(params=["sqlite", "redis"])
def online_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store (SQLite) or of a shared test database (Redis)."""
    if request.param == "sqlite":
        return "sqlite://" + quote(str(tmp_path / "online" / "online.db"))
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def online_store(online_store_url: str) -> Iterator[OnlineStore]:
    """An open online store of each backend, closed after the test."""
    store = open_online_store(online_store_url)
    yield store
    store.close()


@pytest.fixture
def new_table(online_store: OnlineStore) -> Iterator[TableFactory]:
    """Make unique table names (a Redis database is shared); drop their tables afterwards."""
    made: list[str] = []

    def make(suffix: str = "", *, base: str | None = None) -> str:
        name = (base or f"t_{uuid.uuid4().hex[:12]}") + suffix
        made.append(name)
        return name

    yield make
    for name in made:
        online_store.drop(name)
