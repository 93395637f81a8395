"""The offline store on Delta Lake tables (``deltalake``), one folder or prefix per table.

The root is a local folder or a prefix on object storage (``s3://``, ``gs://``, ``az://``,
:mod:`fti.stores.locations`). delta-rs reaches object storage with its own client; files
(training datasets, and copies of data files DuckDB reads) go through Arrow's filesystems. On S3
every commit is a conditional put, so two writers on two machines never both write one log
entry; a mode where they could (``AWS_S3_ALLOW_UNSAFE_RENAME``, conditional puts disabled) is
refused for writes unless allowed by name (ADR 0007).

The Delta version is the commit id. Upserts are Delta MERGEs whose predicate carries the
source's key and event-time ranges, so only files that can hold a matching row are rewritten.
The change data feed is on, so each commit's rows can be replayed (online repair,
``read_changes``).

delta-rs errors are turned into fti errors here, naming the table and, when the Delta log has
a damaged entry, that file; versions before a damaged entry are still read by number, as
delta-rs then reads only the log up to them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from fti.errors import (
    ConfigError,
    FtiError,
    InvalidNameError,
    NotFoundError,
    SchemaError,
    StoreError,
)
from fti.stores.locations import (
    Location,
    describe,
    open_location,
    storage_error,
    unreachable,
)
from fti.stores.offline.base import DataFile, TableCommit, TableMaintenance
from fti.stores.offline.cache import CachedFile, FileCache
from fti.types import conform

_CONFIGURATION: dict[str, str | None] = {"delta.enableChangeDataFeed": "true"}
# The Delta log keeps timestamp statistics in milliseconds, cut down: a file's true maximum
# can be up to this much above the logged one.
_STATS_PRECISION = timedelta(milliseconds=1)
_RETRIES = 30
# Commit metadata key of the token that identifies one write in the log.
_TOKEN = "fti.write_token"
# Environment settings under which S3 commits are not conditional puts, so two writers could
# both write one log entry and one of the commits would be lost.
_UNSAFE_S3_COMMITS = {
    "AWS_S3_ALLOW_UNSAFE_RENAME": ("true", "1", "yes", "on"),
    "AWS_CONDITIONAL_PUT": ("disabled",),
}


class DeltaOfflineStore:
    """Delta Lake tables under a root: a local folder or a prefix on object storage.

    ``cache`` holds the local copies of a remote table's data files that DuckDB reads; it is
    not used for a local root. ``allow_unsafe_s3_commits`` lets writes go ahead when the
    environment turns S3's conditional commits off (for a store without them, and one writer).
    """

    def __init__(
        self,
        location: Location | str | Path,
        *,
        cache: FileCache | None = None,
        allow_unsafe_s3_commits: bool = False,
    ) -> None:
        self.location = location if isinstance(location, Location) else open_location(location)
        if not self.location.is_local and cache is None:
            raise ConfigError(f"the offline store at {self.location} needs a local cache folder")
        self._cache = cache
        self._allow_unsafe_s3_commits = allow_unsafe_s3_commits
        # Opening a DeltaTable replays its log; one handle per table, refreshed incrementally,
        # keeps each call proportional to the new commits (61 daily inserts: 1.0 s -> 0.05 s).
        self._latest: dict[str, DeltaTable] = {}
        self._lock = threading.Lock()
        self._filesystem: Any = None

    def __repr__(self) -> str:
        return f"DeltaOfflineStore({self.location.display!r})"

    def upsert(
        self, table: str, data: pa.Table, keys: Sequence[str], properties: Mapping[str, str]
    ) -> int:
        """Insert ``data``, replacing rows equal on ``keys``; returns the new version."""
        self._check_commit_mode(table)
        uri = self._uri(table)
        # The token finds the version this write became: delta-rs may commit it above the
        # version it read when another writer got in first.
        token = uuid.uuid4().hex
        custom = {**properties, _TOKEN: token}
        with self._mapped(table):
            return self._upsert(table, uri, data, keys, custom, token)

    def _upsert(
        self,
        table: str,
        uri: str,
        data: pa.Table,
        keys: Sequence[str],
        custom: dict[str, str],
        token: str,
    ) -> int:
        delay = 0.02
        for attempt in range(_RETRIES):
            try:
                # Opened, not asked for with is_deltatable(), which holds the GIL while it
                # lists the log: on object storage every other thread stalled meanwhile.
                try:
                    existing: DeltaTable | None = self._open(table)
                except NotFoundError:
                    existing = None
                if existing is None:
                    if self.location.is_local:
                        Path(uri).mkdir(parents=True, exist_ok=True)
                    # No commit retries: a first write that loses the race for version 0 would
                    # otherwise be appended as version 1 without merging on the keys; failing,
                    # it merges into the winner's table on the next attempt.
                    write_deltalake(
                        uri,
                        data,
                        mode="error",
                        configuration=_CONFIGURATION,
                        commit_properties=CommitProperties(custom, max_commit_retries=0),
                        storage_options=self._options(),
                    )
                    return 0  # not retried: it is version 0, or it failed
                read = existing.version()
                (
                    existing.merge(
                        _conform(table, data, existing),
                        _merge_predicate(keys),
                        source_alias="s",
                        target_alias="t",
                        # In-memory source lets delta-rs derive key/time ranges to skip files.
                        streamed_exec=False,
                        commit_properties=CommitProperties(custom),
                    )
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
                return self._committed_version(table, token, read, existing.version())
            except (CommitFailedError, FileExistsError) as exc:
                if attempt == _RETRIES - 1:
                    raise StoreError(
                        f"could not commit to offline table {table}: {_first_line(exc)}"
                    ) from exc
            except DeltaError as exc:
                # A concurrent first write makes ours find an existing table: merge instead.
                if "already exists" not in str(exc) or attempt == _RETRIES - 1:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    def _committed_version(self, table: str, token: str, read: int, after: int) -> int:
        """The version of the commit carrying ``token``, made by a merge that read version
        ``read`` and left its handle at ``after``.

        delta-rs may commit above the version it read when another writer got in first, and
        leave the handle above its own commit; without such a race the version is known
        without asking the store again (which may not answer any more after the commit).
        """
        if after == read + 1:
            return after
        latest = after if after > read else self._open(table).version()
        for version, info in self._commit_infos(table, latest, latest - read):
            if info.get(_TOKEN) == token:
                return version
        raise StoreError(f"offline table {table}: the commit just written is not in its log")

    def _commit_infos(
        self, table: str, latest: int, limit: int | None
    ) -> list[tuple[int, dict[str, Any]]]:
        """The commit information of versions ``latest``, ``latest - 1``... (``limit`` of
        them, or all the log still has), newest first.

        Read through Arrow, not delta-rs' history(), which holds the GIL while it reads the
        log: on object storage every other thread (statistics of an insert, a server's
        requests) stalled meanwhile.
        """
        versions = range(latest, -1 if limit is None else max(-1, latest - limit), -1)
        fs = self._fs()

        def read(version: int) -> dict[str, Any] | None:
            entry = self._path(f"{table}/_delta_log/{version:020d}.json")
            try:
                with fs.open_input_stream(entry) as stream:
                    lines = stream.read().decode("utf-8").splitlines()
            except FileNotFoundError:
                return None
            for line in lines:
                info = json.loads(line).get("commitInfo") if line.strip() else None
                if info is not None:
                    return dict(info)
            return {"timestamp": 0}

        if self.location.is_local or len(versions) < 2:
            infos: Iterator[dict[str, Any] | None] = map(read, versions)
        else:
            # One request per entry: many at once, as delta-rs does.
            with ThreadPoolExecutor(max_workers=min(16, len(versions))) as pool:
                infos = iter(list(pool.map(read, versions)))
        found = []
        for version, info in zip(versions, infos, strict=True):
            if info is None:
                break  # older entries were cleaned up after a checkpoint
            found.append((version, info))
        return found

    def version(self, table: str) -> int | None:
        """The latest version, None when the table does not exist."""
        try:
            with self._mapped(table):
                return self._open(table).version()
        except NotFoundError:
            return None

    def dataset(self, table: str, version: int | datetime | None = None) -> pds.Dataset:
        """An Arrow dataset of the table at a version or time (latest when None)."""
        with self._mapped(table):
            dt = self._open(table) if version is None else self._at(table, version)
            # Arrow reads through its own C++ filesystem: deltalake's default is a Python one,
            # which Arrow's I/O threads call back into, and at interpreter exit those threads
            # were killed inside C++ frames ("terminate called without an active exception",
            # exit 134, in 5 % of runs here; 0 of 200 with the native filesystem).
            native = pafs.SubTreeFileSystem(self._path(table), self._fs())
            return dt.to_pyarrow_dataset(filesystem=native)

    def files(self, table: str, version: int, time_column: str | None = None) -> list[DataFile]:
        """The Parquet files of the table at ``version`` (local paths, or URIs on object
        storage: :meth:`local_paths` gives files DuckDB can read); with ``time_column``, the
        bounds of that column in each file from the statistics of the Delta log."""
        local = self.location.is_local
        with self._mapped(table):
            dt = self._at(table, version)
            paths = [uri.removeprefix("file://") for uri in dt.file_uris()]
            if time_column is None and local:
                return [DataFile(p) for p in paths]
            actions = pa.table(dt.get_add_actions(flatten=True))
        names = [PurePosixPath(p).name for p in actions.column("path").to_pylist()]
        # Remote copies are checked against their size in the log.
        sizes = dict(zip(names, actions.column("size_bytes").to_pylist(), strict=True))
        low, high = f"min.{time_column}", f"max.{time_column}"
        bounds: dict[str, tuple[Any, Any]] = {}
        if low in actions.column_names and high in actions.column_names:
            bounds = {
                name: (lo, None if hi is None else hi + _STATS_PRECISION)
                for name, lo, hi in zip(
                    names,
                    actions.column(low).to_pylist(),
                    actions.column(high).to_pylist(),
                    strict=True,
                )
            }
        files = []
        for path in paths:
            name = PurePosixPath(path).name
            lo, hi = bounds.get(name, (None, None))
            files.append(DataFile(path, lo, hi, None if local else sizes.get(name)))
        return files

    def local_paths(self, table: str, files: Sequence[DataFile]) -> list[str]:
        """Paths on this machine of ``files`` of ``table`` (from :meth:`files`): the files
        themselves on a local root; on object storage, copies in the local cache, made once."""
        if self.location.is_local:
            return [f.path for f in files]
        assert self._cache is not None
        prefix = self._uri(table) + "/"
        folder = f"{self._cache_folder()}/{table}"
        sources: dict[str, str] = {}
        wanted = []
        for file in files:
            relative = file.path.removeprefix(prefix)
            key = f"{folder}/{relative}"
            sources[key] = self._path(f"{table}/{relative}")
            wanted.append(CachedFile(key, file.size))
        filesystem = self._fs()

        def download(key: str, target: Path) -> None:
            pafs.copy_files(
                sources[key],
                str(target),
                source_filesystem=filesystem,
                destination_filesystem=pafs.LocalFileSystem(),
            )

        try:
            return self._cache.paths(wanted, download)
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"data files of offline table {table} are gone from {self.location} (a vacuum "
                f"removes the files of old commits): {describe(exc)}"
            ) from exc
        except OSError as exc:
            raise storage_error(self.location, exc, f"offline table {table}") from exc

    def history(self, table: str, limit: int | None = None) -> list[TableCommit]:
        """Every version (or the ``limit`` latest), oldest first."""
        with self._mapped(table):
            infos = self._commit_infos(table, self._open(table).version(), limit)
        commits = []
        for version, info in reversed(infos):
            properties = {k: str(v) for k, v in info.items() if k.startswith("fti.")}
            metrics = {
                k: int(v)
                for k, v in (info.get("operationMetrics") or {}).items()
                if isinstance(v, int)
            }
            commits.append(
                TableCommit(
                    version=version,
                    time=datetime.fromtimestamp(info["timestamp"] / 1000, UTC),
                    operation=str(info.get("operation", "")),
                    properties=properties,
                    metrics=metrics,
                )
            )
        return commits

    def changes(self, table: str, start: int, end: int | None = None) -> pa.Table:
        """Rows inserted or updated by versions ``start``..``end`` (inclusive)."""
        with self._mapped(table):
            dt = self._open(table)
            latest = dt.version()
            end = latest if end is None else end
            if start < 0 or end > latest or start > end:
                raise NotFoundError(f"{table}: commits {start}..{end} are outside 0..{latest}")
            reader = dt.load_cdf(starting_version=start, ending_version=end)
            changes = _without_views(pa.RecordBatchReader.from_stream(reader).read_all())
        keep = pc.is_in(changes.column("_change_type"), pa.array(["insert", "update_postimage"]))
        changes = changes.filter(keep).drop_columns(["_commit_timestamp"])
        return changes.set_column(
            changes.schema.get_field_index("_commit_version"),
            "_commit_version",
            changes.column("_commit_version").cast(pa.int64()),
        )

    def drop(self, table: str) -> None:
        """Delete the table and its history."""
        path = self._path(table)
        with self._lock:
            self._latest.pop(table, None)
        if self.location.is_local:
            shutil.rmtree(path, ignore_errors=True)
            return
        with self._mapped(table), contextlib.suppress(FileNotFoundError):
            self._fs().delete_dir(path)

    def write_file(self, path: str, data: pa.Table) -> None:
        """Store an immutable snapshot as Parquet at ``path`` (written whole, then renamed;
        an object is only visible once whole)."""
        target = self._path(path)
        # Dictionaries pay off for text (a split column, categories), not for numbers and
        # ids, where pyarrow builds one only to give it up: 1M rows written 30 % faster.
        text = [
            f.name
            for f in data.schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ]
        if self.location.is_local:
            local = Path(target)
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(local.name + ".partial")
            pq.write_table(data, partial, use_dictionary=text)
            partial.replace(local)
            return
        with self._mapped_file(path):
            try:
                pq.write_table(data, target, filesystem=self._fs(), use_dictionary=text)
            except BaseException:
                # An upload cut short must not leave a partial snapshot under the name.
                with contextlib.suppress(OSError):
                    self._fs().delete_file(target)
                raise

    def read_file(self, path: str) -> pa.Table:
        """Read a snapshot written by :meth:`write_file`; NotFoundError when absent."""
        target = self._path(path)
        if self.location.is_local and not Path(target).is_file():
            raise NotFoundError(f"snapshot {path} does not exist")
        with self._mapped_file(path):
            try:
                return pq.read_table(target, filesystem=self._fs())
            except FileNotFoundError as exc:
                raise NotFoundError(f"snapshot {path} does not exist") from exc

    def delete_file(self, path: str) -> None:
        """Remove a snapshot (no error when absent)."""
        target = self._path(path)
        if self.location.is_local:
            Path(target).unlink(missing_ok=True)
            return
        with self._mapped_file(path), contextlib.suppress(FileNotFoundError):
            self._fs().delete_file(target)

    def move_file(self, source: str, target: str) -> None:
        """Give a snapshot a new path (a rename: atomic on one file system; on object storage
        a copy, then the source is deleted)."""
        origin, destination = self._path(source), self._path(target)
        if self.location.is_local:
            Path(destination).parent.mkdir(parents=True, exist_ok=True)
            try:
                Path(origin).replace(destination)
            except FileNotFoundError as exc:
                raise NotFoundError(f"snapshot {source} does not exist") from exc
            return
        with self._mapped_file(source):
            # An object store answers a copy of a missing key with a generic error.
            if self._fs().get_file_info(origin).type != pafs.FileType.File:
                raise NotFoundError(f"snapshot {source} does not exist")
            self._fs().move(origin, destination)

    def _open(self, table: str) -> DeltaTable:
        """The table at its latest version (a cached handle, brought up to date)."""
        uri = self._uri(table)
        with self._lock:
            dt = self._latest.get(table)
            try:
                if dt is None:
                    dt = DeltaTable(uri, storage_options=self._options())
                    self._latest[table] = dt
                else:
                    dt.update_incremental()
            except TableNotFoundError as exc:
                raise NotFoundError(f"offline table {table} has no data yet") from exc
            except (DeltaError, OSError) as exc:
                if unreachable(exc):
                    raise  # the handle is as good as before; the store did not answer
                # The table was dropped or replaced behind the cached handle: open it again.
                self._latest.pop(table, None)
                try:
                    dt = DeltaTable(uri, storage_options=self._options())
                except TableNotFoundError:
                    raise NotFoundError(f"offline table {table} has no data yet") from exc
                self._latest[table] = dt
            return dt

    def _at(self, table: str, version: int | datetime) -> DeltaTable:
        """The table at a version or time, read from its log up to that point only."""
        with self._lock:
            cached = self._latest.get(table)
        if isinstance(version, int) and cached is not None and cached.version() < version:
            # Mostly the latest version, asked for after a commit: bring the cached handle up
            # to date (a damaged newer log entry leaves the version to be read on its own).
            with contextlib.suppress(DeltaError, OSError, NotFoundError):
                cached = self._open(table)
        if cached is not None and cached.version() == version:
            return cached
        uri = self._uri(table)
        if isinstance(version, datetime):
            return self._at(table, self._version_at(table, version))
        # Checked here: delta-rs does not return when asked for a version far above the
        # latest, and refuses negative ones with an OverflowError.
        entry = self._path(f"{table}/_delta_log/{version:020d}.json") if version >= 0 else ""
        if not entry or self._fs().get_file_info(entry).type != pafs.FileType.File:
            raise NotFoundError(f"offline table {table} has no version {version}")
        return DeltaTable(uri, version=version, storage_options=self._options())

    def _version_at(self, table: str, when: datetime) -> int:
        """The latest version committed at or before ``when``, by the commit times of the log.

        delta-rs goes by the modification times of the log entries, which object stores keep
        to the second, and took the first of two local commits made in one millisecond (a
        time-travel test failed so on a quiet machine).
        """
        at = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        milliseconds = int(at.timestamp() * 1000)
        infos = self._commit_infos(table, self._open(table).version(), None)
        versions = [v for v, info in infos if int(info.get("timestamp", 0)) <= milliseconds]
        if not versions:
            raise NotFoundError(f"offline table {table} has no version at {when.isoformat()}")
        return max(versions)

    @contextlib.contextmanager
    def _mapped(self, table: str) -> Iterator[None]:
        """Raise delta-rs, file-system and object-storage errors on ``table`` as fti errors."""
        try:
            yield
        except FtiError:
            raise
        except TableNotFoundError as exc:
            raise NotFoundError(f"offline table {table} has no data yet") from exc
        except (DeltaError, OSError, ValueError) as exc:
            local = self.location.is_local
            error = (
                StoreError(f"offline table {table} failed: {_first_line(exc)}")
                if local
                else storage_error(self.location, exc, f"offline table {table}")
            )
            # Credentials that do not work, or a store that does not answer, say nothing about
            # the log: no need to read it.
            skip = isinstance(error, ConfigError) or (not local and unreachable(exc))
            damaged = None if skip else self._damaged_log_entry(table)
            if damaged is None:
                raise error from exc
            stem = PurePosixPath(damaged).stem
            earlier = (
                f"; versions before {int(stem)} can still be read by version"
                if stem.isdigit() and int(stem) > 0
                else ""
            )
            raise StoreError(
                f"offline table {table} cannot be read: its Delta log entry {damaged} is "
                f"damaged ({_first_line(exc) if local else describe(exc)}){earlier}"
            ) from exc

    @contextlib.contextmanager
    def _mapped_file(self, path: str) -> Iterator[None]:
        """Raise object-storage errors on the snapshot ``path`` as fti errors."""
        try:
            yield
        except FtiError:
            raise
        except OSError as exc:
            if self.location.is_local:
                raise StoreError(f"snapshot {path} failed: {_first_line(exc)}") from exc
            raise storage_error(self.location, exc, f"snapshot {path}") from exc

    def _damaged_log_entry(self, table: str) -> str | None:
        """The newest entry of the table's Delta log that is not JSON lines, if any (None also
        when the log cannot be listed: the store is then unreachable, not the log damaged)."""
        fs = self._fs()
        log = self._path(f"{table}/_delta_log")
        try:
            listed = fs.get_file_info(pafs.FileSelector(log, allow_not_found=True))
        except OSError:
            return None
        entries: list[str] = sorted(
            (i.path for i in listed if i.path.endswith(".json")), reverse=True
        )
        for entry in entries:
            try:
                with fs.open_input_stream(entry) as stream:
                    text = stream.read().decode("utf-8")
                for line in text.splitlines():
                    if line.strip():
                        json.loads(line)
            except (UnicodeDecodeError, ValueError):
                return entry
            except OSError:
                return None
        return None

    def _check_commit_mode(self, table: str) -> None:
        """ConfigError when the environment makes S3 commits unsafe and that is not allowed."""
        if self.location.scheme != "s3" or self._allow_unsafe_s3_commits:
            return
        unsafe = [
            f"{name}={os.environ[name]}"
            for name, values in _UNSAFE_S3_COMMITS.items()
            if os.environ.get(name, "").strip().lower() in values
        ]
        if unsafe:
            raise ConfigError(
                f"offline table {table} at {self.location}: {', '.join(unsafe)} would let two "
                "writers overwrite each other's commits; unset it (fti commits with S3 "
                'conditional writes), or set allow_unsafe_s3_commits = "true" '
                "(FTI_ALLOW_UNSAFE_S3_COMMITS) if only one process ever writes"
            )

    def _options(self) -> dict[str, str] | None:
        """delta-rs' storage options: none locally; on object storage the location's, except
        that an allowed unsafe commit mode of the environment is left to the environment."""
        if self.location.is_local:
            return None
        options = dict(self.location.storage_options)
        if self._allow_unsafe_s3_commits:
            options.pop("conditional_put", None)
        return options

    def _fs(self) -> Any:
        """The Arrow filesystem of the root (made once: an S3 client resolves its settings)."""
        if self._filesystem is None:
            self._filesystem = self.location.filesystem()
        return self._filesystem

    def _cache_folder(self) -> str:
        """The cache folder of this root: one per endpoint and root, so two stores with equal
        bucket names never share copies."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        scope = f"{self.location.display}\n{endpoint if self.location.scheme == 's3' else ''}"
        return f"{self.location.scheme}-{hashlib.sha256(scope.encode()).hexdigest()[:16]}"

    def _path(self, relative: str) -> str:
        """The filesystem path of a table or snapshot; InvalidNameError for a path that is
        empty or could leave the root."""
        if not relative:
            raise InvalidNameError("invalid offline store path ''")
        return self.location.path(relative)

    def _uri(self, table: str) -> str:
        self._path(table)
        return self.location.uri(table)

    # Maintenance ------------------------------------------------------------------------

    def maintain(
        self,
        table: str,
        keep_versions: Collection[int],
        retention: timedelta,
        *,
        dry_run: bool = False,
    ) -> TableMaintenance:
        """Compact small data files, vacuum the files that neither a version in
        ``keep_versions`` nor any version of the last ``retention`` needs, checkpoint the log
        and clean up its old entries (:mod:`fti.stores.offline.delta_maintenance`)."""
        from fti.stores.offline import delta_maintenance

        with self._mapped(table):
            return delta_maintenance.maintain(
                self._open(table),
                lambda version: self._at(table, version),
                keep_versions,
                retention,
                dry_run=dry_run,
            )


def _conform(table: str, data: pa.Table, existing: DeltaTable) -> pa.Table:
    """``data`` cast to the types of ``existing``'s columns (fti's safe casts): delta-rs would
    cast '1.5' into a float column and 5 into a string one, and fail midway on 'a' with a bare
    Exception."""
    try:
        return conform(data, pa.schema(existing.schema().to_arrow()))
    except SchemaError as exc:
        raise SchemaError(f"offline table {table}: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    """The message of ``exc`` without the Rust backtrace delta-rs appends to it."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _without_views(table: pa.Table) -> pa.Table:
    """delta-rs returns string/binary *view* columns, which many Arrow kernels do not take."""
    plain = {"string_view": pa.string(), "binary_view": pa.binary()}
    fields = [f.with_type(plain.get(str(f.type), f.type)) for f in table.schema]
    return table.cast(pa.schema(fields))


def _merge_predicate(keys: Sequence[str]) -> str:
    return " AND ".join(f't."{k}" = s."{k}"' for k in keys)
