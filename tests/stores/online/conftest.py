"""The online store backends the contract suite runs against: SQLite, and a real Redis server.

Redis is found at ``FTI_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``). When it cannot
be reached its tests are skipped, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from fti.stores.online import OnlineStore, open_online_store

REDIS_URL = os.environ.get("FTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

TableFactory = Callable[..., str]


def _redis_problem(url: str) -> str | None:
    """Why the Redis server at ``url`` cannot be used, or None when it can."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return "redis-py is not installed (pip install 'fti[redis]')"
    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        return f"no Redis server at {url} ({exc}); set FTI_TEST_REDIS_URL to run these tests"
    finally:
        client.close()
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable Redis server, checked once per session."""
    problem = _redis_problem(REDIS_URL)
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return REDIS_URL


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
