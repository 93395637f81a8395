"""Offline stores: versioned tables with full history."""

from fti.stores.offline.base import DataFile, OfflineStore, TableCommit
from fti.stores.offline.delta import DeltaOfflineStore


def open_offline_store(url: str) -> OfflineStore:
    """Open the offline store rooted at ``url`` (a local folder, or ``file://`` URL)."""
    return DeltaOfflineStore(url.removeprefix("file://"))


__all__ = ["DataFile", "DeltaOfflineStore", "OfflineStore", "TableCommit", "open_offline_store"]
