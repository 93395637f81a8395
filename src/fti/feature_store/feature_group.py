"""FeatureGroup: a handle on one versioned group of features; the work is in focused modules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fti import run_outputs
from fti.errors import InvalidArgumentError, NotFoundError, QueryError, SchemaError
from fti.feature_store import ingest
from fti.feature_store.ingest import Commit
from fti.feature_store.on_demand import OnDemandFeature
from fti.feature_store.online_codec import entry_values, key_encoder, rows_to_table, value_decoder
from fti.feature_store.query import Query
from fti.feature_store.statistics import FeatureStatistics
from fti.feature_store.validation import ValidationReport, deserialize_expectations
from fti.frames import ReturnType, from_arrow
from fti.names import check_commit_id
from fti.stores.metadata import Entity, MetadataStore
from fti.stores.offline import OfflineStore
from fti.stores.online import OnlineStore
from fti.types import Feature

if TYPE_CHECKING:
    from fti.feature_store.feature_store import FeatureStore

KIND = "feature_group"


MAX_DESCRIPTION = 2000
"""Characters of a feature's description."""


class FeatureGroup:
    """A versioned group of features with a primary key and, optionally, an event time.

    Rows live in the offline store with their full history and, when ``online_enabled``,
    the latest row per primary key in the online store.
    """

    def __init__(self, store: FeatureStore, entity: Entity) -> None:
        self._store = store
        self._entity = entity
        self._body = dict(entity.body)
        self._offline: OfflineStore = store._offline
        self._online: OnlineStore = store._online
        self._metadata: MetadataStore = store._metadata
        self._offline_table = f"{entity.project}/{entity.name}_v{entity.version}"
        self._online_table = f"{entity.project}__{entity.name}__v{entity.version}"
        self._expectations: Any = None
        self._features: list[Feature] | None = None
        self._decoder: Any = None
        self._encoder: Any = None

    # Identity and schema -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The group's name."""
        return self._entity.name

    @property
    def version(self) -> int:
        """The group's version."""
        return self._entity.version

    @property
    def primary_key(self) -> list[str]:
        """The primary-key columns."""
        return list(self._body["primary_key"])

    @property
    def event_time(self) -> str | None:
        """The event-time column, None for a group without time."""
        return self._body.get("event_time")

    @property
    def upsert_keys(self) -> list[str]:
        """Columns identifying a row offline: primary key plus event time."""
        return self.primary_key + ([self.event_time] if self.event_time else [])

    @property
    def features(self) -> list[Feature] | None:
        """The schema, None until declared or inferred from the first insert."""
        if self._features is None:
            stored = self._body.get("features")
            if stored is None:
                return None
            # Parsed once per handle: read_online asks for it on every call.
            self._features = [Feature.from_dict(f) for f in stored]
        return list(self._features)

    @property
    def key_features(self) -> list[Feature]:
        """The primary-key features, in key order."""
        by_name = {f.name: f for f in self.features or []}
        return [by_name[k] for k in self.primary_key]

    @property
    def online_enabled(self) -> bool:
        """Whether the latest rows are kept in the online store."""
        return bool(self._body["online_enabled"])

    @property
    def description(self) -> str:
        """Free text describing the group."""
        return str(self._body.get("description", ""))

    @property
    def tags(self) -> dict[str, str]:
        """User tags."""
        return dict(self._body.get("tags") or {})

    @property
    def validation(self) -> str:
        """ "strict" (reject failing inserts) or "warn" (write and keep the report)."""
        return str(self._body["validation"])

    @property
    def statistics_enabled(self) -> bool:
        """Whether statistics are computed for each commit."""
        return bool(self._body["statistics"])

    @property
    def expectations(self) -> Any:
        """The pandera schema the inserts are validated with, or None."""
        text = self._body.get("expectations")
        if text is None:
            return None
        if self._expectations is None:
            self._expectations = deserialize_expectations(text)
        return self._expectations

    @property
    def on_demand_features(self) -> list[OnDemandFeature]:
        """Features computed from each row and request parameters (``@fti.on_demand``)."""
        return [OnDemandFeature.from_dict(d) for d in self._body.get("on_demand") or []]

    @property
    def created_at(self) -> datetime:
        """When the group version was created."""
        return self._entity.created_at

    def __repr__(self) -> str:
        return f"FeatureGroup(name={self.name!r}, version={self.version})"

    # Writing -------------------------------------------------------------------------

    def insert(self, data: Any, *, engine: str | None = None) -> Commit | None:
        """Upsert rows (pandas, polars or pyarrow; a Ray Dataset on the ray engine) on
        primary key and event time.

        ``engine`` (``"local"``, ``"ray"``; the project's when None) runs the coercion,
        checks and file writing; every engine leaves the same rows and online rows, in one
        commit, and the same statistics (but for a mean's last bits and, on large tables,
        distinct counts that are estimates either way). Returns the commit, or None when
        ``data`` has no rows. Raises SchemaError or DataValidationError, writing nothing, when
        the data does not fit; on ``"ray"``, ExpectationError for expectations that judge the
        whole batch (``unique`` of columns without the whole primary key, ``unique_values_eq``).
        """
        commit = self._store.engine(engine).insert(self, data)
        if commit is not None:
            run_outputs.report(
                "commit",
                group=self.name,
                group_version=self.version,
                commit=commit.id,
                rows=commit.rows,
            )
        return commit

    def materialize(self) -> list[int]:
        """Bring the online store up to date with the offline commits; returns those replayed."""
        return ingest.replay_online(self)

    def delete(self) -> None:
        """Delete this group version: its offline table, online rows and metadata."""
        self._online.drop(self._online_table)
        self._offline.drop(self._offline_table)
        self._metadata.delete(KIND, self._entity.project, self.name, self.version)

    # Reading -------------------------------------------------------------------------

    def read(
        self, as_of: int | datetime | None = None, *, return_type: ReturnType = "pandas"
    ) -> Any:
        """All rows, at the latest commit or as of a commit id or a point in time.

        ``as_of`` is a commit id (0 for the first commit) or a datetime (naive ones are UTC);
        anything else raises InvalidArgumentError, a commit the group does not have
        NotFoundError.
        """
        if as_of is None:
            if self._offline.version(self._offline_table) is None:
                return from_arrow(self._empty_table(), return_type)
            return from_arrow(self._offline.dataset(self._offline_table).to_table(), return_type)
        if not isinstance(as_of, datetime):
            as_of = check_commit_id(as_of, "as_of (a commit id or a datetime)")
        # Read without asking for the latest version first: an earlier version stays readable
        # when a later entry of the log is damaged.
        try:
            dataset = self._offline.dataset(self._offline_table, as_of)
        except NotFoundError:
            if self._offline.version(self._offline_table) is None:
                return from_arrow(self._empty_table(), return_type)
            raise
        try:
            rows = dataset.to_table()
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"{self!r} as of {as_of}: its data files are gone; maintenance deletes the files "
                "of commits older than time_travel_retention that no training dataset pins"
            ) from exc
        return from_arrow(rows, return_type)

    def head(self, rows: int = 10, *, return_type: ReturnType = "pandas") -> Any:
        """The first ``rows`` rows of the latest commit (in file order), reading no more files
        than it needs."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InvalidArgumentError(f"rows must be a whole number >= 0, not {rows!r}")
        if self._offline.version(self._offline_table) is None:
            return from_arrow(self._empty_table(), return_type)
        dataset = self._offline.dataset(self._offline_table)
        # Batch by batch without read-ahead: Dataset.head() reads ahead across every file.
        batches, have = [], 0
        for batch in dataset.to_batches(
            batch_size=max(rows, 1), batch_readahead=0, fragment_readahead=0
        ):
            if have >= rows:
                break
            batches.append(batch.slice(0, rows - have))
            have += batches[-1].num_rows
        return from_arrow(pa.Table.from_batches(batches, dataset.schema), return_type)

    def read_changes(
        self, from_commit: int, to_commit: int | None = None, *, return_type: ReturnType = "pandas"
    ) -> Any:
        """Rows written by commits ``from_commit`` to ``to_commit`` (both included).

        Two columns are added: ``_change_type`` ("insert" or "update_postimage") and
        ``_commit_id``.
        """
        check_commit_id(from_commit, "from_commit")
        if to_commit is not None:
            check_commit_id(to_commit, "to_commit")
        if self._offline.version(self._offline_table) is None:
            raise NotFoundError(f"{self!r} has no commits yet")
        changes = self._offline.changes(self._offline_table, from_commit, to_commit)
        changes = changes.rename_columns(
            ["_commit_id" if c == "_commit_version" else c for c in changes.column_names]
        )
        return from_arrow(changes, return_type)

    def commits(self) -> list[Commit]:
        """Every commit, oldest first."""
        if self._offline.version(self._offline_table) is None:
            return []
        return [_commit(c) for c in self._offline.history(self._offline_table)]

    def commit(self, commit_id: int) -> Commit:
        """One commit by id."""
        check_commit_id(commit_id)
        latest = self._offline.version(self._offline_table)
        if latest is not None and 0 <= commit_id <= latest:
            # Only the commits from this one to the latest are read, not the whole log; the
            # whole log when another writer committed after `latest` was read.
            for limit in (latest - commit_id + 1, None):
                for c in self._offline.history(self._offline_table, limit):
                    if c.version == commit_id:
                        return _commit(c)
        raise NotFoundError(f"{self!r} has no commit {commit_id}")

    def read_online(self, entries: Any, *, return_type: ReturnType | str = "pandas") -> Any:
        """The latest row of each entry's primary key from the online store.

        ``entries`` is one entry or a list of entries; an entry is a mapping of key names to
        values, or a bare value when the key has one column. With ``return_type`` "dict" or
        "list", one entry gives one row (None when absent) and a list gives a list of rows;
        "pandas", "polars" and "pyarrow" give a frame with a row per entry (nulls when absent).
        """
        features = self.features
        if features is None:
            raise NotFoundError(f"{self!r} has no schema yet: insert data first")
        single = not isinstance(entries, list)
        batch = [entries] if single else entries
        if self._encoder is None:
            self._encoder = key_encoder(self.key_features)
            self._decoder = value_decoder(features)
        encode, decode = self._encoder, self._decoder
        keys = [encode(entry_values(e, self.primary_key)) for e in batch]
        stored = self._online.read(self._online_table, keys)
        rows = [None if v is None else decode(v) for v in stored]
        if return_type == "list":
            return rows[0] if single else rows
        if return_type == "dict":
            names = [f.name for f in features]
            dicts = [None if r is None else dict(zip(names, r, strict=True)) for r in rows]
            return dicts[0] if single else dicts
        return from_arrow(rows_to_table(rows, features), return_type)  # type: ignore[arg-type]

    # Queries -------------------------------------------------------------------------

    def select(self, columns: Sequence[str]) -> Query:
        """A query of some of the group's columns, to join and filter."""
        return Query.select(self, columns)

    def select_all(self) -> Query:
        """A query of every column of the group."""
        return Query.select(self, [f.name for f in self._schema()])

    def select_except(self, columns: Sequence[str]) -> Query:
        """A query of every column but ``columns``."""
        names = [f.name for f in self._schema()]
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise QueryError(f"{self.name} has no column(s) {', '.join(map(repr, unknown))}")
        return Query.select(self, [n for n in names if n not in columns])

    def _schema(self) -> list[Feature]:
        features = self.features
        if features is None:
            raise QueryError(f"{self!r} has no schema yet: insert data or declare its features")
        return features

    # Statistics and validation -------------------------------------------------------

    def statistics(self, commit: int | None = None) -> dict[str, FeatureStatistics]:
        """Statistics of a commit's rows (the latest commit with statistics when None)."""
        if commit is not None:
            check_commit_id(commit)
        records = self._metadata.records(
            KIND,
            self._entity.project,
            self.name,
            self.version,
            "statistics",
            None if commit is None else str(commit),
        )
        if not records:
            which = "any commit" if commit is None else f"commit {commit}"
            raise NotFoundError(f"{self!r} has no statistics for {which}")
        latest = max(records, key=lambda r: int(r.key))
        return {k: FeatureStatistics.from_dict(v) for k, v in latest.body.items()}

    def validation_reports(self) -> list[tuple[int, ValidationReport]]:
        """(commit id, report) for each commit validated with expectations, oldest first."""
        records = self._metadata.records(
            KIND, self._entity.project, self.name, self.version, "validation_report"
        )
        reports = [(int(r.key), ValidationReport.from_dict(r.body)) for r in records]
        return sorted(reports, key=lambda item: item[0])

    # Internals used by the ingest module ---------------------------------------------

    def _check_features(self, features: Sequence[Feature]) -> None:
        names = {f.name for f in features}
        missing = [c for c in self.upsert_keys if c not in names]
        if missing:
            raise SchemaError(
                f"the data lacks the key or event-time column(s): {', '.join(missing)}"
            )
        self._store._check_schema(features, self.primary_key, self.event_time)

    def _set_features(self, features: Sequence[Feature]) -> None:
        self._check_features(features)
        self._body["features"] = [f.to_dict() for f in features]
        self._features = None
        self._entity = self._metadata.update(
            KIND, self._entity.project, self.name, self.version, self._body
        )

    def set_feature_description(self, feature: str, description: str) -> None:
        """Describe one feature (search finds features by their descriptions)."""
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidArgumentError(
                f"a description is text of at most {MAX_DESCRIPTION} characters"
            )
        # Read again: another handle may have changed the group since this one was made.
        body = dict(self._metadata.get(KIND, self._entity.project, self.name, self.version).body)
        stored = body.get("features")
        if stored is None:
            raise QueryError(f"{self!r} has no schema yet: insert data or declare its features")
        names = [f["name"] for f in stored]
        if feature not in names:
            raise NotFoundError(f"{self!r} has no feature {feature!r}; it has {', '.join(names)}")
        body["features"] = [
            {**f, "description": description} if f["name"] == feature else f for f in stored
        ]
        self._entity = self._metadata.update(
            KIND, self._entity.project, self.name, self.version, body
        )
        self._body, self._features = dict(self._entity.body), None

    def _add_record(self, record_kind: str, commit_id: int, body: dict[str, Any]) -> None:
        self._metadata.add_record(
            KIND, self._entity.project, self.name, self.version, record_kind, str(commit_id), body
        )

    def _empty_table(self) -> pa.Table:
        from fti.types import arrow_schema

        return arrow_schema(self.features or []).empty_table()


def _commit(c: Any) -> Commit:
    rows = int(c.properties.get("fti.rows", c.metrics.get("num_output_rows", 0)))
    inserted = c.metrics.get("num_target_rows_inserted", c.metrics.get("num_added_rows", rows))
    updated = c.metrics.get("num_target_rows_updated", 0)
    # A commit of files written outside delta-rs (the ray engine) counts them itself.
    inserted = int(c.properties.get("fti.rows_inserted", inserted))
    updated = int(c.properties.get("fti.rows_updated", updated))
    if c.version == 0 and "num_target_rows_inserted" not in c.metrics:
        inserted = rows
    return Commit(
        id=c.version,
        time=c.time,
        rows=rows,
        rows_inserted=int(inserted),
        rows_updated=int(updated),
        validation=c.properties.get("fti.validation", "none"),
    )
