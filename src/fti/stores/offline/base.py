"""The offline store interface: versioned tables with full history (time travel)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.dataset as pds


@dataclass(frozen=True)
class TableCommit:
    """One version of an offline table."""

    version: int
    time: datetime
    operation: str
    properties: dict[str, str]
    metrics: dict[str, int]


@dataclass(frozen=True)
class DataFile:
    """One data file of a table version, with the value range of one column when known."""

    path: str
    """A local path, or a URI on object storage (``s3://bucket/...``)."""
    low: datetime | None = None
    high: datetime | None = None
    size: int | None = None
    """Bytes, when the store knows them."""


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table, or would do (``dry_run``)."""

    version: int
    """The latest version before maintenance."""
    files_before: int
    bytes_before: int
    files_after: int
    """Data files of the latest version afterwards (predicted in a dry run)."""
    bytes_after: int
    files_compacted: int
    """Small data files rewritten into larger ones."""
    files_deleted: int
    """Files that no kept version needs, deleted by vacuum."""
    checkpoint: int | None
    """The version whose state was checkpointed, None when none was written."""
    log_retention: timedelta
    """How long log entries stay: the retention, or longer to keep a pinned version loadable."""
    commits: tuple[int, ...]
    """Versions maintenance committed (they change no rows), oldest first."""
    dry_run: bool = False
    notes: tuple[str, ...] = ()
    """Steps skipped and why (a conflict with a concurrent writer, a pinned version older than
    the log retention...)."""


@runtime_checkable
class OfflineStore(Protocol):
    """Versioned tables addressed by a relative path such as ``project/group_v1``."""

    def upsert(
        self, table: str, data: pa.Table, keys: Sequence[str], properties: Mapping[str, str]
    ) -> int:
        """Insert ``data``, replacing rows equal on ``keys``; returns the new version.

        Creates the table on first write; retries when a concurrent writer committed first.
        """
        ...

    def version(self, table: str) -> int | None:
        """The latest version, None when the table does not exist."""
        ...

    def dataset(self, table: str, version: int | datetime | None = None) -> pds.Dataset:
        """An Arrow dataset of the table at a version or time (latest when None)."""
        ...

    def files(self, table: str, version: int, time_column: str | None = None) -> list[DataFile]:
        """The Parquet files that make up the table at ``version``; with ``time_column`` (a
        timestamp column), each with bounds its values lie within, when the store knows them."""
        ...

    def local_paths(self, table: str, files: Sequence[DataFile]) -> list[str]:
        """Paths on this machine of ``files`` (from :meth:`files`), for readers of local files
        only (DuckDB): the files themselves, or local copies of files on object storage."""
        ...

    def history(self, table: str, limit: int | None = None) -> list[TableCommit]:
        """Every version (or the ``limit`` latest), oldest first."""
        ...

    def changes(self, table: str, start: int, end: int | None = None) -> pa.Table:
        """Rows inserted or updated by versions ``start``..``end`` (inclusive), with the
        columns ``_change_type`` and ``_commit_version``."""
        ...

    def drop(self, table: str) -> None:
        """Delete the table and its history."""
        ...

    def write_file(self, path: str, data: pa.Table) -> None:
        """Store an immutable snapshot (e.g. a training dataset) as Parquet at ``path``."""
        ...

    def read_file(self, path: str) -> pa.Table:
        """Read a snapshot written by :meth:`write_file`; NotFoundError when absent."""
        ...

    def delete_file(self, path: str) -> None:
        """Remove a snapshot (no error when absent)."""
        ...

    def move_file(self, source: str, target: str) -> None:
        """Give a snapshot a new path (atomically where the store can)."""
        ...

    def maintain(
        self,
        table: str,
        keep_versions: Collection[int],
        retention: timedelta,
        *,
        dry_run: bool = False,
    ) -> TableMaintenance:
        """Compact small data files, checkpoint the log and delete the files that neither a
        version in ``keep_versions`` nor any version of the last ``retention`` needs.

        No version's rows change. A step that conflicts with a concurrent writer is skipped
        (said in ``notes``) and done by the next call. ``dry_run`` changes nothing.
        """
        ...
