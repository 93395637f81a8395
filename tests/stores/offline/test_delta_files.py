"""Data files written outside delta-rs and committed in one transaction: a stale plan is a
conflict that commits nothing, uncommitted files stay out of the table, the log's statistics
bound the files' event times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from fti.errors import InvalidNameError
from fti.stores.offline.delta import DeltaOfflineStore
from fti.stores.offline.delta_files import (
    CommitConflictError,
    commit_files,
    delete_data_files,
    table_files,
    write_data_file,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def rows(keys: list[int], seconds: list[float]) -> pa.Table:
    times = [T0 + timedelta(seconds=s) for s in seconds]
    return pa.table(
        {"k": pa.array(keys, pa.int64()), "t": pa.array(times, pa.timestamp("us", tz="UTC"))}
    )


def test_a_commit_planned_on_an_older_version_is_a_conflict(tmp_path: Path) -> None:
    store = DeltaOfflineStore(tmp_path)
    first = write_data_file(store, "p/t", "part-a.parquet", rows([1, 2], [0, 1]))
    assert (
        commit_files(
            store,
            "p/t",
            None,
            first_schema(),
            added=[first],
            rewritten=[],
            removed=[],
            properties={},
        )
        == 0
    )
    store.upsert("p/t", rows([5], [5]), ["k", "t"], {})
    late = write_data_file(store, "p/t", "part-b.parquet", rows([3], [2]))

    with pytest.raises(CommitConflictError):
        commit_files(
            store, "p/t", 0, first_schema(), added=[late], rewritten=[], removed=[], properties={}
        )
    assert store.version("p/t") == 1
    assert sorted(store.dataset("p/t").to_table().column("k").to_pylist()) == [1, 2, 5]

    (old,) = [f for f in table_files(store, "p/t", 1, "t") if f.name == "part-a.parquet"]
    kept = write_data_file(store, "p/t", "part-c.parquet", rows([2], [1]))
    assert (
        commit_files(
            store,
            "p/t",
            1,
            first_schema(),
            added=[late],
            rewritten=[kept],
            removed=[old],
            properties={"fti.rows": "1"},
        )
        == 2
    )
    assert sorted(store.dataset("p/t").to_table().column("k").to_pylist()) == [2, 3, 5]
    # The change feed of that commit: the new file's rows only, not the rewritten ones.
    changes = store.changes("p/t", 2, 2)
    assert changes.column("k").to_pylist() == [3]


def test_bounds_and_uncommitted_files(tmp_path: Path) -> None:
    store = DeltaOfflineStore(tmp_path)
    written = write_data_file(store, "p/t", "part-a.parquet", rows([1, 2], [0.0015, 7.25]))
    commit_files(
        store, "p/t", None, first_schema(), added=[written], rewritten=[], removed=[], properties={}
    )
    ((file,),) = [table_files(store, "p/t", 0, "t")]
    # Cut down to milliseconds, as delta-rs logs them.
    assert (file.low, file.high) == (T0 + timedelta(milliseconds=1), T0 + timedelta(seconds=7.25))
    stray = write_data_file(store, "p/t", "part-b.parquet", rows([9], [9]))
    assert store.dataset("p/t").to_table().num_rows == 2
    delete_data_files(store, "p/t", [stray.name, "part-never.parquet"])
    assert not (tmp_path / "p" / "t" / "part-b.parquet").exists()
    for name in ("../x.parquet", "/abs.parquet", "part.csv"):
        with pytest.raises(InvalidNameError, match="invalid data file name"):
            write_data_file(store, "p/t", name, rows([1], [1]))


def first_schema() -> pa.Schema:
    return rows([], []).schema
