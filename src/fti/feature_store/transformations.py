"""Model-dependent transformations, fitted on training data and applied alike offline and online.

A :class:`Transformation` turns one feature column into one model input (or, for
:data:`one_hot_encoder`, several). In a feature view it goes through four steps::

    state = t.fit(train[column])                          # training split only; JSON-friendly
    frame = t.transform_frame(df[column], state)          # batch: columns t.output_names(...)
    row = t.transform_row(column, value, state, dtype=d)  # online: a dict with the same keys
    check_parity(t, sample, state, column)                # refuses training/serving skew

``state`` holds only JSON types (floats, ints, strings, lists), never NaN or infinity, so it
can be stored beside the training dataset version with ``json.dumps``. ``t.to_dict()`` stores
the transformation itself, never a pickle: a built-in by its name, a user function by its source
code. :meth:`Transformation.from_dict` runs that source again with ``exec`` in a fresh namespace
that holds only ``pd`` (pandas), ``np`` (numpy), ``math`` and the builtins, so **the source
must be self-contained**: no closures, no other globals (import what else it needs inside the
function). :func:`transformation` checks this when it decorates, and from then on runs the
function rebuilt from its source, so training runs the very code serving will load. Stored
source is code: whoever can write the metadata store can run it where views are loaded.

Built-ins (fitting ignores nulls, NaN and infinities):

==================  ==========================================  ===============================
name                output (dtype)                              state
==================  ==========================================  ===============================
standard_scaler     (x - mean) / std; std 0 counts as 1         mean, std (population, ddof=0)
min_max_scaler      (x - min) / (max - min); range 0 counts as  min, max
                    1, so a constant column gives 0.0
robust_scaler       (x - median) / (q3 - q1); IQR 0 counts as 1 median, q1, q3 (linear quantiles)
label_encoder       position in the sorted training categories; categories (sorted list)
                    unseen and null give -1 (int64)
one_hot_encoder     one int8 column ``<column>_<category>`` per  categories (sorted list)
                    category; unseen and null give all zeros
==================  ==========================================  ===============================

The scalers give float64 and keep NaN (null) as NaN. Categories are strings, integers, floats
or booleans, one kind per column; non-finite floats are not categories.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import math
import textwrap
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import numpy as np
import pandas as pd

from fti.errors import TransformationError
from fti.feature_store.on_demand import (
    _as_series,
    _check_aliases,
    _differs,
    _is_null,
    _load_function,
    _one_element,
    _source_of,
    _to_python,
)

__all__ = [
    "BUILTINS",
    "STATISTICS",
    "FunctionTransformation",
    "Transformation",
    "check_parity",
    "label_encoder",
    "min_max_scaler",
    "one_hot_encoder",
    "robust_scaler",
    "standard_scaler",
    "transformation",
]

State = dict[str, Any]


def _quantile(q: float) -> Callable[[np.ndarray[Any, Any]], float]:
    return lambda values: float(np.quantile(values, q))


_STATISTICS: dict[str, Callable[[np.ndarray[Any, Any]], float | int]] = {
    "mean": lambda v: float(np.mean(v)),
    "std": lambda v: float(np.std(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "median": lambda v: float(np.median(v)),
    "q1": _quantile(0.25),
    "q25": _quantile(0.25),
    "q3": _quantile(0.75),
    "q75": _quantile(0.75),
    "count": lambda v: int(v.size),
    "sum": lambda v: float(np.sum(v)),
}
STATISTICS = tuple(_STATISTICS)
"""Training statistics a user transformation can declare; std is the population one (ddof=0)."""


class Transformation(ABC):
    """Fits on a training column, then maps any column or single value the same way.

    ``dtype`` is the pandas dtype of every output column (``None`` for a user function: it is
    whatever the function returns); ``multi_output`` is true when one column becomes several.
    """

    name: str
    statistics: tuple[str, ...] = ()
    dtype: str | None = None
    multi_output: bool = False

    @property
    @abstractmethod
    def source(self) -> str:
        """The dedented source code of the function (or built-in class) doing the work."""

    @abstractmethod
    def fit(self, series: pd.Series) -> State:
        """The JSON-friendly state learned from a training column (``{}`` when none)."""

    @abstractmethod
    def transform(self, series: pd.Series, state: Mapping[str, Any]) -> pd.Series:
        """The vectorized (batch) path: a Series with the input's index and name."""

    @abstractmethod
    def transform_value(self, value: Any, state: Mapping[str, Any], *, dtype: Any = None) -> Any:
        """The online path for one value; ``dtype`` is the column's batch dtype when known."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description that :meth:`from_dict` turns back into the same thing."""

    def output_names(self, column: str, state: Mapping[str, Any]) -> list[str]:
        """The names of the columns ``column`` becomes: ``[column]`` unless multi-output."""
        return [column]

    def transform_frame(
        self, series: pd.Series, state: Mapping[str, Any], *, column: str | None = None
    ) -> pd.DataFrame:
        """Batch, for one or many outputs: columns :meth:`output_names`, the input's index."""
        return self.transform(series, state).to_frame(_column(series, column))

    def transform_row(
        self, column: str, value: Any, state: Mapping[str, Any], *, dtype: Any = None
    ) -> dict[str, Any]:
        """Online, for one or many outputs: ``{output name: value}`` as :meth:`transform_frame`."""
        return {column: self.transform_value(value, state, dtype=dtype)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Transformation:
        """Rebuild a transformation stored with :meth:`to_dict`."""
        kind, name = data.get("kind"), data.get("name")
        if kind == "builtin" and isinstance(name, str) and name in BUILTINS:
            return BUILTINS[name]
        if kind == "function" and isinstance(name, str) and isinstance(data.get("source"), str):
            return FunctionTransformation._from_source(
                data["source"], name, data.get("statistics", ())
            )
        raise TransformationError(f"cannot rebuild a transformation from {dict(data)!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# ---------------------------------------------------------------------------------- built-ins


class _Builtin(Transformation):
    """A built-in is stored by its name; its code ships with fti."""

    @property
    def source(self) -> str:
        return _class_source(type(self))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "builtin", "name": self.name}


class _Scaler(_Builtin):
    """``(x - center) / scale``: the same float64 operations in batch and online."""

    dtype = "float64"

    @abstractmethod
    def _center_scale(self, state: Mapping[str, Any]) -> tuple[float, float]: ...

    def fit(self, series: pd.Series) -> State:
        return _fit_statistics(series, self.statistics, self.name)

    def transform(self, series: pd.Series, state: Mapping[str, Any]) -> pd.Series:
        center, scale = self._center_scale(state)
        values = _floats(series, self.name)
        # Python floats overflow to inf silently; numpy must do the same, not warn.
        with np.errstate(over="ignore", invalid="ignore"):
            result = (values - center) / scale
        return pd.Series(result, index=series.index, name=series.name, dtype="float64")

    def transform_value(self, value: Any, state: Mapping[str, Any], *, dtype: Any = None) -> Any:
        center, scale = self._center_scale(state)
        return (_float(value, self.name) - center) / scale


class _StandardScaler(_Scaler):
    name = "standard_scaler"
    statistics = ("mean", "std")

    def _center_scale(self, state: Mapping[str, Any]) -> tuple[float, float]:
        std = _state_float(state, "std", self.name)
        return _state_float(state, "mean", self.name), std if std != 0 else 1.0


class _MinMaxScaler(_Scaler):
    name = "min_max_scaler"
    statistics = ("min", "max")

    def _center_scale(self, state: Mapping[str, Any]) -> tuple[float, float]:
        low = _state_float(state, "min", self.name)
        span = _state_float(state, "max", self.name) - low
        return low, span if span != 0 else 1.0


class _RobustScaler(_Scaler):
    name = "robust_scaler"
    statistics = ("median", "q1", "q3")

    def _center_scale(self, state: Mapping[str, Any]) -> tuple[float, float]:
        iqr = _state_float(state, "q3", self.name) - _state_float(state, "q1", self.name)
        return _state_float(state, "median", self.name), iqr if iqr != 0 else 1.0


class _LabelEncoder(_Builtin):
    name = "label_encoder"
    dtype = "int64"

    def fit(self, series: pd.Series) -> State:
        return {"categories": _fit_categories(series, self.name)}

    def transform(self, series: pd.Series, state: Mapping[str, Any]) -> pd.Series:
        codes = _codes(series, _categories(state, self.name))
        return pd.Series(codes, index=series.index, name=series.name, dtype="int64")

    def transform_value(self, value: Any, state: Mapping[str, Any], *, dtype: Any = None) -> Any:
        return _code(value, _categories(state, self.name))


class _OneHotEncoder(_LabelEncoder):
    name = "one_hot_encoder"
    dtype = "int8"
    multi_output = True

    def fit(self, series: pd.Series) -> State:
        state = super().fit(series)
        if not state["categories"]:
            raise TransformationError(
                f"cannot fit {self.name} on column {series.name!r}: it has no non-null value, "
                "so it would give no column at all"
            )
        return state

    def output_names(self, column: str, state: Mapping[str, Any]) -> list[str]:
        return [f"{column}_{category}" for category in _categories(state, self.name)]

    def transform(self, series: pd.Series, state: Mapping[str, Any]) -> pd.Series:
        raise TransformationError(f"{self.name} gives several columns: use transform_frame()")

    def transform_value(self, value: Any, state: Mapping[str, Any], *, dtype: Any = None) -> Any:
        raise TransformationError(f"{self.name} gives several columns: use transform_row()")

    def transform_frame(
        self, series: pd.Series, state: Mapping[str, Any], *, column: str | None = None
    ) -> pd.DataFrame:
        names = self.output_names(_column(series, column), state)
        codes = _codes(series, _categories(state, self.name))
        data = np.zeros((len(series), len(names)), dtype=np.int8)
        seen = codes >= 0
        data[np.flatnonzero(seen), codes[seen]] = 1
        return pd.DataFrame(data, index=series.index, columns=names)

    def transform_row(
        self, column: str, value: Any, state: Mapping[str, Any], *, dtype: Any = None
    ) -> dict[str, Any]:
        code = _code(value, _categories(state, self.name))
        return {name: int(i == code) for i, name in enumerate(self.output_names(column, state))}


standard_scaler: Transformation = _StandardScaler()
min_max_scaler: Transformation = _MinMaxScaler()
robust_scaler: Transformation = _RobustScaler()
label_encoder: Transformation = _LabelEncoder()
one_hot_encoder: Transformation = _OneHotEncoder()
BUILTINS: Mapping[str, Transformation] = {
    t.name: t
    for t in (standard_scaler, min_max_scaler, robust_scaler, label_encoder, one_hot_encoder)
}
"""The built-in transformations by name."""


# ---------------------------------------------------------------------------- user functions


class FunctionTransformation(Transformation):
    """A user function ``f(x)`` or ``f(x, stats)`` made a transformation by :func:`transformation`.

    ``x`` is a pandas Series and the result a Series (or array) of the same length; ``stats``
    holds the declared :data:`STATISTICS` of the training column. The online path calls the same
    function on a one-element Series and takes element 0. Calling the object calls the function.
    """

    __name__: str  # set, with __doc__ and __wrapped__, from the function

    def __init__(self, function: Callable[..., Any], statistics: Sequence[str] = ()) -> None:
        source = _source_of(function, "transformation")
        rebuilt = _load_function(source, function.__name__, "transformation")
        _check_aliases(function, "transformation")
        self._init(function, rebuilt, source, statistics)

    @classmethod
    def _from_source(
        cls, source: str, name: str, statistics: Sequence[str]
    ) -> FunctionTransformation:
        function = _load_function(source, name, "transformation")
        instance = cls.__new__(cls)
        instance._init(function, function, source, statistics)
        return instance

    def _init(
        self,
        function: Callable[..., Any],
        rebuilt: Callable[..., Any],
        source: str,
        statistics: Sequence[str],
    ) -> None:
        self.function = function
        self.name = function.__name__
        self._run = rebuilt
        self._source = source
        if isinstance(statistics, str) or not all(s in _STATISTICS for s in statistics):
            raise TransformationError(
                f"transformation {self.name!r}: statistics must be a list of names from "
                f"{', '.join(STATISTICS)}; got {statistics!r}"
            )
        self.statistics = tuple(dict.fromkeys(statistics))
        self._takes_stats = _takes_stats(rebuilt, self.name, self.statistics)
        functools.update_wrapper(self, function)

    @property
    def source(self) -> str:
        return self._source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def fit(self, series: pd.Series) -> State:
        return _fit_statistics(series, self.statistics, self.name) if self.statistics else {}

    def transform(self, series: pd.Series, state: Mapping[str, Any]) -> pd.Series:
        try:
            result = self._run(series, dict(state)) if self._takes_stats else self._run(series)
        except Exception as exc:
            raise TransformationError(
                f"transformation {self.name!r} failed on column {series.name!r}: {exc!r}"
            ) from exc
        return _as_series(result, series.index, series.name, f"transformation {self.name!r}")

    def transform_value(self, value: Any, state: Mapping[str, Any], *, dtype: Any = None) -> Any:
        single = _one_element(value, dtype, f"transformation {self.name!r}")
        return _to_python(self.transform(single, state).iloc[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "function",
            "name": self.name,
            "statistics": list(self.statistics),
            "source": self.source,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FunctionTransformation):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.name, self.source, self.statistics))


@overload
def transformation(function: Callable[..., Any], /) -> FunctionTransformation: ...
@overload
def transformation(
    *, statistics: Sequence[str] = ()
) -> Callable[[Callable[..., Any]], FunctionTransformation]: ...
def transformation(
    function: Callable[..., Any] | None = None, /, *, statistics: Sequence[str] = ()
) -> FunctionTransformation | Callable[[Callable[..., Any]], FunctionTransformation]:
    """Make ``def f(x)`` or ``def f(x, stats)`` a :class:`FunctionTransformation`.

    Use it bare (``@transformation``) or declare the training statistics the function reads
    (``@transformation(statistics=["mean", "std"])``); ``fit`` computes only those.
    """
    if function is not None:
        return FunctionTransformation(function, statistics)
    return lambda fn: FunctionTransformation(fn, statistics)


# ------------------------------------------------------------------------------------- parity


def check_parity(
    transformation: Transformation, sample: pd.Series, state: Mapping[str, Any], column: str
) -> None:
    """Refuse a transformation whose online result differs from its batch result on ``sample``.

    Each value of ``sample`` goes through :meth:`Transformation.transform_row` (with the
    sample's dtype) and must equal its row of :meth:`Transformation.transform_frame`: null
    equals null, floats within 1e-12 relative, everything else exactly, and the online value
    must be of the batch column's kind (an int where the batch column is float64 is a
    difference). Raises :class:`TransformationError` naming the first differing row.
    """
    what = f"transformation {transformation.name!r} on column {column!r}"
    batch = transformation.transform_frame(sample, state, column=column)
    names = transformation.output_names(column, state)
    if list(batch.columns) != names:
        raise TransformationError(f"{what} gives columns {list(batch.columns)}, not {names}")
    expected = {name: (batch[name].tolist(), batch[name].dtype) for name in names}
    for position, (index, value) in enumerate(sample.items()):
        try:
            row = transformation.transform_row(column, value, state, dtype=sample.dtype)
        except Exception as exc:
            raise TransformationError(
                f"{what} fails online at row {index!r} (value {value!r}): {exc}"
            ) from exc
        if list(row) != names:
            raise TransformationError(f"{what} gives {list(row)} online, not {names}")
        for name in names:
            values, dtype = expected[name]
            if _differs(values[position], row[name], dtype):
                output = "" if name == column else f" (output {name!r})"
                raise TransformationError(
                    f"{what} differs online from batch at row {index!r}{output}: batch "
                    f"{values[position]!r} ({dtype}), online {row[name]!r} "
                    f"({type(row[name]).__name__})"
                )


# ------------------------------------------------------------------------------------ helpers


def _float(value: Any, name: str) -> float:
    if _is_null(value):
        return math.nan
    if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        return float(value)
    raise TransformationError(f"{name} needs numbers, got {value!r}")


def _floats(series: pd.Series, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_object_dtype(dtype):
        # Python objects: convert each one exactly as the online path does.
        return np.array([_float(v, name) for v in series], dtype="float64")
    raise TransformationError(f"{name} needs a numeric column; {series.name!r} is {dtype}")


def _fit_statistics(series: pd.Series, names: Sequence[str], name: str) -> State:
    values = _floats(series, name)
    finite = values[np.isfinite(values)]
    if finite.size == 0 and set(names) - {"count", "sum"}:
        raise TransformationError(
            f"cannot fit {name} on column {series.name!r}: it has no finite value"
        )
    with np.errstate(all="ignore"):
        state: State = {stat: _STATISTICS[stat](finite) for stat in names}
    overflow = [stat for stat, v in state.items() if not math.isfinite(v)]
    if overflow:
        raise TransformationError(
            f"cannot fit {name} on column {series.name!r}: {overflow} overflow float64"
        )
    return state


def _state_float(state: Mapping[str, Any], key: str, name: str) -> float:
    try:
        return float(state[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise TransformationError(f"{name}: state {state!r} has no number {key!r}") from exc


def _fit_categories(series: pd.Series, name: str) -> list[Any]:
    values = [_to_python(v) for v in series.dropna().unique()]
    values = [v for v in values if not isinstance(v, float) or math.isfinite(v)]
    kinds = {type(v) for v in values}
    if not kinds <= {str, int, float, bool} or len(kinds) > 1:
        found = ", ".join(sorted(k.__name__ for k in kinds))
        raise TransformationError(
            f"cannot fit {name} on column {series.name!r}: categories must be all strings, all "
            f"integers, all floats or all booleans, found {found}"
        )
    return sorted(values)


def _categories(state: Mapping[str, Any], name: str) -> list[Any]:
    categories = state.get("categories") if isinstance(state, Mapping) else None
    if not isinstance(categories, list):
        raise TransformationError(f"{name}: state {state!r} has no list 'categories'")
    return categories


def _codes(series: pd.Series, categories: list[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    if not categories:
        return np.full(len(series), -1, dtype=np.int64)
    codes: np.ndarray[Any, np.dtype[np.int64]] = pd.Index(categories).get_indexer(series)
    return codes.astype(np.int64)


def _code(value: Any, categories: list[Any]) -> int:
    """The online twin of :func:`_codes`: a binary search in the sorted categories."""
    if _is_null(value):
        return -1
    value = _to_python(value)
    try:
        i = bisect.bisect_left(categories, value)
        return i if i < len(categories) and bool(categories[i] == value) else -1
    except TypeError:  # a value that does not compare with the categories is unseen
        return -1


def _column(series: pd.Series, column: str | None) -> str:
    name = series.name if column is None else column
    if not isinstance(name, str):
        raise TransformationError("name the output column: pass column= or a named Series")
    return name


@functools.cache
def _class_source(cls: type) -> str:
    return textwrap.dedent(inspect.getsource(cls))


def _takes_stats(function: Callable[..., Any], name: str, statistics: Sequence[str]) -> bool:
    parameters = inspect.signature(function).parameters.values()
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if not positional or len(required) > 2:
        raise TransformationError(f"transformation {name!r} must be def {name}(x) or (x, stats)")
    if statistics and len(positional) < 2:
        raise TransformationError(
            f"transformation {name!r} declares statistics {list(statistics)} but takes no "
            f"stats: define it as def {name}(x, stats)"
        )
    return len(positional) >= 2
