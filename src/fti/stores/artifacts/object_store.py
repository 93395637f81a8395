"""The object-storage artifact store: ``<prefix>/<key>/`` on S3, GCS or Azure, through Arrow's
own filesystems (``pyarrow.fs``, ADR 0007) reached from a :class:`~fti.stores.locations.Location`.

Object stores have no atomic rename, so a tree is written file by file and its MANIFEST.json
last: a tree without its manifest does not exist (:meth:`ObjectArtifactStore.exists` is False,
reads fail), and the caller's record of the manifest digest (the model registry's metadata) is
what makes a version exist. A save killed midway leaves files under its key that no version
lists; the registry hands those keys to :meth:`ObjectArtifactStore.cleanup`. A write cut off
inside a multipart upload also leaves the upload's parts, which no listing shows and only the
bucket can expire: give the bucket a lifecycle rule that aborts incomplete multipart uploads
(S3 ``AbortIncompleteMultipartUpload``; GCS and Azure discard uncommitted blocks themselves).

Each file is hashed as it is sent, so the manifest describes the bytes that were uploaded, and
hashed as it is received, so the bytes a read returns are the bytes it verified. Trees are
staged on this machine (flavors write files there) under ``<tmp>/fti-staging-<user>/``.

Credentials stay in the environment, where Arrow's provider chains find them; Arrow's failures
become :func:`~fti.stores.locations.storage_error`: a ConfigError naming what to set when
credentials are missing or refused, else a StoreError, never with a secret in the message.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import io
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from fti.errors import ArtifactIntegrityError, FtiError
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
from fti.stores.artifacts.files import CHUNK, StagingArea, VerifyingReader, source_files, tree
from fti.stores.locations import Location, storage_error

UPLOAD_CHUNK = 16 << 20
"""Bytes read from a local file per write to an upload (Arrow sends them as parts)."""
DOWNLOAD_CHUNK = 256 << 20
"""Bytes per ranged GET of a download or a stream: a file up to this size takes one GET. Each
GET costs a round trip (and on some S3-compatible servers a pass over the whole object)."""


class ObjectArtifactStore:
    """Artifact trees under a prefix of object storage."""

    def __init__(self, location: Location, staging: Path | None = None) -> None:
        self.location = location
        self._staging = StagingArea(staging or default_staging())

    def __repr__(self) -> str:
        return f"ObjectArtifactStore({self.location.display!r})"

    @cached_property
    def _fs(self) -> Any:
        # Made on first use: opening a project must not need the store's credentials.
        with self._errors("opening the artifact store"):
            return self.location.filesystem()

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
            sizes = self._listing(key)
            if sizes:
                self._remove(key)
                removed.append(RemovedTree(self._display(key), sum(sizes.values()), LEFTOVER))
        return removed

    def commit(self, key: str, staged: Path) -> Manifest:
        """Upload ``staged`` with its manifest (last) to ``key``, replacing what was there."""
        check_key(key)
        staged = self._staging.own(staged)
        try:
            return self._upload(key, list(tree(staged)))
        finally:
            self._staging.discard(staged)

    def discard(self, staged: Path) -> None:
        """Remove a staging directory that will not be committed."""
        self._staging.discard(staged)

    def put(self, key: str, source: Path) -> Manifest:
        """Upload a file or a directory tree to ``key`` (the source is left as it is)."""
        check_key(key)
        return self._upload(key, source_files(source))

    def delete(self, key: str) -> None:
        """Remove the tree at ``key`` (no error when absent)."""
        check_key(key)
        self._remove(key)

    # Reading ---------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether a tree is stored at ``key`` (its manifest is there)."""
        import pyarrow.fs as pafs

        path = self._path(key, MANIFEST_NAME)
        with self._errors(f"looking up artifacts {key}"):
            return bool(self._fs.get_file_info(path).type == pafs.FileType.File)

    def manifest(self, key: str, manifest_sha256: str | None = None) -> Manifest:
        """The verified manifest of ``key``; ArtifactIntegrityError when absent or changed."""
        path = self._path(key, MANIFEST_NAME)
        with self._errors(f"reading artifacts {key}"):
            try:
                with self._fs.open_input_file(path) as handle:
                    data = handle.read()
            except FileNotFoundError as exc:
                raise ArtifactIntegrityError(
                    f"artifacts {key}: {MANIFEST_NAME} is missing (the files were deleted or "
                    "never completed)"
                ) from exc
        return parse_manifest(key, data, manifest_sha256)

    def read(self, key: str, path: str, manifest_sha256: str | None = None) -> bytes:
        """The verified content of one file of ``key``."""
        manifest = self.manifest(key, manifest_sha256)
        entry = _entry(key, path, manifest)
        where = f"artifacts {key}"
        with self._errors(f"reading artifacts {key}/{path}"), self._open_file(key, path) as handle:
            size = handle.size()
            if size != entry.size:
                verify_entry(where, path, entry, "?" * 64, size)
            # One GET, then the hash of what it returned: the bytes returned are the bytes verified.
            data: bytes = handle.read()
        verify_entry(where, path, entry, hashlib.sha256(data).hexdigest(), len(data))
        return data

    def open(self, key: str, path: str, manifest_sha256: str | None = None) -> BinaryIO:
        """A stream over one file of ``key``; reading it to the end verifies it."""
        manifest = self.manifest(key, manifest_sha256)
        entry = _entry(key, path, manifest)
        import pyarrow as pa

        with self._errors(f"reading artifacts {key}/{path}"):
            handle = self._open_file(key, path)
            if handle.size() <= DOWNLOAD_CHUNK:
                # One GET into Arrow's memory, streamed from there: no ranged GET per read,
                # and no second buffer of the whole file.
                with handle:
                    handle = pa.BufferReader(handle.read_buffer())
        errors = lambda exc: self._failure(f"reading artifacts {key}/{path}", exc)  # noqa: E731
        raw = VerifyingReader(handle, f"artifacts {key}", path, entry, errors)
        return io.BufferedReader(raw, CHUNK)

    def get(self, key: str, target: Path, manifest_sha256: str | None = None) -> Path:
        """Download the verified tree of ``key`` (with its manifest) into ``target``."""
        manifest = self.manifest(key, manifest_sha256)
        where = f"artifacts {key}"
        found = set(self._listing(key)) - {MANIFEST_NAME}
        check_listing(where, manifest, found)
        target = Path(target)
        written: list[Path] = []
        try:
            for rel, entry in sorted(manifest.files.items()):
                destination = target / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                written.append(destination)
                digest, size = self._receive(key, rel, destination)
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

    def _upload(self, key: str, files: list[tuple[Path, str]]) -> Manifest:
        """Replace the tree at ``key`` with ``files``, then write their manifest."""
        with self._errors(f"writing artifacts {key}"):
            self._remove(key)
            try:
                entries = {rel: self._send(file, self._path(key, rel)) for file, rel in files}
                manifest = manifest_from(entries)
                with self._fs.open_output_stream(self._path(key, MANIFEST_NAME)) as out:
                    out.write(manifest.to_bytes())
            except BaseException:
                # Best effort: unreachable storage leaves them to the caller's cleanup.
                with contextlib.suppress(Exception):
                    self._remove(key)
                raise
        return manifest

    def _send(self, file: Path, path: str) -> FileEntry:
        """Upload one local file; the sha256 and size of what was sent."""
        digest = hashlib.sha256()
        size = 0
        with file.open("rb", buffering=0) as source, self._fs.open_output_stream(path) as out:
            # A new bytes object per chunk: Arrow may keep a reference while uploading it.
            while chunk := source.read(UPLOAD_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return FileEntry(digest.hexdigest(), size)

    def _receive(self, key: str, rel: str, destination: Path) -> tuple[str, int]:
        """Download one file into ``destination``; the sha256 and size of what was written."""
        digest = hashlib.sha256()
        size = 0
        with (
            self._errors(f"reading artifacts {key}/{rel}"),
            self._open_file(key, rel) as handle,
            destination.open("wb") as out,
        ):
            # Arrow's own buffers, written out without a copy into Python bytes first.
            while chunk := handle.read_buffer(DOWNLOAD_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += chunk.size
        return digest.hexdigest(), size

    def _open_file(self, key: str, rel: str) -> Any:
        """An Arrow input file over one file of ``key``; ArtifactIntegrityError when absent."""
        try:
            return self._fs.open_input_file(self._path(key, rel))
        except FileNotFoundError as exc:
            raise ArtifactIntegrityError(f"artifacts {key}: {rel} is missing") from exc

    def _listing(self, key: str) -> dict[str, int]:
        """``{relative path: size}`` of the objects under ``key``."""
        import pyarrow.fs as pafs

        prefix = self._path(key)
        selector = pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
        with self._errors(f"listing artifacts {key}"):
            infos = self._fs.get_file_info(selector)
        return {
            info.path[len(prefix) + 1 :]: int(info.size)
            for info in infos
            if info.type == pafs.FileType.File
        }

    def _remove(self, key: str) -> None:
        with self._errors(f"deleting artifacts {key}"), contextlib.suppress(FileNotFoundError):
            self._fs.delete_dir(self._path(key))

    def _path(self, key: str, rel: str = "") -> str:
        """The filesystem path of ``key``, or of its file ``rel`` (which may be the manifest)."""
        check_key(key)
        if not rel:
            return self.location.path(key)
        return self.location.path(f"{key}/{rel if rel == MANIFEST_NAME else check_path(rel)}")

    def _display(self, key: str) -> str:
        return f"{self.location.display.rstrip('/')}/{key}"

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Arrow's failures while doing ``what`` as fti errors (FtiErrors pass through)."""
        try:
            yield
        except FtiError:
            raise
        except (OSError, ValueError) as exc:
            raise self._failure(what, exc) from exc

    def _failure(self, what: str, exc: Exception) -> FtiError:
        return storage_error(self.location, exc, what)


def _entry(key: str, path: str, manifest: Manifest) -> FileEntry:
    entry = manifest.files.get(check_path(path))
    if entry is None:
        raise ArtifactIntegrityError(f"artifacts {key}: {path} is not listed in the manifest")
    return entry


def default_staging() -> Path:
    """Where trees are staged on this machine before an upload: ``<tmp>/fti-staging-<user>``."""
    user = "user"
    with contextlib.suppress(Exception):  # no name for this uid (some containers)
        user = re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser())
    return Path(tempfile.gettempdir()) / f"fti-staging-{user}"
