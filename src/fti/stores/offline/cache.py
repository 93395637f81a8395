"""A local, size-bounded cache of immutable files copied from object storage.

DuckDB reads the pinned Parquet files of a group itself (ADR 0005) and cannot reach object
storage without an extension that hosts often cannot download, so the files of a remote table
are copied here first and read locally (ADR 0007). Delta data files never change once written,
so a copy is valid for as long as it exists: there is nothing to invalidate, and deleting the
cache (all of it, or any file) is always safe.

Copies are written under a temporary name and renamed into place, so a reader, in this process
or another, sees a whole file or none. When a copy makes the cache larger than its bound, the
files used longest ago go first (a use touches the file's modification time); files used in the
last few minutes are kept, as another process may be about to read them, so the bound can be
exceeded for a while by what is in use.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fti.errors import InvalidNameError

_PARTIAL = ".partial"
# Copies used this recently may be open in another process: never evicted.
_IN_USE_SECONDS = 600.0
# A partial copy this old belongs to a process that died while copying.
_STALE_PARTIAL_SECONDS = 3600.0
# Copies made at once: object stores answer many requests in parallel.
_THREADS = 8


@dataclass(frozen=True)
class CachedFile:
    """A file to have in the cache: its key (a '/'-separated path) and size when known."""

    key: str
    size: int | None = None


Download = Callable[[str, Path], None]
"""Copies the file of a key to a local path."""


class FileCache:
    """Immutable files under ``root``, at most about ``max_bytes`` in all."""

    def __init__(self, root: str | Path, max_bytes: int) -> None:
        self.root = Path(root).expanduser().resolve()
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"FileCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def paths(self, files: Sequence[CachedFile], download: Download) -> list[str]:
        """Local paths of ``files``, copying with ``download`` those not cached yet."""
        targets = [self._target(f.key) for f in files]
        missing = []
        now = time.time()
        for file, target in zip(files, targets, strict=True):
            try:
                stat = target.stat()
            except FileNotFoundError:
                missing.append((file, target))
                continue
            if file.size is not None and stat.st_size != file.size:
                missing.append((file, target))
                continue
            # A use makes the copy recent, so eviction takes the ones unused longest.
            with contextlib.suppress(OSError):
                os.utime(target, (now, now))
        if missing:
            workers = min(_THREADS, len(missing))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda item: self._copy(download, *item), missing))
            self.evict(keep={str(t) for t in targets})
        return [str(t) for t in targets]

    def size(self) -> int:
        """Bytes held now (partial copies included)."""
        return sum(size for _, size, _ in self._entries())

    def evict(self, keep: Collection[str] = ()) -> None:
        """Remove the copies used longest ago until the cache fits its bound (never ``keep``,
        nor copies in use), and partial copies left by processes that died."""
        now = time.time()
        entries = []
        total = 0
        for path, size, mtime in self._entries():
            if path.name.endswith(_PARTIAL):
                if now - mtime > _STALE_PARTIAL_SECONDS:
                    path.unlink(missing_ok=True)
                    continue
            else:
                entries.append((mtime, path, size))
            total += size
        entries.sort()
        for mtime, path, size in entries:
            if total <= self.max_bytes:
                break
            if str(path) in keep or now - mtime < _IN_USE_SECONDS:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                total -= size

    def _copy(self, download: Download, file: CachedFile, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}{_PARTIAL}")
        try:
            download(file.key, partial)
            if file.size is not None and partial.stat().st_size != file.size:
                raise OSError(
                    f"copy of {file.key} has {partial.stat().st_size} bytes, not {file.size}"
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)

    def _entries(self) -> list[tuple[Path, int, float]]:
        """Every file of the cache: path, size, modification time."""
        found = []
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                found.append((path, stat.st_size, stat.st_mtime))
        return found

    def _target(self, key: str) -> Path:
        parts = key.split("/")
        if any(p in ("", ".", "..") or p.endswith(_PARTIAL) for p in parts) or "\\" in key:
            raise InvalidNameError(f"invalid cache key {key!r}")
        return self.root.joinpath(*parts)
