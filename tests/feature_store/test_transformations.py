"""Transformations and on-demand features: built-ins against numpy, storage, online = batch."""

from __future__ import annotations

import json
import math
import types
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fti.errors import InvalidNameError, TransformationError
from fti.feature_store.on_demand import OnDemandFeature, check_on_demand_parity, on_demand
from fti.feature_store.transformations import (
    BUILTINS,
    STATISTICS,
    FunctionTransformation,
    Transformation,
    check_parity,
    label_encoder,
    min_max_scaler,
    one_hot_encoder,
    robust_scaler,
    standard_scaler,
    transformation,
)

SCALERS = [standard_scaler, min_max_scaler, robust_scaler]
THRESHOLD = 3


def expected_scaled(name: str, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """What each scaler should give, computed with numpy from the finite training values."""
    finite = values[np.isfinite(values)]
    if name == "standard_scaler":
        center, scale = np.mean(finite), np.std(finite)
    elif name == "min_max_scaler":
        center, scale = np.min(finite), np.max(finite) - np.min(finite)
    else:
        q1, q3 = np.quantile(finite, [0.25, 0.75])
        center, scale = np.median(finite), q3 - q1
    return np.asarray((values - center) / (scale if scale != 0 else 1.0))


# ----------------------------------------------------------------------------------- built-ins

DATA = {
    "floats": [1.5, -2.0, 3.25, 10.0, 0.0, 7.5],
    "ints": [3, 1, 4, 1, 5, 9, 2, 6],
    "with_nan": [1.0, np.nan, 4.0, 2.0, np.inf, 8.0],
    "one_value": [42.0],
}


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda t: t.name)
@pytest.mark.parametrize("data", DATA.values(), ids=DATA.keys())
def test_scaler_matches_numpy(scaler: Transformation, data: list[float]) -> None:
    series = pd.Series(data, name="x")
    state = scaler.fit(series)
    result = scaler.transform(series, state)
    values = np.asarray(data, dtype="float64")
    with np.errstate(invalid="ignore"):
        expected = expected_scaled(scaler.name, values)
    assert result.dtype == "float64"
    assert result.name == "x"
    np.testing.assert_allclose(result.to_numpy(), expected, rtol=1e-12)


def test_scaler_states_hold_the_training_statistics() -> None:
    series = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan])
    values = np.array([1.0, 2.0, 3.0, 4.0])
    assert standard_scaler.fit(series) == {"mean": 2.5, "std": float(np.std(values))}
    assert min_max_scaler.fit(series) == {"min": 1.0, "max": 4.0}
    q1, q3 = np.quantile(values, [0.25, 0.75])
    assert robust_scaler.fit(series) == {"median": 2.5, "q1": q1, "q3": q3}


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda t: t.name)
def test_constant_column_scales_to_zero(scaler: Transformation) -> None:
    series = pd.Series([5.0, 5.0, np.nan, 5.0])
    state = scaler.fit(series)
    result = scaler.transform(series, state)
    assert result.iloc[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0]
    assert math.isnan(result.iloc[2])
    # A zero scale counts as 1, so serving values away from the constant stay finite.
    assert scaler.transform_value(7.0, state) == 2.0


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda t: t.name)
@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.0, None, 3.0], dtype="Float64"),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series([1.0, None, 3.0], dtype=object),
        pd.Series([1.0, np.nan, 3.0]),
    ],
    ids=["Float64", "Int64", "object", "float64"],
)
def test_scalers_ignore_nulls_when_fitting_and_keep_them(
    scaler: Transformation, series: pd.Series
) -> None:
    state = scaler.fit(series)
    assert state == scaler.fit(pd.Series([1.0, 3.0]))
    result = scaler.transform(series, state)
    assert result.dtype == "float64"
    assert math.isnan(result.iloc[1])
    assert math.isnan(scaler.transform_value(None, state))
    assert math.isnan(scaler.transform_value(pd.NA, state))


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda t: t.name)
def test_scalers_refuse_columns_they_cannot_fit(scaler: Transformation) -> None:
    with pytest.raises(TransformationError, match="no finite value"):
        scaler.fit(pd.Series([np.nan, None, np.inf], name="x"))
    # pandas 3 gives strings their own dtype, pandas 2 an object column checked value by value.
    with pytest.raises(TransformationError, match=r"needs (a numeric column|numbers)"):
        scaler.fit(pd.Series(["a", "b"], name="x"))
    with pytest.raises(TransformationError, match="needs numbers"):
        scaler.transform_value("3", scaler.fit(pd.Series([1.0, 2.0])))


def test_statistics_that_overflow_are_refused() -> None:
    with pytest.raises(TransformationError, match=r"\['mean', 'std'\] overflow float64"):
        standard_scaler.fit(pd.Series([1.7e308, 1.7e308], name="x"))


def test_label_encoder_sorts_categories_and_marks_unseen_and_null() -> None:
    train = pd.Series(["b", "a", None, "c", "a"], name="city")
    state = label_encoder.fit(train)
    assert state == {"categories": ["a", "b", "c"]}
    serve = pd.Series(["c", "z", None, "a"], name="city")
    result = label_encoder.transform(serve, state)
    assert result.dtype == "int64"
    assert result.tolist() == [2, -1, -1, 0]
    assert [label_encoder.transform_value(v, state) for v in serve] == [2, -1, -1, 0]
    assert label_encoder.transform_value(3, state) == -1  # another type is unseen too


@pytest.mark.parametrize(
    ("train", "categories"),
    [
        (pd.Series([3, 1, 2, 3]), [1, 2, 3]),
        (pd.Series([2.5, np.nan, 1.0, np.inf]), [1.0, 2.5]),
        (pd.Series([True, False, None], dtype="boolean"), [False, True]),
        (pd.Series([None, np.nan], dtype=object), []),
    ],
    ids=["ints", "floats", "booleans", "all-null"],
)
def test_label_encoder_categories_by_kind(train: pd.Series, categories: list[Any]) -> None:
    state = label_encoder.fit(train)
    assert state == {"categories": categories}
    assert all(type(c) is type(e) for c, e in zip(state["categories"], categories, strict=True))
    check_parity(label_encoder, train, state, "x")


def test_encoders_refuse_mixed_categories() -> None:
    with pytest.raises(TransformationError, match="found int, str"):
        label_encoder.fit(pd.Series(["a", 1], name="x"))


def test_one_hot_encoder_gives_one_int8_column_per_category() -> None:
    train = pd.Series(["red", "blue", None, "red"], name="color")
    state = one_hot_encoder.fit(train)
    assert state == {"categories": ["blue", "red"]}
    assert one_hot_encoder.multi_output
    assert one_hot_encoder.output_names("color", state) == ["color_blue", "color_red"]
    serve = pd.Series(["red", "green", None, "blue"], index=[10, 11, 12, 13], name="color")
    frame = one_hot_encoder.transform_frame(serve, state)
    expected = pd.DataFrame(
        {"color_blue": [0, 0, 0, 1], "color_red": [1, 0, 0, 0]}, index=serve.index, dtype="int8"
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert one_hot_encoder.transform_row("color", "green", state) == {
        "color_blue": 0,
        "color_red": 0,
    }
    assert one_hot_encoder.transform_row("color", "blue", state) == {
        "color_blue": 1,
        "color_red": 0,
    }
    with pytest.raises(TransformationError, match="transform_frame"):
        one_hot_encoder.transform(serve, state)
    with pytest.raises(TransformationError, match="transform_row"):
        one_hot_encoder.transform_value("red", state)
    with pytest.raises(TransformationError, match="no non-null value"):
        one_hot_encoder.fit(pd.Series([None, None], name="color"))


def test_single_output_transformations_give_a_one_column_frame() -> None:
    series = pd.Series([1.0, 2.0], name="x")
    state = standard_scaler.fit(series)
    assert standard_scaler.output_names("x", state) == ["x"]
    frame = standard_scaler.transform_frame(series, state)
    assert list(frame.columns) == ["x"]
    assert standard_scaler.transform_row("x", 1.0, state) == {"x": -1.0}
    with pytest.raises(TransformationError, match="name the output column"):
        standard_scaler.transform_frame(pd.Series([1.0]), state)


@pytest.mark.parametrize("builtin", BUILTINS.values(), ids=BUILTINS.keys())
def test_state_and_transformation_survive_json(builtin: Transformation) -> None:
    numeric = builtin.name.endswith("scaler")
    train = pd.Series([3.0, 1.0, np.nan, 2.0, 2.0] if numeric else ["b", None, "a"], name="x")
    serve = pd.Series([0.5, np.nan, 9.0] if numeric else ["a", "z", None], name="x")
    state = builtin.fit(train)
    stored_state = json.loads(json.dumps(state, allow_nan=False))
    stored = Transformation.from_dict(json.loads(json.dumps(builtin.to_dict())))
    assert stored is builtin
    assert builtin.to_dict() == {"kind": "builtin", "name": builtin.name}
    assert "class" in builtin.source
    pd.testing.assert_frame_equal(
        stored.transform_frame(serve, stored_state), builtin.transform_frame(serve, state)
    )
    pd.testing.assert_frame_equal(
        pd.DataFrame([stored.transform_row("x", v, stored_state) for v in serve]),
        pd.DataFrame([builtin.transform_row("x", v, state) for v in serve]),
    )


def test_from_dict_refuses_what_it_does_not_know() -> None:
    with pytest.raises(TransformationError, match="cannot rebuild"):
        Transformation.from_dict({"kind": "builtin", "name": "magic_scaler"})
    with pytest.raises(TransformationError, match="cannot rebuild"):
        Transformation.from_dict({"kind": "pickle", "name": "x"})


# ------------------------------------------------------------------------------ user functions


@transformation(statistics=["mean", "std"])
def zscore(x: pd.Series, stats: dict[str, float]) -> pd.Series:
    # Declared statistics come from the training split; the comment is stored too.
    return (x - stats["mean"]) / stats["std"]


@transformation
def log1p(x: pd.Series) -> pd.Series:
    return x.clip(lower=0).apply(math.log1p)


@transformation
def bucket(x: pd.Series) -> pd.Series:
    import pandas

    return pandas.cut(x, [-math.inf, 0, 10, math.inf], labels=["low", "mid", "high"]).astype("str")


def test_decorated_functions_keep_working_when_called() -> None:
    series = pd.Series([1.0, 3.0])
    pd.testing.assert_series_equal(zscore(series, {"mean": 2.0, "std": 1.0}), series - 2.0)
    pd.testing.assert_series_equal(log1p(series), pd.Series([math.log(2), math.log(4)]))
    assert isinstance(zscore, FunctionTransformation)
    assert zscore.__name__ == "zscore"
    assert zscore.statistics == ("mean", "std")
    assert log1p.statistics == ()


def test_fit_computes_only_declared_statistics() -> None:
    series = pd.Series([1.0, 2.0, 4.0, np.nan], name="x")
    assert zscore.fit(series) == {"mean": 7 / 3, "std": float(np.std([1.0, 2.0, 4.0]))}
    assert log1p.fit(series) == {}


@pytest.mark.parametrize("statistic", STATISTICS)
def test_each_statistic_matches_numpy(statistic: str) -> None:
    values = np.array([4.0, -1.0, 2.5, 8.0, 3.0])
    expected = {
        "mean": np.mean(values),
        "std": np.std(values),
        "min": np.min(values),
        "max": np.max(values),
        "median": np.median(values),
        "q1": np.quantile(values, 0.25),
        "q25": np.quantile(values, 0.25),
        "q3": np.quantile(values, 0.75),
        "q75": np.quantile(values, 0.75),
        "count": 5,
        "sum": np.sum(values),
    }[statistic]

    def identity(x: pd.Series, stats: dict[str, float]) -> pd.Series:
        return x

    fitted = transformation(statistics=[statistic])(identity)
    state = fitted.fit(pd.Series([*values, np.nan, None], dtype=object))
    assert state == {statistic: pytest.approx(expected, rel=1e-12)}
    assert type(state[statistic]) is (int if statistic == "count" else float)


def test_user_function_transforms_batch_and_online() -> None:
    series = pd.Series([1.0, 2.0, np.nan, 6.0], index=list("abcd"), name="x")
    state = zscore.fit(series)
    result = zscore.transform(series, state)
    expected = (series - 3.0) / float(np.std([1.0, 2.0, 6.0]))
    pd.testing.assert_series_equal(result, expected)
    assert zscore.transform_value(2.0, state) == result["b"]
    assert math.isnan(zscore.transform_value(None, state))
    assert bucket.transform_value(-3, {}) == "low"
    check_parity(zscore, series, state, "x")
    check_parity(log1p, series, {}, "x")
    check_parity(bucket, pd.Series([-1, 5, 50]), {}, "x")


def test_user_function_round_trips_through_its_source() -> None:
    train = pd.Series([2.0, 4.0, 9.0, np.nan], name="x")
    serve = pd.Series([3.0, np.nan, -1.0], name="x")
    for original in (zscore, log1p, bucket):
        assert isinstance(original, FunctionTransformation)
        assert not original.source.startswith("@")  # the decorator is not stored
        stored = json.loads(json.dumps(original.to_dict()))
        assert stored["kind"] == "function"
        assert stored["statistics"] == list(original.statistics)
        rebuilt = Transformation.from_dict(stored)
        assert rebuilt == original
        assert isinstance(rebuilt, FunctionTransformation)
        # Rebuilt in a fresh namespace: it sees none of this test module's globals.
        assert "THRESHOLD" not in rebuilt.function.__globals__
        assert rebuilt.function.__module__ != __name__
        state = json.loads(json.dumps(original.fit(train)))
        expected = original.transform(serve, state)
        pd.testing.assert_series_equal(rebuilt.transform(serve, state), expected)
        assert rebuilt.transform_value(serve[0], state) == expected[0]


def test_stored_source_may_use_annotations_it_does_not_import() -> None:
    source = "def halve(x: Series, stats: Mapping[str, float]) -> Series:\n    return x / 2\n"
    rebuilt = Transformation.from_dict(
        {"kind": "function", "name": "halve", "statistics": [], "source": source}
    )
    assert rebuilt.transform(pd.Series([4.0]), {}).tolist() == [2.0]


def _double_with(k: int) -> Any:
    def doubled(x: pd.Series) -> pd.Series:
        return x * k

    return doubled


def uses_global(x: pd.Series) -> pd.Series:
    return x > THRESHOLD


def _statistic_without_stats(x: pd.Series) -> pd.Series:
    return x


def _takes_too_much(x: pd.Series, stats: dict[str, float], other: int) -> pd.Series:
    return x


def _interactive_function() -> Any:
    namespace: dict[str, Any] = {}
    exec("def typed_in(x):\n    return x\n", namespace)
    return namespace["typed_in"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: transformation(lambda x: x), "defined with def"),
        (lambda: transformation(_double_with(2)), "uses k from outside"),
        (lambda: transformation(uses_global), "uses THRESHOLD from outside"),
        (lambda: transformation(_interactive_function()), "cannot read the source"),
        (lambda: transformation(statistics=["mode"])(zscore.function), "statistics must be"),
        (lambda: transformation(statistics="mean")(zscore.function), "statistics must be"),
        (
            lambda: transformation(statistics=["mean"])(_statistic_without_stats),
            "takes no stats",
        ),
        (lambda: transformation(_takes_too_much), r"must be def _takes_too_much\(x\)"),
        (
            lambda: transformation(
                types.FunctionType(bucket.function.__code__, {"math": object()}, "bucket")
            ),
            "'math' bound to something other than math",
        ),
    ],
    ids=[
        "lambda",
        "closure",
        "global",
        "no-source",
        "unknown-statistic",
        "statistics-string",
        "no-stats-argument",
        "three-arguments",
        "rebound-alias",
    ],
)
def test_transformation_refuses_functions_it_cannot_store(make: Any, match: str) -> None:
    with pytest.raises(TransformationError, match=match):
        make()


def test_user_function_must_return_an_aligned_series() -> None:
    @transformation
    def spread(x: pd.Series) -> Any:
        return x.max() - x.min()

    @transformation
    def sorted_values(x: pd.Series) -> pd.Series:
        return x.sort_values().reset_index(drop=True)

    with pytest.raises(TransformationError, match="not float"):
        spread.transform(pd.Series([1.0, 2.0], name="x"), {})
    with pytest.raises(TransformationError, match="on another index"):
        sorted_values.transform(pd.Series([2.0, 1.0], index=[5, 6]), {})


def test_user_function_errors_name_the_transformation_and_column() -> None:
    with pytest.raises(TransformationError, match="'log1p' failed on column 'city'") as info:
        log1p.transform(pd.Series(["a", "b"], name="city"), {})
    assert info.value.__cause__ is not None


# -------------------------------------------------------------------------------------- parity


def test_parity_passes_for_every_builtin_with_nulls_and_unseen_values() -> None:
    numbers = pd.Series([1.0, np.nan, -4.5, 1e6, np.inf, 0.0], index=list("abcdef"))
    for scaler in SCALERS:
        check_parity(scaler, numbers, scaler.fit(numbers), "amount")
        check_parity(scaler, pd.Series([1, 2, 3]), scaler.fit(numbers), "amount")
    cities = pd.Series(["a", None, "b", "zz"], dtype="str")
    state = label_encoder.fit(cities.iloc[:3])
    check_parity(label_encoder, cities, state, "city")
    check_parity(one_hot_encoder, cities, one_hot_encoder.fit(cities.iloc[:3]), "city")


@transformation
def centered(x: pd.Series) -> pd.Series:
    return x - x.mean()


@transformation
def ranked(x: pd.Series) -> pd.Series:
    return x.rank()


@transformation
def standardized_in_place(x: pd.Series) -> pd.Series:
    return (x - x.mean()) / x.std()


@pytest.mark.parametrize(
    ("skewed", "row", "batch", "online"),
    [
        (centered, 100, "-3.0", "0.0"),
        (ranked, 101, "2.0", "1.0"),
        (standardized_in_place, 100, "-0.83", "nan"),
    ],
    ids=["x-mean", "rank", "std"],
)
def test_parity_refuses_functions_that_differ_on_one_row(
    skewed: Transformation, row: int, batch: str, online: str
) -> None:
    sample = pd.Series([3.0, 5.0, 10.0], index=[100, 101, 102])
    with pytest.raises(TransformationError) as info:
        check_parity(skewed, sample, skewed.fit(sample), "delay")
    message = str(info.value)
    assert f"transformation {skewed.name!r} on column 'delay'" in message
    assert f"differs online from batch at row {row}: batch {batch}" in message
    assert f"online {online} (float)" in message


@transformation
def positive_only(x: pd.Series) -> pd.Series:
    return x.where(x > 0)


def test_parity_refuses_an_online_type_that_differs_from_the_batch_dtype() -> None:
    sample = pd.Series([5, -1, 2], index=["a", "b", "c"])
    assert positive_only.transform(sample, {}).dtype == "float64"
    with pytest.raises(
        TransformationError,
        match=r"'positive_only' on column 'n' differs online from batch at row 'a': "
        r"batch 5.0 \(float64\), online 5 \(int\)",
    ):
        check_parity(positive_only, sample, {}, "n")


def test_parity_reports_a_function_failing_online() -> None:
    @transformation
    def first_only(x: pd.Series) -> pd.Series:
        if len(x) == 1:
            raise ValueError("one row")
        return x

    with pytest.raises(TransformationError, match="fails online at row 0"):
        check_parity(first_only, pd.Series([1.0, 2.0]), {}, "x")


finite_or_not = st.one_of(
    st.floats(min_value=-1e150, max_value=1e150),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda t: t.name)
@settings(max_examples=150, deadline=None)
@given(
    head=st.floats(min_value=-1e150, max_value=1e150),
    rest=st.lists(finite_or_not, max_size=30),
)
def test_scalers_give_the_same_value_online_as_in_batch(
    scaler: Transformation, head: float, rest: list[float]
) -> None:
    series = pd.Series([head, *rest])
    state = scaler.fit(series)
    batch = scaler.transform(series, state)
    for i, value in enumerate(series):
        online = scaler.transform_value(value, state)
        assert type(online) is float
        assert online == batch.iloc[i] or (math.isnan(online) and math.isnan(batch.iloc[i]))


@settings(max_examples=100, deadline=None)
@given(train=st.lists(st.integers(-5, 5)), serve=st.lists(st.integers(-8, 8) | st.none()))
def test_label_encoder_gives_the_same_code_online_as_in_batch(
    train: list[int], serve: list[int | None]
) -> None:
    state = label_encoder.fit(pd.Series(train, dtype="Int64"))
    batch = label_encoder.transform(pd.Series(serve, dtype="Int64"), state)
    assert batch.tolist() == [label_encoder.transform_value(v, state) for v in serve]


# ------------------------------------------------------------------------------------ on demand


@on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def eta_minutes(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"] * 60


@on_demand(name="is_long_trip", type="bool", inputs=["distance"])
def long_trip(df: pd.DataFrame) -> pd.Series:
    return df["distance"] > 100


@on_demand(type="string", inputs=["origin", "dest"])
def route(df: pd.DataFrame) -> pd.Series:
    return df["origin"] + "-" + df["dest"]


TRIPS = pd.DataFrame(
    {
        "distance": [120.0, 30.0, np.nan],
        "origin": ["JFK", "EWR", "LGA"],
        "dest": ["BOS", "ORD", "ATL"],
        "speed": [60, 90, 50],
        "ignored": [1, 2, 3],
    },
    index=[7, 8, 9],
)


def test_on_demand_computes_batch_and_online() -> None:
    batch = eta_minutes.compute(TRIPS)
    pd.testing.assert_series_equal(
        batch, (TRIPS["distance"] / TRIPS["speed"] * 60).rename("eta_minutes")
    )
    assert eta_minutes.compute_row({"distance": 30.0, "speed": 90}) == 20.0
    assert long_trip.name == "is_long_trip"
    assert long_trip.compute(TRIPS).tolist() == [True, False, False]
    assert long_trip.compute_row({"distance": 120}) is True
    assert route.compute(TRIPS).dtype == "str"
    assert route.compute_row({"origin": "JFK", "dest": "BOS"}) == "JFK-BOS"
    pd.testing.assert_series_equal(eta_minutes(TRIPS), batch.rename(None))
    for feature in (eta_minutes, long_trip, route):
        check_on_demand_parity(feature, TRIPS)


def test_on_demand_round_trips_through_its_source() -> None:
    stored = json.loads(json.dumps(eta_minutes.to_dict()))
    assert stored == {
        "kind": "on_demand",
        "name": "eta_minutes",
        "type": "float64",
        "inputs": ["distance"],
        "request_parameters": ["speed"],
        "function": "eta_minutes",
        "source": eta_minutes.source,
    }
    assert eta_minutes.source.startswith("def eta_minutes(")
    rebuilt = OnDemandFeature.from_dict(stored)
    assert rebuilt == eta_minutes
    assert "TRIPS" not in rebuilt.function.__globals__
    pd.testing.assert_series_equal(rebuilt.compute(TRIPS), eta_minutes.compute(TRIPS))
    with pytest.raises(TransformationError, match="cannot rebuild"):
        OnDemandFeature.from_dict({"name": "x"})


def test_on_demand_sees_only_its_declared_columns() -> None:
    @on_demand(inputs=["distance"])
    def sneaky(df: pd.DataFrame) -> pd.Series:
        return df["distance"] * df["ignored"]

    with pytest.raises(TransformationError, match="'sneaky' failed"):
        sneaky.compute(TRIPS)
    with pytest.raises(TransformationError, match=r"needs the column\(s\) \['speed'\]"):
        eta_minutes.compute(TRIPS[["distance"]])
    with pytest.raises(TransformationError, match=r"needs the value\(s\) \['speed'\]"):
        eta_minutes.compute_row({"distance": 1.0})


def test_on_demand_result_must_fit_its_declared_type() -> None:
    @on_demand(type="int64", inputs=["distance"])
    def halved(df: pd.DataFrame) -> pd.Series:
        return df["distance"] / 2

    @on_demand(type="float32", inputs=["speed"])
    def speed32(df: pd.DataFrame) -> pd.Series:
        return df["speed"]

    with pytest.raises(TransformationError, match="declared int64 but gives float64"):
        halved.compute(TRIPS)
    assert speed32.compute(TRIPS).dtype == "float32"
    assert speed32.compute_row({"speed": 3}) == 3.0


def test_on_demand_declarations_are_checked() -> None:
    def f(df: pd.DataFrame) -> pd.Series:
        return df["a"]

    with pytest.raises(TransformationError, match="parentheses"):
        on_demand(f)  # type: ignore[arg-type]
    with pytest.raises(TransformationError, match="needs inputs or request parameters"):
        on_demand()(f)
    with pytest.raises(TransformationError, match="each named once"):
        on_demand(inputs=["a"], request_parameters=["a"])(f)
    with pytest.raises(TransformationError, match="cannot be date"):
        on_demand(type="date", inputs=["a"])(f)
    with pytest.raises(TransformationError, match="unknown feature type"):
        on_demand(type="decimal", inputs=["a"])(f)
    with pytest.raises(InvalidNameError):
        on_demand(name="Bad Name", inputs=["a"])(f)
    assert on_demand(type="double", inputs=["a"])(f).type == "float64"


def test_on_demand_parity_refuses_a_function_that_differs_on_one_row() -> None:
    @on_demand(inputs=["distance"])
    def distance_share(df: pd.DataFrame) -> pd.Series:
        return df["distance"] / df["distance"].sum()

    with pytest.raises(
        TransformationError,
        match=r"on-demand feature 'distance_share' differs online from batch at row 7 .*"
        r"batch 0\.8 \(float64\), online 1\.0 \(float\)",
    ):
        check_on_demand_parity(distance_share, TRIPS)


def test_on_demand_online_rows_take_the_batch_dtypes() -> None:
    @on_demand(type="string", inputs=["speed"])
    def speed_label(df: pd.DataFrame) -> pd.Series:
        return df["speed"].astype("str")

    floats = pd.DataFrame({"speed": [60.0, np.nan]})
    assert speed_label.compute(floats).tolist()[0] == "60.0"
    assert speed_label.compute_row({"speed": 60}, dtypes={"speed": floats["speed"].dtype}) == "60.0"
    assert speed_label.compute_row({"speed": 60}) == "60"
    check_on_demand_parity(speed_label, floats)
