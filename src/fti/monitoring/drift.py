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
from typing import Any, Literal, TypeAlias

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
    "FeatureDrift",
    "Histogram",
    "compute_drift",
    "describe_threshold",
    "resolve_thresholds",
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
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise InvalidArgumentError(f"bins must be an integer >= 2, got {bins!r}")
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
        crossed = [m for m, limit in limits.items() if _crosses(m, metrics.get(m), limit)]
        result[name] = FeatureDrift(
            feature=name,
            kind=kind,
            reference_rows=ref.rows,
            current_rows=cur.rows,
            metrics=metrics,
            drifted=bool(crossed),
            crossed=crossed,
            thresholds=dict(limits),
            histogram=histogram,
        )
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


def _numeric_drift(
    reference: FloatArray, current: FloatArray, bins: int
) -> tuple[dict[str, float | None], Histogram | None]:
    ref_rows, cur_rows = reference.size, current.size
    # np.sort puts NaN last: the non-null values are the sorted prefix, no masking copy needed.
    ref_nulls = int(np.count_nonzero(np.isnan(reference)))
    cur_nulls = int(np.count_nonzero(np.isnan(current)))
    a = np.sort(reference)[: ref_rows - ref_nulls]
    b = np.sort(current)[: cur_rows - cur_nulls]

    metrics: dict[str, float | None] = dict.fromkeys(
        ("psi", "ks_statistic", "ks_pvalue", "mean_reference", "mean_current", "mean_shift")
    )
    metrics.update(_null_rates(ref_nulls, ref_rows, cur_nulls, cur_rows))
    # inf - inf in a mean or std is NaN, reported as None: no RuntimeWarning for it.
    with np.errstate(all="ignore"):
        if a.size:
            metrics["mean_reference"] = _finite(np.mean(a))
        if b.size:
            metrics["mean_current"] = _finite(np.mean(b))
        if a.size and b.size:
            diff = abs(float(np.mean(b)) - float(np.mean(a)))
            std = float(np.std(a))
            metrics["mean_shift"] = _finite(diff / std if std > 0 else diff)
    if not a.size:
        return metrics, None

    edges, ref_counts, cur_counts, labels = _bins(a, b, bins)
    histogram = Histogram(
        labels=labels,
        reference=_shares(ref_counts.tolist()),
        current=_shares(cur_counts.tolist()),
        edges=[float(e) for e in edges],
    )
    if b.size:
        metrics["psi"] = _psi(ref_counts, cur_counts)
        statistic = _ks_statistic(a, b)
        metrics["ks_statistic"] = statistic
        metrics["ks_pvalue"] = _ks_pvalue(statistic, a.size, b.size)
    return metrics, histogram


def _bins(
    a: FloatArray, b: FloatArray, bins: int
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """Cut points from the sorted reference ``a``; bin counts of ``a`` and the sorted ``b``."""
    if a[0] == a[-1] and math.isfinite(a[0]):
        value = float(a[0])
        edges = np.array([value, value])
        labels = [f"< {value:.6g}", f"= {value:.6g}", f"> {value:.6g}"]

        def counts(x: FloatArray) -> npt.NDArray[np.int64]:
            below = int(np.searchsorted(x, value, side="left"))
            upto = int(np.searchsorted(x, value, side="right"))
            return np.array([below, upto - below, x.size - upto], dtype=np.int64)

        return edges, counts(a), counts(b), labels

    # Linear-interpolation quantiles (numpy's default method), on the already sorted values.
    position = np.arange(1, bins) / bins * (a.size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, a.size - 1)
    with np.errstate(all="ignore"):
        cuts = a[low] + (a[high] - a[low]) * (position - low)
    edges = np.unique(cuts[np.isfinite(cuts)])

    def counts_general(x: FloatArray) -> npt.NDArray[np.int64]:
        # Bins (-inf, e1], (e1, e2], ..., (ek, inf).
        upto = np.searchsorted(x, edges, side="right")
        return np.diff(upto, prepend=0, append=x.size).astype(np.int64)

    text = [f"{e:.6g}" for e in edges]
    if not text:
        labels = ["all"]
    else:
        labels = [f"<= {text[0]}"]
        labels += [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(text)]
        labels.append(f"> {text[-1]}")
    return edges, counts_general(a), counts_general(b), labels


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
