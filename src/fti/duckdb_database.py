"""The process's in-memory DuckDB database: every query runs in a cursor of its own.

Opening and closing a database per query cost ~0.1 s after a large join (DuckDB frees its
buffers on close); a cursor of one shared database opens and closes for nothing, and the
buffers are reused. A cursor is a connection with its own registrations, views and settings,
so concurrent threads do not see each other's tables.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


class _SharedDatabase:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.database: duckdb.DuckDBPyConnection | None = None
        # Databases inherited through fork(): DuckDB's threads did not survive it, so the
        # child never touches them, but keeps them referenced so that garbage collection does
        # not close them.
        self.inherited: list[duckdb.DuckDBPyConnection] = []

    def connection(self) -> duckdb.DuckDBPyConnection:
        with self.lock:
            if self.database is None:
                self.database = duckdb.connect()
            return self.database.cursor()

    def after_fork_in_child(self) -> None:
        if self.database is not None:
            self.inherited.append(self.database)
        self.database = None
        self.lock = threading.Lock()


_SHARED = _SharedDatabase()
os.register_at_fork(after_in_child=_SHARED.after_fork_in_child)


@contextmanager
def cursor() -> Iterator[duckdb.DuckDBPyConnection]:
    """A new connection to the shared database, closed on exit."""
    connection = _SHARED.connection()
    try:
        yield connection
    finally:
        connection.close()
