"""The transformations of a feature view, applied alike to frames (batch) and rows (online)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti.errors import TransformationError
from fti.feature_store.transformations import Transformation, check_parity
from fti.types import Feature

if TYPE_CHECKING:
    from fti.feature_store.on_demand import OnDemandFeature
    from fti.feature_store.query import Query

SAMPLE_ROWS = 200

PANDAS_DTYPES = {
    "bool": "bool",
    "int32": "int32",
    "int64": "int64",
    "float32": "float32",
    "float64": "float64",
    "string": "object",
    "date": "object",
    "timestamp": "datetime64[us, UTC]",
}
"""The pandas dtype of a column of each fti type, as the batch path reads it (without nulls)."""


class TransformPlan:
    """Which column each transformation reads; fit on training rows, apply anywhere."""

    def __init__(self, transformations: Mapping[str, Transformation]) -> None:
        self._transformations = dict(transformations)

    @classmethod
    def create(
        cls, mapping: Mapping[str, Any], columns: Mapping[str, str], labels: Sequence[str]
    ) -> TransformPlan:
        """Check a user's ``{column: transformation}`` against the view's columns."""
        plan = {}
        for column, transformation in mapping.items():
            if column not in columns:
                raise TransformationError(
                    f"transformation of unknown column {column!r}; the view has: "
                    f"{', '.join(columns)}"
                )
            if column in labels:
                raise TransformationError(f"{column!r} is a label; transform features only")
            if not isinstance(transformation, Transformation):
                raise TransformationError(
                    f"the transformation of {column!r} must be one of fti.transforms or a "
                    f"function decorated with @fti.transformation, not {transformation!r}"
                )
            plan[column] = transformation
        return cls(plan)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransformPlan:
        """Rebuild a plan stored with :meth:`to_dict`."""
        return cls({c: Transformation.from_dict(t) for c, t in data.items()})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form: names and source code, never pickles."""
        return {c: t.to_dict() for c, t in self._transformations.items()}

    @property
    def columns(self) -> list[str]:
        """The transformed columns."""
        return list(self._transformations)

    def fit(self, frame: pd.DataFrame) -> dict[str, Any]:
        """The state of each transformation, fitted on ``frame`` (the training rows)."""
        return {c: t.fit(frame[c]) for c, t in self._transformations.items()}

    def apply(self, frame: pd.DataFrame, state: Mapping[str, Any]) -> pd.DataFrame:
        """``frame`` with each transformed column replaced by its output column(s), in place."""
        if not self._transformations:
            return frame
        parts: list[pd.DataFrame | pd.Series] = []
        for column in frame.columns:
            t = self._transformations.get(column)
            if t is None:
                parts.append(frame[column])
            else:
                parts.append(t.transform_frame(frame[column], _state(state, column), column=column))
        return pd.concat(parts, axis=1) if parts else frame

    def apply_row(
        self, row: Mapping[str, Any], state: Mapping[str, Any], types: Mapping[str, str]
    ) -> dict[str, Any]:
        """One row (a dict in feature order) transformed as :meth:`apply` would.

        ``types`` are the fti types of the columns, so a user function sees the value with the
        dtype the batch path gives the column.
        """
        if not self._transformations:
            return dict(row)
        out: dict[str, Any] = {}
        for column, value in row.items():
            t = self._transformations.get(column)
            if t is None:
                out[column] = value
            else:
                dtype = PANDAS_DTYPES.get(types.get(column, ""))
                out.update(t.transform_row(column, value, _state(state, column), dtype=dtype))
        return out

    def check_parity(self, sample: pd.DataFrame) -> None:
        """Refuse transformations that differ between the batch and the one-row path."""
        for column, t in self._transformations.items():
            state = t.fit(sample[column])
            check_parity(t, sample[column], state, column)


def _state(state: Mapping[str, Any], column: str) -> Any:
    if column not in state:
        raise TransformationError(
            f"no fitted state for {column!r}: the training dataset was made before this "
            "transformation existed"
        )
    return state[column]


def sample_frame(query: Query, columns: Sequence[str]) -> pd.DataFrame:
    """Up to SAMPLE_ROWS rows of ``query``'s latest data, or synthetic values if it is empty."""
    table = query.read(return_type="pyarrow")
    if table.num_rows:
        sample: pd.DataFrame = table.slice(0, SAMPLE_ROWS).select(list(columns)).to_pandas()
        return sample
    return _synthetic({c.name: c.type for c in query.outputs}, columns)


def synthetic_sample(features: Sequence[Feature], odf: OnDemandFeature) -> pd.DataFrame:
    """Made-up rows of an on-demand feature's inputs (by type) and request parameters (floats)."""
    types = {f.name: f.type for f in features} | dict.fromkeys(odf.request_parameters, "float64")
    return _synthetic(types, list(odf.columns))


def _synthetic(types: Mapping[str, str], columns: Sequence[str]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    synthetic: dict[str, Any] = {}
    for column in columns:
        kind = types.get(column, "float64")
        if kind.startswith(("float", "int")):
            values = rng.normal(10, 3, SAMPLE_ROWS)
            synthetic[column] = values.round().astype(kind) if kind.startswith("int") else values
        elif kind == "bool":
            synthetic[column] = rng.random(SAMPLE_ROWS) > 0.5
        elif kind == "timestamp":
            synthetic[column] = pd.date_range("2024-01-01", periods=SAMPLE_ROWS, freq="h", tz="UTC")
        else:
            synthetic[column] = [f"v{i % 7}" for i in range(SAMPLE_ROWS)]
    return pd.DataFrame(synthetic)
