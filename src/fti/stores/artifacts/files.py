"""Local files of artifact trees, shared by every backend: walking and hashing the files of a
tree, staging folders named after their writer, and streams verified as they are read.

Every backend writes a tree into a local staging folder first (flavors write files there), so
staging folders live on this machine whatever the store: :class:`StagingArea` names each after
its :class:`~fti.stores.artifacts.base.Owner` so that a cleanup can remove those of processes
that died mid-save.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from fti.errors import InvalidArgumentError, InvalidNameError, NotFoundError
from fti.stores.artifacts.base import (
    MANIFEST_NAME,
    FileEntry,
    Owner,
    RemovedTree,
    check_path,
    verify_entry,
)

CHUNK = 1 << 20
"""Bytes per read while hashing a file (one reused buffer)."""

_STAGING_NAME = re.compile(r"(\d+)@([A-Za-z0-9.-]+)_.+")


class StagingArea:
    """A local folder of staging folders, each named ``<pid>@<host>_<random>``."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def new(self) -> Path:
        """A new, empty staging folder named after this process's :class:`Owner`."""
        self.base.mkdir(parents=True, exist_ok=True)
        owner = Owner.current()
        return Path(tempfile.mkdtemp(dir=self.base, prefix=f"{owner.pid}@{owner.host}_"))

    def own(self, staged: Path) -> Path:
        """``staged`` resolved, when it is a staging folder of this area."""
        staged = Path(staged).resolve()
        if staged.parent != self.base.resolve():
            raise InvalidArgumentError(f"{staged} is not a staging directory of {self.base}")
        return staged

    def discard(self, staged: Path) -> None:
        """Remove a staging folder of this area."""
        shutil.rmtree(self.own(staged), ignore_errors=True)

    def cleanup(self, older_than: timedelta) -> list[RemovedTree]:
        """Remove staging folders whose owner died (on this host) or older than
        ``older_than``; returns what was removed."""
        if not self.base.is_dir():
            return []
        removed = []
        for folder in sorted(self.base.iterdir()):
            match = _STAGING_NAME.fullmatch(folder.name)
            owner = Owner(match[2], int(match[1])) if match else None
            try:
                age = time.time() - folder.stat().st_mtime
            except FileNotFoundError:  # its writer committed or discarded it meanwhile
                continue
            if owner is not None and owner.alive() is False:
                reason = f"left by {owner}, which is gone"
            elif age > older_than.total_seconds():
                reason = f"older than {older_than}"
            else:
                continue
            size = tree_size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(RemovedTree(str(folder), size, reason))
        return removed


def source_files(source: Path) -> list[tuple[Path, str]]:
    """The files to store from ``source`` (a file or a folder) with their relative paths."""
    source = Path(source)
    if source.is_file():
        return [(source, check_source_path(source, source.name))]
    if source.is_dir():
        return list(tree(source))
    raise NotFoundError(f"{source} is neither a file nor a directory")


def check_source_path(path: Path, rel: str) -> str:
    """``rel`` when it can name a stored file; InvalidArgumentError naming ``path`` if not."""
    if rel == MANIFEST_NAME:
        raise InvalidArgumentError(f"{path}: fti writes its own {MANIFEST_NAME}; rename this file")
    try:
        return check_path(rel)
    except InvalidNameError as exc:
        raise InvalidArgumentError(f"cannot store {path}: {exc}") from exc


def tree(folder: Path, *, manifest: bool = False) -> Iterator[tuple[Path, str]]:
    """Regular files under ``folder`` with their relative POSIX paths, sorted.

    A top-level MANIFEST.json is skipped when ``manifest`` (a stored tree), refused otherwise.
    """
    for directory, subdirs, files in os.walk(folder):
        subdirs.sort()
        links = [d for d in subdirs if Path(directory, d).is_symlink()]
        for name in sorted([*files, *links]):
            path = Path(directory, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file():
                raise InvalidArgumentError(
                    f"{path} is a symbolic link or a special file: artifacts hold regular files"
                )
            if rel == MANIFEST_NAME and manifest:
                continue
            yield path, check_source_path(path, rel)


def tree_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (files vanishing meanwhile count 0)."""
    size = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(directory, name)).st_size
    return size


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 and size of a file."""
    h = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


class VerifyingReader(io.RawIOBase):
    """A raw stream that hashes what it returns and checks the manifest at end of file.

    ``handle`` is any binary stream with ``readinto`` (a local file, an Arrow input stream);
    the reader closes it. ``errors`` translates the stream's own failures (OSError).
    """

    def __init__(
        self,
        handle: Any,
        where: str,
        path: str,
        entry: FileEntry,
        errors: Any = None,
    ) -> None:
        self._handle = handle
        self._where, self._path, self._entry = where, path, entry
        self._errors = errors
        self._hash = hashlib.sha256()
        self._seen = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n: int = self._handle.readinto(buffer)
        except OSError as exc:
            if self._errors is None:
                raise
            raise self._errors(exc) from exc
        if n:
            self._hash.update(memoryview(buffer)[:n])
            self._seen += n
        elif not self._checked:
            self._checked = True
            verify_entry(self._where, self._path, self._entry, self._hash.hexdigest(), self._seen)
        return n

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


def pack_tar(files: list[tuple[Path, str]], out: IO[bytes]) -> None:
    """Write ``files`` (local path, path in the tree) to ``out`` as a tar stream."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for source, rel in files:
            archive.add(str(source), arcname=rel, recursive=False)


def unpack_tar(source: IO[bytes], folder: Path, written: list[Path]) -> None:
    """Write the regular files of the tar stream ``source`` under ``folder``, appending each
    to ``written``; InvalidArgumentError for anything else in it (a link, a special file, a
    path that leaves the folder or is given twice)."""
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=source, mode="r|") as archive:
            for member in archive:
                if not member.isfile():
                    raise InvalidArgumentError(
                        f"{member.name!r} is not a regular file (a tree holds files only)"
                    )
                try:
                    rel = check_path(member.name)
                except InvalidNameError as exc:
                    raise InvalidArgumentError(str(exc)) from exc
                if rel in seen:
                    raise InvalidArgumentError(f"{rel!r} is given twice")
                seen.add(rel)
                content = archive.extractfile(member)
                assert content is not None  # a regular file has content
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("xb") as out:
                    written.append(target)
                    shutil.copyfileobj(content, out, CHUNK)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgumentError(f"not a valid tar stream: {exc}") from exc
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        # One path is a file in one member and a folder in another.
        raise InvalidArgumentError(f"paths collide: {exc.filename}") from exc
