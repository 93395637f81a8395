"""The online store backends the contract suite runs against: SQLite, and a real Redis server
(the ``redis_url`` fixture of tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from fti.stores.online import OnlineStore, open_online_store
from fti.stores.online.remote import RemoteOnlineStore
from support.remote_stores import SERVER, in_process_client, server_settings

TableFactory = Callable[..., str]


@pytest.fixture(params=["sqlite", "redis", "server"])
def online_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store (SQLite), of a shared test database (Redis), or of a SQLite
    store behind fti server (``server+sqlite://...``: the remote backend)."""
    if request.param in ("sqlite", "server"):
        url = "sqlite://" + quote(str(tmp_path / "online" / "online.db"))
        return SERVER + url if request.param == "server" else url
    url = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def online_store(online_store_url: str, tmp_path: Path) -> Iterator[OnlineStore]:
    """An open online store of each backend, closed after the test."""
    if online_store_url.startswith(SERVER):
        settings = server_settings(tmp_path / "server", online_url=online_store_url[len(SERVER) :])
        client = in_process_client(settings)
        store: OnlineStore = RemoteOnlineStore(client)
        yield store
        client.close()
        return
    store = open_online_store(online_store_url)
    yield store
    store.close()


@pytest.fixture
def new_table(online_store: OnlineStore) -> Iterator[TableFactory]:
    """Make unique table names (a Redis database is shared); drop their tables afterwards.
    Through a server, a table is in project ``p`` (``p__...``)."""
    made: list[str] = []
    project = "p__" if isinstance(online_store, RemoteOnlineStore) else ""

    def make(suffix: str = "", *, base: str | None = None) -> str:
        name = (base or f"{project}t_{uuid.uuid4().hex[:12]}") + suffix
        made.append(name)
        return name

    yield make
    for name in made:
        online_store.drop(name)
