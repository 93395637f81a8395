"""The offline store on S3 (a real S3 API on loopback): cached copies for DuckDB, credentials
that never leak, refused unsafe commit modes, an unreachable store, writers on many processes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from fti.errors import ConfigError, NotFoundError, StoreError
from fti.stores.locations import open_location
from fti.stores.offline import DeltaOfflineStore, OfflineStore, open_offline_store
from support.tcp_proxy import proxied

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TABLE = "p/events_v1"
KEYS = ["id", "t"]
# Recognizable, so that a leak shows in any message.
FAKE_SECRET = "fti-FAKE-secret-0c5e7d1e9b"


def rows(ids: list[int], x: float = 1.0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "t": pa.array([T0] * len(ids), pa.timestamp("us", "UTC")),
            "x": pa.array([x] * len(ids), pa.float64()),
        }
    )


def upsert(store: OfflineStore, data: pa.Table, table: str = TABLE) -> int:
    return store.upsert(table, data, KEYS, {"fti.rows": str(data.num_rows)})


@pytest.fixture
def store(s3_url: str, tmp_path: Path) -> OfflineStore:
    return open_offline_store(s3_url, cache_dir=tmp_path / "cache")


# The cache of data files DuckDB reads ---------------------------------------------------------


def test_data_files_are_copied_into_the_cache_once(store: OfflineStore, tmp_path: Path) -> None:
    upsert(store, rows([1, 2]))
    upsert(store, rows([3]))
    files = store.files(TABLE, 1)

    paths = store.local_paths(TABLE, files)
    inodes = [os.stat(p).st_ino for p in paths]

    assert all(f.path.startswith("s3://") and f.size for f in files)
    assert all(Path(p).is_relative_to(tmp_path / "cache") for p in paths)
    assert [os.path.getsize(p) for p in paths] == [f.size for f in files]
    assert [os.stat(p).st_ino for p in store.local_paths(TABLE, files)] == inodes
    shutil.rmtree(tmp_path / "cache")  # always safe
    again = pa.concat_tables([pq.read_table(p) for p in store.local_paths(TABLE, files)])
    assert sorted(again.column("id").to_pylist()) == [1, 2, 3]


def test_a_local_root_uses_its_own_files(tmp_path: Path) -> None:
    store = open_offline_store(tmp_path / "offline", cache_dir=tmp_path / "cache")
    upsert(store, rows([1]))
    files = store.files(TABLE, 0)

    assert store.local_paths(TABLE, files) == [f.path for f in files]
    assert not (tmp_path / "cache").exists()


def test_files_gone_from_the_store_are_not_found(store: OfflineStore, s3_url: str) -> None:
    upsert(store, rows([1]))
    upsert(store, rows([1], x=2.0))  # rewrites the file of version 0
    old = store.files(TABLE, 0)
    table = DeltaTable(f"{s3_url}/{TABLE}", storage_options={"conditional_put": "etag"})
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)

    with pytest.raises(NotFoundError, match="vacuum"):
        store.local_paths(TABLE, old)


# Credentials ----------------------------------------------------------------------------------


def operations(store: OfflineStore) -> dict[str, Callable[[], object]]:
    return {
        "upsert": lambda: upsert(store, rows([1])),
        "version": lambda: store.version(TABLE),
        "history": lambda: store.history(TABLE),
        "write_file": lambda: store.write_file("p/a.parquet", rows([1])),
        "read_file": lambda: store.read_file("p/a.parquet"),
    }


def assert_no_secret(error: BaseException, store: OfflineStore) -> None:
    """The secret is in no message of the error's chain, nor in the store's repr()."""
    chain: BaseException | None = error
    while chain is not None:
        assert FAKE_SECRET not in str(chain) and FAKE_SECRET not in repr(chain)
        chain = chain.__cause__ or chain.__context__
    assert FAKE_SECRET not in repr(store)
    assert FAKE_SECRET not in repr(open_location(str(store.location)))


@pytest.mark.parametrize("wrong", ["secret", "key-id"], ids=["wrong-secret", "unknown-key-id"])
def test_refused_credentials_are_a_config_error_naming_them(
    authenticating_s3: tuple[str, str, str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    wrong: str,
) -> None:
    url, bucket, key_id, secret = authenticating_s3
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id if wrong == "secret" else "AKIAFTIUNKNOWN000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    store = open_offline_store(f"s3://{bucket}/{uuid.uuid4().hex}", cache_dir=tmp_path / "c")

    for name, call in operations(store).items():
        with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY") as caught:
            call()
        assert "refused the credentials" in str(caught.value), name
        assert_no_secret(caught.value, store)

    # The same calls with the right secret: the server checks, and the mapping is not a guess.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    store = open_offline_store(store.location.display, cache_dir=tmp_path / "c")
    assert upsert(store, rows([1])) == 0
    store.write_file("p/a.parquet", rows([1]))
    assert store.read_file("p/a.parquet").num_rows == 1


def test_missing_credentials_are_a_config_error_naming_what_to_set(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    store = open_offline_store(s3_url, cache_dir=tmp_path / "cache")

    with pytest.raises(
        ConfigError, match="no credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    ):
        upsert(store, rows([1]))
    with pytest.raises(ConfigError, match="no credentials found"):
        store.version(TABLE)


# Commit modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_S3_ALLOW_UNSAFE_RENAME", "true"), ("AWS_CONDITIONAL_PUT", "disabled")],
    ids=["unsafe-rename", "no-conditional-put"],
)
def test_unsafe_commit_modes_are_refused_for_writes(
    store: OfflineStore, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    upsert(store, rows([1]))
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=rf"{variable}={value}.*allow_unsafe_s3_commits"):
        upsert(store, rows([2]))

    assert store.version(TABLE) == 0  # nothing written; reads need no opt-in
    assert store.dataset(TABLE).to_table().column("id").to_pylist() == [1]


def test_an_unsafe_commit_mode_can_be_allowed_by_name(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    store = open_offline_store(s3_url, cache_dir=tmp_path / "c", allow_unsafe_s3_commits=True)

    assert upsert(store, rows([1])) == 0
    assert upsert(store, rows([2])) == 1


def test_a_local_root_has_no_s3_commit_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    store = open_offline_store(tmp_path / "offline")

    assert upsert(store, rows([1])) == 0


# An unreachable store -------------------------------------------------------------------------


@pytest.mark.slow
def test_an_unreachable_store_is_a_store_error_and_changes_nothing(
    s3_endpoint: str, s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with proxied(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        store = open_offline_store(s3_url, cache_dir=tmp_path / "cache")
        upsert(store, rows([1]))
        store.write_file("p/a.parquet", rows([1]))

        proxy.cut()
        for call in (
            lambda: upsert(store, rows([2])),
            lambda: store.version(TABLE),
            lambda: store.write_file("p/b.parquet", rows([2])),
            lambda: store.read_file("p/a.parquet"),
            lambda: store.local_paths(TABLE, store.files(TABLE, 0)),
        ):
            with pytest.raises(
                StoreError, match=f"at {s3_url}: the store cannot be reached"
            ) as caught:
                call()
            assert "\n" not in str(caught.value)
        proxy.restore()

        assert store.version(TABLE) == 0
        with pytest.raises(NotFoundError):
            store.read_file("p/b.parquet")
        assert upsert(store, rows([2])) == 1
        assert sorted(store.dataset(TABLE).to_table().column("id").to_pylist()) == [1, 2]


# Writers on many machines ---------------------------------------------------------------------

WRITER = """
import json, sys
import pyarrow as pa, datetime as dt
from fti.stores.offline import open_offline_store

url, cache, writer, commits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = open_offline_store(url, cache_dir=cache)
t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
versions = []
for i in range(commits):
    ids = [writer * 1000 + i * 10 + j for j in range(10)]
    data = pa.table({
        "id": pa.array(ids, pa.int64()),
        "t": pa.array([t0] * 10, pa.timestamp("us", "UTC")),
        "writer": pa.array([writer] * 10, pa.int64()),
        "commit": pa.array([i] * 10, pa.int64()),
    })
    props = {"fti.writer": str(writer), "fti.commit": str(i)}
    versions.append(store.upsert("p/shared_v1", data, ["id", "t"], props))
print(json.dumps(versions))
"""


@pytest.mark.slow
def test_writers_in_four_processes_lose_duplicate_and_clobber_nothing(
    s3_url: str, tmp_path: Path
) -> None:
    processes, commits = 4, 10
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    running = [
        subprocess.Popen(
            [sys.executable, str(script), s3_url, str(tmp_path / f"c{w}"), str(w), str(commits)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(processes)
    ]
    returned: dict[int, list[int]] = {}
    for writer, process in enumerate(running):
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
        returned[writer] = json.loads(out)

    store = open_offline_store(s3_url, cache_dir=tmp_path / "cache")
    versions = sorted(v for vs in returned.values() for v in vs)
    assert versions == list(range(processes * commits))  # one version each, none shared
    history = store.history("p/shared_v1")
    assert len(history) == processes * commits
    for writer, vs in returned.items():
        # Each returned version is that writer's commit, in the order it made them.
        by_version = {c.version: c.properties for c in history}
        assert [by_version[v]["fti.writer"] for v in vs] == [str(writer)] * commits
        assert [by_version[v]["fti.commit"] for v in vs] == [str(i) for i in range(commits)]
    table = store.dataset("p/shared_v1").to_table()
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == processes * commits * 10
    assert set(ids) == {
        w * 1000 + i * 10 + j for w in range(4) for i in range(10) for j in range(10)
    }


def test_the_store_says_where_it_is_and_nothing_more(s3_url: str, tmp_path: Path) -> None:
    store = open_offline_store(s3_url, cache_dir=tmp_path / "cache")

    assert repr(store) == f"DeltaOfflineStore({s3_url!r})"
    assert isinstance(store, DeltaOfflineStore)
