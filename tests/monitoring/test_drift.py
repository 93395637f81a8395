"""Drift metrics of fti.monitoring.drift, checked against scipy and hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from fti.errors import InvalidArgumentError, SchemaError
from fti.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    PSI_EPSILON,
    TOP_CATEGORIES,
    FeatureDrift,
    Histogram,
    compute_drift,
    resolve_thresholds,
)


def drift_of(reference: object, current: object, **options: object) -> FeatureDrift:
    """The drift of a single feature ``x`` given as two sequences."""
    result = compute_drift(
        pd.DataFrame({"x": reference}),
        pd.DataFrame({"x": current}),
        **options,  # type: ignore[arg-type]
    )
    return result["x"]


# Kolmogorov-Smirnov --------------------------------------------------------------------------

RNG = np.random.default_rng(6)
KS_CASES = {
    "normal-same-size": (RNG.normal(size=2000), RNG.normal(0.1, size=2000)),
    "normal-different-sizes": (RNG.normal(size=3001), RNG.normal(size=517)),
    "ties-small-ints": (
        RNG.integers(0, 5, 4000).astype(float),
        RNG.integers(0, 6, 2500).astype(float),
    ),
    "ties-across-samples": (np.repeat([1.0, 2.0, 3.0], 50), np.repeat([2.0, 3.0, 4.0], 70)),
    "identical": (np.arange(100.0), np.arange(100.0)),
    "disjoint": (np.arange(10.0), np.arange(10.0) + 100),
    "one-value-each": (np.array([1.0]), np.array([2.0])),
    "one-vs-many": (np.array([0.5]), RNG.random(50)),
    "heavy-tails-with-inf": (
        np.concatenate([RNG.standard_cauchy(500), [np.inf, -np.inf]]),
        np.concatenate([RNG.standard_cauchy(700), [np.inf]]),
    ),
    "large": (RNG.normal(size=200_000), RNG.normal(0.01, 1.1, size=150_000)),
}


@pytest.mark.parametrize(("reference", "current"), KS_CASES.values(), ids=KS_CASES.keys())
def test_ks_matches_scipy_asymp(reference: np.ndarray, current: np.ndarray) -> None:
    with np.errstate(divide="ignore"):  # scipy divides by zero for one value in each sample
        expected = ks_2samp(reference, current, method="asymp")
    metrics = drift_of(reference, current).metrics

    assert metrics["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    if math.isnan(expected.pvalue):
        assert metrics["ks_pvalue"] is None
    else:
        assert metrics["ks_pvalue"] == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


def test_ks_leaves_nulls_out() -> None:
    reference = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 7.0])
    current = np.array([np.nan, 2.5, 3.5, 9.0])
    expected = ks_2samp(
        reference[~np.isnan(reference)], current[~np.isnan(current)], method="asymp"
    )

    metrics = drift_of(reference, current).metrics

    assert metrics["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert metrics["null_rate_reference"] == pytest.approx(2 / 6)
    assert metrics["null_rate_current"] == pytest.approx(1 / 4)


@settings(max_examples=200, deadline=None)
@given(
    reference=st.lists(st.integers(-20, 20) | st.floats(-1e6, 1e6), min_size=1, max_size=80),
    current=st.lists(st.integers(-20, 20) | st.floats(-1e6, 1e6), min_size=1, max_size=80),
)
def test_ks_statistic_equals_scipy_property(reference: list[float], current: list[float]) -> None:
    # Small integers mixed in make ties within and across the samples common.
    a, b = np.array(reference, dtype=float), np.array(current, dtype=float)
    with np.errstate(divide="ignore"):  # scipy's p-value for one value in each sample
        expected = ks_2samp(a, b, method="asymp").statistic

    assert drift_of(a, b).metrics["ks_statistic"] == pytest.approx(expected, abs=1e-9)


# PSI -----------------------------------------------------------------------------------------


def test_psi_matches_a_hand_computed_example() -> None:
    # Two bins cut at the reference's median, 5.5: shares (0.5, 0.5) against (0.8, 0.2).
    reference = list(range(1, 11))
    current = [1] * 8 + [10] * 2

    result = drift_of(reference, current, bins=2)

    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert result.metrics["psi"] == pytest.approx(expected, rel=1e-12)
    assert result.histogram is not None
    assert result.histogram.edges == [5.5]
    assert result.histogram.reference == [0.5, 0.5]
    assert result.histogram.current == [0.8, 0.2]
    assert result.histogram.labels == ["<= 5.5", "> 5.5"]


def test_psi_counts_an_empty_bin_as_epsilon() -> None:
    result = drift_of(list(range(1, 11)), [1] * 10, bins=2)

    expected = (1 - 0.5) * math.log(1 / 0.5) + (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5)
    assert result.metrics["psi"] == pytest.approx(expected, rel=1e-12)


def test_psi_bins_are_cut_at_reference_quantiles() -> None:
    reference = RNG.lognormal(size=10_000)

    result = drift_of(reference, reference[:5000], bins=10)

    assert result.histogram is not None
    expected_edges = np.quantile(reference, np.arange(1, 10) / 10)
    np.testing.assert_allclose(result.histogram.edges or [], expected_edges, rtol=1e-12)
    assert result.histogram.reference == pytest.approx([0.1] * 10)


def test_current_values_outside_the_reference_range_land_in_the_outer_bins() -> None:
    result = drift_of(np.arange(100.0), [-1000.0, 1000.0, 50.0], bins=4)

    assert result.histogram is not None
    assert result.histogram.current[0] == pytest.approx(1 / 3)
    assert result.histogram.current[-1] == pytest.approx(1 / 3)
    assert sum(result.histogram.current) == pytest.approx(1.0)


def test_identical_data_have_no_drift() -> None:
    values = RNG.normal(size=5000)
    frame = pd.DataFrame(
        {"x": values, "s": pd.array(RNG.choice(["a", "b", "c"], 5000), dtype="str")}
    )

    result = compute_drift(frame, frame.copy())

    assert result["x"].metrics["psi"] == 0.0
    assert result["x"].metrics["ks_statistic"] == 0.0
    assert result["x"].metrics["mean_shift"] == 0.0
    assert result["s"].metrics["js_distance"] == 0.0
    assert not result["x"].drifted and not result["s"].drifted


def test_numeric_histograms_are_shares_so_windows_of_any_size_compare() -> None:
    # A 6k-row window beside a 220k-row reference from the same distribution: as counts the
    # window's bars would be 1/37 of the reference's; as shares they match bin for bin.
    rng = np.random.default_rng(11)
    reference, current = rng.normal(size=220_000), rng.normal(size=6_000)
    current[:600] = np.nan  # shares are of the non-null rows

    histogram = drift_of(reference, current).histogram

    assert histogram is not None
    assert sum(histogram.reference) == pytest.approx(1.0)
    assert sum(histogram.current) == pytest.approx(1.0)
    np.testing.assert_allclose(histogram.current, histogram.reference, atol=0.02)


def test_stored_count_histograms_are_read_as_shares() -> None:
    stored = {"labels": ["<= 5", "> 5"], "reference": [30, 10], "current": [1, 3], "unit": "count"}

    histogram = Histogram.from_dict(stored)

    assert histogram.reference == [0.75, 0.25]
    assert histogram.current == [0.25, 0.75]
    assert "unit" not in histogram.to_dict()


def test_repeated_quantiles_make_fewer_bins() -> None:
    # 90% zeros: the 10%..80% quantiles are all 0 and collapse into one cut point.
    reference = np.concatenate([np.zeros(900), np.arange(1.0, 101.0)])

    result = drift_of(reference, reference)

    assert result.histogram is not None
    assert result.histogram.edges is not None
    assert len(result.histogram.edges) < 9
    assert len(result.histogram.reference) == len(result.histogram.edges) + 1
    assert result.metrics["psi"] == 0.0


# Constant and all-null features ---------------------------------------------------------------


def test_constant_feature_equal_in_both_windows_has_zero_psi() -> None:
    result = drift_of([3.0] * 100, [3.0] * 40)

    assert result.metrics["psi"] == 0.0
    assert result.metrics["ks_statistic"] == 0.0
    assert result.metrics["mean_shift"] == 0.0
    assert result.histogram is not None
    assert result.histogram.labels == ["< 3", "= 3", "> 3"]
    assert not result.drifted


@pytest.mark.parametrize(
    "current",
    [[3.0] * 30 + [4.0] * 10, [2.0] * 10 + [3.0] * 30, [7.0] * 40],
    ids=["some-above", "some-below", "all-different"],
)
def test_constant_feature_that_changes_has_finite_positive_psi(current: list[float]) -> None:
    result = drift_of([3.0] * 100, current)

    psi = result.metrics["psi"]
    assert psi is not None
    assert math.isfinite(psi)
    assert psi > 0
    assert result.drifted


def test_constant_reference_mean_shift_is_the_absolute_difference() -> None:
    assert drift_of([3.0] * 10, [5.0] * 10).metrics["mean_shift"] == 2.0


def test_mean_shift_is_in_reference_standard_deviations() -> None:
    reference = np.array([0.0, 2.0] * 50)  # mean 1, population std 1

    assert drift_of(reference, reference - 0.5).metrics["mean_shift"] == pytest.approx(0.5)


NULL_CASES = {
    "numeric-nan": ([1.0, 2.0, 3.0], [np.nan, np.nan]),
    "nullable-int": (pd.array([1, 2, 3], dtype="Int64"), pd.array([None, None], dtype="Int64")),
    "object-none": (["a", "b", "c"], pd.Series([None, None], dtype=object)),
}


@pytest.mark.parametrize(("reference", "current"), NULL_CASES.values(), ids=NULL_CASES.keys())
def test_feature_all_null_in_the_current_window(reference: object, current: object) -> None:
    result = drift_of(reference, current)

    distribution = {"psi", "ks_statistic", "ks_pvalue", "js_distance", "mean_current", "mean_shift"}
    assert all(result.metrics[m] is None for m in distribution & result.metrics.keys())
    assert result.metrics["null_rate_current"] == 1.0
    assert result.metrics["null_rate_shift"] == 1.0
    assert result.crossed == ["null_rate_shift"]
    assert result.drifted


def test_feature_all_null_in_both_windows_is_not_drifted() -> None:
    result = drift_of([np.nan] * 5, [np.nan] * 3)

    assert result.kind == "numeric"
    assert result.metrics["null_rate_reference"] == 1.0
    assert result.metrics["null_rate_shift"] == 0.0
    others = {k: v for k, v in result.metrics.items() if not k.startswith("null_rate")}
    assert all(v is None for v in others.values())
    assert result.histogram is None
    assert not result.drifted


def test_arrow_null_column_takes_the_kind_of_the_other_window() -> None:
    reference = pa.table({"x": pa.array([1.5, 2.5, None])})
    current = pa.table({"x": pa.nulls(4)})

    result = compute_drift(reference, current)["x"]

    assert result.kind == "numeric"
    assert result.metrics["null_rate_reference"] == pytest.approx(1 / 3)
    assert result.metrics["null_rate_current"] == 1.0
    assert result.metrics["psi"] is None


# Categorical features ------------------------------------------------------------------------


def test_js_distance_is_zero_for_equal_and_one_for_disjoint_distributions() -> None:
    assert drift_of(["a", "b", "b"], ["b", "a", "b"]).metrics["js_distance"] == 0.0
    assert drift_of(["a", "b"], ["c", "d", "d"]).metrics["js_distance"] == 1.0


def test_js_distance_matches_scipy_with_unseen_categories() -> None:
    reference = ["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None] * 5
    current = ["a"] * 10 + ["b"] * 30 + ["new"] * 60

    result = drift_of(reference, current)

    p = np.array([50, 30, 20, 0]) / 100
    q = np.array([10, 30, 0, 60]) / 100
    assert result.kind == "categorical"
    assert result.metrics["js_distance"] == pytest.approx(jensenshannon(p, q, base=2), rel=1e-12)
    assert result.metrics["null_rate_reference"] == pytest.approx(5 / 105)
    assert result.histogram is not None
    shares = dict(
        zip(
            result.histogram.labels,
            zip(result.histogram.reference, result.histogram.current, strict=True),
            strict=True,
        )
    )
    assert shares["new"] == (0.0, 0.6)
    assert shares["c"] == (0.2, 0.0)


def test_categorical_histogram_keeps_the_top_categories_and_sums_the_rest() -> None:
    reference = [f"c{i:03d}" for i in range(100) for _ in range(100 - i)]
    current = list(reversed(reference))

    result = drift_of(reference, current)

    assert result.histogram is not None
    assert len(result.histogram.labels) == TOP_CATEGORIES + 1
    assert result.histogram.labels[0] == "c000"
    assert result.histogram.labels[-1] == "(other)"
    assert sum(result.histogram.reference) == pytest.approx(1.0)
    assert sum(result.histogram.current) == pytest.approx(1.0)


def test_pandas_categorical_and_arrow_dictionary_columns_are_categorical() -> None:
    reference = pd.DataFrame(
        {"x": pd.Categorical(["a", "b", "a"], categories=["a", "b", "unused"])}
    )
    current = pa.table({"x": pa.array(["a", "c", None]).dictionary_encode()})

    result = compute_drift(reference, current)["x"]

    assert result.kind == "categorical"
    assert result.histogram is not None
    assert "unused" not in result.histogram.labels
    assert result.metrics["null_rate_current"] == pytest.approx(1 / 3)


# Input forms ---------------------------------------------------------------------------------


def mixed_frame(seed: int, rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    floats = rng.normal(seed, 1.0, rows)
    floats[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "f": floats,
            "i": rng.integers(0, 7 + seed, rows),
            "b": rng.random(rows) < 0.3,
            "n": pd.array(rng.integers(0, 3, rows), dtype="Int64"),
            "s": pd.array(rng.choice(["x", "y", "z", None], rows), dtype="str"),
            "t": pd.date_range("2025-01-01", periods=rows, freq="min"),
        }
    )


def test_pandas_and_arrow_inputs_give_the_same_result() -> None:
    reference, current = mixed_frame(0), mixed_frame(1)

    from_pandas = compute_drift(reference, current)
    from_arrow = compute_drift(pa.Table.from_pandas(reference), pa.Table.from_pandas(current))

    assert set(from_pandas) == {"f", "i", "b", "n", "s"}  # the timestamp is skipped
    assert {k: v.to_dict() for k, v in from_pandas.items()} == {
        k: v.to_dict() for k, v in from_arrow.items()
    }
    assert [from_pandas[k].kind for k in "fibns"] == ["numeric"] * 4 + ["categorical"]


def test_features_selects_and_orders_the_result() -> None:
    result = compute_drift(mixed_frame(0), mixed_frame(1), features=["s", "f"])

    assert list(result) == ["s", "f"]


def test_a_missing_feature_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="current window has no column 'f'"):
        compute_drift(mixed_frame(0), mixed_frame(1).drop(columns="f"), features=["f"])


def test_a_feature_numeric_in_one_window_and_string_in_the_other_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="'x' is numeric"):
        drift_of([1.0, 2.0], ["a", "b"])


def test_an_unsupported_feature_named_explicitly_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="'t' has type datetime64"):
        compute_drift(mixed_frame(0), mixed_frame(1), features=["t"])


@pytest.mark.parametrize("empty", ["reference", "current"])
def test_an_empty_window_is_an_invalid_argument(empty: str) -> None:
    frame = mixed_frame(0)
    frames = {"reference": frame, "current": frame, empty: frame.iloc[:0]}
    where = "the current window" if empty == "current" else "the reference"

    with pytest.raises(InvalidArgumentError, match=f"no rows in {where}"):
        compute_drift(frames["reference"], frames["current"])


@pytest.mark.parametrize("bins", [1, 0, 2.5, True])
def test_bins_must_be_an_integer_of_at_least_two(bins: object) -> None:
    with pytest.raises(InvalidArgumentError, match="bins"):
        drift_of([1.0], [2.0], bins=bins)


def test_input_must_be_a_frame() -> None:
    with pytest.raises(InvalidArgumentError, match="pandas DataFrame or a pyarrow Table"):
        compute_drift({"x": [1]}, pd.DataFrame({"x": [1]}))  # type: ignore[arg-type]


# Thresholds ----------------------------------------------------------------------------------


def test_a_shifted_feature_is_drifted() -> None:
    rng = np.random.default_rng(1)

    result = drift_of(rng.normal(size=20_000), rng.normal(1.0, size=20_000))

    assert result.drifted
    assert result.crossed == ["psi", "ks_statistic"]
    assert result.thresholds == dict(DEFAULT_THRESHOLDS)


def test_thresholds_override_the_defaults() -> None:
    rng = np.random.default_rng(2)
    reference, current = rng.normal(size=20_000), rng.normal(0.1, size=20_000)
    assert not drift_of(reference, current).drifted

    result = drift_of(
        reference, current, thresholds={"psi": 0.001, "ks_statistic": None, "mean_shift": 0.05}
    )

    assert result.crossed == ["psi", "mean_shift"]
    assert "ks_statistic" not in result.thresholds
    assert result.thresholds["null_rate_shift"] == DEFAULT_THRESHOLDS["null_rate_shift"]


def test_a_ks_pvalue_threshold_crosses_from_above() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=500)

    only_pvalue = {"ks_pvalue": 0.01, "psi": None, "ks_statistic": None}

    assert drift_of(reference, reference + 0.5, thresholds=only_pvalue).crossed == ["ks_pvalue"]
    assert drift_of(reference, reference, thresholds=only_pvalue).crossed == []


def test_a_metric_equal_to_its_threshold_does_not_cross() -> None:
    result = drift_of([1.0, np.nan], [1.0, 1.0], thresholds={"null_rate_shift": 0.5})

    assert result.metrics["null_rate_shift"] == 0.5
    assert not result.drifted


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"wasserstein": 0.1}, "unknown drift metric 'wasserstein'"),
        ({"psi": -0.1}, "finite number >= 0"),
        ({"psi": math.nan}, "finite number >= 0"),
        ({"psi": "0.2"}, "finite number >= 0"),
    ],
    ids=["unknown", "negative", "nan", "string"],
)
def test_invalid_thresholds_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        resolve_thresholds(overrides)  # type: ignore[arg-type]


def test_default_thresholds_are_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_THRESHOLDS["psi"] = 1.0  # type: ignore[index]


# Serialization -------------------------------------------------------------------------------


def test_to_dict_round_trips_through_strict_json() -> None:
    reference, current = mixed_frame(0), mixed_frame(1)
    reference.loc[0, "f"] = np.inf  # a non-finite mean must not leak a NaN into JSON
    current["all_null"] = np.nan
    reference["all_null"] = 1.0

    result = compute_drift(reference, current)

    assert result["f"].metrics["mean_reference"] is None
    for drift in result.values():
        text = json.dumps(drift.to_dict(), allow_nan=False)
        again = FeatureDrift.from_dict(json.loads(text))
        assert again == drift
        assert again.to_dict() == drift.to_dict()
