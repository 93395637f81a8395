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
import shutil
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from fti.errors import ArtifactIntegrityError, InvalidNameError
from fti.stores.artifacts.base import (
    LEFTOVER,
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    RemovedTree,
    check_key,
    check_listing,
    check_path,
    manifest_from,
    parse_manifest,
    verify_entry,
)
from fti.stores.artifacts.files import (
    CHUNK,
    StagingArea,
    VerifyingReader,
    hash_file,
    source_files,
    tree,
    tree_size,
)


class LocalArtifactStore:
    """Artifact trees in a local (or mounted) directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._staging = StagingArea(self.root / ".staging")

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    # Writing ---------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A new, empty local directory to write a tree into before :meth:`commit`, named
        after this process's :class:`Owner`."""
        return self._staging.new()

    def cleanup(self, older_than: timedelta, leftovers: Iterable[str] = ()) -> list[RemovedTree]:
        """Remove staging folders whose owner died (on this host) or older than
        ``older_than``, and the trees at the keys ``leftovers``; returns what was removed."""
        removed = self._staging.cleanup(older_than)
        for key in leftovers:
            target = self._dir(key)
            if target.exists():
                size = tree_size(target)
                self.delete(key)
                removed.append(RemovedTree(str(target), size, LEFTOVER))
        return removed

    def commit(self, key: str, staged: Path) -> Manifest:
        """Seal ``staged`` with a manifest and move it to ``key`` (replacing what was there)."""
        target = self._dir(key)
        staged = self._staging.own(staged)
        try:
            entries = {rel: FileEntry(*hash_file(file)) for file, rel in tree(staged)}
            return self._commit(staged, target, entries)
        except BaseException:
            self.discard(staged)
            raise

    def discard(self, staged: Path) -> None:
        """Remove a staging directory that will not be committed."""
        self._staging.discard(staged)

    def put(self, key: str, source: Path) -> Manifest:
        """Copy a file or a directory tree to ``key`` (the source is left as it is)."""
        target = self._dir(key)
        files = source_files(source)
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
        return parse_manifest(key, data, manifest_sha256)

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
        try:
            handle = file.open("rb", buffering=0)
        except FileNotFoundError as exc:
            raise ArtifactIntegrityError(f"artifacts {key}: {path} is missing") from exc
        raw = VerifyingReader(handle, f"artifacts {key}", path, entry)
        return io.BufferedReader(raw, CHUNK)

    def get(self, key: str, target: Path, manifest_sha256: str | None = None) -> Path:
        """Copy the verified tree of ``key`` (with its manifest) into ``target``; returns it."""
        manifest = self.manifest(key, manifest_sha256)
        folder = self._dir(key)
        where = f"artifacts {key}"
        check_listing(where, manifest, {rel for _, rel in tree(folder, manifest=True)})
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


@contextlib.contextmanager
def _open_listed(key: str, path: str, file: Path) -> Iterator[Any]:
    try:
        handle = file.open("rb", buffering=0)
    except FileNotFoundError as exc:
        raise ArtifactIntegrityError(f"artifacts {key}: {path} is missing") from exc
    with handle:
        yield handle


def _copy_hashed(source: Path, destination: Path) -> tuple[str, int]:
    """Copy a file; returns the sha256 and size of the copy."""
    shutil.copyfile(source, destination)
    return hash_file(destination)
