"""On-demand features: one new feature computed from a row's other columns and the request.

::

    @on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
    def eta_minutes(df: pd.DataFrame) -> pd.Series:
        return df["distance"] / df["speed"] * 60

The function is vectorized: it gets a DataFrame holding exactly the ``inputs`` and
``request_parameters`` columns (nothing else, so an undeclared column fails in batch, not only
online) and returns a Series of the same length. :meth:`OnDemandFeature.compute` is the batch
path; :meth:`OnDemandFeature.compute_row` the online one, which runs the same function on a
one-row DataFrame, so :func:`check_on_demand_parity` can refuse a function that behaves
differently on one row (``df["x"] - df["x"].mean()``). Both paths cast the result to the
declared ``type``: bool, int32, int64, float32, float64 or string, within its kind (an int may
become a float, a float never an int).

Like a user transformation, the feature is stored as source code, never pickled; the source
must be self-contained (see :mod:`fti.feature_store.transformations`). The end of this module
holds what both kinds of user code share, and :mod:`~fti.feature_store.transformations` imports:
reading and rebuilding source, the one-row online path, and comparing batch with online values.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import dis
import hashlib
import inspect
import linecache
import math
import textwrap
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import CodeType, FunctionType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fti.errors import SchemaError, TransformationError
from fti.names import check_name
from fti.types import ARROW_TYPES, normalize_type

__all__ = ["OnDemandFeature", "check_on_demand_parity", "on_demand"]

# The pandas dtype of each fti type an on-demand feature may have, and the dtype kinds
# (numpy's one-letter codes) a result may have to be cast to it without losing anything.
_DTYPES: dict[str, tuple[Any, str]] = {
    "bool": ("bool", "b"),
    "int32": ("int32", "iu"),
    "int64": ("int64", "iu"),
    "float32": ("float32", "iuf"),
    "float64": ("float64", "iuf"),
    "string": ("str", ""),  # a pandas string dtype, or objects that are all str
}


@dataclass(frozen=True, eq=False)
class OnDemandFeature:
    """A feature computed at request time by ``function(df) -> Series``; see the module doc."""

    name: str
    type: str
    inputs: tuple[str, ...]
    request_parameters: tuple[str, ...]
    source: str
    function: Callable[[pd.DataFrame], Any] = field(repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, "feature name")
        try:
            kind = normalize_type(self.type)
        except SchemaError as exc:
            raise TransformationError(f"on-demand feature {self.name!r}: {exc}") from exc
        if kind not in _DTYPES:
            raise TransformationError(
                f"on-demand feature {self.name!r} cannot be {kind}; use one of {', '.join(_DTYPES)}"
            )
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "request_parameters", tuple(self.request_parameters))
        if not self.columns or len(set(self.columns)) < len(self.columns):
            raise TransformationError(
                f"on-demand feature {self.name!r} needs inputs or request parameters, each named "
                f"once; got inputs {list(self.inputs)}, request parameters "
                f"{list(self.request_parameters)}"
            )

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the feature is stored as."""
        return ARROW_TYPES[self.type]

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the function sees: the inputs, then the request parameters."""
        return self.inputs + self.request_parameters

    def __call__(self, df: pd.DataFrame) -> Any:
        return self.function(df)

    def compute(self, df: pd.DataFrame) -> pd.Series:
        """Batch: the feature for every row of ``df``, named :attr:`name`, on ``df``'s index."""
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise TransformationError(
                f"on-demand feature {self.name!r} needs the column(s) {missing}, which are missing"
            )
        frame = df[list(self.columns)]
        what = f"on-demand feature {self.name!r}"
        try:
            result = self.function(frame)
        except Exception as exc:
            raise TransformationError(f"{what} failed: {exc!r}") from exc
        series = _as_series(result, frame.index, self.name, what)
        dtype, kinds = _DTYPES[self.type]
        if self.type == "string" and not isinstance(series.dtype, pd.StringDtype):
            fits = series.dtype == object and all(isinstance(v, str) for v in series.dropna())
        else:
            fits = self.type == "string" or series.dtype.kind in kinds
        if not fits:
            raise TransformationError(f"{what} is declared {self.type} but gives {series.dtype}")
        try:
            typed: pd.Series = series.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise TransformationError(f"{what} cannot be held as {self.type}: {exc}") from exc
        return typed

    def compute_row(
        self, row: Mapping[str, Any], *, dtypes: Mapping[str, Any] | None = None
    ) -> Any:
        """Online: the feature for one row (inputs and request parameters by name).

        ``dtypes`` gives the batch dtype of each column, so the one-row DataFrame holds the same
        dtypes as in batch (an int input of a float64 column stays float64).
        """
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise TransformationError(
                f"on-demand feature {self.name!r} needs the value(s) {missing}, which are missing"
            )
        what = f"on-demand feature {self.name!r}"
        frame = pd.DataFrame(
            {c: _one_element(row[c], (dtypes or {}).get(c), what) for c in self.columns}
        )
        return _to_python(self.compute(frame).iloc[0])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description; :meth:`from_dict` rebuilds the feature from it."""
        return {
            "kind": "on_demand",
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "request_parameters": list(self.request_parameters),
            "function": self.function.__name__,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OnDemandFeature:
        """Rebuild a feature stored with :meth:`to_dict`: its source runs in a fresh namespace."""
        try:
            function = _load_function(data["source"], data["function"], "on-demand feature")
            return cls(
                data["name"],
                data["type"],
                tuple(data["inputs"]),
                tuple(data["request_parameters"]),
                data["source"],
                function,
            )
        except (KeyError, TypeError) as exc:
            raise TransformationError(f"cannot rebuild an on-demand feature from {data!r}") from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OnDemandFeature):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.name, self.source))


def on_demand(
    name: str | None = None,
    type: str = "float64",
    inputs: Sequence[str] | None = None,
    request_parameters: Sequence[str] | None = None,
) -> Callable[[Callable[[pd.DataFrame], Any]], OnDemandFeature]:
    """Make ``def f(df) -> Series`` an :class:`OnDemandFeature` named ``name`` (default ``f``)."""
    if callable(name):
        raise TransformationError("use @on_demand(...) with parentheses, naming its inputs")

    def decorate(function: Callable[[pd.DataFrame], Any]) -> OnDemandFeature:
        source = _source_of(function, "on-demand feature")
        # Run the function rebuilt from its source, as serving will after loading it.
        rebuilt = _load_function(source, function.__name__, "on-demand feature")
        _check_aliases(function, "on-demand feature")
        return OnDemandFeature(
            function.__name__ if name is None else name,
            type,
            tuple(inputs or ()),
            tuple(request_parameters or ()),
            source,
            rebuilt,
        )

    return decorate


def check_on_demand_parity(feature: OnDemandFeature, sample: pd.DataFrame) -> None:
    """Refuse ``feature`` when :meth:`~OnDemandFeature.compute_row` differs from ``compute``.

    Values are compared as :func:`~fti.feature_store.transformations.check_parity` does; the
    :class:`TransformationError` names the feature and the first differing row.
    """
    batch = feature.compute(sample)
    expected = batch.tolist()
    dtypes = {c: sample[c].dtype for c in feature.columns}
    columns = {c: sample[c].tolist() for c in feature.columns}
    what = f"on-demand feature {feature.name!r}"
    for position, index in enumerate(sample.index):
        row = {c: columns[c][position] for c in feature.columns}
        try:
            online = feature.compute_row(row, dtypes=dtypes)
        except Exception as exc:
            raise TransformationError(
                f"{what} fails online at row {index!r} ({row}): {exc}"
            ) from exc
        if _differs(expected[position], online, batch.dtype):
            raise TransformationError(
                f"{what} differs online from batch at row {index!r} ({row}): batch "
                f"{expected[position]!r} ({batch.dtype}), online {online!r} "
                f"({type(online).__name__})"
            )


# --------------------------------- shared with transformations.py: user code and parity

# What a function rebuilt from its stored source can see besides the builtins.
_NAMESPACE: dict[str, Any] = {"pd": pd, "np": np, "math": math}


def _differs(batch: Any, online: Any, batch_dtype: Any) -> bool:
    batch_null, online_null = _is_null(batch), _is_null(online)
    if batch_null or online_null:
        return not (batch_null and online_null)
    kind = _DTYPE_KINDS.get(getattr(batch_dtype, "kind", "O")) or _kind(batch)
    if _kind(online) != kind:
        return True
    if kind == "float":
        return not math.isclose(batch, online, rel_tol=1e-12, abs_tol=0.0)
    try:
        return not bool(batch == online)
    except (TypeError, ValueError):
        return True


_DTYPE_KINDS = {"b": "bool", "i": "integer", "u": "integer", "f": "float", "M": "datetime"}


def _kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "integer"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, pd.Timestamp | np.datetime64):
        return "datetime"
    return "string" if isinstance(value, str) else type(value).__name__


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, np.datetime64 | np.timedelta64) and bool(np.isnat(value))


def _to_python(value: Any) -> Any:
    """A numpy scalar as the Python one (JSON-friendly); datetimes stay as they are."""
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64 | np.timedelta64):
        return value.item()
    return value


def _one_element(value: Any, dtype: Any, what: str) -> pd.Series:
    """A one-element Series for the online path, of the batch dtype when it is known."""
    try:
        if dtype is not None:
            single: pd.Series = pd.Series([value], dtype=dtype)
        else:
            single = pd.Series([np.nan] if _is_null(value) else [value])
    except (TypeError, ValueError) as exc:
        raise TransformationError(f"{what}: cannot hold {value!r} as {dtype}: {exc}") from exc
    return single


def _as_series(result: Any, index: pd.Index, name: Hashable, what: str) -> pd.Series:
    """The result of a user function, checked to line up with its input, named ``name``."""
    if isinstance(result, np.ndarray) and result.ndim == 1 and len(result) == len(index):
        return pd.Series(result, index=index, name=name)
    if isinstance(result, pd.Series) and result.index.equals(index):
        named = result.copy(deep=False)  # the result may be the caller's own Series
        named.name = name
        return named
    shape = type(result).__name__
    if isinstance(result, pd.Series):
        shape = f"a Series on another index (length {len(result)})"
    raise TransformationError(
        f"{what} must return a Series on its input's index (length {len(index)}), not {shape}"
    )


def _source_of(function: Callable[..., Any], what: str) -> str:
    """The dedented source of ``function`` without its decorators."""
    name = getattr(function, "__name__", repr(function))
    if not isinstance(function, FunctionType) or name == "<lambda>":
        raise TransformationError(f"a {what} must be a function defined with def, not {name}")
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError) as exc:
        raise TransformationError(
            f"cannot read the source of {what} {name!r}, which must be stored: define it in a "
            f"file or a notebook cell ({exc})"
        ) from exc
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef) or node.name != name:
        raise TransformationError(f"the source of {what} {name!r} is not a plain def")
    return "".join(source.splitlines(keepends=True)[node.lineno - 1 :])


def _load_function(source: str, name: str, what: str) -> Callable[..., Any]:
    """Run stored source in a fresh namespace; check it needs nothing else; return ``name``."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<fti {what} {name} {digest}>"
    namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": filename, **_NAMESPACE}
    try:
        # Annotations stay strings, so `stats: Mapping[str, float]` needs no typing import.
        flags = __future__.annotations.compiler_flag
        exec(compile(source, filename, "exec", flags=flags, dont_inherit=True), namespace)
    except Exception as exc:
        raise TransformationError(f"cannot run the source of {what} {name!r}: {exc!r}") from exc
    function = namespace.get(name)
    if not isinstance(function, FunctionType):
        raise TransformationError(f"the source of {what} {name!r} does not define {name}()")
    # Tracebacks and inspect.getsource() then show the stored code.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    allowed = set(_NAMESPACE) | set(dir(builtins)) | {name}
    unknown = sorted(_global_names(function.__code__) - allowed)
    if unknown:
        raise TransformationError(
            f"{what} {name!r} uses {', '.join(unknown)} from outside the function; its stored "
            "source can only use pd, np, math and the builtins: import or define the rest "
            "inside the function"
        )
    return function


def _global_names(code: CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _global_names(const)
    return names


def _check_aliases(function: Callable[..., Any], what: str) -> None:
    """Refuse ``import polars as pd``: the stored source would get pandas instead."""
    function_globals = getattr(function, "__globals__", {})
    used = _global_names(getattr(function, "__code__", compile("", "", "exec")))
    for alias, module in _NAMESPACE.items():
        if alias in used and function_globals.get(alias, module) is not module:
            raise TransformationError(
                f"{what} {function.__name__!r} sees {alias!r} bound to something other than "
                f"{module.__name__}, but its stored source will get {module.__name__}"
            )
