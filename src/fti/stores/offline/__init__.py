"""Offline stores: versioned tables with full history."""

from __future__ import annotations

import os
from pathlib import Path

from fti.stores.offline.base import DataFile, OfflineStore, TableCommit
from fti.stores.offline.delta import DeltaOfflineStore

DEFAULT_MAX_CACHE_BYTES = 10 * 2**30


def open_offline_store(
    url: str | Path,
    *,
    home: Path | None = None,
    cache_dir: str | Path | None = None,
    max_cache_bytes: int = DEFAULT_MAX_CACHE_BYTES,
    allow_unsafe_s3_commits: bool = False,
) -> OfflineStore:
    """Open the offline store rooted at ``url``: a local folder (relative to ``home``), a
    ``file://`` URL, or a prefix on object storage (``s3://``, ``gs://``, ``az://``,
    ``abfss://``). The data files DuckDB reads from object storage are copied once into
    ``cache_dir`` (default: the user's cache folder), kept to about ``max_cache_bytes``."""
    from fti.stores.locations import open_location
    from fti.stores.offline.cache import FileCache

    location = open_location(url, home=home)
    cache = None
    if not location.is_local:
        folder = Path(cache_dir) if cache_dir is not None else _user_cache() / "fti"
        cache = FileCache(folder / "offline", max_cache_bytes)
    return DeltaOfflineStore(location, cache=cache, allow_unsafe_s3_commits=allow_unsafe_s3_commits)


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


__all__ = ["DataFile", "DeltaOfflineStore", "OfflineStore", "TableCommit", "open_offline_store"]
