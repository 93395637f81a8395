"""The offline store of an fti server: each method is a request to its offline routes
(``/api/v1/projects/{project}/offline/...``), rows as Arrow IPC streams.

Heavy reads stay here (ADR 0010): a version's data files are listed by the server and
downloaded once into the local cache (Delta data files never change once written, so a copy
stays valid), and DuckDB or Arrow read the copies. A read "as of" a time is resolved from the
table's history by the commit times, as the embedded store does. The project of a table or
snapshot is the first part of its path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pds

from fti.arrow_ipc import ARROW_STREAM, read_stream
from fti.errors import InvalidNameError, NotFoundError
from fti.names import check_project_name
from fti.stores.offline.base import DataFile, TableCommit, TableMaintenance
from fti.stores.offline.cache import CachedFile, FileCache
from fti.stores.server_client import ServerClient

CHUNK = 1 << 20
BATCH_ROWS = 65_536
"""Rows of each batch of an upload: the server reads and checks one while the next arrives."""


class RemoteOfflineStore:
    """Versioned tables and snapshots kept by the server at ``client.url``; data files read
    from copies in ``cache_dir``, kept to about ``max_cache_bytes``."""

    def __init__(self, client: ServerClient, cache_dir: Path, max_cache_bytes: int) -> None:
        self.client = client
        scope = hashlib.sha256(client.url.encode()).hexdigest()[:16]
        self._cache = FileCache(Path(cache_dir) / "offline" / f"server-{scope}", max_cache_bytes)

    def __repr__(self) -> str:
        return f"RemoteOfflineStore({self.client.url!r})"

    def upsert(
        self, table: str, data: pa.Table, keys: Sequence[str], properties: Mapping[str, str]
    ) -> int:
        """Insert ``data``, replacing rows equal on ``keys``; returns the new version."""
        body = _Upload(data)
        answer = self.client.json(
            "POST",
            self._route(table, "upsert"),
            params={"table": table, "keys": list(keys), "properties": json.dumps(properties)},
            content=body,
            headers=body.headers,
        )
        return int(answer["version"])

    def version(self, table: str) -> int | None:
        """The latest version, None when the table does not exist."""
        answer = self.client.json("GET", self._route(table, "version"), params={"table": table})
        found = answer["version"]
        return None if found is None else int(found)

    def dataset(self, table: str, version: int | datetime | None = None) -> pds.Dataset:
        """An Arrow dataset of local copies of the table's files at a version or time."""
        if version is None:
            latest = self.version(table)
            if latest is None:
                raise NotFoundError(f"offline table {table} does not exist")
            version = latest
        elif isinstance(version, datetime):
            version = self._version_at(table, version)
        answer = self.client.request(
            "GET", self._route(table, "schema"), params={"table": table, "version": version}
        )
        schema = read_stream(answer.content, None, "table schema").schema
        paths = self.local_paths(table, self.files(table, version))
        return pds.dataset(paths, schema=schema, format="parquet")

    def files(self, table: str, version: int, time_column: str | None = None) -> list[DataFile]:
        """The data files of the table at ``version``, each path ``<version>/<path inside
        the table>`` (what :meth:`local_paths` asks the server for)."""
        answer = self.client.json(
            "GET",
            self._route(table, "files"),
            params={"table": table, "version": version, "time_column": time_column},
        )
        return [
            DataFile(f"{version}/{f['name']}", _time(f["low"]), _time(f["high"]), f["size"])
            for f in answer
        ]

    def local_paths(self, table: str, files: Sequence[DataFile]) -> list[str]:
        """Local copies of ``files`` (from :meth:`files`), downloaded once into the cache."""
        # A data file never changes: one copy serves every version that has it.
        asked: dict[str, tuple[str, str]] = {}
        for f in files:
            version, _, name = f.path.partition("/")
            asked[f"{table}/{name}"] = (version, name)
        wanted = [CachedFile(f"{table}/{f.path.partition('/')[2]}", f.size) for f in files]

        def download(key: str, target: Path) -> None:
            version, name = asked[key]
            params = {"table": table, "version": version, "name": name}
            with (
                self.client.stream("GET", self._route(table, "file"), params=params) as answer,
                target.open("wb") as out,
            ):
                for chunk in self.client.chunks(answer, CHUNK):
                    out.write(chunk)

        return self._cache.paths(wanted, download)

    def history(self, table: str, limit: int | None = None) -> list[TableCommit]:
        """Every version (or the ``limit`` latest), oldest first."""
        answer = self.client.json(
            "GET", self._route(table, "history"), params={"table": table, "limit": limit}
        )
        return [
            TableCommit(
                version=int(c["version"]),
                time=datetime.fromisoformat(c["time"]),
                operation=c["operation"],
                properties=dict(c["properties"]),
                metrics=dict(c["metrics"]),
            )
            for c in answer
        ]

    def changes(self, table: str, start: int, end: int | None = None) -> pa.Table:
        """Rows inserted or updated by versions ``start``..``end`` (inclusive)."""
        answer = self.client.request(
            "GET",
            self._route(table, "changes"),
            params={"table": table, "start": start, "end": end},
        )
        return read_stream(answer.content, None, "changes")

    def drop(self, table: str) -> None:
        """Delete the table and its history."""
        self.client.request("DELETE", self._route(table, "table"), params={"table": table})

    def write_file(self, path: str, data: pa.Table) -> None:
        """Store an immutable snapshot as Parquet at ``path``."""
        body = _Upload(data)
        self.client.request(
            "PUT",
            self._route(path, "snapshot"),
            params={"path": path},
            content=body,
            headers=body.headers,
        )

    def read_file(self, path: str) -> pa.Table:
        """Read a snapshot; NotFoundError when absent."""
        answer = self.client.request("GET", self._route(path, "snapshot"), params={"path": path})
        return read_stream(answer.content, None, f"snapshot {path}")

    def delete_file(self, path: str) -> None:
        """Remove a snapshot (no error when absent)."""
        self.client.request("DELETE", self._route(path, "snapshot"), params={"path": path})

    def move_file(self, source: str, target: str) -> None:
        """Give a snapshot a new path."""
        self.client.request(
            "POST",
            self._route(source, "snapshot/move"),
            params={"source": source, "target": target},
        )

    def maintain(
        self,
        table: str,
        keep_versions: Collection[int],
        retention: timedelta,
        *,
        dry_run: bool = False,
    ) -> TableMaintenance:
        """Maintain the table on the server (compaction, checkpoint, vacuum)."""
        body = {
            "keep_versions": sorted(keep_versions),
            "retention_seconds": retention.total_seconds(),
            "dry_run": dry_run,
        }
        done = self.client.json(
            "POST", self._route(table, "maintain"), params={"table": table}, json_body=body
        )
        return TableMaintenance(
            version=done["version"],
            files_before=done["files_before"],
            bytes_before=done["bytes_before"],
            files_after=done["files_after"],
            bytes_after=done["bytes_after"],
            files_compacted=done["files_compacted"],
            files_deleted=done["files_deleted"],
            checkpoint=done["checkpoint"],
            log_retention=timedelta(seconds=done["log_retention_seconds"]),
            commits=tuple(done["commits"]),
            dry_run=done["dry_run"],
            notes=tuple(done["notes"]),
        )

    def _route(self, path: str, what: str) -> str:
        project = path.split("/", 1)[0] if isinstance(path, str) else ""
        if "/" not in path:
            raise InvalidNameError(f"invalid offline path {path!r}: use '<project>/...'")
        return f"/api/v1/projects/{check_project_name(project)}/offline/{what}"

    def _version_at(self, table: str, when: datetime) -> int:
        at = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        versions = [c.version for c in self.history(table) if c.time <= at]
        if not versions:
            raise NotFoundError(f"offline table {table} has no version at {when.isoformat()}")
        return max(versions)


class _Upload:
    """``table`` as the body of a request: an Arrow IPC stream of batches of
    :data:`BATCH_ROWS` rows, each written as it is sent (no copy of the whole stream, and
    the server reads a batch while the next is written), iterable again when the request is
    repeated."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self.headers = {"Content-Type": ARROW_STREAM}

    def __iter__(self) -> Iterator[bytes]:
        written = _Written()
        with pa.ipc.new_stream(written, self._table.schema) as writer:
            for batch in self._table.to_batches(max_chunksize=BATCH_ROWS):
                writer.write_batch(batch)
                yield written.take()
        yield written.take()


class _Written:
    """What an Arrow writer wrote since the last :meth:`take`."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        """Keep ``data``."""
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def take(self) -> bytes:
        """Everything written since the last call, in one piece."""
        found = b"".join(self._parts)
        self._parts.clear()
        return found


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
