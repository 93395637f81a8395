"""The contract every offline store passes, on a local folder and on S3 (conftest.py)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fti.errors import InvalidNameError, NotFoundError, SchemaError
from fti.stores.offline import OfflineStore

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
KEYS = ["id", "t"]
TABLE = "p/events_v1"


def rows(ids: list[int], hours: list[int], x: list[float]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "t": pa.array([T0 + dt.timedelta(hours=h) for h in hours], pa.timestamp("us", "UTC")),
            "x": pa.array(x, pa.float64()),
            "name": pa.array([f"n{i}" for i in ids], pa.string()),
        }
    )


def content(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as sorted tuples of (id, hour, x)."""
    hours = [(t - T0).total_seconds() / 3600 for t in table.column("t").to_pylist()]
    return sorted(
        zip(table.column("id").to_pylist(), hours, table.column("x").to_pylist(), strict=True)
    )


def upsert(store: OfflineStore, data: pa.Table, table: str = TABLE) -> int:
    return store.upsert(table, data, KEYS, {"fti.rows": str(data.num_rows)})


def test_upsert_creates_then_merges_on_the_keys(offline_store: OfflineStore) -> None:
    assert isinstance(offline_store, OfflineStore)
    assert offline_store.version(TABLE) is None

    assert upsert(offline_store, rows([1, 2], [0, 0], [1.0, 2.0])) == 0
    assert upsert(offline_store, rows([2, 3], [0, 1], [20.0, 3.0])) == 1

    assert offline_store.version(TABLE) == 1
    latest = offline_store.dataset(TABLE).to_table()
    assert content(latest) == [(1, 0, 1.0), (2, 0, 20.0), (3, 1, 3.0)]
    assert content(offline_store.dataset(TABLE, 0).to_table()) == [(1, 0, 1.0), (2, 0, 2.0)]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("x", pa.array(["a"]), "has type string"),
        ("x", pa.array(["1.5"]), "has type string"),
        ("name", pa.array([5]), "has type int64"),
        ("extra", pa.array([1.0]), "unknown column"),
    ],
    ids=["text-into-float", "number-as-text", "int-into-text", "unknown"],
)
def test_rows_that_do_not_fit_the_tables_types_are_refused(
    offline_store: OfflineStore, column: str, values: pa.Array, message: str
) -> None:
    upsert(offline_store, rows([1], [0], [1.0]))
    data = rows([2], [0], [2.0])
    index = data.schema.get_field_index(column)
    data = (
        data.set_column(index, column, values) if index >= 0 else data.append_column(column, values)
    )

    with pytest.raises(SchemaError, match=message):
        upsert(offline_store, data)
    assert offline_store.version(TABLE) == 0


def test_time_travel_by_commit_time(offline_store: OfflineStore) -> None:
    upsert(offline_store, rows([1], [0], [1.0]))
    upsert(offline_store, rows([2], [0], [2.0]))
    first, second = offline_store.history(TABLE)

    at_first = offline_store.dataset(TABLE, first.time).to_table()
    at_second = offline_store.dataset(TABLE, second.time).to_table()

    assert content(at_first) == [(1, 0, 1.0)]
    assert content(at_second) == [(1, 0, 1.0), (2, 0, 2.0)]


@pytest.mark.parametrize("version", [2, 10**6, -1], ids=["next", "far", "negative"])
def test_a_version_that_does_not_exist_is_not_found(
    offline_store: OfflineStore, version: int
) -> None:
    upsert(offline_store, rows([1], [0], [1.0]))
    upsert(offline_store, rows([2], [0], [2.0]))

    with pytest.raises(NotFoundError, match=f"no version {version}"):
        offline_store.dataset(TABLE, version)
    with pytest.raises(NotFoundError):
        offline_store.files(TABLE, version)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.dataset(TABLE),
        lambda s: s.history(TABLE),
        lambda s: s.changes(TABLE, 0),
        lambda s: s.files(TABLE, 0),
    ],
    ids=["dataset", "history", "changes", "files"],
)
def test_a_table_without_data_is_not_found(
    offline_store: OfflineStore, call: Callable[[OfflineStore], Any]
) -> None:
    with pytest.raises(NotFoundError, match=r"no data yet|no version 0"):
        call(offline_store)


def test_files_carry_time_bounds_and_read_as_the_version(offline_store: OfflineStore) -> None:
    upsert(offline_store, rows([1, 2], [0, 5], [1.0, 2.0]))
    upsert(offline_store, rows([3], [9], [3.0]))

    files = offline_store.files(TABLE, 1, "t")
    paths = offline_store.local_paths(TABLE, files)

    assert len(files) == len(paths) == 2
    assert sorted((f.low, f.high) for f in files) == [
        (T0, T0 + dt.timedelta(hours=5, milliseconds=1)),
        (T0 + dt.timedelta(hours=9), T0 + dt.timedelta(hours=9, milliseconds=1)),
    ]
    assert all(Path(p).is_file() for p in paths)
    with duckdb.connect() as con:
        read = con.read_parquet(paths).select("id, t, x").to_arrow_table()
    assert content(read) == content(offline_store.dataset(TABLE, 1).to_table())
    assert [Path(p).is_file() for p in offline_store.local_paths(TABLE, files)] == [True, True]
    assert len(offline_store.files(TABLE, 0)) == 1


def test_history_lists_versions_with_their_properties(offline_store: OfflineStore) -> None:
    for i in range(3):
        offline_store.upsert(TABLE, rows([i], [i], [float(i)]), KEYS, {"fti.rows": "1", "x": "y"})

    history = offline_store.history(TABLE)
    latest_two = offline_store.history(TABLE, limit=2)

    assert [c.version for c in history] == [0, 1, 2]
    assert history[0].time <= history[1].time <= history[2].time
    assert all(c.properties["fti.rows"] == "1" and "x" not in c.properties for c in history)
    assert [c.operation for c in history] == ["WRITE", "MERGE", "MERGE"]
    assert [c.version for c in latest_two] == [1, 2]


def test_changes_are_the_rows_each_version_wrote(offline_store: OfflineStore) -> None:
    upsert(offline_store, rows([1, 2], [0, 0], [1.0, 2.0]))
    upsert(offline_store, rows([2, 3], [0, 0], [20.0, 3.0]))
    upsert(offline_store, rows([4], [0], [4.0]))

    changes = offline_store.changes(TABLE, 1, 2)

    assert changes.column("_commit_version").type == pa.int64()
    written = sorted(
        zip(
            changes.column("_commit_version").to_pylist(),
            changes.column("id").to_pylist(),
            changes.column("x").to_pylist(),
            strict=True,
        )
    )
    assert written == [(1, 2, 20.0), (1, 3, 3.0), (2, 4, 4.0)]
    assert set(changes.column("_change_type").to_pylist()) <= {"insert", "update_postimage"}
    assert offline_store.changes(TABLE, 2).num_rows == 1
    for start, end in [(3, None), (-1, 1), (2, 1), (0, 5)]:
        with pytest.raises(NotFoundError, match=r"outside 0\.\.2"):
            offline_store.changes(TABLE, start, end)


def test_drop_removes_the_table_and_a_new_one_can_take_its_place(
    offline_store: OfflineStore,
) -> None:
    upsert(offline_store, rows([1], [0], [1.0]))
    upsert(offline_store, rows([2], [0], [2.0]))
    upsert(offline_store, rows([9], [0], [9.0]), table="p/other_v1")

    offline_store.drop(TABLE)
    offline_store.drop(TABLE)  # no error when absent

    assert offline_store.version(TABLE) is None
    with pytest.raises(NotFoundError):
        offline_store.dataset(TABLE)
    assert upsert(offline_store, rows([5], [0], [5.0])) == 0
    assert content(offline_store.dataset(TABLE).to_table()) == [(5, 0, 5.0)]
    assert content(offline_store.dataset("p/other_v1").to_table()) == [(9, 0, 9.0)]


def test_snapshot_files_round_trip_move_and_delete(offline_store: OfflineStore) -> None:
    data = rows([1, 2], [0, 1], [1.0, 2.0])

    offline_store.write_file("p/_training_data/v_1/.staged-x.parquet", data)
    offline_store.move_file(
        "p/_training_data/v_1/.staged-x.parquet", "p/_training_data/v_1/1.parquet"
    )

    assert offline_store.read_file("p/_training_data/v_1/1.parquet").equals(data)
    with pytest.raises(NotFoundError, match="does not exist"):
        offline_store.read_file("p/_training_data/v_1/.staged-x.parquet")
    with pytest.raises(NotFoundError, match="does not exist"):
        offline_store.move_file("p/_training_data/v_1/absent.parquet", "p/x.parquet")
    offline_store.delete_file("p/_training_data/v_1/1.parquet")
    offline_store.delete_file("p/_training_data/v_1/1.parquet")  # no error when absent
    with pytest.raises(NotFoundError, match="does not exist"):
        offline_store.read_file("p/_training_data/v_1/1.parquet")


def test_concurrent_writers_never_lose_a_commit(offline_store: OfflineStore) -> None:
    writers, commits = 3, 4
    versions: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(writer: int) -> None:
        start.wait()
        try:
            for i in range(commits):
                key = writer * 100 + i + 1
                # Every commit also rewrites the shared row 0: each one conflicts with the rest.
                versions.append(upsert(offline_store, rows([0, key], [0, 0], [key, key])))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(versions) == list(range(writers * commits))
    table = offline_store.dataset(TABLE).to_table()
    ids = table.column("id").to_pylist()
    assert sorted(ids) == [0] + [w * 100 + i + 1 for w in range(writers) for i in range(commits)]
    assert len(offline_store.history(TABLE)) == writers * commits
    # Row 0 holds the value of the last commit that wrote it.
    last = offline_store.changes(TABLE, writers * commits - 1)
    row0 = table.filter(pc.equal(table.column("id"), 0)).column("x").to_pylist()
    assert row0 == last.filter(pc.equal(last.column("id"), 0)).column("x").to_pylist()


@pytest.mark.parametrize("path", ["", "../x", "/abs", "a/../b", "a//b"], ids=str)
def test_paths_that_could_leave_the_root_are_refused(
    offline_store: OfflineStore, offline_url: str, tmp_path: Path, path: str
) -> None:
    data = rows([1], [0], [1.0])
    for call in (
        lambda: upsert(offline_store, data, table=path),
        lambda: offline_store.write_file(path, data),
        lambda: offline_store.read_file(path),
        lambda: offline_store.drop(path),
        lambda: offline_store.move_file("p/a.parquet", path),
    ):
        with pytest.raises(InvalidNameError):
            call()
    if offline_url.startswith("/"):
        assert not Path(offline_url).exists() or not any(Path(offline_url).iterdir())
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()
