"""Checks a user can run: is a training dataset still reproducible, is online equal to offline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti import clock
from fti.errors import FtiError
from fti.feature_store import point_in_time, training_data
from fti.feature_store.training_data import SPLIT_COLUMN

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
    """One feature of one key whose online value differs from the offline value."""

    key: dict[str, Any]
    feature: str
    online: Any
    offline: Any
    cause: str


@dataclass
class OnlineAudit:
    """The result of comparing online vectors with offline values as of now."""

    checked: int
    features: list[str]
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every value matched."""
        return not self.mismatches

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
    view: FeatureView, sample: int, training_dataset_version: int | None
) -> OnlineAudit:
    """Compare, value by value, online vectors and offline as-of-now values of sampled keys."""
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
    offline = view.get_batch_data(spine=spine, training_dataset_version=training_dataset_version)
    view.init_serving(training_dataset_version)
    entries = latest.to_dict("records")
    online = view.get_feature_vectors(entries, return_type="pandas", allow_missing=True)
    behind = _lagging_groups(view)
    for column in offline.columns:
        for n in range(len(latest)):
            a, b = online[column].iloc[n], offline[column].iloc[n]
            if not _same(a, b):
                audit.mismatches.append(
                    Mismatch(entries[n], column, _plain(a), _plain(b), _cause(view, column, behind))
                )
    return audit


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


def _cause(view: FeatureView, column: str, behind: dict[str, str]) -> str:
    for c in view.query.outputs:
        if c.name == column or column.startswith(c.name + "_"):
            step = view.query.steps[c.step]
            if step.group.name in behind:
                return behind[step.group.name]
            if not step.group.online_enabled:
                return f"{step.group.name} is not online-enabled"
            if step.ttl is not None:
                return f"ttl of the join with {step.group.name}: the row aged out between reads"
    if column in view.transformations.columns:
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
