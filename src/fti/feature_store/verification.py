"""Checks a user can run: is a training dataset still reproducible, is online equal to offline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fti import clock
from fti.errors import FtiError, InvalidArgumentError
from fti.feature_store import point_in_time, training_data
from fti.feature_store.training_data import SPLIT_COLUMN
from fti.types import Feature

if TYPE_CHECKING:
    from fti.feature_store.feature_view import FeatureView


@dataclass(frozen=True)
class TrainingDataCheck:
    """Whether a training dataset recomputed from its pinned versions still matches."""

    version: int
    matches: bool
    stored_digest: str
    recomputed_digest: str | None
    reason: str

    def __bool__(self) -> bool:
        return self.matches


@dataclass(frozen=True)
class Mismatch:
    """One feature of one key whose online value differs from the offline value.

    ``column`` is the compared column: the feature's, or one of its transformation's outputs.
    """

    key: dict[str, Any]
    feature: str
    online: Any
    offline: Any
    cause: str
    column: str


@dataclass(frozen=True)
class Coverage:
    """What the audit could compare of one feature: values compared (keys where at least one
    side has a value) and the share of the keys with no value online and offline.

    A value counts as missing when it is null, or what a null becomes through the feature's
    transformation (-1 for a label encoder, zeros for a one-hot encoder).
    """

    compared: int
    null_online: float
    null_offline: float


@dataclass
class OnlineAudit:
    """The result of comparing online vectors with offline values as of now."""

    checked: int
    features: list[str]
    mismatches: list[Mismatch] = field(default_factory=list)
    coverage: dict[str, Coverage] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every compared value matched (see :attr:`all_compared` for coverage)."""
        return not self.mismatches

    @property
    def all_compared(self) -> bool:
        """True when every feature was compared on at least one value: a feature null on both
        sides for every key (such as a ttl expired at now) proves nothing."""
        return not self.uncompared()

    def uncompared(self) -> list[str]:
        """The features with no value on either side for any sampled key."""
        return [f for f in self.features if f not in self.coverage or not self.coverage[f].compared]

    def by_feature(self) -> dict[str, int]:
        """Mismatch counts per feature (0 for features that matched everywhere)."""
        counts = dict.fromkeys(self.features, 0)
        for m in self.mismatches:
            counts[m.feature] += 1
        return counts

    def causes(self) -> dict[str, str]:
        """The likely cause of each feature's mismatches."""
        return {m.feature: m.cause for m in self.mismatches}


def verify_training_data(view: FeatureView, version: int) -> TrainingDataCheck:
    """Recompute ``version`` of ``view``'s training data and compare the content digests."""
    dataset = view.training_dataset(version)
    try:
        spine = None
        if dataset.has_spine:
            stored = view._store._offline.read_file(view._spine_path(version))
            # Older datasets stored the prepared spine, its helper columns included.
            helpers = [point_in_time.SPINE_ROW, point_in_time.SPINE_TIME]
            spine = view._prepare_spine(
                stored.drop_columns([c for c in helpers if c in stored.column_names])
            )
        table = view._run(dataset.versions, dataset.start_time, dataset.end_time, spine)
    except (FtiError, OSError) as exc:
        return TrainingDataCheck(
            version,
            False,
            dataset.digest,
            None,
            f"the pinned data cannot be read any more ({exc}); a vacuum may have removed the "
            "files of the pinned Delta versions",
        )
    root_time = view.query.root.event_time
    times = table.column(root_time) if root_time else None
    table = table.append_column(SPLIT_COLUMN, dataset.split.assign(times, table.num_rows))
    recomputed = training_data.digest(table)
    matches = recomputed == dataset.digest
    reason = "identical" if matches else "the recomputed rows differ from the recorded digest"
    return TrainingDataCheck(version, matches, dataset.digest, recomputed, reason)


def verify_online(
    view: FeatureView,
    sample: int,
    training_dataset_version: int | None,
    request_parameters: Mapping[str, Any],
) -> OnlineAudit:
    """Compare, value by value, online vectors and offline as-of-now values of sampled keys."""
    _check_request_parameters(view, request_parameters)
    root = view.query.root
    keys = root.primary_key
    latest = root.read(return_type="pyarrow").select(keys).to_pandas().drop_duplicates()
    if len(latest) > sample:
        latest = latest.sample(n=sample, random_state=0)
    latest = latest.reset_index(drop=True)
    features = view.feature_names
    audit = OnlineAudit(checked=len(latest), features=features)
    if latest.empty:
        return audit
    now = pd.Timestamp(clock.now()).floor("us")
    spine = latest.assign(**{root.event_time: now}) if root.event_time else latest
    spine = spine.assign(**request_parameters)
    offline = view.get_batch_data(spine=spine, training_dataset_version=training_dataset_version)
    view.init_serving(training_dataset_version)
    entries = latest.to_dict("records")
    online = view.get_feature_vectors(
        entries,
        request_parameters=[request_parameters] * len(entries) if request_parameters else None,
        return_type="pandas",
        allow_missing=True,
    )
    owners, nulls = _null_values(view, training_dataset_version)
    behind = _lagging_groups(view)
    rows = len(entries)
    null_online = {f: np.ones(rows, dtype=bool) for f in features}
    null_offline = {f: np.ones(rows, dtype=bool) for f in features}
    for column in offline.columns:
        feature = owners.get(column, column)
        null = nulls.get(column)
        online_values, offline_values = online[column].tolist(), offline[column].tolist()
        for n in range(rows):
            a, b = online_values[n], offline_values[n]
            null_online[feature][n] &= _same(a, null)
            null_offline[feature][n] &= _same(b, null)
            if not _same(a, b):
                cause = _cause(view, feature, behind)
                audit.mismatches.append(
                    Mismatch(entries[n], feature, _plain(a), _plain(b), cause, column)
                )
    for feature in features:
        nothing = null_online[feature] & null_offline[feature]
        audit.coverage[feature] = Coverage(
            compared=int((~nothing).sum()),
            null_online=float(null_online[feature].mean()),
            null_offline=float(null_offline[feature].mean()),
        )
    return audit


def _check_request_parameters(view: FeatureView, given: Mapping[str, Any]) -> None:
    """Serving needs every request parameter of the view's on-demand features: ask for them."""
    taken = list(
        dict.fromkeys(
            p
            for step in view.query.steps
            for feature in step.group.on_demand_features
            for p in feature.request_parameters
        )
    )
    absent = [p for p in taken if p not in given]
    if absent:
        raise InvalidArgumentError(
            f"on-demand features of {view!r} take request parameter(s) {', '.join(absent)}: "
            "pass request_parameters={...} (fti verify --request-param NAME=VALUE)"
        )
    unknown = [p for p in given if p not in taken]
    if unknown:
        raise InvalidArgumentError(
            f"request parameter(s) {', '.join(unknown)} are taken by no on-demand feature of "
            f"{view!r} (they take: {', '.join(taken) or 'none'})"
        )


def _null_values(
    view: FeatureView, training_dataset_version: int | None
) -> tuple[dict[str, str], dict[str, Any]]:
    """For each compared column: its feature, and the value a null becomes there."""
    types = {c.name: c.type for c in view.query.outputs}
    transformed = view.transformations.columns
    state = {}
    if transformed:
        state = view.training_dataset(training_dataset_version).transformation_state
    owners: dict[str, str] = {}
    nulls: dict[str, Any] = {}
    for feature in view.feature_names:
        if feature not in transformed:
            continue
        null = pa.table({feature: pa.nulls(1, Feature(feature, types[feature]).arrow_type)})
        outputs = view.transformations.apply(null.to_pandas(), state)
        for column in outputs.columns:
            owners[column] = feature
            nulls[column] = outputs[column].iloc[0]
    return owners, nulls


def _lagging_groups(view: FeatureView) -> dict[str, str]:
    lagging = {}
    for step in view.query.steps:
        group = step.group
        latest = group._offline.version(group._offline_table)
        watermark = group._online.watermark(group._online_table)
        if latest is not None and watermark < latest:
            lagging[group.name] = (
                f"online store behind the offline commits of {group.name} "
                f"(online at commit {watermark}, offline at {latest}): run fg.materialize()"
            )
    return lagging


def _cause(view: FeatureView, feature: str, behind: dict[str, str]) -> str:
    for c in view.query.outputs:
        if c.name == feature:
            step = view.query.steps[c.step]
            if step.group.name in behind:
                return behind[step.group.name]
            if not step.group.online_enabled:
                return f"{step.group.name} is not online-enabled"
            if step.ttl is not None:
                return f"ttl of the join with {step.group.name}: the row aged out between reads"
    if feature in view.transformations.columns:
        return "the transformation gives different values online and offline"
    return "unknown: a row newer than now, or data written between the two reads"


def _same(a: Any, b: Any) -> bool:
    if _missing(a) and _missing(b):
        return True
    if _missing(a) or _missing(b):
        return False
    if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, np.ndarray)) or isinstance(b, (list, np.ndarray)):
        return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9))
    return bool(a == b)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
