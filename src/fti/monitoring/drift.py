"""Feature drift between a reference and a current window: pure functions over frames, no stores.

:func:`compute_drift` takes two pandas DataFrames or pyarrow Tables and, per feature, measures how
far the current window's distribution moved away from the reference's:

numeric features (integers, floats, booleans as 0/1, decimals)
    ``psi``
        Population stability index, ``sum((c - r) * ln(c / r))`` over the shares ``r`` and ``c``
        of the reference and current rows in ``bins`` bins cut at the reference's quantiles
        (linear interpolation, duplicate cut points dropped). The outer bins are open-ended, so
        current values outside the reference's range land in them. An empty bin counts as a share
        of :data:`PSI_EPSILON`, which keeps PSI finite. A constant reference (one distinct value
        ``v``) gets the bins ``< v``, ``= v`` and ``> v``: PSI is 0 when the current window holds
        ``v`` only and positive otherwise.
    ``ks_statistic``, ``ks_pvalue``
        Two-sample Kolmogorov-Smirnov. The statistic equals ``scipy.stats.ks_2samp``'s (it is
        computed here by one merge of the two sorted samples, faster than scipy's two binary
        searches); the p-value is ks_2samp's ``method="asymp"`` one,
        ``scipy.stats.kstwo.sf(d, round(n * m / (n + m)))``.
    ``mean_reference``, ``mean_current``, ``mean_shift``
        The means, and ``|mean_current - mean_reference|`` in reference standard deviations
        (population std); when the reference's std is 0 the plain absolute difference.
categorical features (strings, pandas categoricals, Arrow dictionaries)
    ``js_distance``
        Jensen-Shannon distance, base 2 (so in [0, 1]: 0 for equal distributions, 1 for disjoint
        ones), over the union of the categories seen in either window.
every feature
    ``null_rate_reference``, ``null_rate_current``, ``null_rate_shift``
        Share of null rows (NaN counts as null), and ``|null_rate_current - null_rate_reference|``.

Nulls and NaN are left out of the distributions and counted in the null rates only; ``±inf`` are
values. A metric that cannot be computed (a feature all null in either window, a mean that is not
finite) is ``None``, never NaN, so results go to JSON as they are.

A feature is *drifted* when any metric crosses its threshold: greater than it, or for
``ks_pvalue`` (a p-value: small means drift) less than it. See :data:`DEFAULT_THRESHOLDS`.

Empty input is an error here (:class:`~fti.errors.InvalidArgumentError`); deciding that a window
without rows is "no data" rather than a failure belongs to the monitor that chose the window.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as pdt

from fti.errors import InvalidArgumentError, SchemaError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METRIC_DESCRIPTIONS",
    "PSI_EPSILON",
    "THRESHOLD_METRICS",
    "TOP_CATEGORIES",
    "CategoricalWindow",
    "FeatureDrift",
    "Histogram",
    "NumericWindow",
    "compute_drift",
    "compute_drift_of_window",
    "describe_threshold",
    "merge_windows",
    "resolve_thresholds",
    "summarize_window",
    "window_plan",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
Kind: TypeAlias = Literal["numeric", "categorical"]

DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"psi": 0.2, "ks_statistic": 0.1, "js_distance": 0.1, "null_rate_shift": 0.1}
)
"""The thresholds :func:`compute_drift` applies unless told otherwise (read-only).

PSI 0.2 is the usual "significant shift" line; a KS statistic of 0.1 means that, at some value,
a tenth more of one window's rows lie below it than of the other's; a JS distance of 0.1 is a
moderate change of category shares (one of five equally common categories losing about 40% of
its rows to the other four); a null-rate shift of 0.1 is ten points more (or fewer) rows
missing. ``ks_pvalue`` is reported but not thresholded by default: with windows of a million
rows the test rejects for shifts far too small to matter, so the p-value is tiny almost always.
``mean_shift`` is not thresholded by default either: PSI and KS already see a moved mean.
"""

METRIC_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "psi": "Population stability index: the reference is cut into bins at its deciles, and "
        "PSI sums (current share - reference share) x ln(current share / reference share) over "
        "the bins. 0 means the same shares; 0.1 is a moderate shift, 0.2 a significant one.",
        "ks_statistic": "Kolmogorov-Smirnov statistic: the largest gap between the two "
        "cumulative distributions. 0.1 means that, at some value, a tenth more of one window's "
        "rows lie below it than of the other's.",
        "ks_pvalue": "p-value of the Kolmogorov-Smirnov test: small means the two windows are "
        "unlikely to come from one distribution. With thousands of rows it is tiny even for "
        "shifts too small to matter.",
        "js_distance": "Jensen-Shannon distance between the category shares, base 2: 0 for the "
        "same shares, 1 for no category in common; 0.1 is a moderate change of the mix.",
        "mean_shift": "How far the mean moved, in standard deviations of the reference.",
        "null_rate_shift": "Change of the share of rows without a value: 0.1 is ten points more "
        "(or fewer) rows missing.",
    }
)
"""What each drift metric measures, in a sentence or two (the report shows these)."""

THRESHOLD_METRICS = frozenset(
    {"psi", "ks_statistic", "ks_pvalue", "js_distance", "mean_shift", "null_rate_shift"}
)
"""The metrics a threshold can be set on."""

_LOW_MEANS_DRIFT = frozenset({"ks_pvalue"})

PSI_EPSILON = 1e-4
"""The share an empty PSI bin counts as, so that ``ln(c / r)`` stays finite."""

TOP_CATEGORIES = 20
"""How many categories a categorical histogram shows; the rest are summed as ``(other)``."""

OTHER_LABEL = "(other)"


@dataclass
class Histogram:
    """What a report plots for one feature: the reference beside the current window.

    ``reference`` and ``current`` are shares of each window's non-null rows (each sums to 1, or
    is all 0 when the window has no non-null value), so a window of a few thousand rows reads
    against a reference of a few hundred thousand. Numeric features: the bins are the PSI bins,
    ``edges`` their finite cut points (k edges, k + 1 bins; the outer bins are open-ended;
    ``labels`` says which side of an edge is closed). Categorical features: the
    :data:`TOP_CATEGORIES` most frequent categories of both windows, then ``(other)``; ``edges``
    is None.
    """

    labels: list[str]
    reference: list[float]
    current: list[float]
    edges: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "reference": [_json_number(v) for v in self.reference],
            "current": [_json_number(v) for v in self.current],
            "edges": None if self.edges is None else [_json_number(v) for v in self.edges],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        edges = data.get("edges")
        reference, current = list(data["reference"]), list(data["current"])
        if data.get("unit") == "count":  # stored before histograms held shares
            reference, current = _shares(reference), _shares(current)
        return cls(
            labels=[str(v) for v in data["labels"]],
            reference=reference,
            current=current,
            edges=None if edges is None else list(edges),
        )


@dataclass(repr=False)
class FeatureDrift:
    """The drift of one feature between the reference and the current window.

    ``reference_rows`` and ``current_rows`` count all rows, nulls included. ``metrics`` maps each
    metric of the feature's kind (see the module docstring) to its value, or None where it cannot
    be computed. ``thresholds`` are the ones applied; ``crossed`` lists the metrics that crossed
    theirs, in the order of ``thresholds``, and ``drifted`` says whether any did. ``histogram`` is
    None when the reference has no non-null value (there are no bins to plot).
    """

    feature: str
    kind: Kind
    reference_rows: int
    current_rows: int
    metrics: dict[str, float | None]
    drifted: bool
    crossed: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    histogram: Histogram | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: only str, int, float (finite), bool, None, lists and dicts."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "drifted": self.drifted,
            "crossed": list(self.crossed),
            "thresholds": dict(self.thresholds),
            "histogram": None if self.histogram is None else self.histogram.to_dict(),
        }

    def __repr__(self) -> str:
        # The metrics and the histogram would run to screens; the verdict and its cause do not.
        return (
            f"FeatureDrift(feature={self.feature!r}, kind={self.kind!r}, "
            f"drifted={self.drifted}, crossed={self.crossed!r}, "
            f"reference_rows={self.reference_rows}, current_rows={self.current_rows})"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        """The inverse of :meth:`to_dict`."""
        histogram = data.get("histogram")
        return cls(
            feature=data["feature"],
            kind=data["kind"],
            reference_rows=int(data["reference_rows"]),
            current_rows=int(data["current_rows"]),
            metrics=dict(data["metrics"]),
            drifted=bool(data["drifted"]),
            crossed=list(data.get("crossed", [])),
            thresholds=dict(data.get("thresholds", {})),
            histogram=None if histogram is None else Histogram.from_dict(histogram),
        )


def resolve_thresholds(overrides: Mapping[str, float | None] | None = None) -> dict[str, float]:
    """:data:`DEFAULT_THRESHOLDS` updated with ``overrides``; a None value removes a threshold.

    Raises :class:`~fti.errors.InvalidArgumentError` for a metric not in
    :data:`THRESHOLD_METRICS` or a value that is not a finite number >= 0, so a monitor can
    check its thresholds when it is created rather than when it first runs.
    """
    resolved = dict(DEFAULT_THRESHOLDS)
    for metric, value in (overrides or {}).items():
        if metric not in THRESHOLD_METRICS:
            raise InvalidArgumentError(
                f"unknown drift metric {metric!r} in thresholds; "
                f"known: {', '.join(sorted(THRESHOLD_METRICS))}"
            )
        if value is None:
            resolved.pop(metric, None)
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise InvalidArgumentError(
                f"threshold of {metric!r} must be a finite number >= 0, got {value!r}"
            )
        resolved[metric] = float(value)
    return resolved


def describe_threshold(metric: str, limit: float, value: float | None = None) -> str:
    """When ``metric`` counts as drift, e.g. ``"psi > 0.2"`` or ``"ks_pvalue < 0.01"``; with
    ``value``, the crossing itself, e.g. ``"psi 1.9 > 0.2"``."""
    shown = metric if value is None else f"{metric} {value:.3g}"
    return f"{shown} {'<' if metric in _LOW_MEANS_DRIFT else '>'} {limit:g}"


def compute_drift(
    reference: pd.DataFrame | pa.Table,
    current: pd.DataFrame | pa.Table,
    *,
    features: Sequence[str] | None = None,
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = 10,
) -> dict[str, FeatureDrift]:
    """The drift of each feature of ``current`` from ``reference``, by feature name.

    ``features`` defaults to every column the two frames share whose type is numeric, boolean,
    string or categorical (timestamps and nested types are skipped); a feature named explicitly
    must be in both frames (else :class:`~fti.errors.SchemaError`) and of a supported type (else
    :class:`~fti.errors.InvalidArgumentError`), and must not be numeric in one frame and
    categorical in the other (:class:`~fti.errors.SchemaError`). ``thresholds`` override
    :data:`DEFAULT_THRESHOLDS` (see :func:`resolve_thresholds`); ``bins`` is the number of PSI
    bins before duplicate cut points are dropped.

    Raises :class:`~fti.errors.InvalidArgumentError` when either frame has no rows: the caller
    decides what an empty window means.
    """
    limits = resolve_thresholds(thresholds)
    _check_bins(bins)
    ref = _Frame.of(reference, "reference")
    cur = _Frame.of(current, "current window")
    if ref.rows == 0:
        raise InvalidArgumentError("no rows in the reference")
    if cur.rows == 0:
        raise InvalidArgumentError("no rows in the current window")

    result: dict[str, FeatureDrift] = {}
    for name, kind in _plan(ref, cur, features):
        if kind == "numeric":
            metrics, histogram = _numeric_drift(ref.numeric(name), cur.numeric(name), bins)
        else:
            metrics, histogram = _categorical_drift(ref.categories(name), cur.categories(name))
        result[name] = _feature_drift(name, kind, ref.rows, cur.rows, metrics, histogram, limits)
    return result


def _feature_drift(
    name: str,
    kind: Kind,
    reference_rows: int,
    current_rows: int,
    metrics: dict[str, float | None],
    histogram: Histogram | None,
    limits: Mapping[str, float],
) -> FeatureDrift:
    crossed = [m for m, limit in limits.items() if _crosses(m, metrics.get(m), limit)]
    return FeatureDrift(
        feature=name,
        kind=kind,
        reference_rows=reference_rows,
        current_rows=current_rows,
        metrics=metrics,
        drifted=bool(crossed),
        crossed=crossed,
        thresholds=dict(limits),
        histogram=histogram,
    )


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise InvalidArgumentError(f"bins must be an integer >= 2, got {bins!r}")


# A window summarized in partitions ------------------------------------------------------------


@dataclass(frozen=True)
class NumericWindow:
    """A window's side of a numeric feature's drift, summed over partitions of its rows: the
    row and null counts, the mean of the non-null values, and how many non-null values are
    ``<=`` (``at_most``) and ``<`` (``below``) each point of ``grid`` (:func:`window_plan`'s:
    the reference's distinct values and PSI cut points). From these, PSI, the KS statistic and
    the histogram equal :func:`compute_drift`'s exactly; the mean is merged in floating point
    (its last bits may differ)."""

    rows: int
    nulls: int
    mean: float
    grid: FloatArray
    at_most: npt.NDArray[np.int64]
    below: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        """The non-null values."""
        return self.rows - self.nulls

    @classmethod
    def of(cls, values: FloatArray, grid: FloatArray) -> NumericWindow:
        """The summary of one partition's values (null as NaN)."""
        b = _sorted_non_null(values)
        with np.errstate(all="ignore"):
            mean = float(np.mean(b)) if b.size else math.nan
        return cls(
            values.size,
            values.size - b.size,
            mean,
            grid,
            np.searchsorted(b, grid, side="right").astype(np.int64),
            np.searchsorted(b, grid, side="left").astype(np.int64),
        )

    @classmethod
    def merge(cls, parts: Sequence[NumericWindow]) -> NumericWindow:
        """The summary of the union of the partitions summarized on the same grid."""
        mean, size = math.nan, 0
        with np.errstate(all="ignore"):
            for part in parts:
                if not part.size:
                    continue
                if not size:
                    mean, size = part.mean, part.size
                    continue
                # The running mean, updated as Chan et al.'s parallel algorithm does:
                # partitions with equal means merge to that mean exactly.
                size += part.size
                mean += (part.mean - mean) * part.size / size
        return cls(
            sum(p.rows for p in parts),
            sum(p.nulls for p in parts),
            mean,
            parts[0].grid,
            np.sum([p.at_most for p in parts], axis=0, dtype=np.int64),
            np.sum([p.below for p in parts], axis=0, dtype=np.int64),
        )

    def _at(self, counts: npt.NDArray[np.int64], x: FloatArray) -> npt.NDArray[np.int64]:
        index = np.searchsorted(self.grid, x)
        if np.any(index >= self.grid.size) or np.any(self.grid[index] != x):
            raise InvalidArgumentError("the window was summarized on another grid")
        return counts[index]

    def upto(self, x: FloatArray) -> npt.NDArray[np.int64]:
        """How many non-null values are ``<=`` each of ``x`` (points of the grid)."""
        return self._at(self.at_most, x)

    def under(self, x: FloatArray) -> npt.NDArray[np.int64]:
        """How many non-null values are ``<`` each of ``x`` (points of the grid)."""
        return self._at(self.below, x)

    def ks_statistic(self, a: FloatArray) -> float:
        """The KS statistic against the sorted non-null reference ``a`` (whose distinct values
        are on the grid), equal to :func:`_ks_statistic`'s: the gap of the step functions is
        largest at a value of ``a`` or just below one (between two values of ``a`` the
        reference's function is flat and the window's rises)."""
        n, m = a.size, self.size
        points = np.unique(a)
        ref_upto = np.searchsorted(a, points, side="right")
        ref_before = np.concatenate([[0], ref_upto[:-1]])
        pairs = [(ref_upto, self.upto(points)), (ref_before, self.under(points))]
        if n * m >= 2**62:  # as _ks_statistic: shares instead of exact integers
            gaps = np.concatenate([r / n - w / m for r, w in pairs])
            return float(max(gaps.max(), -gaps.min(), 0.0))
        walks = np.concatenate([m * r.astype(np.int64) - n * w for r, w in pairs])
        return float(max(int(walks.max()), -int(walks.min()), 0)) / (n * m)


@dataclass(frozen=True)
class CategoricalWindow:
    """A window's side of a categorical feature's drift, summed over partitions: its rows,
    null rows, and the row count of each category in the order first seen (partitions merged
    in the order of their rows keep the whole window's order)."""

    rows: int
    nulls: int
    keys: list[Any]
    counts: list[int]

    @classmethod
    def of(cls, categories: tuple[pd.Index, FloatArray, int]) -> CategoricalWindow:
        keys, counts, nulls = categories
        return cls(int(counts.sum()) + nulls, nulls, list(keys), [int(c) for c in counts])

    @classmethod
    def merge(cls, parts: Sequence[CategoricalWindow]) -> CategoricalWindow:
        totals: dict[Any, int] = {}
        for part in parts:
            for key, count in zip(part.keys, part.counts, strict=True):
                totals[key] = totals.get(key, 0) + count
        return cls(
            sum(p.rows for p in parts),
            sum(p.nulls for p in parts),
            list(totals),
            list(totals.values()),
        )

    def categories(self) -> tuple[pd.Index, FloatArray, int]:
        """As ``_Frame.categories`` gives them for the whole window."""
        keys = pd.Index(np.asarray(self.keys, dtype=object), dtype=object)
        return keys, np.asarray(self.counts, dtype=np.float64), self.nulls


Window: TypeAlias = NumericWindow | CategoricalWindow


def window_plan(
    reference: pd.DataFrame | pa.Table,
    current: pa.Schema,
    *,
    features: Sequence[str] | None = None,
    bins: int = 10,
) -> dict[str, FloatArray | None]:
    """The features :func:`compute_drift` would compare for a window of schema ``current``
    and, for each numeric one, the grid its window's partitions are summarized at
    (:meth:`NumericWindow.of`); None for a categorical one. Raises as :func:`compute_drift`."""
    _check_bins(bins)
    ref = _Frame.of(reference, "reference")
    if ref.rows == 0:
        raise InvalidArgumentError("no rows in the reference")
    cur = _Frame.of(current.empty_table(), "current window")
    plan: dict[str, FloatArray | None] = {}
    for name, kind in _plan(ref, cur, features):
        if kind == "categorical":
            plan[name] = None
            continue
        a = _sorted_non_null(ref.numeric(name))
        cuts = _cuts(a, bins)[0] if a.size else np.zeros(0)
        plan[name] = np.unique(np.concatenate([a, cuts]))
    return plan


def summarize_window(table: pa.Table, plan: Mapping[str, FloatArray | None]) -> dict[str, Window]:
    """One partition of a window summarized for the features of :func:`window_plan`."""
    frame = _Frame.of(table, "current window")
    return {
        name: CategoricalWindow.of(frame.categories(name))
        if grid is None
        else NumericWindow.of(frame.numeric(name), grid)
        for name, grid in plan.items()
    }


def merge_windows(parts: Sequence[Mapping[str, Window]]) -> dict[str, Window]:
    """The summaries of partitions (in the order of their rows) merged into the window's."""
    merged: dict[str, Window] = {}
    for name in parts[0] if parts else ():
        found = [part[name] for part in parts]
        if isinstance(found[0], NumericWindow):
            merged[name] = NumericWindow.merge([f for f in found if isinstance(f, NumericWindow)])
        else:
            merged[name] = CategoricalWindow.merge(
                [f for f in found if isinstance(f, CategoricalWindow)]
            )
    return merged


def compute_drift_of_window(
    reference: pd.DataFrame | pa.Table,
    window: Mapping[str, Window],
    *,
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = 10,
) -> dict[str, FeatureDrift]:
    """:func:`compute_drift` of ``reference`` against a window summarized in partitions
    (:func:`window_plan`, :func:`summarize_window`, :func:`merge_windows`; ``bins`` as given
    to :func:`window_plan`). Equal to it but for ``mean_current`` and ``mean_shift``, merged in
    floating point, and JS distances, summed in another order (both in their last bits)."""
    limits = resolve_thresholds(thresholds)
    _check_bins(bins)
    ref = _Frame.of(reference, "reference")
    if ref.rows == 0:
        raise InvalidArgumentError("no rows in the reference")
    if not window:
        return {}
    rows = next(iter(window.values())).rows
    if rows == 0:
        raise InvalidArgumentError("no rows in the current window")
    result: dict[str, FeatureDrift] = {}
    for name, summary in window.items():
        kind: Kind
        if isinstance(summary, NumericWindow):
            kind = "numeric"
            values = ref.numeric(name)
            metrics, histogram = _numeric_metrics(
                _sorted_non_null(values), values.size, summary, bins
            )
        else:
            kind = "categorical"
            metrics, histogram = _categorical_drift(ref.categories(name), summary.categories())
        result[name] = _feature_drift(name, kind, ref.rows, rows, metrics, histogram, limits)
    return result


# Input ------------------------------------------------------------------------------------

_ColumnKind: TypeAlias = Literal["numeric", "categorical", "null", "unsupported"]


@dataclass(frozen=True)
class _Frame:
    """One side of the comparison, pandas or Arrow, read column by column."""

    role: str
    data: pd.DataFrame | pa.Table
    rows: int
    columns: tuple[str, ...]

    @classmethod
    def of(cls, data: object, role: str) -> _Frame:
        if isinstance(data, pd.DataFrame):
            names = tuple(c for c in data.columns if isinstance(c, str))
            return cls(role, data, len(data), names)
        if isinstance(data, pa.Table):
            return cls(role, data, data.num_rows, tuple(data.column_names))
        raise InvalidArgumentError(
            f"the {role} must be a pandas DataFrame or a pyarrow Table, got {type(data).__name__}"
        )

    def kind(self, name: str) -> tuple[_ColumnKind, str]:
        """The column's kind and a readable name of its type."""
        if isinstance(self.data, pa.Table):
            arrow_type = self.data.schema.field(name).type
            return _arrow_kind(arrow_type), str(arrow_type)
        series = self.data[name]
        return _pandas_kind(series), str(series.dtype)

    def numeric(self, name: str) -> FloatArray:
        """The column as float64, null -> NaN (a new array or a read-only view: never mutated)."""
        if isinstance(self.data, pa.Table):
            column = self.data.column(name)
            if pa.types.is_null(column.type):
                return np.full(self.rows, np.nan)
            floats = pc.fill_null(pc.cast(column, pa.float64(), safe=False), math.nan)
            return np.asarray(floats.to_numpy(), dtype=np.float64)
        return self.data[name].to_numpy(dtype=np.float64, na_value=np.nan)

    def categories(self, name: str) -> tuple[pd.Index, FloatArray, int]:
        """The distinct non-null values, their row counts and the number of null rows."""
        if isinstance(self.data, pa.Table):
            column = self.data.column(name)
            if pa.types.is_null(column.type):
                return pd.Index([], dtype=object), np.zeros(0), self.rows
            series = column.to_pandas()
        else:
            series = self.data[name]
        counts = series.value_counts(dropna=True, sort=False)
        # A pandas categorical reports its unused categories with a count of 0.
        counts = counts[counts.to_numpy() > 0]
        keys = pd.Index(np.asarray(counts.index, dtype=object), dtype=object)
        values = counts.to_numpy(dtype=np.float64)
        return keys, values, self.rows - int(values.sum())


def _pandas_kind(series: pd.Series) -> _ColumnKind:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pdt.is_bool_dtype(dtype) or (
        pdt.is_numeric_dtype(dtype) and not pdt.is_complex_dtype(dtype)
    ):
        return "numeric"
    if pdt.is_string_dtype(dtype):
        # An object column holding only None says nothing of its type.
        if pdt.is_object_dtype(dtype) and bool(series.isna().all()):
            return "null"
        return "categorical"
    return "unsupported"


def _arrow_kind(arrow_type: pa.DataType) -> _ColumnKind:
    types = pa.types
    if (
        types.is_integer(arrow_type)
        or types.is_floating(arrow_type)
        or types.is_boolean(arrow_type)
        or types.is_decimal(arrow_type)
    ):
        return "numeric"
    if (
        types.is_string(arrow_type)
        or types.is_large_string(arrow_type)
        or types.is_string_view(arrow_type)
        or types.is_dictionary(arrow_type)
    ):
        return "categorical"
    if types.is_null(arrow_type):
        return "null"
    return "unsupported"


def _plan(ref: _Frame, cur: _Frame, features: Sequence[str] | None) -> list[tuple[str, Kind]]:
    """The features to compare and the kind of each, checked against both frames."""
    explicit = features is not None
    if features is None:
        shared = set(cur.columns)
        names = [c for c in dict.fromkeys(ref.columns) if c in shared]
    else:
        if isinstance(features, str):
            raise InvalidArgumentError("features must be a list of feature names, not a string")
        names = list(features)
        duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
        if duplicates:
            raise InvalidArgumentError(f"features named more than once: {duplicates}")
        for frame in (ref, cur):
            present = set(frame.columns)
            missing = [n for n in names if n not in present]
            if missing:
                raise SchemaError(f"the {frame.role} has no column {', '.join(map(repr, missing))}")
    wanted = set(names)
    for frame in (ref, cur):
        repeated = sorted(n for n, k in Counter(frame.columns).items() if k > 1 and n in wanted)
        if repeated:
            raise SchemaError(f"the {frame.role} has more than one column named {repeated}")

    plan: list[tuple[str, Kind]] = []
    for name in names:
        (ref_kind, ref_type), (cur_kind, cur_type) = ref.kind(name), cur.kind(name)
        if "unsupported" in (ref_kind, cur_kind):
            if not explicit:
                continue
            raise InvalidArgumentError(
                f"feature {name!r} has type {ref_type} in the reference and {cur_type} in the "
                "current window; drift is computed for numeric, boolean, string and categorical "
                "features"
            )
        kinds = {ref_kind, cur_kind} - {"null"}
        if kinds == {"numeric", "categorical"}:
            raise SchemaError(
                f"feature {name!r} is {ref_kind} ({ref_type}) in the reference but {cur_kind} "
                f"({cur_type}) in the current window"
            )
        plan.append((name, "numeric" if kinds == {"numeric"} else "categorical"))
    return plan


# Numeric features ---------------------------------------------------------------------------


class _Side(Protocol):
    """One window's non-null values of a numeric feature, as the metrics read them."""

    @property
    def rows(self) -> int: ...

    @property
    def nulls(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def mean(self) -> float: ...

    def upto(self, x: FloatArray) -> npt.NDArray[np.int64]: ...

    def under(self, x: FloatArray) -> npt.NDArray[np.int64]: ...

    def ks_statistic(self, a: FloatArray) -> float: ...


class _Sorted:
    """A window's values in memory, sorted, nulls left out."""

    def __init__(self, values: FloatArray, rows: int) -> None:
        self.values = values
        self.rows = rows
        self.nulls = rows - values.size
        with np.errstate(all="ignore"):
            self._mean = float(np.mean(values)) if values.size else math.nan

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def mean(self) -> float:
        return self._mean

    def upto(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.searchsorted(self.values, x, side="right").astype(np.int64)

    def under(self, x: FloatArray) -> npt.NDArray[np.int64]:
        return np.searchsorted(self.values, x, side="left").astype(np.int64)

    def ks_statistic(self, a: FloatArray) -> float:
        return _ks_statistic(a, self.values)


def _numeric_drift(
    reference: FloatArray, current: FloatArray, bins: int
) -> tuple[dict[str, float | None], Histogram | None]:
    a, b = _sorted_non_null(reference), _sorted_non_null(current)
    return _numeric_metrics(a, reference.size, _Sorted(b, current.size), bins)


def _sorted_non_null(values: FloatArray) -> FloatArray:
    """The non-null (non-NaN) ``values``, sorted."""
    # np.sort puts NaN last: the non-null values are the sorted prefix, no masking copy needed.
    return np.sort(values)[: values.size - int(np.count_nonzero(np.isnan(values)))]


def _numeric_metrics(
    a: FloatArray, ref_rows: int, current: _Side, bins: int
) -> tuple[dict[str, float | None], Histogram | None]:
    """The metrics of the sorted non-null reference ``a`` (of ``ref_rows`` rows) against
    ``current``."""
    metrics: dict[str, float | None] = dict.fromkeys(
        ("psi", "ks_statistic", "ks_pvalue", "mean_reference", "mean_current", "mean_shift")
    )
    metrics.update(_null_rates(ref_rows - a.size, ref_rows, current.nulls, current.rows))
    # inf - inf in a mean or std is NaN, reported as None: no RuntimeWarning for it.
    with np.errstate(all="ignore"):
        if a.size:
            metrics["mean_reference"] = _finite(np.mean(a))
        if current.size:
            metrics["mean_current"] = _finite(current.mean)
        if a.size and current.size:
            diff = abs(float(current.mean) - float(np.mean(a)))
            std = float(np.std(a))
            metrics["mean_shift"] = _finite(diff / std if std > 0 else diff)
    if not a.size:
        return metrics, None

    edges, labels = _cuts(a, bins)
    ref_counts = _bin_counts(edges, _Sorted(a, a.size))
    cur_counts = _bin_counts(edges, current)
    histogram = Histogram(
        labels=labels,
        reference=_shares(ref_counts.tolist()),
        current=_shares(cur_counts.tolist()),
        edges=[float(e) for e in edges],
    )
    if current.size:
        metrics["psi"] = _psi(ref_counts, cur_counts)
        statistic = current.ks_statistic(a)
        metrics["ks_statistic"] = statistic
        metrics["ks_pvalue"] = _ks_pvalue(statistic, a.size, current.size)
    return metrics, histogram


def _cuts(a: FloatArray, bins: int) -> tuple[FloatArray, list[str]]:
    """The PSI cut points of the sorted reference ``a`` and the bins' labels. A constant
    reference ``v`` gets the edges ``[v, v]``: bins ``< v``, ``= v``, ``> v``."""
    if a[0] == a[-1] and math.isfinite(a[0]):
        value = float(a[0])
        return np.array([value, value]), [f"< {value:.6g}", f"= {value:.6g}", f"> {value:.6g}"]

    # Linear-interpolation quantiles (numpy's default method), on the already sorted values.
    position = np.arange(1, bins) / bins * (a.size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, a.size - 1)
    with np.errstate(all="ignore"):
        cuts = a[low] + (a[high] - a[low]) * (position - low)
    edges = np.unique(cuts[np.isfinite(cuts)])
    text = [f"{e:.6g}" for e in edges]
    if not text:
        labels = ["all"]
    else:
        labels = [f"<= {text[0]}"]
        labels += [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(text)]
        labels.append(f"> {text[-1]}")
    return edges, labels


def _bin_counts(edges: FloatArray, side: _Side) -> npt.NDArray[np.int64]:
    """The counts of a window's non-null values in the bins of :func:`_cuts`."""
    if edges.size == 2 and edges[0] == edges[1]:
        below = int(side.under(edges[:1])[0])
        upto = int(side.upto(edges[:1])[0])
        return np.array([below, upto - below, side.size - upto], dtype=np.int64)
    # Bins (-inf, e1], (e1, e2], ..., (ek, inf).
    upto_edges = side.upto(edges)
    return np.diff(upto_edges, prepend=0, append=side.size).astype(np.int64)


def _psi(ref_counts: npt.NDArray[np.int64], cur_counts: npt.NDArray[np.int64]) -> float:
    r = np.maximum(ref_counts / ref_counts.sum(), PSI_EPSILON)
    c = np.maximum(cur_counts / cur_counts.sum(), PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _ks_statistic(a: FloatArray, b: FloatArray) -> float:
    """max |F_a(x) - F_b(x)| of the two sorted samples, as ``scipy.stats.ks_2samp`` defines it.

    One stable merge of the sorted samples replaces scipy's binary search of every value in both
    samples (about twice as fast). Walking the merged order, the running sum of +len(b) for each
    value of ``a`` and -len(a) for each of ``b`` is ``len(a) * len(b) * (F_a - F_b)``, exact in
    integers; only the last position of a run of equal values is a point of the step functions.
    """
    n, m = a.size, b.size
    if n * m >= 2**62:  # the integer walk could overflow: scipy's formulation instead
        values = np.concatenate([a, b])
        diff = (
            np.searchsorted(a, values, side="right") / n
            - np.searchsorted(b, values, side="right") / m
        )
        return float(max(diff.max(), -diff.min(), 0.0))
    values = np.concatenate([a, b])
    order = np.argsort(values, kind="stable")  # timsort: a merge of two sorted runs
    walk = np.cumsum(np.where(order < n, m, -n))
    merged = values[order]
    inside_tie = merged[1:] == merged[:-1]
    if inside_tie.any():
        walk[:-1][inside_tie] = 0
    return float(max(int(walk.max()), -int(walk.min()))) / (n * m)


def _ks_pvalue(statistic: float, n: int, m: int) -> float | None:
    """The two-sided p-value of ``scipy.stats.ks_2samp(..., method="asymp")``."""
    from scipy.stats import kstwo  # scipy.stats takes a while to import: only when needed

    big, small = sorted((float(n), float(m)), reverse=True)
    effective = np.round(big * small / (big + small))
    if effective < 1:  # one value in each window: scipy divides by zero and answers NaN
        return None
    return float(np.clip(kstwo.sf(statistic, effective), 0.0, 1.0))


# Categorical features ------------------------------------------------------------------------


def _categorical_drift(
    reference: tuple[pd.Index, FloatArray, int], current: tuple[pd.Index, FloatArray, int]
) -> tuple[dict[str, float | None], Histogram | None]:
    (ref_keys, ref_counts, ref_nulls), (cur_keys, cur_counts, cur_nulls) = reference, current
    ref_rows = int(ref_counts.sum()) + ref_nulls
    cur_rows = int(cur_counts.sum()) + cur_nulls
    metrics: dict[str, float | None] = {"js_distance": None}
    metrics.update(_null_rates(ref_nulls, ref_rows, cur_nulls, cur_rows))
    if not ref_counts.size and not cur_counts.size:
        return metrics, None

    keys = ref_keys.append(cur_keys).unique()
    p = np.zeros(len(keys))
    q = np.zeros(len(keys))
    p[keys.get_indexer(ref_keys)] = ref_counts
    q[keys.get_indexer(cur_keys)] = cur_counts
    if ref_counts.size:
        p /= p.sum()
    if cur_counts.size:
        q /= q.sum()
    if ref_counts.size and cur_counts.size:
        metrics["js_distance"] = _js_distance(p, q)
    if not ref_counts.size:
        return metrics, None

    # Most frequent over both windows first; a stable sort keeps first-seen order among ties.
    order = np.argsort(-(p + q), kind="stable")
    top, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    labels = [str(keys[i]) for i in top]
    ref_shares = [float(v) for v in p[top]]
    cur_shares = [float(v) for v in q[top]]
    if rest.size:
        labels.append(OTHER_LABEL)
        ref_shares.append(float(p[rest].sum()))
        cur_shares.append(float(q[rest].sum()))
    return metrics, Histogram(labels, ref_shares, cur_shares)


def _js_distance(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon distance, base 2, of two probability vectors over the same categories."""
    m = (p + q) / 2
    in_p, in_q = p > 0, q > 0
    divergence = (
        np.sum(p[in_p] * np.log2(p[in_p] / m[in_p])) + np.sum(q[in_q] * np.log2(q[in_q] / m[in_q]))
    ) / 2
    return float(min(1.0, math.sqrt(max(0.0, float(divergence)))))


# Shared -------------------------------------------------------------------------------------


def _null_rates(
    ref_nulls: int, ref_rows: int, cur_nulls: int, cur_rows: int
) -> dict[str, float | None]:
    ref_rate, cur_rate = ref_nulls / ref_rows, cur_nulls / cur_rows
    return {
        "null_rate_reference": ref_rate,
        "null_rate_current": cur_rate,
        "null_rate_shift": abs(cur_rate - ref_rate),
    }


def _crosses(metric: str, value: float | None, limit: float) -> bool:
    if value is None:
        return False
    return value < limit if metric in _LOW_MEANS_DRIFT else value > limit


def _shares(counts: Sequence[float]) -> list[float]:
    """Counts as shares of their sum; all 0 when the sum is 0 (a window of nulls only)."""
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _json_number(value: Any) -> Any:
    """A finite float or int as it is; NaN and infinities as None (JSON has no such values)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
