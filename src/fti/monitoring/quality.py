"""Model quality in a window of labelled predictions, and thresholds on it.

A model monitor joins the predictions of a window with their labels and measures:

classification (the predictions carry a ``score``, the probability of the positive class)
    ``accuracy`` (higher is better), ``roc_auc`` (higher is better), ``log_loss`` (lower is better)
regression
    ``mae`` and ``rmse`` (lower is better)

plus ``labelled_rows``, the rows that had a label. A *quality threshold* is a minimum for a
higher-is-better metric and a maximum for a lower-is-better one; a window whose metric falls
below a minimum (or rises above a maximum) is *degraded*. A metric that cannot be computed in a
window (ROC AUC of a window with one class only) crosses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from fti.errors import InvalidArgumentError

__all__ = [
    "CLASSIFICATION_METRICS",
    "HIGHER_IS_BETTER",
    "QUALITY_METRICS",
    "QUALITY_METRIC_DESCRIPTIONS",
    "REGRESSION_METRICS",
    "compute_quality",
    "crossed_quality",
    "describe_quality_threshold",
    "resolve_quality_thresholds",
]

CLASSIFICATION_METRICS = frozenset({"accuracy", "roc_auc", "log_loss"})
REGRESSION_METRICS = frozenset({"mae", "rmse"})
QUALITY_METRICS = CLASSIFICATION_METRICS | REGRESSION_METRICS
"""The metrics a quality threshold can be set on."""

HIGHER_IS_BETTER = frozenset({"accuracy", "roc_auc"})
"""Metrics whose threshold is a minimum; the threshold of every other metric is a maximum."""

_PROBABILITIES = frozenset({"accuracy", "roc_auc"})  # thresholds outside [0, 1] never make sense

QUALITY_METRIC_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "accuracy": "Share of labelled predictions whose predicted class equals the label. It "
        "follows the base rate: when positives become common, a model that rarely predicts one "
        "loses accuracy. Higher is better.",
        "roc_auc": "Area under the ROC curve of the score: the chance that a random positive "
        "row scores higher than a random negative one (0.5 is guessing, 1 is perfect). It "
        "measures the ranking only, not whether the probabilities are right. Higher is better.",
        "log_loss": "Mean negative log-likelihood of the labels under the scores: it grows when "
        "the probabilities are off, even if the ranking holds (a model calibrated for a 15% "
        "base rate facing 25%). Lower is better.",
        "mae": "Mean absolute error of the predictions, in the label's unit. Lower is better.",
        "rmse": "Root mean squared error of the predictions, in the label's unit; large errors "
        "weigh more than in MAE. Lower is better.",
        "labelled_rows": "Predictions of the window whose label has arrived; the metrics are "
        "computed on these rows only.",
    }
)
"""What each quality metric measures, in a sentence or two (the report shows these)."""


def resolve_quality_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """The checked quality thresholds (metric -> minimum or maximum); {} for None.

    Raises :class:`~fti.errors.InvalidArgumentError` for a metric not in
    :data:`QUALITY_METRICS`, classification and regression metrics mixed, or a value that is not
    a finite number (in [0, 1] for accuracy and ROC AUC, >= 0 for the others).
    """
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping):
        raise InvalidArgumentError(
            f"quality_thresholds must be a dict of metric -> value, got {type(thresholds).__name__}"
        )
    resolved: dict[str, float] = {}
    for metric, value in thresholds.items():
        if metric not in QUALITY_METRICS:
            raise InvalidArgumentError(
                f"unknown quality metric {metric!r} in quality_thresholds; "
                f"known: {', '.join(sorted(QUALITY_METRICS))}"
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise InvalidArgumentError(
                f"quality threshold of {metric!r} must be a finite number, got {value!r}"
            )
        if value < 0 or (metric in _PROBABILITIES and value > 1):
            bounds = "between 0 and 1" if metric in _PROBABILITIES else ">= 0"
            raise InvalidArgumentError(
                f"quality threshold of {metric!r} must be {bounds}, got {value!r}"
            )
        resolved[metric] = float(value)
    if resolved.keys() & CLASSIFICATION_METRICS and resolved.keys() & REGRESSION_METRICS:
        raise InvalidArgumentError(
            "quality_thresholds mix classification metrics "
            f"({', '.join(sorted(CLASSIFICATION_METRICS))}) with regression ones "
            f"({', '.join(sorted(REGRESSION_METRICS))}); a model has one or the other"
        )
    return resolved


def crossed_quality(
    quality: Mapping[str, float | None], thresholds: Mapping[str, float]
) -> list[str]:
    """The metrics of ``quality`` that crossed their threshold, in the order of ``thresholds``."""
    crossed = []
    for metric, limit in thresholds.items():
        value = quality.get(metric)
        if value is None or not math.isfinite(value):
            continue
        if value < limit if metric in HIGHER_IS_BETTER else value > limit:
            crossed.append(metric)
    return crossed


def describe_quality_threshold(metric: str, limit: float, value: float | None = None) -> str:
    """When ``metric`` makes a window degraded, e.g. ``"accuracy < 0.8 (minimum)"``; with
    ``value``, the crossing itself, e.g. ``"accuracy 0.724 < 0.8 (minimum)"``."""
    shown = metric if value is None else f"{metric} {value:.3f}"
    if metric in HIGHER_IS_BETTER:
        return f"{shown} < {limit:g} (minimum)"
    return f"{shown} > {limit:g} (maximum)"


def compute_quality(window: pd.DataFrame, label: str) -> dict[str, float | None]:
    """The quality metrics of a window of predictions joined with their ``label`` column.

    Rows without a label are left out. A ``score`` column makes it a binary classification;
    without one, ``prediction`` is compared with the label as a regression.
    """
    from sklearn import metrics

    known = window[window[label].notna()]
    if known.empty:
        return {"labelled_rows": 0.0}
    y = known[label].astype(int if known[label].dtype == bool else float).to_numpy()
    prediction = known["prediction"].to_numpy()
    quality: dict[str, float | None] = {"labelled_rows": float(len(known))}
    if "score" in known.columns:
        score = known["score"].to_numpy(dtype=float)
        quality["accuracy"] = float(np.mean(prediction.astype(y.dtype) == y))
        two_classes = len(np.unique(y)) == 2
        quality["roc_auc"] = float(metrics.roc_auc_score(y, score)) if two_classes else None
        quality["log_loss"] = float(
            metrics.log_loss(y, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1])
        )
    else:
        error = prediction.astype(float) - y
        quality["mae"] = float(np.mean(np.abs(error)))
        quality["rmse"] = float(math.sqrt(np.mean(error**2)))
    return quality
