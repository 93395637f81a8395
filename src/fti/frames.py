"""Conversion of Arrow tables to the frame type a user asks for (pandas by default)."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

from fti.dependencies import import_optional
from fti.errors import InvalidArgumentError

ReturnType = Literal["pandas", "polars", "pyarrow"]
RETURN_TYPES = ("pandas", "polars", "pyarrow")


def from_arrow(table: pa.Table, return_type: ReturnType = "pandas") -> Any:
    """``table`` as a pandas DataFrame, a polars DataFrame or itself."""
    if return_type == "pandas":
        return table.to_pandas()
    if return_type == "pyarrow":
        return table
    if return_type == "polars":
        polars = import_optional("polars", "polars")
        return polars.from_arrow(table)
    raise InvalidArgumentError(
        f"unknown return_type {return_type!r}; use one of {', '.join(RETURN_TYPES)}"
    )
