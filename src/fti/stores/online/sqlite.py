"""The SQLite online store: one file, one SQL table per store table, for threads and processes."""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fti.errors import StoreError

# Long enough to wait out another process's bulk write of a million rows.
_BUSY_TIMEOUT_S = 30.0
# Per connection. The default 2 MB makes upserts of large batches in random key order re-read
# B-tree pages from disk; the memory is only taken when the pages are touched.
_CACHE_KIB = 64 * 1024
_PAGE_BYTES = 16 * 1024
# Reads map the file instead of copying pages into each thread's cache; address space only.
_MMAP_BYTES = 1 << 30
# Reads of many keys bind at most this many keys per statement (a power of two, see _in_size).
_MAX_READ_CHUNK = 1024
# Writes insert up to this many rows per statement (a power of two): one INSERT of many rows
# costs about half as much per row as executemany of a one-row INSERT (1M rows: 0.55 s against
# 1.1-1.5 s).
_MAX_WRITE_ROWS = 1024
_WRITE_COLUMNS = 4

_WATERMARKS = "_fti_watermarks"
_CREATE_WATERMARKS = (
    f"CREATE TABLE IF NOT EXISTS {_WATERMARKS} (t TEXT PRIMARY KEY, c INTEGER NOT NULL) "
    "WITHOUT ROWID"
)
_SET_WATERMARK = (
    f"INSERT INTO {_WATERMARKS} (t, c) VALUES (?, ?) "
    "ON CONFLICT (t) DO UPDATE SET c = max(c, excluded.c)"
)
_GET_WATERMARK = f"SELECT c FROM {_WATERMARKS} WHERE t = ?"
_DELETE_WATERMARK = f"DELETE FROM {_WATERMARKS} WHERE t = ?"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _in_size(n: int) -> int:
    """The number of placeholders used for ``n`` keys: the next power of two.

    Padding the key list (with a repeated key) to a power of two keeps the number of distinct
    statements per table small, so both our SQL cache and sqlite3's statement cache stay hot.
    """
    return 1 << (n - 1).bit_length()


@dataclass
class _TableSql:
    """The SQL text for one table, built once: building it on each read costs more than the read."""

    create: str
    get_one: str
    drop: str
    quoted: str
    get_many: dict[int, str] = field(default_factory=dict)
    upserts: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, table: str) -> _TableSql:
        # The "rows:" prefix keeps store tables clear of our own table and of SQLite's reserved
        # "sqlite_" names. A rowid table (with the automatic index on k), not WITHOUT ROWID:
        # values of embeddings run to kilobytes, which a clustered B-tree of 16 KiB pages
        # keeps in overflow pages, and key-ordered bulk writes measured the same for both.
        q = _quote("rows:" + table)
        return cls(
            create=(
                f"CREATE TABLE IF NOT EXISTS {q} (k TEXT PRIMARY KEY, e INTEGER NOT NULL, "
                "c INTEGER NOT NULL, v TEXT NOT NULL)"
            ),
            get_one=f"SELECT v FROM {q} WHERE k = ?",
            drop=f"DROP TABLE IF EXISTS {q}",
            quoted=q,
        )

    def upsert(self, rows: int) -> str:
        """An upsert of ``rows`` rows of (k, e, c, v); a row replaces only an older one."""
        sql = self.upserts.get(rows)
        if sql is None:
            q = self.quoted
            values = ",".join(["(?,?,?,?)"] * rows)
            sql = self.upserts[rows] = (
                f"INSERT INTO {q} (k, e, c, v) VALUES {values} "
                "ON CONFLICT (k) DO UPDATE SET e = excluded.e, c = excluded.c, v = excluded.v "
                f"WHERE (excluded.e, excluded.c) >= ({q}.e, {q}.c)"
            )
        return sql

    def in_query(self, size: int) -> str:
        sql = self.get_many.get(size)
        if sql is None:
            marks = ",".join("?" * size)
            sql = self.get_many[size] = f"SELECT k, v FROM {self.quoted} WHERE k IN ({marks})"
        return sql


def _is_missing_table(exc: sqlite3.OperationalError) -> bool:
    return str(exc).startswith("no such table")


class SQLiteOnlineStore:
    """An :class:`~fti.stores.online.base.OnlineStore` in one SQLite file.

    Safe to share between threads (each thread gets its own connection) and to write from
    several processes at once (writers wait for each other up to 30 seconds).
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        # Connections inherited through fork(): never used nor closed in the child, but kept
        # referenced so garbage collection does not close them under the parent's feet.
        self._inherited: list[sqlite3.Connection] = []
        self._sql: dict[str, _TableSql] = {}
        self._closed = False
        _OPEN_STORES.add(self)
        conn = self._conn()
        try:
            conn.execute(_CREATE_WATERMARKS)
            variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._read_chunk = min(_MAX_READ_CHUNK, 1 << (variables.bit_length() - 1))
            self._write_rows = min(
                _MAX_WRITE_ROWS, 1 << ((variables // _WRITE_COLUMNS).bit_length() - 1)
            )
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc

    def __repr__(self) -> str:
        return f"SQLiteOnlineStore({self._path!r})"

    def write(
        self,
        table: str,
        keys: Sequence[str],
        event_times: Sequence[int],
        values: Sequence[str],
        commit_id: int,
    ) -> None:
        """Upsert one row per key and raise the table's watermark to at least ``commit_id``.

        Rows in key order are written several times faster than in random order.
        """
        if not len(keys) == len(event_times) == len(values):
            raise ValueError(
                f"keys, event_times and values differ in length: "
                f"{len(keys)}, {len(event_times)}, {len(values)}"
            )
        sql = self._table_sql(table)
        conn = self._conn()
        try:
            # IMMEDIATE takes the write lock up front (waiting on busy_timeout): a deferred
            # transaction that reads first cannot wait for the lock when it needs to write.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(sql.create)
                start, n = 0, len(keys)
                while start < n:
                    # Statements of power-of-two sizes only, so few distinct ones are cached.
                    stop = start + min(self._write_rows, 1 << ((n - start).bit_length() - 1))
                    rows = zip(
                        keys[start:stop],
                        event_times[start:stop],
                        itertools.repeat(commit_id),
                        values[start:stop],
                    )
                    conn.execute(
                        sql.upsert(stop - start), list(itertools.chain.from_iterable(rows))
                    )
                    start = stop
                conn.execute(_SET_WATERMARK, (table, commit_id))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(f"write to table {table!r}", exc) from exc

    def read(self, table: str, keys: Sequence[str]) -> list[str | None]:
        """Return the stored value of each key in order, None where there is none."""
        try:
            conn = self._local.conn
        except AttributeError:
            conn = self._conn()
        sql = self._sql.get(table) or self._table_sql(table)
        try:
            if len(keys) == 1:
                row = conn.execute(sql.get_one, (keys[0],)).fetchone()
                return [None if row is None else row[0]]
            if len(keys) == 0:
                return []
            found: dict[str, str] = {}
            key_list = list(keys)
            chunk = self._read_chunk
            for start in range(0, len(key_list), chunk):
                part = key_list[start : start + chunk]
                size = _in_size(len(part))
                part.extend(itertools.repeat(part[-1], size - len(part)))
                found.update(conn.execute(sql.in_query(size), part).fetchall())
            return [found.get(k) for k in key_list]
        except sqlite3.OperationalError as exc:
            if _is_missing_table(exc):
                return [None] * len(keys)
            raise self._error(f"read from table {table!r}", exc) from exc
        except sqlite3.Error as exc:
            raise self._error(f"read from table {table!r}", exc) from exc

    def watermark(self, table: str) -> int:
        """Return the highest commit id written to ``table``, or -1."""
        conn = self._conn()
        try:
            row = conn.execute(_GET_WATERMARK, (table,)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(f"read the watermark of table {table!r}", exc) from exc
        return -1 if row is None else int(row[0])

    def drop(self, table: str) -> None:
        """Remove the table's rows and watermark."""
        sql = self._table_sql(table)
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(sql.drop)
                conn.execute(_DELETE_WATERMARK, (table,))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(f"drop table {table!r}", exc) from exc

    def close(self) -> None:
        """Close the connections of all threads."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
            # A fresh local makes every thread's fast path in read() miss and reach the check.
            self._local = threading.local()
        for conn in conns:
            conn.close()

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreError(f"the SQLite online store {self._path} is closed")
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=_BUSY_TIMEOUT_S,
                # We issue BEGIN/COMMIT ourselves.
                isolation_level=None,
                # Only close() touches a connection from another thread.
                check_same_thread=False,
                cached_statements=256,
            )
            # Only takes effect on a new file (before WAL is on): bulk writes of 1M rows measured
            # 25 % faster than with 4 KiB pages, reads as fast.
            conn.execute(f"PRAGMA page_size={_PAGE_BYTES}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise self._error("open", exc) from exc
        with self._lock:
            if self._closed:
                conn.close()
                raise StoreError(f"the SQLite online store {self._path} is closed")
            self._conns.append(conn)
        local.conn = conn
        return conn

    def _table_sql(self, table: str) -> _TableSql:
        sql = self._sql.get(table)
        if sql is None:
            sql = self._sql[table] = _TableSql.build(table)
        return sql

    def _error(self, action: str, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"SQLite online store {self._path}: {action} failed: {exc}")

    def _after_fork(self) -> None:
        # A SQLite connection must not be used across fork(), so the child starts afresh.
        self._inherited.extend(self._conns)
        self._conns = []
        self._local = threading.local()
        self._lock = threading.Lock()


_OPEN_STORES: weakref.WeakSet[SQLiteOnlineStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_OPEN_STORES):
        store._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
