"""Maintenance of one Delta table with delta-rs: compaction, vacuum, checkpoint, log cleanup.

Scheduled pipelines make many small commits, each adding a small Parquet file, and every read,
merge and spine lookup pays per file (on object storage, per request). Compaction (delta-rs
``optimize.compact``) rewrites the small files of the latest version into large ones in a
commit that changes no rows: older versions still list, and read, their old files, and the
change data feed skips the commit.

Vacuum then deletes a file only when no kept version needs it: any version committed within
``retention``, and each version in ``keep_versions`` whatever its age (delta-rs'
``keep_versions``: the files of those snapshots are never deleted). It runs in two passes:

1. files that a commit removed more than ``retention`` ago (the log's tombstones);
2. files that the log no longer mentions at all (a write that failed, or a tombstone a
   checkpoint dropped), only once they are :data:`UNREFERENCED_AGE` old: a write in progress
   has files that no commit references yet, and deleting them would break its commit.

Checkpoints keep a tombstone for ``delta.deletedFileRetentionDuration`` (a week by default)
and the log cleanup keeps entries for ``delta.logRetentionDuration`` (30 days): both table
properties are raised to ``retention`` when shorter, or a pass-2 vacuum could delete a file
that a version within the retention needs, and the cleanup the log entry of such a version.
The log cleanup (delta-rs ``cleanup_metadata``, up to the last checkpoint older than the log
retention) is also skipped while a kept version is older than the log retention: its log
entries must stay for it to load.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError

from fti.errors import NotFoundError
from fti.stores.offline.base import TableMaintenance
from fti.stores.offline.delta import _first_line

MAINTENANCE = "fti.maintenance"
"""Commit metadata key marking the commits maintenance writes (its value: the step)."""
UNREFERENCED_AGE = timedelta(days=1)
"""How old a file no commit references must be before vacuum deletes it."""
_TOMBSTONES = "delta.deletedFileRetentionDuration"
_LOG = "delta.logRetentionDuration"
_TARGET = "delta.targetFileSize"
# delta-rs' defaults when a table does not set them.
_DEFAULTS = {_TOMBSTONES: timedelta(weeks=1), _LOG: timedelta(days=30)}
_DEFAULT_TARGET = 100 * 2**20
# The log cleanup compares the modification times of log entries, the check below commit
# timestamps: the margin covers the clocks of the writers and of the storage.
_CLOCK_MARGIN = timedelta(hours=1)
_INTERVAL = re.compile(
    r"\s*(?:interval\s+)?(\d+)\s*(nanosecond|microsecond|millisecond|second|minute|hour|day|week)"
    r"s?\s*",
    re.IGNORECASE,
)
_UNITS = {
    "nanosecond": timedelta(microseconds=0.001),
    "microsecond": timedelta(microseconds=1),
    "millisecond": timedelta(milliseconds=1),
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}


def maintain(
    dt: DeltaTable,
    at_version: Callable[[int], DeltaTable],
    keep_versions: Collection[int],
    retention: timedelta,
    *,
    dry_run: bool = False,
) -> TableMaintenance:
    """Maintain the table of the handle ``dt`` (brought up to date by the steps it runs);
    ``at_version`` loads the table at an older version (NotFoundError when it cannot)."""
    version = dt.version()
    files_before, bytes_before, small, small_bytes = _layout(dt)
    notes: list[str] = []
    kept, oldest = _loadable(at_version, keep_versions, version, notes)
    hours = math.ceil(retention / timedelta(hours=1))
    if dry_run:
        deleted = _vacuum(dt, kept, hours, dry_run=True, notes=notes)
        compacting = small if small > 1 else 0
        # Compaction packs the small files into files of about the target size.
        written = math.ceil(small_bytes / _target_size(dt)) if compacting else 0
        if _retention_properties(dt, retention):
            notes.append(f"would raise {_TOMBSTONES} and {_LOG} to the retention")
        return TableMaintenance(
            version=version,
            files_before=files_before,
            bytes_before=bytes_before,
            files_after=files_before - compacting + written,
            bytes_after=bytes_before,
            files_compacted=compacting,
            files_deleted=deleted,
            checkpoint=None,
            log_cleaned=False,
            commits=(),
            dry_run=True,
            notes=tuple(notes),
        )
    raised = _retention_properties(dt, retention)
    if raised:
        dt.alter.set_table_properties(raised, commit_properties=_tag("retention"))
    compacted = 0
    if small > 1:
        try:
            metrics = dt.optimize.compact(commit_properties=_tag("compact"))
            compacted = int(metrics.get("numFilesRemoved", 0))
        except CommitFailedError as exc:
            dt.update_incremental()
            notes.append(
                "compaction skipped: a concurrent writer changed the same files "
                f"({_first_line(exc)}); the next run compacts them"
            )
    deleted = _vacuum(dt, kept, hours, dry_run=False, notes=notes)
    dt.create_checkpoint()
    checkpoint = dt.version()
    log_cleaned = _cleanup_log(dt, oldest, notes)
    files_after, bytes_after, _, _ = _layout(dt)
    return TableMaintenance(
        version=version,
        files_before=files_before,
        bytes_before=bytes_before,
        files_after=files_after,
        bytes_after=bytes_after,
        files_compacted=compacted,
        files_deleted=deleted,
        checkpoint=checkpoint,
        log_cleaned=log_cleaned,
        commits=_maintenance_commits(dt, version),
        notes=tuple(notes),
    )


def _layout(dt: DeltaTable) -> tuple[int, int, int, int]:
    """Files and bytes of the latest version, and how many of them (and their bytes) are
    smaller than the target size of compaction."""
    sizes = pa.table(dt.get_add_actions(flatten=False)).column("size_bytes")
    small = pc.less(sizes, _target_size(dt))
    return (
        len(sizes),
        int(pc.sum(sizes).as_py() or 0),
        int(pc.sum(small).as_py() or 0),
        int(pc.sum(pc.if_else(small, sizes, 0)).as_py() or 0),
    )


def _target_size(dt: DeltaTable) -> int:
    configured = dt.metadata().configuration.get(_TARGET)
    return int(configured) if configured and configured.isdigit() else _DEFAULT_TARGET


def _loadable(
    at_version: Callable[[int], DeltaTable],
    keep_versions: Collection[int],
    latest: int,
    notes: list[str],
) -> tuple[list[int], datetime | None]:
    """The versions to keep that can still be loaded, and the commit time of the oldest.

    delta-rs must load each kept version to know its files: one whose log entries are gone
    cannot be kept any more (its files were free to go), and would fail the whole vacuum.
    """
    kept: list[int] = []
    oldest: datetime | None = None
    for version in sorted({v for v in keep_versions if 0 <= v < latest}):
        try:
            snapshot = at_version(version)
        except NotFoundError:
            notes.append(f"version {version} is kept but no longer in the log")
            continue
        if oldest is None:
            oldest = datetime.fromtimestamp(snapshot.history(1)[0]["timestamp"] / 1000, UTC)
        kept.append(version)
    return kept, oldest


def _vacuum(dt: DeltaTable, kept: list[int], hours: int, *, dry_run: bool, notes: list[str]) -> int:
    """Delete (or, with ``dry_run``, list) the files no kept version needs; how many."""
    unreferenced_hours = math.ceil(UNREFERENCED_AGE / timedelta(hours=1))
    passes = [(hours, False)] if hours < unreferenced_hours else []
    passes.append((max(hours, unreferenced_hours), True))
    deleted: set[str] = set()
    for retention_hours, full in passes:
        try:
            deleted.update(
                dt.vacuum(
                    retention_hours=retention_hours,
                    dry_run=dry_run,
                    # The retention is fti's setting (time_travel_retention), not the table's.
                    enforce_retention_duration=False,
                    full=full,
                    keep_versions=kept or None,
                    commit_properties=_tag("vacuum"),
                )
            )
        except CommitFailedError as exc:
            dt.update_incremental()
            notes.append(f"vacuum skipped: {_first_line(exc)}; the next run deletes the files")
            break
    return len(deleted)


def _retention_properties(dt: DeltaTable, retention: timedelta) -> dict[str, str]:
    """The table properties to raise so that neither checkpoints nor the log cleanup forget
    what a version within ``retention`` needs."""
    configuration = dt.metadata().configuration
    wanted = f"interval {math.ceil(retention.total_seconds())} seconds"
    raised = {}
    for key, default in _DEFAULTS.items():
        current = configuration.get(key)
        kept = default if current is None else _interval(current)
        if kept is None or kept < retention:
            raised[key] = wanted
    return raised


def _interval(text: str) -> timedelta | None:
    """A Delta interval such as ``interval 7 days``; None when not understood."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _cleanup_log(dt: DeltaTable, oldest: datetime | None, notes: list[str]) -> bool:
    """Delete log entries older than the log retention, unless a kept version needs them."""
    configured = dt.metadata().configuration.get(_LOG)
    retention = _DEFAULTS[_LOG] if configured is None else _interval(configured)
    if retention is None:
        notes.append(f"log entries kept: {_LOG} = {configured!r} is not understood")
        return False
    if oldest is not None and oldest < datetime.now(UTC) - retention + _CLOCK_MARGIN:
        notes.append(
            f"log entries kept: a kept version is from {oldest:%Y-%m-%d %H:%M} UTC, older "
            f"than the log retention ({retention})"
        )
        return False
    dt.cleanup_metadata()
    return True


def _maintenance_commits(dt: DeltaTable, since: int) -> tuple[int, ...]:
    """The versions above ``since`` that maintenance wrote (others are concurrent writers')."""
    if dt.version() <= since:
        return ()
    entries = dt.history(dt.version() - since)
    return tuple(sorted(int(e["version"]) for e in entries if MAINTENANCE in e))


def _tag(step: str) -> CommitProperties:
    return CommitProperties(custom_metadata={MAINTENANCE: step})
