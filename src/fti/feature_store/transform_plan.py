"""The transformations of a feature view, applied alike to frames (batch) and rows (online)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti.errors import TransformationError
from fti.feature_store.transformations import Transformation, check_parity

if TYPE_CHECKING:
    from fti.feature_store.query import Query

SAMPLE_ROWS = 200


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
                parts.append(t.transform_frame(frame[column], _state(state, column)))
        return pd.concat(parts, axis=1) if parts else frame

    def apply_row(self, row: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
        """One row (a dict in feature order) transformed as :meth:`apply` would."""
        if not self._transformations:
            return dict(row)
        out: dict[str, Any] = {}
        for column, value in row.items():
            t = self._transformations.get(column)
            if t is None:
                out[column] = value
            else:
                out.update(t.transform_row(column, value, _state(state, column)))
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
    types = {c.name: c.type for c in query.outputs}
    rng = np.random.default_rng(0)
    synthetic: dict[str, Any] = {}
    for column in columns:
        kind = types[column]
        if kind.startswith("float") or kind.startswith("int"):
            values = rng.normal(10, 3, SAMPLE_ROWS)
            synthetic[column] = values.round() if kind.startswith("int") else values
        elif kind == "bool":
            synthetic[column] = rng.random(SAMPLE_ROWS) > 0.5
        else:
            synthetic[column] = [f"v{i % 7}" for i in range(SAMPLE_ROWS)]
    return pd.DataFrame(synthetic)
