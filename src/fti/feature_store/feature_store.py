"""FeatureStore: creates, finds and lists the feature groups of a project."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fti.errors import (
    InvalidArgumentError,
    NotFoundError,
    QueryError,
    SchemaError,
    TransformationError,
)
from fti.feature_store.feature_group import KIND as GROUP_KIND
from fti.feature_store.feature_group import FeatureGroup
from fti.feature_store.feature_view import KIND as VIEW_KIND
from fti.feature_store.feature_view import FeatureView
from fti.feature_store.on_demand import OnDemandFeature, check_on_demand_parity
from fti.feature_store.query import Query
from fti.feature_store.transform_plan import TransformPlan, sample_frame, synthetic_sample
from fti.feature_store.validation import VALIDATION_MODES, serialize_expectations
from fti.names import check_name, check_version
from fti.stores.metadata import MetadataStore
from fti.stores.offline import OfflineStore
from fti.stores.online import OnlineStore
from fti.types import KEY_TYPES, Feature


class FeatureStore:
    """The feature groups of one project, over the project's stores."""

    def __init__(
        self, project: str, offline: OfflineStore, online: OnlineStore, metadata: MetadataStore
    ) -> None:
        self.project = project
        self._offline = offline
        self._online = online
        self._metadata = metadata
        # Services above the feature store that views expose (fv.models(), fv.create_monitor());
        # Project sets them, so this layer never imports model_registry or monitoring.
        self._models_of_view: Callable[[str, int], list[Any]] | None = None
        self._monitoring: Any = None

    def create_feature_group(
        self,
        name: str,
        version: int | None = None,
        primary_key: Sequence[str] = (),
        event_time: str | None = None,
        features: Sequence[Feature] | None = None,
        online_enabled: bool = True,
        description: str = "",
        expectations: Any = None,
        validation: str = "strict",
        statistics: bool = True,
        tags: Mapping[str, str] | None = None,
        on_demand_features: Sequence[OnDemandFeature] = (),
    ) -> FeatureGroup:
        """Create a feature group version (the next free one when ``version`` is None).

        ``features`` declares the schema; without it the first insert's columns define it.
        ``on_demand_features`` (functions decorated with ``@fti.on_demand``) are computed from
        each inserted row and request parameters, at insert time and again when serving.
        Raises AlreadyExistsError when the name and version exist.
        """
        check_name(name, "feature group name")
        if version is not None:
            check_version(version, "feature group version")
        if isinstance(primary_key, str):
            primary_key = [primary_key]
        if not primary_key:
            raise SchemaError("a feature group needs a primary_key: one or more column names")
        for column in [*primary_key, *([event_time] if event_time else [])]:
            check_name(column, "key column name")
        if len(set(primary_key)) != len(primary_key):
            raise SchemaError(f"primary_key {list(primary_key)} repeats a column")
        if event_time in primary_key:
            raise SchemaError(f"event_time {event_time!r} cannot also be part of the primary key")
        if validation not in VALIDATION_MODES:
            raise InvalidArgumentError(
                f"validation must be one of {', '.join(VALIDATION_MODES)}, not {validation!r}"
            )
        for odf in on_demand_features:
            if not isinstance(odf, OnDemandFeature):
                raise TransformationError(
                    f"on_demand_features takes functions decorated with @fti.on_demand, not {odf!r}"
                )
        if features is not None:
            features = [_as_feature(f) for f in features]
            declared = {f.name for f in features}
            features += [
                Feature(o.name, o.type) for o in on_demand_features if o.name not in declared
            ]
            self._check_schema(features, list(primary_key), event_time)
            for odf in on_demand_features:
                check_on_demand_parity(odf, synthetic_sample(features, odf))
        body = {
            "primary_key": list(primary_key),
            "event_time": event_time,
            "features": None if features is None else [f.to_dict() for f in features],
            "online_enabled": bool(online_enabled),
            "description": description,
            "expectations": None if expectations is None else serialize_expectations(expectations),
            "validation": validation,
            "statistics": bool(statistics),
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "on_demand": [o.to_dict() for o in on_demand_features],
        }
        entity = self._metadata.create(GROUP_KIND, self.project, name, version, body)
        return FeatureGroup(self, entity)

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """A feature group version (the latest when ``version`` is None); NotFoundError if none."""
        check_name(name, "feature group name")
        if version is not None:
            check_version(version, "feature group version")
        return FeatureGroup(self, self._metadata.get(GROUP_KIND, self.project, name, version))

    def get_or_create_feature_group(
        self, name: str, version: int | None = None, **options: Any
    ) -> FeatureGroup:
        """The feature group if it exists, else a new one created with ``options``."""
        try:
            return self.get_feature_group(name, version)
        except NotFoundError:
            return self.create_feature_group(name, version, **options)

    def list_feature_groups(self) -> list[FeatureGroup]:
        """Every version of every feature group, by name then version."""
        return [FeatureGroup(self, e) for e in self._metadata.list(GROUP_KIND, self.project)]

    def create_feature_view(
        self,
        name: str,
        version: int | None = None,
        query: Query | None = None,
        labels: Sequence[str] = (),
        transformations: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> FeatureView:
        """Create a feature view version over ``query`` with ``labels`` and transformations.

        A label is a column of the query (of any of its groups) or, like a label in Feast's
        entity table, a column only the spine carries: training data then needs a spine with
        it. Each transformation is checked on a sample, vectorized and one row at a time; a
        difference refuses the view with TransformationError.
        """
        check_name(name, "feature view name")
        if version is not None:
            check_version(version, "feature view version")
        if not isinstance(query, Query):
            raise QueryError("create_feature_view needs query=, e.g. fg.select_all().join(...)")
        labels = _labels(query, labels)
        outputs = {c.name: c.type for c in query.outputs}
        plan = TransformPlan.create(transformations or {}, outputs, labels)
        if plan.columns:
            plan.check_parity(sample_frame(query, plan.columns))
        body = {
            "query": query.to_dict(),
            "labels": labels,
            "transformations": plan.to_dict(),
            "description": description,
        }
        entity = self._metadata.create(VIEW_KIND, self.project, name, version, body)
        return FeatureView(self, entity)

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        """A feature view version (the latest when ``version`` is None); NotFoundError if none."""
        check_name(name, "feature view name")
        if version is not None:
            check_version(version, "feature view version")
        return FeatureView(self, self._metadata.get(VIEW_KIND, self.project, name, version))

    def get_or_create_feature_view(
        self, name: str, version: int | None = None, **options: Any
    ) -> FeatureView:
        """The feature view if it exists, else a new one created with ``options``."""
        try:
            return self.get_feature_view(name, version)
        except NotFoundError:
            return self.create_feature_view(name, version, **options)

    def list_feature_views(self) -> list[FeatureView]:
        """Every version of every feature view, by name then version."""
        return [FeatureView(self, e) for e in self._metadata.list(VIEW_KIND, self.project)]

    def _check_schema(
        self, features: Sequence[Feature], primary_key: list[str], event_time: str | None
    ) -> None:
        by_name: dict[str, Feature] = {}
        for f in features:
            if f.name in by_name:
                raise SchemaError(f"feature {f.name!r} is declared twice")
            by_name[f.name] = f
        for key in primary_key:
            if key not in by_name:
                raise SchemaError(f"primary key column {key!r} is not among the features")
            if by_name[key].type not in KEY_TYPES:
                raise SchemaError(
                    f"primary key column {key!r} has type {by_name[key].type}; keys must be "
                    f"one of {', '.join(sorted(KEY_TYPES))}"
                )
        if event_time is not None:
            if event_time not in by_name:
                raise SchemaError(f"event_time column {event_time!r} is not among the features")
            if by_name[event_time].type not in ("timestamp", "date"):
                raise SchemaError(
                    f"event_time column {event_time!r} must be a timestamp or date, "
                    f"not {by_name[event_time].type}"
                )


def _labels(query: Query, labels: Sequence[str] | str) -> list[str]:
    """The checked labels of a view: columns of ``query``, or spine labels."""
    labels = [labels] if isinstance(labels, str) else list(labels)
    for label in labels:
        check_name(label, "label name")
    if len(set(labels)) != len(labels):
        raise QueryError(f"labels {labels} repeat a column")
    outputs = {c.name for c in query.outputs}
    keys = query.root.upsert_keys
    clashing = [label for label in labels if label not in outputs and label in keys]
    if clashing:
        raise QueryError(
            f"label(s) {', '.join(clashing)} are the root's key or event time, not labels"
        )
    return labels


def _as_feature(value: Any) -> Feature:
    if isinstance(value, Feature):
        return value
    if isinstance(value, Mapping):
        return Feature.from_dict(value)
    raise SchemaError(f"features must be fti.Feature objects, got {value!r}")
