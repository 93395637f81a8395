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

Three table properties make the log keep what those versions need (set by the first run):

- ``delta.deletedFileRetentionDuration`` (a week by default) at least ``retention``:
  checkpoints drop older tombstones, after which pass 2 could delete a file a version within
  a longer retention still needs;
- ``delta.logRetentionDuration`` (30 days by default) is ``retention``, or back to the commit
  of the oldest kept version, rounded up to whole days: the log cleanup (delta-rs
  ``cleanup_metadata``, which deletes entries older than this up to a checkpoint) must leave
  a kept version's entries, or it can no longer be loaded;
- ``delta.enableExpiredLogCleanup`` false: delta-rs otherwise cleans the log by the table's
  log retention whenever a commit writes its automatic checkpoint (every 100 commits), which
  would delete the entries of a version pinned longer ago, between two maintenance runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
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
_LOG_CLEANUP = "delta.enableExpiredLogCleanup"
_TARGET = "delta.targetFileSize"
# delta-rs' defaults when a table does not set them.
_DEFAULTS = {_TOMBSTONES: timedelta(weeks=1), _LOG: timedelta(days=30)}
_DEFAULT_TARGET = 100 * 2**20
# The log cleanup compares the modification times of log entries with the log retention, and
# the kept versions' ages come from commit timestamps: the margin covers the clocks of the
# writers and of the storage.
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
        changed = _properties(dt, retention, oldest)
        if changed:
            settings = ", ".join(f"{k} = {v!r}" for k, v in changed.items())
            notes.append(f"would set {settings}")
        return TableMaintenance(
            version=version,
            files_before=files_before,
            bytes_before=bytes_before,
            files_after=files_before - compacting + written,
            bytes_after=bytes_before,
            files_compacted=compacting,
            files_deleted=deleted,
            checkpoint=None,
            log_retention=_log_retention(retention, oldest),
            commits=(),
            dry_run=True,
            notes=tuple(notes),
        )
    changed = _properties(dt, retention, oldest)
    if changed:
        dt.alter.set_table_properties(changed, commit_properties=_tag("retention"))
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
    # Read before the cleanup, which may delete their entries (a retention of seconds).
    commits = _maintenance_commits(dt, version)
    # Entries older than the log retention the properties set, up to a checkpoint.
    dt.cleanup_metadata()
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
        log_retention=_log_retention(retention, oldest),
        commits=commits,
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
    for version in sorted({v for v in keep_versions if 0 <= v <= latest}):
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


def _properties(dt: DeltaTable, retention: timedelta, oldest: datetime | None) -> dict[str, str]:
    """The table properties to set so that neither checkpoints nor log cleanups forget what
    a version within ``retention``, or kept since ``oldest``, needs (none when all are set)."""
    configuration = dt.metadata().configuration
    changed = {}
    if configuration.get(_LOG_CLEANUP, "").lower() != "false":
        changed[_LOG_CLEANUP] = "false"
    tombstones = _configured(configuration, _TOMBSTONES)
    if tombstones is None or tombstones < retention:
        changed[_TOMBSTONES] = _delta_interval(retention)
    if _configured(configuration, _LOG) != _log_retention(retention, oldest):
        changed[_LOG] = _delta_interval(_log_retention(retention, oldest))
    return changed


def _log_retention(retention: timedelta, oldest: datetime | None) -> timedelta:
    """``retention``, or back to the commit of the oldest kept version (whole days, so that
    an aging pin changes the property once a day at most)."""
    if oldest is None:
        return retention
    needed = datetime.now(UTC) - oldest + _CLOCK_MARGIN
    if needed <= retention:
        return retention
    return timedelta(days=math.ceil(needed / timedelta(days=1)))


def _configured(configuration: Mapping[str, str], key: str) -> timedelta | None:
    """A duration property of the table, its default when unset; None when not understood."""
    text = configuration.get(key)
    return _DEFAULTS[key] if text is None else _interval(text)


def _delta_interval(duration: timedelta) -> str:
    return f"interval {math.ceil(duration.total_seconds())} seconds"


def _interval(text: str) -> timedelta | None:
    """A Delta interval such as ``interval 7 days``; None when not understood."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _maintenance_commits(dt: DeltaTable, since: int) -> tuple[int, ...]:
    """The versions above ``since`` that maintenance wrote (others are concurrent writers')."""
    if dt.version() <= since:
        return ()
    entries = dt.history(dt.version() - since)
    return tuple(sorted(int(e["version"]) for e in entries if MAINTENANCE in e))


def _tag(step: str) -> CommitProperties:
    return CommitProperties(custom_metadata={MAINTENANCE: step})
