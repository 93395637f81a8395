"""The artifact store interface: one directory of files per key, sealed by a sha256 manifest.

A key names one stored tree, such as ``project/models/flight_delays/3``. Every tree holds a
``MANIFEST.json`` listing each file's sha256 and size; reads verify it, so a changed, missing
or added file raises :class:`~fti.errors.ArtifactIntegrityError`. The manifest's own digest
is returned by :meth:`ArtifactStore.commit` so the caller can keep it elsewhere (the model
registry keeps it in the metadata store): a tree rewritten together with its manifest is
refused too.

Keys and file paths come from callers, so both are checked here before they reach a path.

A staging folder carries its :class:`Owner` (host and pid) in its name, so that
:meth:`ArtifactStore.cleanup` can remove those of processes that died mid-save.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol, runtime_checkable

from fti.errors import ArtifactIntegrityError, InvalidNameError

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = 1
LEFTOVER = "left by a save that did not finish"
"""Why :meth:`ArtifactStore.cleanup` removed a tree it was given as a leftover."""
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class Owner:
    """A process, by host name and pid: the writer of a staging folder or of a model save."""

    host: str
    pid: int

    @classmethod
    def current(cls) -> Owner:
        """This process."""
        return cls(_host_name(), os.getpid())

    def alive(self) -> bool | None:
        """Whether the process still runs; None when it is on another host (unknowable here).

        A pid reused by a newer process counts as alive: age limits catch those folders.
        """
        if self.host != _host_name():
            return None
        if self.pid <= 0:  # kill(0) and kill(-1) would signal whole groups
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process
            return True
        return True

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


@dataclass(frozen=True)
class RemovedTree:
    """A folder :meth:`ArtifactStore.cleanup` removed: where, how many bytes, and why."""

    path: str
    bytes: int
    reason: str


def _host_name() -> str:
    # Only the characters a staging folder name may hold.
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "unknown"


@dataclass(frozen=True)
class FileEntry:
    """One file of a stored tree: its sha256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The files of a stored tree (relative POSIX paths) and the digest of the manifest."""

    files: dict[str, FileEntry]

    @property
    def size(self) -> int:
        """Total bytes of the files."""
        return sum(f.size for f in self.files.values())

    def to_bytes(self) -> bytes:
        """The canonical ``MANIFEST.json`` content."""
        body = {
            "format": MANIFEST_FORMAT,
            "files": {
                p: {"sha256": f.sha256, "size": f.size} for p, f in sorted(self.files.items())
            },
        }
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @property
    def digest(self) -> str:
        """sha256 of :meth:`to_bytes`: what a caller keeps to detect a rewritten manifest."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        """Parse a ``MANIFEST.json``; ArtifactIntegrityError when it is not one."""
        try:
            body: Any = json.loads(data)
            if body.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown format {body.get('format')!r}")
            files = {
                check_path(p): FileEntry(str(e["sha256"]), int(e["size"]))
                for p, e in body["files"].items()
            }
        except (ValueError, TypeError, KeyError, AttributeError, InvalidNameError) as exc:
            raise ArtifactIntegrityError(f"{where}: {MANIFEST_NAME} is not valid: {exc}") from exc
        return cls(files)


def check_key(key: str) -> str:
    """Return ``key`` when each ``/``-separated part is a plain name; else InvalidNameError.

    Parts are letters, digits, ``_``, ``.`` and ``-``, not starting with ``.`` or ``-``, so
    no key can be absolute, climb with ``..`` or hide in a dot folder.
    """
    parts = key.split("/") if isinstance(key, str) else []
    if not parts or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidNameError(
            f"invalid artifact key {key!r}: use '/'-separated names of letters, digits, "
            "'_', '.' and '-' (no empty part, no leading '.')"
        )
    return key


MAX_PART_BYTES = 255
"""The longest file or folder name of a tree, in UTF-8 bytes (what file systems and object
stores' keys take)."""


def check_path(path: str) -> str:
    """Return a file path of a tree when it is relative and stays inside it."""
    if not isinstance(path, str) or "\\" in path or "\x00" in path:
        raise InvalidNameError(f"invalid artifact file path {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or any(p in ("", ".", "..") for p in pure.parts):
        raise InvalidNameError(f"invalid artifact file path {path!r}: it must stay in its folder")
    if pure.as_posix() != path or path == MANIFEST_NAME:
        raise InvalidNameError(f"invalid artifact file path {path!r}")
    if any(len(part.encode()) > MAX_PART_BYTES for part in pure.parts):
        raise InvalidNameError(
            f"invalid artifact file path {path!r}: a file or folder name of over "
            f"{MAX_PART_BYTES} bytes (UTF-8) cannot be stored"
        )
    return path


def verify_entry(where: str, path: str, entry: FileEntry | None, digest: str, size: int) -> None:
    """Raise ArtifactIntegrityError unless ``digest`` and ``size`` match the manifest."""
    if entry is None:
        raise ArtifactIntegrityError(f"{where}: {path} is not listed in the manifest")
    if size != entry.size or digest != entry.sha256:
        raise ArtifactIntegrityError(
            f"{where}: {path} does not match its manifest (expected {entry.size} bytes, sha256 "
            f"{entry.sha256[:12]}..., found {size} bytes, sha256 {digest[:12]}...): the file "
            "was changed after it was saved; save the model again"
        )


def parse_manifest(key: str, data: bytes, manifest_sha256: str | None) -> Manifest:
    """The manifest of ``key`` from its bytes, checked against ``manifest_sha256`` if given."""
    if manifest_sha256 is not None and hashlib.sha256(data).hexdigest() != manifest_sha256:
        raise ArtifactIntegrityError(
            f"artifacts {key}: {MANIFEST_NAME} was changed after the model was saved"
        )
    return Manifest.from_bytes(data, f"artifacts {key}")


def check_listing(where: str, manifest: Manifest, found: set[str]) -> None:
    """ArtifactIntegrityError unless the files ``found`` in a tree are those of its manifest."""
    missing = sorted(set(manifest.files) - found)
    if missing:
        raise ArtifactIntegrityError(f"{where}: file(s) missing: {', '.join(missing)}")
    extra = sorted(found - set(manifest.files))
    if extra:
        raise ArtifactIntegrityError(f"{where}: file(s) not in the manifest: {', '.join(extra)}")


@runtime_checkable
class ArtifactStore(Protocol):
    """Trees of files addressed by key, each sealed by a manifest.

    ``manifest_sha256`` arguments, when given, must equal :attr:`Manifest.digest` of the tree's
    manifest (as :meth:`commit` or :meth:`put` returned it); otherwise ArtifactIntegrityError.
    """

    def staging_dir(self) -> Path:
        """A new, empty local directory to write a tree into before :meth:`commit`, named
        after this process's :class:`Owner`."""
        ...

    def cleanup(self, older_than: timedelta, leftovers: Iterable[str] = ()) -> list[RemovedTree]:
        """Remove staging folders whose owner died (on this host) or older than
        ``older_than``, and the trees at the keys ``leftovers`` (files of saves that did not
        finish); returns what was removed."""
        ...

    def commit(self, key: str, staged: Path) -> Manifest:
        """Seal ``staged`` with a manifest and store it at ``key``, replacing what was there.

        ``staged`` (from :meth:`staging_dir`) is consumed.
        """
        ...

    def discard(self, staged: Path) -> None:
        """Remove a staging directory that will not be committed."""
        ...

    def put(self, key: str, source: Path) -> Manifest:
        """Copy a file or a directory tree to ``key`` (the source is left as it is)."""
        ...

    def manifest(self, key: str, manifest_sha256: str | None = None) -> Manifest:
        """The verified manifest of ``key``; ArtifactIntegrityError when absent or changed."""
        ...

    def read(self, key: str, path: str, manifest_sha256: str | None = None) -> bytes:
        """The verified content of one file of ``key``."""
        ...

    def open(self, key: str, path: str, manifest_sha256: str | None = None) -> BinaryIO:
        """A stream over one file of ``key``; reading it to the end verifies it."""
        ...

    def get(self, key: str, target: Path, manifest_sha256: str | None = None) -> Path:
        """Copy the verified tree of ``key`` (with its manifest) into ``target``; returns it."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a tree is stored at ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the tree at ``key`` (no error when absent)."""
        ...


def manifest_from(entries: Mapping[str, FileEntry]) -> Manifest:
    """A manifest of ``entries`` with every path checked."""
    return Manifest({check_path(p): e for p, e in entries.items()})
