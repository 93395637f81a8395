"""Filter expressions on query columns: ``fti.col("distance") > 100``.

An expression compiles to a DuckDB SQL predicate with bound literals quoted safely, and can
also be evaluated on a single row (the online path), so both paths filter the same way.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fti.errors import QueryError

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Expr:
    """A boolean expression over query columns; combine with ``&`` and ``|``."""

    def __and__(self, other: Expr) -> Expr:
        return Logical("AND", self, _expr(other))

    def __or__(self, other: Expr) -> Expr:
        return Logical("OR", self, _expr(other))

    def __bool__(self) -> bool:
        raise QueryError("combine filters with & and | (not 'and'/'or'), in parentheses")

    def columns(self) -> set[str]:
        """Names of the columns the expression reads."""
        raise NotImplementedError

    def to_sql(self, resolve: Callable[[str], str]) -> str:
        """The SQL predicate; ``resolve`` maps a column name to its SQL reference."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, the inverse of :func:`expr_from_dict`."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Column:
    """A reference to a query column by its output name."""

    name: str

    def _compare(self, op: str, value: Any) -> Comparison:
        return Comparison(self.name, op, _literal(value))

    def __eq__(self, value: object) -> Comparison:  # type: ignore[override]
        return self._compare("=", value)

    def __ne__(self, value: object) -> Comparison:  # type: ignore[override]
        return self._compare("!=", value)

    def __lt__(self, value: Any) -> Comparison:
        return self._compare("<", value)

    def __le__(self, value: Any) -> Comparison:
        return self._compare("<=", value)

    def __gt__(self, value: Any) -> Comparison:
        return self._compare(">", value)

    def __ge__(self, value: Any) -> Comparison:
        return self._compare(">=", value)

    def isin(self, values: Iterable[Any]) -> IsIn:
        """True where the column equals one of ``values``."""
        items = tuple(_literal(v) for v in values)
        if not items:
            raise QueryError(f"isin on {self.name!r} needs at least one value")
        return IsIn(self.name, items)

    def __hash__(self) -> int:
        return hash(self.name)


def col(name: str) -> Column:
    """A column of a query, for filters: ``fti.col("distance") > 100``."""
    if not isinstance(name, str) or not name:
        raise QueryError(f"col() needs a column name, got {name!r}")
    return Column(name)


@dataclass(frozen=True, eq=False)
class Comparison(Expr):
    """``column <op> literal``."""

    column: str
    op: str
    value: Any

    def columns(self) -> set[str]:
        return {self.column}

    def to_sql(self, resolve: Callable[[str], str]) -> str:
        return f"({resolve(self.column)} {self.op} {_sql_literal(self.value)})"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "column": self.column, "value": _encode(self.value)}


@dataclass(frozen=True, eq=False)
class IsIn(Expr):
    """``column IN (literals)``."""

    column: str
    values: tuple[Any, ...]

    def columns(self) -> set[str]:
        return {self.column}

    def to_sql(self, resolve: Callable[[str], str]) -> str:
        items = ", ".join(_sql_literal(v) for v in self.values)
        return f"({resolve(self.column)} IN ({items}))"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "in", "column": self.column, "values": [_encode(v) for v in self.values]}


@dataclass(frozen=True, eq=False)
class Logical(Expr):
    """``left AND right`` or ``left OR right``."""

    op: str
    left: Expr
    right: Expr

    def columns(self) -> set[str]:
        return self.left.columns() | self.right.columns()

    def to_sql(self, resolve: Callable[[str], str]) -> str:
        return f"({self.left.to_sql(resolve)} {self.op} {self.right.to_sql(resolve)})"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op.lower(), "left": self.left.to_dict(), "right": self.right.to_dict()}


def evaluate(expr: Expr, row: Mapping[str, Any]) -> bool:
    """The expression on one row, with SQL's rule that a comparison with null is false."""
    if isinstance(expr, Logical):
        if expr.op == "AND":
            return evaluate(expr.left, row) and evaluate(expr.right, row)
        return evaluate(expr.left, row) or evaluate(expr.right, row)
    if isinstance(expr, Comparison):
        value = row.get(expr.column)
        if _is_null(value):
            return False
        return bool(_COMPARISONS[expr.op](value, expr.value))
    if isinstance(expr, IsIn):
        value = row.get(expr.column)
        return not _is_null(value) and value in expr.values
    raise QueryError(f"cannot evaluate {expr!r}")


def expr_from_dict(data: Mapping[str, Any]) -> Expr:
    """Rebuild an expression stored with ``to_dict``."""
    op = data["op"]
    if op in ("and", "or"):
        return Logical(op.upper(), expr_from_dict(data["left"]), expr_from_dict(data["right"]))
    if op == "in":
        return IsIn(data["column"], tuple(_decode(v) for v in data["values"]))
    if op in _COMPARISONS:
        return Comparison(data["column"], op, _decode(data["value"]))
    raise QueryError(f"unknown filter operator {op!r}")


def _expr(value: Any) -> Expr:
    if not isinstance(value, Expr):
        raise QueryError(f"cannot combine a filter with {value!r}")
    return value


def _literal(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, (bool, int, str, dt.datetime, dt.date)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise QueryError("a filter cannot compare with NaN")
        return value
    raise QueryError(
        f"unsupported filter value {value!r}: use numbers, strings, dates or datetimes"
    )


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return f"TIMESTAMPTZ '{value.astimezone(dt.UTC).isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "datetime" in value:
        return dt.datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and "date" in value:
        return dt.date.fromisoformat(value["date"])
    return value
