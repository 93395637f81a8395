"""The artifact store of an fti server: trees staged on this machine, uploaded as one tar
stream to ``/api/v1/projects/{project}/artifacts/tree``, files downloaded as streams.

The server seals what it stores and verifies what it serves, and this side verifies again what
it receives: the manifest against the digest the caller keeps, each file against the manifest
(sha256 and size), so a server or a network that changes bytes is an ArtifactIntegrityError
here too.
The project of a key is its first part (the registry's keys are ``<project>/models/...``).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

from fti.errors import ArtifactIntegrityError, InvalidArgumentError
from fti.names import check_project_name
from fti.stores.artifacts.base import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    RemovedTree,
    check_key,
    check_listing,
    check_path,
    parse_manifest,
    verify_entry,
)
from fti.stores.artifacts.files import (
    CHUNK,
    StagingArea,
    VerifyingReader,
    hash_file,
    pack_tar,
    source_files,
    tree,
    unpack_tar,
)
from fti.stores.artifacts.object_store import default_staging
from fti.stores.server_client import ServerClient

TAR = "application/x-tar"


class RemoteArtifactStore:
    """Artifact trees kept by the server at ``client.url``; staging on this machine."""

    def __init__(self, client: ServerClient, staging: Path | None = None) -> None:
        self.client = client
        self._staging = StagingArea(staging or default_staging())

    def __repr__(self) -> str:
        return f"RemoteArtifactStore({self.client.url!r})"

    # Writing ---------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A new, empty local directory to write a tree into before :meth:`commit`."""
        return self._staging.new()

    def cleanup(self, older_than: timedelta, leftovers: Iterable[str] = ()) -> list[RemovedTree]:
        """Remove this machine's dead or old staging folders, and on the server the trees at
        the keys ``leftovers`` (files of saves that did not finish) and its staging folders of
        uploads whose process died; those are named inside the server's artifact store (a
        leftover by its key, a staging folder as ``staging/<folder>``)."""
        removed = self._staging.cleanup(older_than)
        by_project: dict[str, list[str]] = {}
        for key in leftovers:
            by_project.setdefault(self._path(key, "cleanup"), []).append(key)
        for path, keys in by_project.items():
            for r in self.client.json("POST", path, json_body={"keys": keys}):
                removed.append(RemovedTree(r["path"], r["bytes"], r["reason"]))
        return removed

    def commit(self, key: str, staged: Path) -> Manifest:
        """Upload ``staged`` to ``key``, replacing what was there; ``staged`` is consumed."""
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
        self.client.request("DELETE", self._path(key, "tree"), params={"key": key})

    # Reading ---------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether a tree is stored at ``key``."""
        answer = self.client.json("GET", self._path(key, "exists"), params={"key": key})
        return bool(answer["exists"])

    def manifest(self, key: str, manifest_sha256: str | None = None) -> Manifest:
        """The verified manifest of ``key``; ArtifactIntegrityError when absent or changed."""
        answer = self.client.request(
            "GET",
            self._path(key, "manifest"),
            params={"key": key, "manifest_sha256": manifest_sha256},
        )
        return parse_manifest(key, answer.content, manifest_sha256)

    def read(self, key: str, path: str, manifest_sha256: str | None = None) -> bytes:
        """The verified content of one file of ``key``."""
        with self.open(key, path, manifest_sha256) as stream:
            return stream.read()

    def open(self, key: str, path: str, manifest_sha256: str | None = None) -> BinaryIO:
        """A stream over one file of ``key``; reading it to the end verifies it."""
        entry = _entry(key, path, self.manifest(key, manifest_sha256))
        download = self.client.stream(
            "GET",
            self._path(key, "file"),
            params={"key": key, "path": path, "manifest_sha256": manifest_sha256},
        )
        answer = download.__enter__()
        body = _Body(self.client.chunks(answer, CHUNK), download)
        return io.BufferedReader(VerifyingReader(body, f"artifacts {key}", path, entry), CHUNK)

    def get(self, key: str, target: Path, manifest_sha256: str | None = None) -> Path:
        """Download the verified tree of ``key`` (with its manifest) into ``target``."""
        manifest = self.manifest(key, manifest_sha256)
        where = f"artifacts {key}"
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        params = {"key": key, "manifest_sha256": manifest.digest}
        try:
            with tempfile.TemporaryFile() as spool:
                with self.client.stream("GET", self._path(key, "tree"), params=params) as answer:
                    for chunk in self.client.chunks(answer, CHUNK):
                        spool.write(chunk)
                spool.seek(0)
                try:
                    unpack_tar(spool, target, written)
                except InvalidArgumentError as exc:
                    raise ArtifactIntegrityError(f"{where}: the server sent {exc}") from exc
            check_listing(where, manifest, {p.relative_to(target).as_posix() for p in written})
            for path in written:
                rel = path.relative_to(target).as_posix()
                verify_entry(where, rel, manifest.files[rel], *hash_file(path))
            manifest_file = target / MANIFEST_NAME
            written.append(manifest_file)
            manifest_file.write_bytes(manifest.to_bytes())
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return target

    # Internals -------------------------------------------------------------------------

    def _path(self, key: str, what: str) -> str:
        project = check_key(key).split("/", 1)[0]
        return f"/api/v1/projects/{check_project_name(project)}/artifacts/{what}"

    def _upload(self, key: str, files: list[tuple[Path, str]]) -> Manifest:
        with tempfile.TemporaryFile() as spool:
            pack_tar(files, spool)
            size = spool.tell()
            spool.seek(0)
            answer = self.client.request(
                "PUT",
                self._path(key, "tree"),
                params={"key": key},
                content=_read_chunks(spool),
                headers={"Content-Type": TAR, "Content-Length": str(size)},
            )
        return Manifest.from_bytes(answer.content, f"artifacts {key}")


def _entry(key: str, path: str, manifest: Manifest) -> FileEntry:
    entry = manifest.files.get(check_path(path))
    if entry is None:
        raise ArtifactIntegrityError(f"artifacts {key}: {path} is not listed in the manifest")
    return entry


def _read_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(CHUNK):
        yield chunk


class _Body:
    """A download's chunks as a stream with ``readinto`` (what VerifyingReader reads)."""

    def __init__(self, chunks: Iterator[bytes], download: Any) -> None:
        self._chunks = chunks
        self._download = download
        self._pending = b""

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        memoryview(buffer)[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._download.__exit__(None, None, None)
