"""Maintenance of feature groups' offline tables: when it runs, and what it must keep.

A group that receives small inserts (hourly pipelines) collects small files, and inserts,
reads and spine lookups slow down with their number. Maintenance compacts them, vacuums files
nothing needs and checkpoints the Delta log (``OfflineStore.maintain``). It runs by itself
after every ``offline_maintenance_interval``-th commit of a group (decided from the commit id
the insert already has: nothing is read on other inserts), and on demand with
``fti maintenance``.

What it keeps: every version within ``time_travel_retention`` (``read(as_of=...)``), and every
version that a training dataset of any view pins for the group, whatever its age
(``verify_training_data``). Compaction changes no version's rows, and the change data feed
skips its commit; an online-enabled group is first brought up to date online (the replay an
insert does), so no commit the online store has not seen loses its files. Only one process
maintains a group at a time (a lock in the metadata store); the others skip it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from fti.errors import NotFoundError

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.feature_store import FeatureStore
    from fti.stores.offline.base import TableMaintenance

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=7)
DEFAULT_INTERVAL = 20
# A lock older than this is taken over: its holder died while maintaining.
_LOCK_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class MaintenancePolicy:
    """When maintenance runs by itself and what it keeps: the settings
    ``time_travel_retention`` and ``offline_maintenance_interval``."""

    retention: timedelta = DEFAULT_RETENTION
    """Every version committed within this time stays readable."""
    interval: int = DEFAULT_INTERVAL
    """Maintenance runs after each commit whose id is a multiple of this (0: never by itself)."""


@dataclass(frozen=True)
class GroupMaintenance:
    """What maintenance did to one feature group version, or would do (a dry run)."""

    group: str
    version: int
    pinned: tuple[int, ...]
    """Commits kept for training datasets (beyond the retention)."""
    table: TableMaintenance | None
    """What the offline store did; None when maintenance was skipped."""
    skipped: str
    """Why nothing was done ("" when maintenance ran)."""
    seconds: float


def maintain(
    fg: FeatureGroup, policy: MaintenancePolicy, *, dry_run: bool = False
) -> GroupMaintenance:
    """Compact, vacuum and checkpoint the offline table of ``fg`` under ``policy``."""
    started = time.perf_counter()

    def result(
        pinned: tuple[int, ...] = (), table: TableMaintenance | None = None, skipped: str = ""
    ) -> GroupMaintenance:
        return GroupMaintenance(
            fg.name, fg.version, pinned, table, skipped, time.perf_counter() - started
        )

    offline, name = fg._offline, fg._offline_table
    if offline.version(name) is None:
        return result(skipped="no data yet")
    if fg.online_enabled and not dry_run:
        from fti.feature_store.ingest import replay_online

        # Vacuum may delete the files of commits older than the retention: the online store
        # must have seen them all first (an insert does the same replay).
        replay_online(fg)
    pinned = pinned_versions(fg)
    project = fg._entity.project
    lock, owner = f"maintenance/{name}", uuid.uuid4().hex
    if not dry_run and fg._metadata.lock(project, lock, owner, _LOCK_TTL).owner != owner:
        return result(pinned, skipped="another process is maintaining this group")
    try:
        table = offline.maintain(name, pinned, policy.retention, dry_run=dry_run)
    finally:
        if not dry_run:
            fg._metadata.unlock(project, lock, owner)
    if table.commits and fg.online_enabled:
        _advance_watermark(fg, table)
    return result(pinned, table)


def after_insert(fg: FeatureGroup, commit_id: int) -> GroupMaintenance | None:
    """Maintain ``fg`` when ``commit_id`` is due under the store's policy; a failure is
    logged, never raised: the insert is committed, and the next due commit tries again."""
    policy: MaintenancePolicy = fg._store._maintenance
    if policy.interval <= 0 or commit_id == 0 or commit_id % policy.interval:
        return None
    try:
        done = maintain(fg, policy)
    except Exception:
        log.warning("maintenance of %r after commit %d failed", fg, commit_id, exc_info=True)
        return None
    if done.skipped:
        log.info("maintenance of %r skipped: %s", fg, done.skipped)
    return done


def pinned_versions(fg: FeatureGroup) -> tuple[int, ...]:
    """The commits of ``fg`` that training datasets (of every view of the project) pin."""
    from fti.feature_store.feature_view import DATASET_KIND

    # A dataset's versions are keyed as point_in_time.group_key() names a step's group.
    key = f"{fg.name}_v{fg.version}"
    datasets = fg._metadata.list(DATASET_KIND, fg._entity.project)
    pins = {d.body.get("versions", {}).get(key) for d in datasets}
    return tuple(sorted(v for v in pins if isinstance(v, int)))


def _advance_watermark(fg: FeatureGroup, table: TableMaintenance) -> None:
    """Raise the online watermark over maintenance's own commits (they change no rows), so
    that the online store is not reported behind the offline table because of them."""
    latest = fg._offline.version(fg._offline_table)
    if latest is None or fg._online.watermark(fg._online_table) != table.version:
        return
    # Only when every commit since the one the online store holds is maintenance's: a
    # concurrent writer's commit must reach the online store through its own write or a replay.
    if set(range(table.version + 1, latest + 1)) <= set(table.commits):
        fg._online.write(fg._online_table, [], [], [], latest)


def maintain_groups(
    store: FeatureStore, names: Sequence[str] = (), *, dry_run: bool = False
) -> list[GroupMaintenance]:
    """Maintain every version of the groups ``names`` (every group when empty) under the
    store's policy; NotFoundError, before any work, for a name without a group."""
    groups = store.list_feature_groups()
    unknown = sorted(set(names) - {fg.name for fg in groups})
    if unknown:
        known = ", ".join(sorted({fg.name for fg in groups})) or "none yet"
        raise NotFoundError(f"no feature group {', '.join(unknown)} (groups: {known})")
    chosen = [fg for fg in groups if not names or fg.name in names]
    return [maintain(fg, store._maintenance, dry_run=dry_run) for fg in chosen]
