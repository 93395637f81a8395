"""Model signatures: the input columns (names, order, types) and outputs a model expects.

From a feature view, the inputs are the columns of X as the view serves them: its features
after the transformations (a one-hot encoded column becomes one column per category), and the
outputs are its labels. Without a view they come from the input example. Types are fti type
names; a transformation's output has its own dtype (``int8`` for one-hot), and ``any`` stands
for a type that cannot be known (a user function's output).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fti.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pandas as pd

    from fti.feature_store.feature_view import FeatureView

ANY = "any"
EXAMPLE_ROWS = 5
"""Rows of an input example kept with a model version."""

_INTS = {"int8", "int16", "int32", "int64"}


@dataclass(frozen=True)
class Column:
    """One named, typed column."""

    name: str
    type: str


@dataclass(frozen=True)
class Signature:
    """The inputs a model reads (in order) and the outputs it predicts."""

    inputs: tuple[Column, ...]
    outputs: tuple[Column, ...] = ()
    source: str = "feature_view"
    """Where the inputs come from: ``feature_view`` or ``input_example``."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "inputs": [[c.name, c.type] for c in self.inputs],
            "outputs": [[c.name, c.type] for c in self.outputs],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Rebuild a signature stored with :meth:`to_dict`."""
        return cls(
            tuple(Column(str(n), str(t)) for n, t in data.get("inputs", [])),
            tuple(Column(str(n), str(t)) for n, t in data.get("outputs", [])),
            str(data.get("source", "feature_view")),
        )


def from_view(view: FeatureView, state: Mapping[str, Any]) -> Signature:
    """The columns of X that ``view`` serves with the fitted transformation ``state``."""
    from fti.feature_store.transformations import Transformation

    types = {c.name: c.type for c in view.query.outputs}
    transforms = view.transformations.to_dict()
    inputs: list[Column] = []
    for name in view.feature_names:
        if name not in transforms:
            inputs.append(Column(name, types[name]))
            continue
        t = Transformation.from_dict(transforms[name])
        kind = t.dtype or ANY
        inputs.extend(Column(out, kind) for out in t.output_names(name, state.get(name) or {}))
    # A spine label (carried by the spine, not a column of the query) has the type of the
    # spines that carried it, which the view does not know.
    outputs = tuple(Column(label, types.get(label, ANY)) for label in view.labels)
    return Signature(tuple(inputs), outputs, "feature_view")


def from_example(frame: pd.DataFrame) -> Signature:
    """The columns of an input example, typed from its values."""
    return Signature(
        tuple(Column(str(c), _column_type(frame[c])) for c in frame.columns), (), "input_example"
    )


def compare(expected: Signature, actual: Signature, what: str) -> list[str]:
    """Each way ``actual``'s inputs differ from ``expected``'s (names, order, types)."""
    want = [c.name for c in expected.inputs]
    have = [c.name for c in actual.inputs]
    problems = []
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if missing:
        problems.append(f"{what} lacks column(s) the view serves: {', '.join(missing)}")
    if extra:
        problems.append(f"{what} has column(s) the view does not serve: {', '.join(extra)}")
    common_want = [n for n in want if n in have]
    common_have = [n for n in have if n in want]
    if common_want != common_have:
        pairs = enumerate(zip(common_want, common_have, strict=True))
        first = next(i for i, (a, b) in pairs if a != b)
        problems.append(
            f"{what} has its columns in another order than the view's serving vector (first "
            f"difference at column {first}: {common_have[first]!r} where the view has "
            f"{common_want[first]!r})"
        )
    types = {c.name: c.type for c in actual.inputs}
    for column in expected.inputs:
        found = types.get(column.name)
        if found is not None and not _compatible(column.type, found, actual.source):
            problems.append(
                f"{what} column {column.name!r} is {found}, the view serves {column.type}"
            )
    return problems


def _compatible(expected: str, found: str, source: str) -> bool:
    if expected == found or ANY in (expected, found):
        return True
    if source != "input_example":
        return False
    # pandas turns an int column with a missing value into float64, and reads ints as int64.
    if expected in _INTS:
        return found in _INTS or found == "float64"
    return expected == "float32" and found == "float64"


def example_frame(example: Any) -> pd.DataFrame:
    """An input example as a pandas frame of its first rows; InvalidArgumentError if not tabular."""
    import pandas as pd

    frame: Any = example
    if hasattr(frame, "to_pandas") and not isinstance(frame, pd.DataFrame):
        frame = frame.to_pandas()
    elif isinstance(frame, Mapping):
        frame = pd.DataFrame({str(k): list(v) for k, v in frame.items()})
    elif isinstance(frame, Sequence) and frame and all(isinstance(r, Mapping) for r in frame):
        frame = pd.DataFrame(list(frame))
    elif isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame) or frame.shape[1] == 0:
        raise InvalidArgumentError(
            "input_example must be a table: a pandas or polars DataFrame, a pyarrow Table, a "
            "dict of columns or a list of row dicts"
        )
    head = frame.head(EXAMPLE_ROWS).reset_index(drop=True)
    head.columns = [str(c) for c in head.columns]
    return head


def example_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    """A JSON-friendly form of an example frame, with each column's type."""
    data = json.loads(frame.to_json(orient="split", index=False, date_format="iso", date_unit="us"))
    return {
        "columns": list(data["columns"]),
        "types": [_column_type(frame[c]) for c in frame.columns],
        "data": data["data"],
    }


def example_from_json(data: Mapping[str, Any]) -> pd.DataFrame:
    """The example frame stored with :func:`example_to_json`."""
    import pandas as pd

    frame = pd.DataFrame(data["data"], columns=data["columns"])
    for column, kind in zip(data["columns"], data.get("types", []), strict=False):
        series = frame[column]
        if kind == "timestamp":
            frame[column] = pd.to_datetime(series, utc=True)
        elif (kind in _INTS and series.notna().all()) or kind in ("float32", "float64"):
            frame[column] = series.astype(kind)
    return frame


def _column_type(series: pd.Series) -> str:
    import pyarrow as pa

    from fti.types import ARROW_TYPES

    try:
        arrow = pa.Array.from_pandas(series).type
    except (pa.ArrowException, TypeError, ValueError):
        return ANY
    if pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return "string"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_dictionary(arrow):
        return "string" if pa.types.is_string(arrow.value_type) else ANY
    if pa.types.is_null(arrow):
        return ANY
    return next((name for name, known in ARROW_TYPES.items() if known == arrow), str(arrow))
