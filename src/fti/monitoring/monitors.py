"""Monitors: feature drift of a view against a training dataset, and model quality over time.

A monitor is a metadata entity (kind ``monitor``); each run stores a :class:`MonitorResult`
as a record keyed by its window's end, so ``history()`` is a time series. A window is "drift"
when a drift threshold is crossed (:mod:`fti.monitoring.drift`) and, for model monitors,
"degraded" when a quality threshold is (:mod:`fti.monitoring.quality`). Either is logged and,
when a webhook URL is configured, POSTed as JSON; a failing webhook is recorded in the result and
never fails the run.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from fti import run_outputs
from fti.errors import InvalidArgumentError, NotFoundError
from fti.feature_store.training_data import SPLIT_COLUMN, TRAIN, to_utc
from fti.monitoring.drift import (
    FeatureDrift,
    compute_drift,
    describe_threshold,
    resolve_thresholds,
)
from fti.monitoring.quality import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    compute_quality,
    crossed_quality,
    describe_quality_threshold,
    resolve_quality_thresholds,
)
from fti.names import check_name

if TYPE_CHECKING:
    from fti.feature_store.feature_store import FeatureStore
    from fti.feature_store.feature_view import FeatureView
    from fti.stores.metadata import MetadataStore

from fti.monitoring.statuses import ALERT_STATUSES

logger = logging.getLogger(__name__)

KIND = "monitor"
RESULT = "result"
WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass
class MonitorResult:
    """One run of a monitor over one window."""

    monitor: str
    window_start: dt.datetime
    window_end: dt.datetime
    status: str
    """"ok"; "drift" (a drift threshold crossed); "degraded" (a quality threshold crossed, which
    wins over drift in the same window: the model is measurably worse); "no_data" (no rows)."""
    rows: int
    features: dict[str, FeatureDrift] = field(default_factory=dict)
    quality: dict[str, float | None] = field(default_factory=dict)
    alert: dict[str, Any] = field(default_factory=dict)
    quality_thresholds: dict[str, float] = field(default_factory=dict)
    """The quality thresholds applied (model monitors): metric -> minimum or maximum."""
    degraded: list[str] = field(default_factory=list)
    """The quality metrics that crossed their threshold, in the order of the thresholds."""

    @property
    def drifted(self) -> list[str]:
        """The features (or predictions) whose drift crossed a threshold."""
        return [name for name, d in self.features.items() if d.drifted]

    @property
    def crossed(self) -> list[str]:
        """Each crossed threshold with the value that crossed it, e.g. ``"temp: psi 1.9 > 0.2"``
        or ``"accuracy 0.724 < 0.8 (minimum)"``."""
        lines = [
            f"{name}: {describe_threshold(m, drift.thresholds[m], drift.metrics.get(m))}"
            for name, drift in self.features.items()
            for m in drift.crossed
        ]
        lines += [
            describe_quality_threshold(m, self.quality_thresholds[m], self.quality.get(m))
            for m in self.degraded
        ]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "monitor": self.monitor,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status,
            "rows": self.rows,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "quality": {k: _finite(v) for k, v in self.quality.items()},
            "alert": self.alert,
            "quality_thresholds": dict(self.quality_thresholds),
            "degraded": list(self.degraded),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorResult:
        """Rebuild a stored result."""
        return cls(
            monitor=data["monitor"],
            window_start=dt.datetime.fromisoformat(data["window_start"]),
            window_end=dt.datetime.fromisoformat(data["window_end"]),
            status=data["status"],
            rows=int(data["rows"]),
            features={k: FeatureDrift.from_dict(v) for k, v in data["features"].items()},
            quality=dict(data.get("quality", {})),
            alert=dict(data.get("alert", {})),
            quality_thresholds=dict(data.get("quality_thresholds", {})),
            degraded=list(data.get("degraded", [])),
        )

    def __repr__(self) -> str:
        return (
            f"MonitorResult(monitor={self.monitor!r}, window_end={self.window_end.isoformat()!r}, "
            f"status={self.status!r}, rows={self.rows}, crossed={self.crossed!r})"
        )


class Monitor:
    """A stored monitor definition; ``run()`` computes and records one window."""

    def __init__(
        self,
        store: FeatureStore,
        metadata: MetadataStore,
        project: str,
        body: dict[str, Any],
        name: str,
    ) -> None:
        self._store = store
        self._metadata = metadata
        self._project = project
        self.name = name
        self.body = body

    @property
    def kind(self) -> str:
        """ "feature" (drift of a view's features) or "model" (quality and prediction drift)."""
        return str(self.body["type"])

    @property
    def window(self) -> dt.timedelta:
        """The length of a detection window."""
        return dt.timedelta(seconds=float(self.body["window_seconds"]))

    @property
    def thresholds(self) -> dict[str, float]:
        """The drift thresholds: metric -> the value beyond which a feature (or score) drifted."""
        return dict(self.body.get("thresholds") or {})

    @property
    def quality_thresholds(self) -> dict[str, float]:
        """The quality thresholds of a model monitor: metric -> minimum or maximum ({} if none)."""
        return dict(self.body.get("quality_thresholds") or {})

    @property
    def watches(self) -> str:
        """What the monitor watches, in a line."""
        if self.kind == "feature":
            features = self.body.get("features")
            count = len(features or [])
            what = f"{count} feature{'s' if count != 1 else ''}" if count else "all features"
            text = f"{what} of view {self.body['view']} v{self.body['view_version']}"
            source = self.body.get("source_feature_group")
            return f"{text}, as logged in {source}" if source else text
        return (
            f"model {self.body['model']}: {self.body['predictions_group']} against "
            f"{self.body['label_feature_group']}.{self.body['label_column']}"
        )

    @property
    def reference(self) -> str:
        """What each window is compared with, in a sentence."""
        if self.kind == "model":
            return (
                "Scores: every prediction made before the window (the score's drift). Quality: "
                "the quality thresholds, as there is no reference window of labelled quality."
            )
        version = int(self.body["reference_training_dataset_version"])
        view = f"view {self.body['view']} v{self.body['view_version']}"
        try:
            dataset = self._view().training_dataset(version)
        except NotFoundError:
            return f"Training dataset {version} of {view}, which no longer exists."
        described = f' ("{dataset.description}")' if dataset.description else ""
        return (
            f"The train rows of training dataset {version} of {view}{described}: "
            f"{_span(dataset.start_time, dataset.end_time, dataset.created_at)}."
        )

    def run(
        self, end_time: dt.datetime | str | None = None, *, engine: str | None = None
    ) -> MonitorResult:
        """Compute the window ending at ``end_time`` (now when None), store and alert.

        ``engine`` (``"local"``, ``"ray"``; the project's when None) computes a feature
        monitor's window: on ``"ray"`` the view's rows of the window stay on the cluster and
        are summarized there (:func:`fti.engines.ray_statistics.drift_on_ray`), for the same
        result; the reference and a ``source_feature_group``'s window are read here.
        """
        end = to_utc(end_time) or dt.datetime.now(dt.UTC)
        start = end - self.window
        if self.kind == "feature":
            result = self._feature_run(start, end, self._store.engine(engine).name)
        else:
            result = self._model_run(start, end)
        if result.status in ALERT_STATUSES:
            found = [f"drift in {', '.join(result.drifted)}"] if result.drifted else []
            found += [
                describe_quality_threshold(m, result.quality_thresholds[m], result.quality.get(m))
                for m in result.degraded
            ]
            logger.warning("monitor %s: %s", self.name, "; ".join(found))
            if self.body.get("webhook_url"):
                result.alert = _post(self.body["webhook_url"], result)
        self._metadata.add_record(
            KIND, self._project, self.name, 1, RESULT, end.isoformat(), result.to_dict()
        )
        run_outputs.report(
            "monitor",
            monitor=self.name,
            window_end=end.isoformat(),
            status=result.status,
            crossed=result.crossed,
        )
        return result

    def is_due(self, now: dt.datetime | str | None = None) -> bool:
        """Whether a full window has passed since the last run's window end (or never run)."""
        history = self.history()
        if not history:
            return True
        return history[-1].window_end + self.window <= (to_utc(now) or dt.datetime.now(dt.UTC))

    def history(self) -> list[MonitorResult]:
        """Every stored result, by window end."""
        records = self._metadata.records(KIND, self._project, self.name, 1, RESULT)
        results = [MonitorResult.from_dict(r.body) for r in records]
        return sorted(results, key=lambda r: r.window_end)

    def delete(self) -> None:
        """Delete the monitor and its history."""
        self._metadata.delete(KIND, self._project, self.name, 1)

    def __repr__(self) -> str:
        if self.kind == "feature":
            watched = f"view={self.body['view']!r}, view_version={self.body['view_version']}"
        else:
            watched = f"model={self.body['model']!r}"
        window = describe_duration(self.window)
        return f"Monitor(name={self.name!r}, kind={self.kind!r}, {watched}, window={window!r})"

    def _view(self) -> FeatureView:
        return self._store.get_feature_view(self.body["view"], self.body["view_version"])

    def _feature_run(self, start: dt.datetime, end: dt.datetime, engine: str) -> MonitorResult:
        view = self._view()
        features = self.body.get("features") or view.feature_names
        reference = _reference_rows(view, int(self.body["reference_training_dataset_version"]))
        source = self.body.get("source_feature_group")
        if engine == "ray" and not source:
            return self._feature_run_on_ray(view, features, reference, start, end)
        if source:
            current = _group_window(self._store, source, features, start, end)
        else:
            current = view.get_batch_data(start, end, transformed=False)
        if len(current) == 0:
            return MonitorResult(self.name, start, end, "no_data", 0)
        drift = compute_drift(
            reference[features],
            current[features],
            features=features,
            thresholds=self.body.get("thresholds"),
        )
        status = "drift" if any(d.drifted for d in drift.values()) else "ok"
        return MonitorResult(self.name, start, end, status, len(current), drift)

    def _feature_run_on_ray(
        self,
        view: FeatureView,
        features: Sequence[str],
        reference: pd.DataFrame,
        start: dt.datetime,
        end: dt.datetime,
    ) -> MonitorResult:
        from fti.engines.ray_statistics import drift_on_ray

        window = view.get_batch_data(
            start, end, transformed=False, return_type="ray", engine="ray"
        ).select_columns(list(features))
        # Computed once: its row count and its summaries read the same blocks.
        window = window.materialize()
        rows = int(window.count())
        if rows == 0:
            return MonitorResult(self.name, start, end, "no_data", 0)
        drift = drift_on_ray(
            reference[features],
            window,
            features=features,
            thresholds=self.body.get("thresholds"),
        )
        status = "drift" if any(d.drifted for d in drift.values()) else "ok"
        return MonitorResult(self.name, start, end, status, rows, drift)

    def _model_run(self, start: dt.datetime, end: dt.datetime) -> MonitorResult:
        predictions = self._store.get_feature_group(self.body["predictions_group"])
        labels = self._store.get_feature_group(self.body["label_feature_group"])
        label = self.body["label_column"]
        keys = [k for k in predictions.primary_key if k != "model_version"]
        query = predictions.select_all().join(labels.select([label]), on=keys)
        joined = query.read(start_time=None, end_time=end)
        event = predictions.event_time
        assert event is not None
        times = pd.to_datetime(joined[event], utc=True)
        window = joined[(times >= start) & (times < end)]
        before = joined[times < start]
        if window.empty:
            return MonitorResult(self.name, start, end, "no_data", 0)
        quality = compute_quality(window, label)
        drift: dict[str, FeatureDrift] = {}
        if "score" in window.columns and len(before):
            drift = compute_drift(
                before[["score"]],
                window[["score"]],
                features=["score"],
                thresholds=self.body.get("thresholds"),
            )
        limits = self.quality_thresholds
        degraded = crossed_quality(quality, limits)
        drifted = bool(drift) and drift["score"].drifted
        status = "degraded" if degraded else "drift" if drifted else "ok"
        return MonitorResult(
            self.name,
            start,
            end,
            status,
            len(window),
            drift,
            quality,
            quality_thresholds=limits,
            degraded=degraded,
        )


class Monitoring:
    """The monitors of a project: ``project.monitoring``."""

    def __init__(self, project: str, store: FeatureStore, metadata: MetadataStore) -> None:
        self._project = project
        self._store = store
        self._metadata = metadata

    def __repr__(self) -> str:
        return f"Monitoring(project={self._project!r})"

    def create_feature_monitor(
        self,
        view: FeatureView,
        name: str,
        reference_training_dataset_version: int,
        window: str | dt.timedelta = "1d",
        features: Sequence[str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        webhook_url: str | None = None,
        source_feature_group: str | None = None,
    ) -> Monitor:
        """Drift of ``view``'s features in each window against a training dataset.

        The window comes from the view's batch data, or from ``source_feature_group`` (e.g.
        ``<model>_inference_log``: what was served) when given.
        """
        check_name(name, "monitor name")
        view.training_dataset(reference_training_dataset_version)  # NotFoundError if absent
        unknown = [f for f in features or [] if f not in view.feature_names]
        if unknown:
            raise InvalidArgumentError(f"{view!r} has no feature(s) {', '.join(unknown)}")
        if source_feature_group is not None:
            group = self._store.get_feature_group(source_feature_group)
            columns = {f.name for f in group.features or []}
            absent = [f for f in features or view.feature_names if f not in columns]
            if absent:
                raise InvalidArgumentError(f"{group!r} lacks the feature(s) {', '.join(absent)}")
        body = {
            "type": "feature",
            "view": view.name,
            "view_version": view.version,
            "reference_training_dataset_version": reference_training_dataset_version,
            "window_seconds": _seconds(window),
            "features": list(features) if features else None,
            "thresholds": resolve_thresholds(thresholds),
            "webhook_url": webhook_url,
            "source_feature_group": source_feature_group,
        }
        return self._create(name, body)

    def create_model_monitor(
        self,
        model_name: str,
        label_feature_group: str,
        label_column: str,
        window: str | dt.timedelta = "1d",
        *,
        name: str | None = None,
        predictions_group: str | None = None,
        thresholds: Mapping[str, float] | None = None,
        quality_thresholds: Mapping[str, float] | None = None,
        webhook_url: str | None = None,
    ) -> Monitor:
        """Quality of a model's predictions once labels arrive, and drift of its scores.

        ``quality_thresholds`` map quality metrics (:data:`~fti.monitoring.quality.QUALITY_METRICS`)
        to a minimum (accuracy, roc_auc) or a maximum (log_loss, mae, rmse), e.g.
        ``{"roc_auc": 0.70, "accuracy": 0.80}``: a window that crosses one is "degraded". There
        are none by default, so the status follows only the drift of the scores (``thresholds``).
        """
        check_name(model_name, "model name")
        monitor = name or f"{model_name}_quality"
        group = predictions_group or f"{model_name}_predictions"
        labels = self._store.get_feature_group(label_feature_group)
        if label_column not in [f.name for f in labels.features or []]:
            raise InvalidArgumentError(f"{labels!r} has no column {label_column!r}")
        quality = resolve_quality_thresholds(quality_thresholds)
        self._check_quality_metrics(group, quality)
        body = {
            "type": "model",
            "model": model_name,
            "predictions_group": group,
            "label_feature_group": label_feature_group,
            "label_column": label_column,
            "window_seconds": _seconds(window),
            "thresholds": resolve_thresholds(thresholds),
            "quality_thresholds": quality,
            "webhook_url": webhook_url,
        }
        return self._create(monitor, body)

    def get_monitor(self, name: str) -> Monitor:
        """A monitor by name; NotFoundError, naming the monitors that exist, when absent."""
        check_name(name, "monitor name")
        try:
            entity = self._metadata.get(KIND, self._project, name, 1)
        except NotFoundError as exc:
            raise NotFoundError(self._not_found(name)) from exc
        return Monitor(self._store, self._metadata, self._project, entity.body, name)

    def list_monitors(self) -> list[Monitor]:
        """Every monitor of the project."""
        return [
            Monitor(self._store, self._metadata, self._project, e.body, e.name)
            for e in self._metadata.list(KIND, self._project)
        ]

    def _create(self, name: str, body: dict[str, Any]) -> Monitor:
        self._metadata.create(KIND, self._project, name, 1, body)
        return Monitor(self._store, self._metadata, self._project, body, name)

    def _not_found(self, name: str) -> str:
        names = [e.name for e in self._metadata.list(KIND, self._project)]
        if not names:
            return (
                f"project {self._project!r} has no monitor {name!r}: it has no monitors yet. "
                "Create one with view.create_monitor(name, reference_training_dataset_version) "
                "or project.monitoring.create_model_monitor(model_name, label_feature_group, "
                "label_column)"
            )
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"project {self._project!r} has no monitor {name!r}.{hint} "
            f"Its monitors: {', '.join(names)}"
        )

    def _check_quality_metrics(self, predictions_group: str, quality: Mapping[str, float]) -> None:
        """Quality thresholds must name metrics of the model's task, once its predictions tell."""
        if not quality:
            return
        try:
            group = self._store.get_feature_group(predictions_group)
        except NotFoundError:
            return  # batch_predict creates the group with the model's first predictions
        columns = {f.name for f in group.features or []}
        classifier = "score" in columns
        measured = CLASSIFICATION_METRICS if classifier else REGRESSION_METRICS
        unmeasured = sorted(set(quality) - measured)
        if unmeasured:
            task = "a classifier's scores" if classifier else "regression predictions (no score)"
            raise InvalidArgumentError(
                f"{group!r} holds {task}: {', '.join(unmeasured)} is not measured on them; "
                f"quality thresholds can be set on {', '.join(sorted(measured))}"
            )


def _group_window(
    store: FeatureStore, name: str, features: Sequence[str], start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """The rows of a feature group (e.g. an inference log) whose event time is in the window."""
    group = store.get_feature_group(name)
    event = group.event_time
    if event is None:
        raise InvalidArgumentError(f"{group!r} has no event time: it cannot be windowed")
    table = group.read(return_type="pyarrow")
    frame: pd.DataFrame = table.select([event, *features]).to_pandas()
    times = pd.to_datetime(frame[event], utc=True)
    window: pd.DataFrame = frame[(times >= start) & (times < end)]
    return window.drop(columns=[event])


def _reference_rows(view: FeatureView, version: int) -> pd.DataFrame:
    table = view.read_training_data_table(version)
    frame: pd.DataFrame = table.to_pandas()
    train: pd.DataFrame = frame[frame[SPLIT_COLUMN] == TRAIN]
    return train if len(train) else frame


def _post(url: str, result: MonitorResult) -> dict[str, Any]:
    payload = {
        "monitor": result.monitor,
        "status": result.status,
        "window_start": result.window_start.isoformat(),
        "window_end": result.window_end.isoformat(),
        "drifted": result.drifted,
        "degraded": result.degraded,
        "crossed": result.crossed,
        "quality": {k: _finite(v) for k, v in result.quality.items()},
    }
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return {"sent": True, "status": response.status}
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        logger.warning("monitor %s: webhook %s failed: %s", result.monitor, url, exc)
        return {"sent": False, "error": str(exc)}


def _seconds(window: str | dt.timedelta) -> float:
    if isinstance(window, str):
        try:
            window = pd.Timedelta(
                window.upper() if window.endswith("d") else window
            ).to_pytimedelta()
        except ValueError as exc:
            raise InvalidArgumentError(f"window {window!r} is not a duration like '1d'") from exc
    if not isinstance(window, dt.timedelta) or window <= dt.timedelta(0):
        raise InvalidArgumentError(f"window must be a positive duration, got {window!r}")
    return window.total_seconds()


def describe_duration(duration: dt.timedelta) -> str:
    """A window length as people say it: "7 days", "1 day", "6 hours", "90 minutes"."""
    seconds = duration.total_seconds()
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _span(start: dt.datetime | None, end: dt.datetime | None, created: dt.datetime) -> str:
    """The event times a training dataset covers, in words."""
    since = f"from {start:%Y-%m-%d %H:%M} UTC" if start else "from the first row"
    until = f"to {end:%Y-%m-%d %H:%M} UTC" if end else f"to its creation on {created:%Y-%m-%d}"
    return f"event times {since} {until}"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
