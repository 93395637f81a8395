"""The local-directory artifact store: ``<root>/<key>/`` holds a tree and its MANIFEST.json.

Writes go to ``<root>/.staging/<pid>@<host>_<random>/`` first and are renamed into place, so
a reader never sees a half-written tree; deletes are renamed to ``<root>/.trash/`` before they
are removed. A writer killed mid-save leaves its staging folder: :meth:`LocalArtifactStore.cleanup`
removes it once the pid is gone from this host, or once it is old.

Copies are made by the kernel (``shutil.copyfile``) and the copy is then hashed: what the
manifest describes is the bytes that were written (or, for a download, the bytes the caller
gets). A single sha256 stream is the bound of every save and load (about 1 GB/s per core);
overlapping it with the copy in a thread measured slower on a busy 2-core machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from fti.errors import ArtifactIntegrityError, InvalidArgumentError, InvalidNameError, NotFoundError
from fti.stores.artifacts.base import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    Owner,
    RemovedTree,
    check_key,
    check_path,
    manifest_from,
    verify_entry,
)

CHUNK = 1 << 20
"""Bytes per read while hashing a file (one reused buffer)."""

_STAGING_NAME = re.compile(r"(\d+)@([A-Za-z0-9.-]+)_.+")


class LocalArtifactStore:
    """Artifact trees in a local (or mounted) directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    # Writing ---------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A new, empty local directory to write a tree into before :meth:`commit`, named
        after this process's :class:`Owner`."""
        base = self.root / ".staging"
        base.mkdir(parents=True, exist_ok=True)
        owner = Owner.current()
        return Path(tempfile.mkdtemp(dir=base, prefix=f"{owner.pid}@{owner.host}_"))

    def cleanup(self, older_than: timedelta) -> list[RemovedTree]:
        """Remove staging folders whose owner died (on this host) or older than
        ``older_than``; returns what was removed."""
        base = self.root / ".staging"
        if not base.is_dir():
            return []
        removed = []
        for folder in sorted(base.iterdir()):
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
            size = _tree_size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(RemovedTree(str(folder), size, reason))
        return removed

    def commit(self, key: str, staged: Path) -> Manifest:
        """Seal ``staged`` with a manifest and move it to ``key`` (replacing what was there)."""
        target = self._dir(key)
        staged = self._own_staging(staged)
        try:
            entries = {rel: FileEntry(*_hash_file(file)) for file, rel in _tree(staged)}
            return self._commit(staged, target, entries)
        except BaseException:
            self.discard(staged)
            raise

    def discard(self, staged: Path) -> None:
        """Remove a staging directory that will not be committed."""
        shutil.rmtree(self._own_staging(staged), ignore_errors=True)

    def put(self, key: str, source: Path) -> Manifest:
        """Copy a file or a directory tree to ``key`` (the source is left as it is)."""
        target = self._dir(key)
        source = Path(source)
        if source.is_file():
            files = [(source, source.name)]
        elif source.is_dir():
            files = list(_tree(source))
        else:
            raise NotFoundError(f"{source} is neither a file nor a directory")
        staged = self.staging_dir()
        try:
            entries: dict[str, FileEntry] = {}
            for file, rel in files:
                destination = staged / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                entries[rel] = FileEntry(*_copy_hashed(file, destination))
            return self._commit(staged, target, entries)
        except BaseException:
            self.discard(staged)
            raise

    def _commit(self, staged: Path, target: Path, entries: dict[str, FileEntry]) -> Manifest:
        """Write the manifest of ``entries`` into ``staged`` and move it to ``target``."""
        manifest = manifest_from(entries)
        (staged / MANIFEST_NAME).write_bytes(manifest.to_bytes())
        self._move_into_place(staged, target)
        return manifest

    def delete(self, key: str) -> None:
        """Remove the tree at ``key`` (no error when absent)."""
        target = self._dir(key)
        if not target.exists():
            return
        trash = self._trash()
        with contextlib.suppress(FileNotFoundError):
            target.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    # Reading ---------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether a tree is stored at ``key``."""
        return (self._dir(key) / MANIFEST_NAME).is_file()

    def manifest(self, key: str, manifest_sha256: str | None = None) -> Manifest:
        """The verified manifest of ``key``; ArtifactIntegrityError when absent or changed."""
        path = self._dir(key) / MANIFEST_NAME
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactIntegrityError(
                f"artifacts {key}: {MANIFEST_NAME} is missing (the files were deleted or moved)"
            ) from exc
        if manifest_sha256 is not None and hashlib.sha256(data).hexdigest() != manifest_sha256:
            raise ArtifactIntegrityError(
                f"artifacts {key}: {MANIFEST_NAME} was changed after the model was saved"
            )
        return Manifest.from_bytes(data, f"artifacts {key}")

    def read(self, key: str, path: str, manifest_sha256: str | None = None) -> bytes:
        """The verified content of one file of ``key``."""
        manifest = self.manifest(key, manifest_sha256)
        file, entry = self._file(key, path, manifest)
        with _open_listed(key, path, file) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != entry.size:
                verify_entry(f"artifacts {key}", path, entry, "?" * 64, size)
            # Read once, hash what was read: the bytes returned are the bytes verified.
            data: bytes = handle.read()
        verify_entry(f"artifacts {key}", path, entry, hashlib.sha256(data).hexdigest(), len(data))
        return data

    def open(self, key: str, path: str, manifest_sha256: str | None = None) -> BinaryIO:
        """A stream over one file of ``key``; reading it to the end verifies it."""
        manifest = self.manifest(key, manifest_sha256)
        file, entry = self._file(key, path, manifest)
        raw = _VerifyingReader(_open_listed(key, path, file), f"artifacts {key}", path, entry)
        return io.BufferedReader(raw, CHUNK)

    def get(self, key: str, target: Path, manifest_sha256: str | None = None) -> Path:
        """Copy the verified tree of ``key`` (with its manifest) into ``target``; returns it."""
        manifest = self.manifest(key, manifest_sha256)
        folder = self._dir(key)
        found = {rel for _, rel in _tree(folder, manifest=True)}
        where = f"artifacts {key}"
        missing = sorted(set(manifest.files) - found)
        if missing:
            raise ArtifactIntegrityError(f"{where}: file(s) missing: {', '.join(missing)}")
        extra = sorted(found - set(manifest.files))
        if extra:
            raise ArtifactIntegrityError(
                f"{where}: file(s) not in the manifest: {', '.join(extra)}"
            )
        target = Path(target)
        written: list[Path] = []
        try:
            for rel, entry in sorted(manifest.files.items()):
                destination = target / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                written.append(destination)
                digest, size = _copy_hashed(folder / rel, destination)
                verify_entry(where, rel, entry, digest, size)
            manifest_file = target / MANIFEST_NAME
            written.append(manifest_file)
            manifest_file.write_bytes(manifest.to_bytes())
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return target

    # Internals -------------------------------------------------------------------------

    def _dir(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already refuses '..'; this also catches a symlink planted in the tree.
        if path == self.root or not path.is_relative_to(self.root):
            raise InvalidNameError(f"artifact key {key!r} leads outside {self.root}")
        return path

    def _file(self, key: str, path: str, manifest: Manifest) -> tuple[Path, FileEntry]:
        folder = self._dir(key)
        entry = manifest.files.get(check_path(path))
        if entry is None:
            raise ArtifactIntegrityError(f"artifacts {key}: {path} is not listed in the manifest")
        file = (folder / path).resolve()
        if not file.is_relative_to(folder):
            raise ArtifactIntegrityError(f"artifacts {key}: {path} leads outside its folder")
        return file, entry

    def _own_staging(self, staged: Path) -> Path:
        staged = Path(staged).resolve()
        if staged.parent != self.root / ".staging":
            raise InvalidArgumentError(f"{staged} is not a staging directory of {self.root}")
        return staged

    def _trash(self) -> Path:
        base = self.root / ".trash"
        base.mkdir(parents=True, exist_ok=True)
        return base / uuid.uuid4().hex

    def _move_into_place(self, staged: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if target.exists():
            # A tree left by a save that crashed before its metadata was written.
            old = self._trash()
            target.rename(old)
        staged.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _tree(folder: Path, *, manifest: bool = False) -> Iterator[tuple[Path, str]]:
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
            if rel == MANIFEST_NAME:
                if manifest:
                    continue
                raise InvalidArgumentError(
                    f"{path}: fti writes its own {MANIFEST_NAME}; rename this file"
                )
            try:
                yield path, check_path(rel)
            except InvalidNameError as exc:
                raise InvalidArgumentError(f"cannot store {path}: {exc}") from exc


@contextlib.contextmanager
def _open_listed(key: str, path: str, file: Path) -> Iterator[Any]:
    try:
        handle = file.open("rb", buffering=0)
    except FileNotFoundError as exc:
        raise ArtifactIntegrityError(f"artifacts {key}: {path} is missing") from exc
    with handle:
        yield handle


def _tree_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (files vanishing meanwhile count 0)."""
    size = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(directory, name)).st_size
    return size


def _hash_file(path: Path) -> tuple[str, int]:
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


def _copy_hashed(source: Path, destination: Path) -> tuple[str, int]:
    """Copy a file; returns the sha256 and size of the copy."""
    shutil.copyfile(source, destination)
    return _hash_file(destination)


class _VerifyingReader(io.RawIOBase):
    """A raw stream that hashes what it returns and checks the manifest at end of file."""

    def __init__(self, handle: Any, where: str, path: str, entry: FileEntry) -> None:
        self._context = handle
        self._handle = handle.__enter__()
        self._where, self._path, self._entry = where, path, entry
        self._hash = hashlib.sha256()
        self._seen = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n: int = self._handle.readinto(buffer)
        if n:
            self._hash.update(memoryview(buffer)[:n])
            self._seen += n
        elif not self._checked:
            self._checked = True
            verify_entry(self._where, self._path, self._entry, self._hash.hexdigest(), self._seen)
        return n

    def close(self) -> None:
        if not self.closed:
            self._context.__exit__(None, None, None)
        super().close()
