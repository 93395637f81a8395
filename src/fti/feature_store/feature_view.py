"""FeatureView: the features a model reads, the same way for training and for serving.

A view is a query (root group + point-in-time joins), the label columns and the
model-dependent transformations. Training data, batch data and online feature vectors all go
through it, so the training pipeline and the inference pipelines read the same features.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa

from fti import run_outputs
from fti.errors import InvalidArgumentError, NotFoundError, SchemaError
from fti.feature_store import point_in_time, training_data
from fti.feature_store.query import Query
from fti.feature_store.training_data import SPLIT_COLUMN, TRAIN, SplitRule
from fti.feature_store.transform_plan import TransformPlan
from fti.frames import ReturnType, from_arrow
from fti.stores.metadata import Entity

if TYPE_CHECKING:
    from fti.feature_store.feature_store import FeatureStore
    from fti.feature_store.serving import ServingPlan
    from fti.feature_store.verification import OnlineAudit, TrainingDataCheck
    from fti.model_registry.model import Model
    from fti.monitoring.monitors import Monitor

KIND = "feature_view"
DATASET_KIND = "training_dataset"


@dataclass(frozen=True)
class TrainingDataset:
    """One recorded training dataset of a view."""

    version: int
    created_at: dt.datetime
    description: str
    rows: int
    versions: dict[str, int | None]
    split: SplitRule
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    has_spine: bool
    digest: str
    transformation_state: dict[str, Any]


class FeatureView:
    """A named, versioned selection of features and labels with their transformations."""

    def __init__(self, store: FeatureStore, entity: Entity) -> None:
        self._store = store
        self._entity = entity
        self._body = entity.body
        self.query = Query.from_dict(store, entity.body["query"])
        self.transformations = TransformPlan.from_dict(entity.body.get("transformations") or {})
        self._serving: ServingPlan | None = None

    @property
    def name(self) -> str:
        """The view's name."""
        return self._entity.name

    @property
    def version(self) -> int:
        """The view's version."""
        return self._entity.version

    @property
    def labels(self) -> list[str]:
        """The label columns (y)."""
        return list(self._body["labels"])

    @property
    def spine_labels(self) -> list[str]:
        """The labels that are not columns of the query: training data takes them from the
        spine (like labels in Feast's entity table)."""
        outputs = {c.name for c in self.query.outputs}
        return [label for label in self.labels if label not in outputs]

    @property
    def description(self) -> str:
        """Free text describing the view."""
        return str(self._body.get("description", ""))

    @property
    def feature_names(self) -> list[str]:
        """The columns of X before transformations, in order."""
        return [c.name for c in self.query.outputs if c.name not in self.labels]

    @property
    def root_keys(self) -> list[str]:
        """The root group's primary key and event time (the ``primary_key``/``event_time``
        columns of training and batch data)."""
        root = self.query.root
        return root.upsert_keys

    def __repr__(self) -> str:
        return f"FeatureView(name={self.name!r}, version={self.version})"

    # Training data ---------------------------------------------------------------------

    def create_training_data(
        self,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        spine: Any = None,
        description: str = "",
        *,
        engine: str | None = None,
    ) -> int:
        """Record a training dataset (all rows in the train part); returns its version.

        With a spine, its labels are the labels and its request parameters recompute the
        on-demand features that take them, as in :meth:`get_batch_data`. ``engine``
        (``"local"``, ``"ray"``; the project's when None) computes the rows; every engine
        gives the same rows, values, order and digest.
        """
        return self._create(SplitRule(), start_time, end_time, spine, description, engine)

    def train_test_split(
        self,
        test_size: float | None = None,
        train_end: dt.datetime | str | None = None,
        test_start: dt.datetime | str | None = None,
        seed: int | None = None,
        *,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        spine: Any = None,
        description: str = "",
        primary_key: bool = False,
        event_time: bool = False,
        engine: str | None = None,
    ) -> tuple[Any, Any, Any, Any]:
        """Record a dataset split randomly (``test_size``, ``seed``) or by time
        (``test_start``, ``train_end``); returns X_train, X_test, y_train, y_test."""
        rule = training_data.train_test_rule(test_size, train_end, test_start, seed)
        version = self._create(rule, start_time, end_time, spine, description, engine)
        return self.get_train_test_split(version, primary_key=primary_key, event_time=event_time)

    def train_validation_test_split(
        self,
        validation_size: float | None = None,
        test_size: float | None = None,
        validation_start: dt.datetime | str | None = None,
        test_start: dt.datetime | str | None = None,
        seed: int | None = None,
        *,
        train_end: dt.datetime | str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        spine: Any = None,
        description: str = "",
        primary_key: bool = False,
        event_time: bool = False,
        engine: str | None = None,
    ) -> tuple[Any, Any, Any, Any, Any, Any]:
        """Record a three-way split; returns X_train, X_val, X_test, y_train, y_val, y_test."""
        rule = training_data.train_validation_test_rule(
            validation_size, test_size, validation_start, test_start, train_end, seed
        )
        version = self._create(rule, start_time, end_time, spine, description, engine)
        return self.get_train_validation_test_split(
            version, primary_key=primary_key, event_time=event_time
        )

    def get_training_data(
        self, version: int, *, primary_key: bool = False, event_time: bool = False
    ) -> tuple[Any, Any]:
        """X and y of a recorded training dataset (all its rows)."""
        dataset, table = self._read_dataset(version)
        return self._xy(table, dataset, primary_key, event_time)

    def get_train_test_split(
        self, version: int, *, primary_key: bool = False, event_time: bool = False
    ) -> tuple[Any, Any, Any, Any]:
        """X_train, X_test, y_train, y_test of a recorded split."""
        dataset, table = self._read_dataset(version)
        train, test = (
            self._xy(training_data.split_rows(table, part), dataset, primary_key, event_time)
            for part in (training_data.TRAIN, training_data.TEST)
        )
        return train[0], test[0], train[1], test[1]

    def get_train_validation_test_split(
        self, version: int, *, primary_key: bool = False, event_time: bool = False
    ) -> tuple[Any, Any, Any, Any, Any, Any]:
        """X_train, X_val, X_test, y_train, y_val, y_test of a recorded three-way split."""
        dataset, table = self._read_dataset(version)
        parts = [
            self._xy(training_data.split_rows(table, part), dataset, primary_key, event_time)
            for part in (training_data.TRAIN, training_data.VALIDATION, training_data.TEST)
        ]
        return parts[0][0], parts[1][0], parts[2][0], parts[0][1], parts[1][1], parts[2][1]

    def training_datasets(self) -> list[TrainingDataset]:
        """Every recorded training dataset, oldest first."""
        return [
            _dataset(e)
            for e in self._store._metadata.list(
                DATASET_KIND, self._entity.project, self._dataset_name
            )
        ]

    def training_dataset(self, version: int | None = None) -> TrainingDataset:
        """One recorded training dataset (the latest when None); NotFoundError if absent."""
        try:
            entity = self._store._metadata.get(
                DATASET_KIND, self._entity.project, self._dataset_name, version
            )
        except NotFoundError as exc:
            which = "no training dataset" if version is None else f"no training dataset {version}"
            raise NotFoundError(
                f"{self!r} has {which}; its transformations are fitted on training data: "
                "call create_training_data() or a split first"
            ) from exc
        return _dataset(entity)

    def read_training_data_table(self, version: int) -> pa.Table:
        """The stored rows of a training dataset, untransformed, with keys and split."""
        return self._read_dataset(version)[1]

    # Batch and online -------------------------------------------------------------------

    def get_batch_data(
        self,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        spine: Any = None,
        training_dataset_version: int | None = None,
        primary_key: bool = False,
        event_time: bool = False,
        *,
        return_type: ReturnType | Literal["ray"] = "pandas",
        transformed: bool = True,
        engine: str | None = None,
    ) -> Any:
        """Features of the latest commits, transformed as for training (no labels).

        With a spine, row i of the result belongs to row i of the spine; request parameters
        in the spine recompute the on-demand features that take them, as serving does.
        ``transformed=False`` gives the raw feature values (what monitors compare with
        training data). ``return_type="ray"`` (on the ray engine) gives a Ray Dataset whose
        rows are computed and transformed on the workers and stay there, in the same order.
        """
        start, end = training_data.time_range(start_time, end_time)
        prepared = self._prepare_spine(spine)
        use_state = self._has_transforms and transformed
        dataset = self.training_dataset(training_dataset_version) if use_state else None
        state = dataset.transformation_state if dataset else {}
        versions = point_in_time.latest_versions(self.query)
        if return_type == "ray":
            runner = self._store.engine(engine)
            distributed = getattr(runner, "dataset", None)
            if distributed is None:
                raise InvalidArgumentError(
                    f"return_type='ray' needs the ray engine, not {runner.name!r}: pass "
                    "engine='ray', or connect with fti.connect(engine='ray')"
                )
            frame_of = partial(
                features_frame,
                names=self.feature_names,
                keys=self._key_columns(primary_key, event_time),
                transformations=self.transformations,
                state=state,
                transformed=transformed,
            )
            plan = point_in_time.plan(self.query, versions, self.root_keys)
            return distributed(plan, spine=prepared, start_time=start, end_time=end, block=frame_of)
        table = self._run(versions, start, end, prepared, engine)
        frame = self._features_frame(table, state, primary_key, event_time, transformed)
        if return_type == "pandas":
            return frame
        return from_arrow(pa.Table.from_pandas(frame, preserve_index=False), return_type)

    def init_serving(self, training_dataset_version: int | None = None) -> None:
        """Prepare online reads with the transformation state of a training dataset."""
        from fti.feature_store.serving import ServingPlan

        state: dict[str, Any] = {}
        if self._has_transforms:
            state = self.training_dataset(training_dataset_version).transformation_state
        self._serving = ServingPlan(self, state)

    def get_feature_vector(
        self,
        entry: Mapping[str, Any],
        passed_features: Mapping[str, Any] | None = None,
        request_parameters: Mapping[str, Any] | None = None,
        return_type: str = "list",
        *,
        allow_missing: bool = False,
    ) -> Any:
        """One online feature vector, transformed as for training.

        ``entry`` holds the keys no earlier group's row provides (e.g. the root's key).
        Raises KeyNotFoundError for an unknown root key unless ``allow_missing``.
        """
        return self._serving_plan().vectors(
            [entry],
            None if passed_features is None else [passed_features],
            None if request_parameters is None else [request_parameters],
            return_type,
            allow_missing,
            single=True,
        )

    def get_feature_vectors(
        self,
        entries: Sequence[Mapping[str, Any]],
        passed_features: Sequence[Mapping[str, Any]] | None = None,
        request_parameters: Sequence[Mapping[str, Any]] | None = None,
        return_type: str = "list",
        *,
        allow_missing: bool = False,
    ) -> Any:
        """Online feature vectors of many entries (one read per group for all of them)."""
        return self._serving_plan().vectors(
            list(entries), passed_features, request_parameters, return_type, allow_missing
        )

    # Checks ----------------------------------------------------------------------------

    def verify_training_data(self, version: int) -> TrainingDataCheck:
        """Recompute a training dataset from its pinned versions and compare digests."""
        from fti.feature_store.verification import verify_training_data

        check = verify_training_data(self, version)
        self._record_check(
            "training_data_check",
            str(check.version),
            {"matches": check.matches, "reason": check.reason},
        )
        return check

    def verify_online(
        self,
        sample: int = 1000,
        training_dataset_version: int | None = None,
        *,
        request_parameters: Mapping[str, Any] | None = None,
    ) -> OnlineAudit:
        """Compare online vectors of a sample of keys with the offline values as of now
        (``fti.clock``: ``$FTI_NOW`` or the wall clock), with ``request_parameters`` given to
        every sampled entry; the audit tells how many values of each feature it compared."""
        from fti.feature_store.verification import verify_online

        audit = verify_online(self, sample, training_dataset_version, request_parameters or {})
        at = dt.datetime.now(dt.UTC).isoformat()
        self._record_check(
            "skew_audit",
            at,
            {
                "at": at,
                "checked": audit.checked,
                "ok": audit.ok,
                "mismatches": len(audit.mismatches),
                "by_feature": audit.by_feature(),
                "causes": audit.causes(),
                "uncompared": audit.uncompared(),
                "training_dataset_version": training_dataset_version,
            },
        )
        return audit

    def checks(self) -> dict[str, Any]:
        """The recorded checks: ``training_data`` maps each verified training dataset version
        to its last outcome (``matches``, ``reason``); ``skew_audit`` is a summary of the last
        online audit (None: never audited)."""
        project, name, version = self._entity.project, self.name, self.version
        metadata = self._store._metadata
        verified = metadata.records(KIND, project, name, version, "training_data_check")
        audits = metadata.records(KIND, project, name, version, "skew_audit")
        return {
            "training_data": {int(r.key): r.body for r in verified},
            "skew_audit": max(audits, key=lambda r: r.key).body if audits else None,
        }

    def _record_check(self, kind: str, key: str, body: dict[str, Any]) -> None:
        self._store._metadata.add_record(
            KIND, self._entity.project, self.name, self.version, kind, key, body
        )

    def models(self) -> list[Model]:
        """The saved model versions trained from this view version (any training dataset)."""
        # Set by Project: the registry is a peer service that this module must not import.
        models_of_view = self._store._models_of_view
        if models_of_view is None:
            return []
        return list(models_of_view(self.name, self.version))

    def create_monitor(
        self,
        name: str,
        reference_training_dataset_version: int,
        window: str | dt.timedelta = "1d",
        features: Sequence[str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        *,
        webhook_url: str | None = None,
        source_feature_group: str | None = None,
    ) -> Monitor:
        """A monitor of this view's feature drift against a training dataset, per window.

        Windows come from the view's batch data, or from ``source_feature_group`` (such as the
        ``<model>_inference_log`` group the server writes) when given.
        """
        # Set by Project: monitoring is a service above the feature store, not imported here.
        monitoring = self._store._monitoring
        if monitoring is None:
            raise NotFoundError("monitoring is available on views of a project (fti.connect())")
        return monitoring.create_feature_monitor(  # type: ignore[no-any-return]
            self,
            name,
            reference_training_dataset_version,
            window,
            features,
            thresholds,
            webhook_url,
            source_feature_group,
        )

    def delete(self) -> None:
        """Delete the view version and its training datasets."""
        for dataset in self.training_datasets():
            self._store._offline.delete_file(self._dataset_path(dataset.version))
            self._store._offline.delete_file(self._spine_path(dataset.version))
            self._store._metadata.delete(
                DATASET_KIND, self._entity.project, self._dataset_name, dataset.version
            )
        self._store._metadata.delete(KIND, self._entity.project, self.name, self.version)

    # Internals -------------------------------------------------------------------------

    @property
    def _has_transforms(self) -> bool:
        return bool(self.transformations.columns)

    @property
    def _dataset_name(self) -> str:
        return f"{self.name}_v{self.version}"

    @property
    def _dataset_folder(self) -> str:
        return f"{self._entity.project}/_training_data/{self._dataset_name}"

    def _dataset_path(self, version: int | str) -> str:
        return f"{self._dataset_folder}/{version}.parquet"

    def _spine_path(self, version: int | str) -> str:
        return f"{self._dataset_folder}/{version}.spine.parquet"

    def _serving_plan(self) -> ServingPlan:
        if self._serving is None:
            self.init_serving()
        assert self._serving is not None
        return self._serving

    def _prepare_spine(self, spine: Any) -> point_in_time.Spine | None:
        if spine is None:
            return None
        return point_in_time.prepare_spine(self.query, spine, self.labels)

    def _run(
        self,
        versions: point_in_time.Versions,
        start_time: dt.datetime | None,
        end_time: dt.datetime | None,
        spine: point_in_time.Spine | None,
        engine: str | None = None,
    ) -> pa.Table:
        plan = point_in_time.plan(self.query, versions, self.root_keys)
        runner = self._store.engine(engine)
        return runner.point_in_time(plan, spine=spine, start_time=start_time, end_time=end_time)

    def _create(
        self,
        rule: SplitRule,
        start_time: dt.datetime | None,
        end_time: dt.datetime | None,
        spine: Any,
        description: str,
        engine: str | None = None,
    ) -> int:
        start, end = training_data.time_range(start_time, end_time)
        prepared = self._prepare_spine(spine)
        missing = [c for c in self.spine_labels if prepared is None or c not in prepared.labels]
        if missing:
            raise SchemaError(
                f"label(s) {', '.join(missing)} of {self!r} are not columns of its query: "
                "training data takes them from the spine; pass spine= with those columns"
            )
        versions = point_in_time.latest_versions(self.query)
        offline = self._store._offline
        # Parquet is written under a staged name while the rest runs (the writer releases the
        # GIL), then renamed once the metadata store has given the dataset its version.
        staged = f".staged-{uuid.uuid4().hex}"
        staged_files = {self._dataset_path(staged): self._dataset_path}
        if prepared is not None:
            staged_files[self._spine_path(staged)] = self._spine_path
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                writes = []
                if prepared is not None:
                    # The spine as given (typed): the row number and time copy are rebuilt.
                    writes.append(
                        pool.submit(offline.write_file, self._spine_path(staged), prepared.given)
                    )
                table = self._run(versions, start, end, prepared, engine)
                root_time = self.query.root.event_time
                times = table.column(root_time) if root_time else None
                table = table.append_column(SPLIT_COLUMN, rule.assign(times, table.num_rows))
                writes.append(pool.submit(offline.write_file, self._dataset_path(staged), table))
                digest = pool.submit(training_data.digest, table)
                train = table if rule.kind == "none" else training_data.split_rows(table, TRAIN)
                state = self.transformations.fit(train.select(self.feature_names).to_pandas())
                for write in writes:
                    write.result()
            body = {
                "versions": versions,
                "split": rule.to_dict(),
                "start_time": _iso(start),
                "end_time": _iso(end),
                "has_spine": spine is not None,
                "digest": digest.result(),
                "rows": table.num_rows,
                "transformation_state": state,
                "description": description,
            }
            metadata = self._store._metadata
            project = self._entity.project
            entity = metadata.create(DATASET_KIND, project, self._dataset_name, None, body)
            moved: list[str] = []
            try:
                for path, final in staged_files.items():
                    offline.move_file(path, final(entity.version))
                    moved.append(final(entity.version))
            except BaseException:
                for path in moved:
                    offline.delete_file(path)
                metadata.delete(DATASET_KIND, project, self._dataset_name, entity.version)
                raise
        finally:
            for path in staged_files:
                offline.delete_file(path)
        run_outputs.report(
            "training_dataset",
            view=self.name,
            view_version=self.version,
            version=entity.version,
            rows=table.num_rows,
        )
        return entity.version

    def _read_dataset(self, version: int) -> tuple[TrainingDataset, pa.Table]:
        dataset = self.training_dataset(version)
        table = self._store._offline.read_file(self._dataset_path(version))
        return dataset, table

    def _xy(
        self, table: pa.Table, dataset: TrainingDataset, primary_key: bool, event_time: bool
    ) -> tuple[Any, Any]:
        x = self._features_frame(table, dataset.transformation_state, primary_key, event_time)
        return x, training_data.label_frame(table, self.labels)

    def _key_columns(self, primary_key: bool, event_time: bool) -> list[str]:
        root = self.query.root
        return (root.primary_key if primary_key else []) + (
            [root.event_time] if event_time and root.event_time else []
        )

    def _features_frame(
        self,
        table: pa.Table,
        state: Mapping[str, Any],
        primary_key: bool,
        event_time: bool,
        transformed: bool = True,
    ) -> pd.DataFrame:
        return features_frame(
            table,
            names=self.feature_names,
            keys=self._key_columns(primary_key, event_time),
            transformations=self.transformations,
            state=state,
            transformed=transformed,
        )


def features_frame(
    table: pa.Table,
    *,
    names: Sequence[str],
    keys: Sequence[str],
    transformations: TransformPlan,
    state: Mapping[str, Any],
    transformed: bool = True,
) -> pd.DataFrame:
    """X of ``table``: the ``keys`` columns first, then the features ``names``, transformed
    with the fitted ``state`` unless not ``transformed`` (row by row: any part of the rows
    gives its part of the whole)."""
    features: pd.DataFrame = table.select(list(names)).to_pandas()
    if transformed:
        features = transformations.apply(features, state)
    if not keys:
        return features
    front = table.select(list(keys)).to_pandas()
    features = features.drop(columns=[k for k in keys if k in features.columns])
    combined: pd.DataFrame = pd.concat([front, features], axis=1)
    return combined


def _dataset(entity: Entity) -> TrainingDataset:
    body = entity.body
    return TrainingDataset(
        version=entity.version,
        created_at=entity.created_at,
        description=body.get("description", ""),
        rows=int(body["rows"]),
        versions=dict(body["versions"]),
        split=SplitRule.from_dict(body["split"]),
        start_time=_parse(body.get("start_time")),
        end_time=_parse(body.get("end_time")),
        has_spine=bool(body.get("has_spine")),
        digest=body["digest"],
        transformation_state=dict(body.get("transformation_state") or {}),
    )


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)
