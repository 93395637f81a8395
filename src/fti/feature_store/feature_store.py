"""FeatureStore: creates, finds and lists the feature groups of a project."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fti.engines import Engine, LocalEngine
from fti.errors import (
    ConfigError,
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
from fti.feature_store.ingest import InsertLimits
from fti.feature_store.maintenance import MaintenancePolicy
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
        self,
        project: str,
        offline: OfflineStore,
        online: OnlineStore,
        metadata: MetadataStore,
        *,
        limits: InsertLimits,
        maintenance: MaintenancePolicy | None = None,
        engines: Callable[[str | None], Engine] | None = None,
    ) -> None:
        self.project = project
        self._offline = offline
        self._online = online
        self._metadata = metadata
        self._limits = limits
        self._maintenance = maintenance or MaintenancePolicy()
        # Services above the feature store that views expose (fv.models(), fv.create_monitor());
        # Project sets them, so this layer never imports model_registry or monitoring.
        self._models_of_view: Callable[[str, int], list[Any]] | None = None
        self._monitoring: Any = None
        # Project opens the engines by name (ray only when asked for); alone, the store
        # runs everything locally.
        self._engines = engines

    def engine(self, name: str | None = None) -> Engine:
        """The engine named ``name`` (``"local"``, ``"ray"``), the project's when None."""
        if self._engines is not None:
            return self._engines(name)
        if name not in (None, "local"):
            raise ConfigError(
                f"engine {name!r} needs a project: open it with fti.connect(engine={name!r})"
            )
        return LocalEngine()

    def __repr__(self) -> str:
        return f"FeatureStore(project={self.project!r})"

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
        self, name: str, version: int | None = None, *, on_change: str = "error", **options: Any
    ) -> FeatureGroup:
        """The feature group if it exists, else a new one created with ``options``.

        When it exists with another primary key, event time, features or online_enabled than
        ``options`` give, ``on_change="error"`` raises SchemaError naming each difference, and
        ``on_change="new_version"`` creates the next version with the new definition.
        """
        _check_on_change(on_change)
        try:
            group = self.get_feature_group(name, version)
        except NotFoundError:
            return self.create_feature_group(name, version, **options)
        differences = _group_differences(group, options)
        if not differences:
            return group
        if on_change == "new_version":
            return self.create_feature_group(name, None, **options)
        raise SchemaError(_changed(group, differences))

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
        self, name: str, version: int | None = None, *, on_change: str = "error", **options: Any
    ) -> FeatureView:
        """The feature view if it exists, else a new one created with ``options``.

        When it exists with another query, labels or transformations than ``options`` give,
        ``on_change="error"`` raises QueryError naming each difference, and
        ``on_change="new_version"`` creates the next version with the new definition.
        """
        _check_on_change(on_change)
        try:
            view = self.get_feature_view(name, version)
        except NotFoundError:
            return self.create_feature_view(name, version, **options)
        differences = _view_differences(view, options)
        if not differences:
            return view
        if on_change == "new_version":
            return self.create_feature_view(name, None, **options)
        raise QueryError(_changed(view, differences))

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


ON_CHANGE = ("error", "new_version")


def _check_on_change(on_change: str) -> None:
    if on_change not in ON_CHANGE:
        raise InvalidArgumentError(
            f"on_change must be one of {', '.join(ON_CHANGE)}, not {on_change!r}"
        )


def _changed(existing: FeatureGroup | FeatureView, differences: list[str]) -> str:
    kind = "feature group" if isinstance(existing, FeatureGroup) else "feature view"
    getter = "get_feature_group" if isinstance(existing, FeatureGroup) else "get_feature_view"
    return (
        f"{kind} {existing.name!r} v{existing.version} exists with another definition: "
        + "; ".join(differences)
        + f". Pass on_change='new_version' to create the next version with the new definition, "
        f"or {getter}({existing.name!r}) to use the stored one"
    )


def _differs(what: str, stored: Any, given: Any) -> list[str]:
    return [] if stored == given else [f"{what} {stored!r} (stored) vs {given!r} (given)"]


def _group_differences(group: FeatureGroup, options: Mapping[str, Any]) -> list[str]:
    """How ``options`` differ from ``group`` in what they give of its definition."""
    differences = []
    if "primary_key" in options:
        key = options["primary_key"]
        key = [key] if isinstance(key, str) else list(key)
        differences += _differs("primary_key", group.primary_key, key)
    if "event_time" in options:
        differences += _differs("event_time", group.event_time, options["event_time"])
    if options.get("features") is not None:
        declared = [_as_feature(f) for f in options["features"]]
        names = {f.name for f in declared}
        given = [(f.name, f.type) for f in declared] + [
            (o.name, o.type) for o in options.get("on_demand_features", ()) if o.name not in names
        ]
        stored = None if group.features is None else [(f.name, f.type) for f in group.features]
        differences += _differs("features", stored, given)
    if "online_enabled" in options:
        online = bool(options["online_enabled"])
        differences += _differs("online_enabled", group.online_enabled, online)
    return differences


def _view_differences(view: FeatureView, options: Mapping[str, Any]) -> list[str]:
    """How ``options`` differ from ``view`` in its query, labels and transformations."""
    differences = []
    query = options.get("query")
    if isinstance(query, Query):
        differences += _query_differences(view.query.to_dict(), query.to_dict())
    labels = options.get("labels")
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        differences += _differs("labels", view.labels, labels)
    if "transformations" in options:
        outputs = {c.name: c.type for c in (query or view.query).outputs}
        plan = TransformPlan.create(
            options["transformations"] or {}, outputs, view.labels if labels is None else labels
        )
        stored, given = view.transformations.to_dict(), plan.to_dict()
        for column in sorted(set(stored) | set(given)):
            before, after = stored.get(column), given.get(column)
            if before != after:
                old = "none" if before is None else before["name"]
                new = "none" if after is None else after["name"]
                new += " (another source)" if old == new else ""
                differences.append(f"transformation of {column!r} {old} (stored) vs {new} (given)")
    return differences


def _query_differences(stored: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """Each part of two stored queries that differs, step by step."""
    old_steps, new_steps = stored["steps"], given["steps"]
    groups = [[(s["group"], s["version"]) for s in q] for q in (old_steps, new_steps)]
    if groups[0] != groups[1]:
        names = [", ".join(f"{g} v{v}" for g, v in steps) for steps in groups]
        return [f"query groups {names[0]} (stored) vs {names[1]} (given)"]
    differences = []
    for i, (old, new) in enumerate(zip(old_steps, new_steps, strict=True)):
        for part in old:
            if old[part] != new.get(part):
                differences.append(
                    f"query {'root' if i == 0 else 'join'} {old['group']} v{old['version']} "
                    f"{part} {old[part]!r} (stored) vs {new.get(part)!r} (given)"
                )
    differences += _differs("query filter", stored.get("where"), given.get("where"))
    return differences


def _as_feature(value: Any) -> Feature:
    if isinstance(value, Feature):
        return value
    if isinstance(value, Mapping):
        return Feature.from_dict(value)
    raise SchemaError(f"features must be fti.Feature objects, got {value!r}")
