"""The contract every online store passes; each test runs against every backend (conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fti.errors import ConfigError, StoreError
from fti.stores.online import OnlineStore, open_online_store
from fti.stores.online.remote import RemoteOnlineStore
from support.remote_stores import SERVER

TableFactory = Callable[..., str]  # the new_table fixture
Version = tuple[int, int]  # (event time, commit id): the larger one wins


def test_roundtrip(online_store: OnlineStore, new_table: TableFactory) -> None:
    table = new_table()
    assert isinstance(online_store, OnlineStore)

    online_store.write(table, ["a", "b"], [10, 20], ['{"x": 1}', '{"x": 2}'], 0)

    assert online_store.read(table, ["a", "b"]) == ['{"x": 1}', '{"x": 2}']
    assert online_store.read(table, ["b"]) == ['{"x": 2}']


def test_missing_keys_read_as_none_in_order(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    table, unknown = new_table(), new_table()
    online_store.write(table, ["a", "c"], [1, 1], ["va", "vc"], 0)

    assert online_store.read(table, ["x", "a", "y", "c", "a"]) == [None, "va", None, "vc", "va"]
    assert online_store.read(table, ["x"]) == [None]
    assert online_store.read(table, []) == []
    assert online_store.read(unknown, ["a", "c"]) == [None, None]
    assert online_store.read(unknown, ["a"]) == [None]


def test_newer_event_time_wins(online_store: OnlineStore, new_table: TableFactory) -> None:
    table = new_table()
    online_store.write(table, ["a", "b"], [10, -10], ["a10", "b-10"], 5)

    # A later event time wins even when written by an older commit.
    online_store.write(table, ["a", "b"], [11, -9], ["a11", "b-9"], 4)

    assert online_store.read(table, ["a", "b"]) == ["a11", "b-9"]


def test_older_row_arriving_later_never_replaces_newer(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    table = new_table()
    online_store.write(table, ["a", "b"], [20, -5], ["a20", "b-5"], 1)

    online_store.write(table, ["a", "b"], [19, -6], ["a19", "b-6"], 2)

    assert online_store.read(table, ["a", "b"]) == ["a20", "b-5"]


def test_equal_event_time_later_commit_wins(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    table = new_table()
    online_store.write(table, ["a"], [10], ["c5"], 5)

    online_store.write(table, ["a"], [10], ["c6"], 6)
    assert online_store.read(table, ["a"]) == ["c6"]

    online_store.write(table, ["a"], [10], ["c4"], 4)
    assert online_store.read(table, ["a"]) == ["c6"]

    # The same commit replayed (e.g. after a crash) writes again.
    online_store.write(table, ["a"], [10], ["c6 again"], 6)
    assert online_store.read(table, ["a"]) == ["c6 again"]


def test_extreme_event_times_and_commit_ids(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    table = new_table()
    big = 2**53  # beyond it, doubles (Lua's numbers) no longer tell integers apart
    online_store.write(
        table, ["min", "max", "wide", "exact"], [-(2**63), 2**63 - 1, 2**40, big + 1], [""] * 4, 0
    )
    online_store.write(
        table, ["min", "max", "wide", "exact"], [-(2**63) + 1, 0, 1, big], list("abcd"), 1
    )
    assert online_store.read(table, ["min", "max", "wide", "exact"]) == ["a", "", "", ""]

    for commit in (big + 1, 2**40, big + 2, big, 5):
        online_store.write(table, ["tie"], [0], [f"commit {commit}"], commit)
    assert online_store.read(table, ["tie"]) == [f"commit {big + 2}"]
    assert online_store.watermark(table) == big + 2

    online_store.write(table, [], [], [], big + 1)
    assert online_store.watermark(table) == big + 2
    online_store.write(table, [], [], [], 2**63 - 1)
    assert online_store.watermark(table) == 2**63 - 1


def test_watermark_is_the_highest_commit_written(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    table, other = new_table(), new_table()
    assert online_store.watermark(table) == -1

    online_store.write(table, ["a"], [1], ["v"], 3)
    assert online_store.watermark(table) == 3

    online_store.write(table, ["a"], [2], ["v"], 1)
    assert online_store.watermark(table) == 3

    online_store.write(table, [], [], [], 7)
    assert online_store.watermark(table) == 7

    online_store.write(other, [], [], [], 0)
    assert online_store.watermark(other) == 0
    assert online_store.read(other, ["a"]) == [None]


def test_drop_removes_rows_and_watermark_of_that_table_only(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    # "?" must not become a wildcard in Redis' SCAN pattern and match the other table (a
    # server takes fti names only).
    base = new_table()
    wild = "_" if isinstance(online_store, RemoteOnlineStore) else "?"
    table, other = new_table(wild, base=base), new_table("x", base=base)
    online_store.write(table, ["a", "b"], [1, 1], ["va", "vb"], 2)
    online_store.write(other, ["a"], [1], ["other"], 3)

    online_store.drop(table)

    assert online_store.read(table, ["a", "b"]) == [None, None]
    assert online_store.read(table, ["a"]) == [None]
    assert online_store.watermark(table) == -1
    assert online_store.read(other, ["a"]) == ["other"]
    assert online_store.watermark(other) == 3
    online_store.drop(table)
    online_store.drop(new_table())

    online_store.write(table, ["a"], [0], ["again"], 0)
    assert online_store.read(table, ["a", "b"]) == ["again", None]
    online_store.drop(table)


def test_many_keys(online_store: OnlineStore, new_table: TableFactory) -> None:
    # Many SQLite statements (and more keys than SQLite's default limit of 32766 variables),
    # many Redis script calls and round trips.
    table = new_table()
    n = 40_000
    keys = [f"key-{i}" for i in range(n)]
    online_store.write(table, keys, [1] * n, [f"v1-{i}" for i in range(n)], 1)
    # Newer rows for the odd keys only, in reverse order.
    odd = keys[::-2]
    online_store.write(table, odd, [2] * len(odd), [f"v2-{k}" for k in odd], 2)

    asked = [f"key-{i}" for i in range(n + 3)][::-1]
    expected = [None if i >= n else f"v2-key-{i}" if i % 2 else f"v1-{i}" for i in range(n + 3)][
        ::-1
    ]
    assert online_store.read(table, asked) == expected
    assert online_store.watermark(table) == 2


@pytest.mark.parametrize("n", [1, 3, 1023, 1025, 2047])
def test_writes_of_any_size_keep_every_row(
    online_store: OnlineStore, new_table: TableFactory, n: int
) -> None:
    # Sizes around the SQLite store's statements of up to 1,024 rows (power-of-two pieces).
    table = new_table()
    keys = [f"{i:05d}" for i in range(n)]
    online_store.write(table, keys, list(range(n)), [f"v{i}" for i in range(n)], 0)
    online_store.write(table, keys[::2], [n] * len(keys[::2]), ["new"] * len(keys[::2]), 1)

    expected = ["new" if i % 2 == 0 else f"v{i}" for i in range(n)]
    assert online_store.read(table, [*keys, "absent"]) == [*expected, None]


def test_unicode_quotes_and_large_values(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    # The table name of an SQL injection, where the backend takes one (a server takes fti names).
    remote = isinstance(online_store, RemoteOnlineStore)
    table = new_table() if remote else new_table('"; drop table x; --')
    keys = ["ключ", "键", "🎉", "it's", 'say "hi"', "a:b:c", "*?[x]", "back\\slash", "", " "]
    values = [f"{k!r} -> 'значение' \"😀\" \\ \n\t" for k in keys]
    large = "🎉 " + "x" * (10 * 1024 * 1024)

    online_store.write(table, [*keys, "large"], [0] * (len(keys) + 1), [*values, large], 0)

    assert online_store.read(table, keys) == values
    assert online_store.read(table, ["large"]) == [large]
    assert [online_store.read(table, [k])[0] for k in keys] == values


_KEYS = ["a", "b", "é", ""]
_ROWS = st.dictionaries(
    st.sampled_from(_KEYS), st.tuples(st.integers(-3, 3), st.text(max_size=4)), max_size=4
)


@settings(
    max_examples=40,
    deadline=None,
    # Each example writes its own new table, so sharing the store between examples is fine.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(writes=st.lists(st.tuples(_ROWS, st.integers(0, 6)), max_size=8))
def test_matches_a_model_of_latest_row_per_key(
    online_store: OnlineStore,
    new_table: TableFactory,
    writes: list[tuple[dict[str, tuple[int, str]], int]],
) -> None:
    # Commit ids come in any order (not only increasing), so replays are covered too.
    table = new_table()
    model: dict[str, tuple[Version, str]] = {}
    watermark = -1
    for rows, commit in writes:
        online_store.write(
            table, list(rows), [e for e, _ in rows.values()], [v for _, v in rows.values()], commit
        )
        for key, (event_time, value) in rows.items():
            if key not in model or (event_time, commit) >= model[key][0]:
                model[key] = ((event_time, commit), value)
        watermark = max(watermark, commit)

    asked = [*_KEYS, "missing"]
    expected = [model[k][1] if k in model else None for k in asked]
    assert online_store.read(table, asked) == expected
    assert [online_store.read(table, [k])[0] for k in asked] == expected
    assert online_store.watermark(table) == watermark


_WORKER_KEYS = [f"k{i}" for i in range(60)]
_WORKER_ROUNDS = 25


def _worker_rows(worker: int, round_: int) -> tuple[list[int], int]:
    """Event times (with ties and going back in time) and a commit id no other write uses."""
    event_times = [(round_ * 7 + i * 3 + worker * 5) % 11 for i in range(len(_WORKER_KEYS))]
    return event_times, round_ * 2 + worker


def _expected_after_workers(workers: int) -> list[str]:
    best: dict[str, Version] = {}
    for worker in range(workers):
        for round_ in range(_WORKER_ROUNDS):
            event_times, commit = _worker_rows(worker, round_)
            for key, event_time in zip(_WORKER_KEYS, event_times, strict=True):
                best[key] = max(best.get(key, (-1, -1)), (event_time, commit))
    return [f"{e}/{c}" for e, c in (best[k] for k in _WORKER_KEYS)]


def _run_worker(store: OnlineStore, table: str, worker: int) -> None:
    """Write rounds of overlapping rows; after each, what is stored is at least as new."""
    for round_ in range(_WORKER_ROUNDS):
        event_times, commit = _worker_rows(worker, round_)
        values = [f"{e}/{commit}" for e in event_times]
        store.write(table, _WORKER_KEYS, event_times, values, commit)
        stored = store.read(table, _WORKER_KEYS)
        for key, written, now in zip(_WORKER_KEYS, event_times, stored, strict=True):
            assert now is not None, key
            stored_event, stored_commit = map(int, now.split("/"))
            assert (stored_event, stored_commit) >= (written, commit), (key, now)
        assert store.watermark(table) >= commit


def _run_worker_process(url: str, table: str, worker: int) -> None:
    store = open_online_store(url)
    try:
        _run_worker(store, table, worker)
    finally:
        store.close()


def test_two_threads_write_and_read_concurrently(
    online_store: OnlineStore, new_table: TableFactory
) -> None:
    table = new_table()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(_run_worker, online_store, table, w) for w in (0, 1)]:
            future.result()

    assert online_store.read(table, _WORKER_KEYS) == _expected_after_workers(2)
    assert online_store.watermark(table) == 2 * _WORKER_ROUNDS - 1


def test_two_processes_write_the_same_keys(
    online_store_url: str, online_store: OnlineStore, new_table: TableFactory
) -> None:
    if online_store_url.startswith(SERVER):
        pytest.skip("processes opening the store's URL themselves: embedded stores only")
    table = new_table()

    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        for future in [
            pool.submit(_run_worker_process, online_store_url, table, w) for w in (0, 1)
        ]:
            future.result()

    assert online_store.read(table, _WORKER_KEYS) == _expected_after_workers(2)
    assert online_store.watermark(table) == 2 * _WORKER_ROUNDS - 1


# Backend specifics.


def test_redis_write_failing_midway_keeps_the_old_watermark(redis_url: str) -> None:
    import redis

    store = open_online_store(redis_url)
    client = redis.Redis.from_url(redis_url)
    table = f"t_{uuid.uuid4().hex[:12]}"
    try:
        store.write(table, [], [], [], 1)
        # A key of the wrong type makes the script fail on the first of two chunks.
        client.rpush(f"fti:{table}:k0", "not a row")
        keys = [f"k{i}" for i in range(2500)]

        with pytest.raises(StoreError, match="WRONGTYPE"):
            store.write(table, keys, [0] * len(keys), ["v"] * len(keys), 2)

        assert store.watermark(table) == 1
        assert store.read(table, ["k2499"]) == [None]
    finally:
        store.drop(table)
        store.close()
        client.close()


# Choosing a backend by URL.


def test_sqlite_url_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "online.db"
    store = open_online_store(f"sqlite://{path}")
    try:
        store.write("t", ["k"], [0], ["v"], 0)
    finally:
        store.close()
    assert path.is_file()


@pytest.mark.parametrize(
    "url",
    ["postgresql://host/db", "online.db", "memory://", "sqlite://relative.db", "sqlite:///"],
    ids=["other-scheme", "no-scheme", "memory", "sqlite-host", "sqlite-no-path"],
)
def test_unsupported_urls_raise_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"sqlite:///|redis://"):
        open_online_store(url)


def test_unreachable_redis_raises_store_error_naming_the_url_without_password() -> None:
    pytest.importorskip("redis")
    store = open_online_store("redis://:s3cret@127.0.0.1:1/0")
    try:
        with pytest.raises(StoreError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as info:
            store.read("t", ["k"])
        assert "s3cret" not in str(info.value)
    finally:
        store.close()


def test_import_fti_does_not_import_redis() -> None:
    code = "import sys, fti, fti.stores.online; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
