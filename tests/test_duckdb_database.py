"""The shared DuckDB database: isolated cursors, and a fresh database after fork()."""

from __future__ import annotations

import os
import signal

import duckdb
import pyarrow as pa
import pytest

from fti import duckdb_database


def test_cursors_do_not_see_each_others_tables() -> None:
    with duckdb_database.cursor() as first, duckdb_database.cursor() as second:
        first.register("batch", pa.table({"x": [1, 2, 3]}))
        second.register("batch", pa.table({"x": [10]}))
        assert first.sql("SELECT sum(x) FROM batch").fetchall() == [(6,)]
        assert second.sql("SELECT sum(x) FROM batch").fetchall() == [(10,)]
    with duckdb_database.cursor() as third, pytest.raises(duckdb.Error):
        third.sql("SELECT * FROM batch").fetchall()


def test_relations_registered_in_one_cursor_stay_in_it() -> None:
    # point_in_time registers each pinned group as g0, g1, ... in its cursor: two runs at once
    # must not read each other's.
    with duckdb_database.cursor() as first, duckdb_database.cursor() as second:
        first.register("g0", first.sql("SELECT 1 AS x"))
        second.register("g0", second.sql("SELECT 2 AS x"))
        assert first.sql("SELECT x FROM g0").fetchall() == [(1,)]
        assert second.sql("SELECT x FROM g0").fetchall() == [(2,)]


def test_a_forked_child_queries_a_database_of_its_own() -> None:
    with duckdb_database.cursor() as con:
        assert con.sql("SELECT 41 + 1").fetchall() == [(42,)]
    parents = duckdb_database._SHARED.database
    pid = os.fork()
    if pid == 0:  # the child: DuckDB's threads of the parent are gone
        signal.alarm(30)  # a hang kills the child instead of the test run
        code = 1
        try:
            # A database of its own, the parent's kept aside (never used, never closed).
            with duckdb_database.cursor() as con:
                assert duckdb_database._SHARED.database is not parents
                assert duckdb_database._SHARED.inherited[-1] is parents
                if con.sql(
                    "SELECT count(*) FROM range(50000000) t(i) WHERE i % 7 = 0"
                ).fetchall() == [(7_142_858,)]:
                    code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
