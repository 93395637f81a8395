"""Queries: selections of feature groups joined point-in-time correctly.

``fg.select([...]).join(other.select([...]), on=[...], ttl=...)``. The left-most group is
the root: the result has one row per root row (left join) or per matching root row (inner
join). A join is an as-of join when the right group has an event time: the right row chosen is
the one with the greatest event time <= the root row's event time, with equal keys; with a
ttl, an older row counts as missing. Joins are checked when they are built.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from fti.errors import QueryError
from fti.feature_store.filters import Expr, expr_from_dict
from fti.frames import ReturnType
from fti.names import check_name
from fti.types import Feature

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.feature_store import FeatureStore

JOIN_TYPES = ("left", "inner")


@dataclass(frozen=True)
class OutputColumn:
    """One column of a query's result: where it comes from and what it is called."""

    step: int
    source: str
    name: str
    type: str


@dataclass(frozen=True)
class Step:
    """One group of a flattened query: the root (step 0) or a join."""

    group: FeatureGroup
    columns: tuple[str, ...]
    left_on: tuple[str, ...] = ()
    right_on: tuple[str, ...] = ()
    join_type: str = "left"
    prefix: str = ""
    ttl: dt.timedelta | None = None

    @property
    def as_of(self) -> bool:
        """Whether the join is as of time (the right group has an event time)."""
        return self.group.event_time is not None


class Query:
    """A selection of features from a root group and the groups joined to it."""

    def __init__(self, steps: Sequence[Step], where: Expr | None = None) -> None:
        self._steps = tuple(steps)
        self._where = where
        self._outputs = _output_columns(self._steps)
        if where is not None:
            unknown = sorted(where.columns() - {c.name for c in self._outputs})
            if unknown:
                raise QueryError(
                    f"filter on unknown column(s) {', '.join(unknown)}; the query has: "
                    f"{', '.join(c.name for c in self._outputs)}"
                )

    @classmethod
    def select(cls, group: FeatureGroup, columns: Sequence[str]) -> Query:
        """The root selection of ``columns`` of ``group``."""
        return cls([Step(group, tuple(_check_columns(group, columns)))])

    @property
    def steps(self) -> tuple[Step, ...]:
        """The root and the joins, in order."""
        return self._steps

    @property
    def root(self) -> FeatureGroup:
        """The left-most group."""
        return self._steps[0].group

    @property
    def where(self) -> Expr | None:
        """The filter, if any."""
        return self._where

    @property
    def outputs(self) -> tuple[OutputColumn, ...]:
        """The result's columns, in order."""
        return self._outputs

    @property
    def features(self) -> list[Feature]:
        """The result's columns as typed features."""
        return [Feature(c.name, c.type) for c in self._outputs]

    def join(
        self,
        other: Query,
        on: Sequence[str] | None = None,
        left_on: Sequence[str] | None = None,
        right_on: Sequence[str] | None = None,
        join_type: str = "left",
        prefix: str | None = None,
        ttl: dt.timedelta | str | None = None,
    ) -> Query:
        """Join ``other`` (its root and its own joins) to this query; returns a new query.

        Keys: ``on`` (same names on both sides), or ``left_on`` and ``right_on``, or by
        default the right group's primary key. They must cover the right group's primary key.
        """
        if not isinstance(other, Query):
            raise QueryError(f"join() takes a Query (e.g. fg.select_all()), not {other!r}")
        if join_type not in JOIN_TYPES:
            raise QueryError(f"join_type must be one of {', '.join(JOIN_TYPES)}, not {join_type!r}")
        if prefix is not None:
            check_name(prefix.rstrip("_") or "_", "join prefix")
        right = other._steps[0]
        left_keys, right_keys = _join_keys(right.group, on, left_on, right_on)
        head = Step(
            right.group,
            right.columns,
            tuple(left_keys),
            tuple(right_keys),
            join_type,
            prefix or "",
            _ttl(ttl),
        )
        steps = [*self._steps, head]
        _check_left_keys(steps, len(self._steps))
        for nested in other._steps[1:]:
            steps.append(nested)
            _check_left_keys(steps, len(steps) - 1)
        where = _combine(self._where, other._where)
        return Query(steps, where)

    def filter(self, expr: Expr) -> Query:
        """Keep only the rows where ``expr`` holds; returns a new query."""
        if not isinstance(expr, Expr):
            raise QueryError(f"filter() takes an expression like fti.col('x') > 1, not {expr!r}")
        return Query(self._steps, _combine(self._where, expr))

    def read(
        self,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        *,
        return_type: ReturnType = "pandas",
    ) -> Any:
        """Run the query on the latest commit of every group."""
        from fti.feature_store import point_in_time
        from fti.frames import from_arrow

        plan = point_in_time.plan(self, point_in_time.latest_versions(self))
        return from_arrow(plan.run(start_time=start_time, end_time=end_time), return_type)

    def to_sql(self) -> str:
        """The DuckDB SQL the query runs (tables named after their groups)."""
        from fti.feature_store import point_in_time

        return point_in_time.plan(self, point_in_time.latest_versions(self)).sql()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form stored with a feature view."""
        return {
            "steps": [
                {
                    "group": s.group.name,
                    "version": s.group.version,
                    "columns": list(s.columns),
                    "left_on": list(s.left_on),
                    "right_on": list(s.right_on),
                    "join_type": s.join_type,
                    "prefix": s.prefix,
                    "ttl_seconds": None if s.ttl is None else s.ttl.total_seconds(),
                }
                for s in self._steps
            ],
            "where": None if self._where is None else self._where.to_dict(),
        }

    @classmethod
    def from_dict(cls, store: FeatureStore, data: dict[str, Any]) -> Query:
        """Rebuild a query stored with :meth:`to_dict`."""
        steps = [
            Step(
                store.get_feature_group(s["group"], s["version"]),
                tuple(s["columns"]),
                tuple(s["left_on"]),
                tuple(s["right_on"]),
                s["join_type"],
                s["prefix"],
                None if s["ttl_seconds"] is None else dt.timedelta(seconds=s["ttl_seconds"]),
            )
            for s in data["steps"]
        ]
        where = None if data.get("where") is None else expr_from_dict(data["where"])
        return cls(steps, where)

    def __repr__(self) -> str:
        groups = ", ".join(f"{s.group.name}_v{s.group.version}" for s in self._steps)
        return f"Query({groups}; {len(self._outputs)} columns)"


def _check_columns(group: FeatureGroup, columns: Sequence[str]) -> list[str]:
    if isinstance(columns, str):
        columns = [columns]
    features = group.features
    if features is None:
        raise QueryError(f"{group!r} has no schema yet: insert data or declare its features first")
    names = [f.name for f in features]
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise QueryError(
            f"{group.name} has no column(s) {', '.join(map(repr, unknown))}; "
            f"it has: {', '.join(names)}"
        )
    if len(set(columns)) != len(columns):
        raise QueryError(f"selection {list(columns)} repeats a column")
    return list(columns)


def _join_keys(
    right: FeatureGroup,
    on: Sequence[str] | None,
    left_on: Sequence[str] | None,
    right_on: Sequence[str] | None,
) -> tuple[list[str], list[str]]:
    if on is not None and (left_on is not None or right_on is not None):
        raise QueryError("give either on= or left_on=/right_on=, not both")
    if (left_on is None) != (right_on is None):
        raise QueryError("left_on= and right_on= go together")
    if on is not None:
        left = right_keys = [on] if isinstance(on, str) else list(on)
    elif left_on is not None and right_on is not None:
        left = [left_on] if isinstance(left_on, str) else list(left_on)
        right_keys = [right_on] if isinstance(right_on, str) else list(right_on)
    else:
        left = right_keys = right.primary_key
    if len(left) != len(right_keys) or not left:
        raise QueryError(f"left_on {left} and right_on {right_keys} must have the same length")
    _check_columns(right, right_keys)
    missing = [k for k in right.primary_key if k not in right_keys]
    if missing:
        raise QueryError(
            f"the join with {right.name} does not cover its primary key: missing "
            f"{', '.join(map(repr, missing))} (its primary key is {right.primary_key}); "
            "without it several right rows could match one left row"
        )
    return list(left), list(right_keys)


def left_key_source(steps: Sequence[Step], index: int, key: str) -> tuple[int, str]:
    """Which earlier step and column provide the left key ``key`` of join ``index``.

    A key is looked up among the root's columns, then among the output and source names of
    the groups joined before, so a key can come from an earlier group's row (chained keys).
    """
    root = steps[0].group
    if key in {f.name for f in root.features or []}:
        return 0, key
    for i in range(1, index):
        step = steps[i]
        for column in step.columns:
            if step.prefix + column == key or column == key:
                return i, column
        for k in step.right_on:
            if k == key:
                return i, k
    raise QueryError(
        f"join key {key!r} of {steps[index].group.name} is not a column of {root.name} "
        "or of a group joined before it"
    )


def _check_left_keys(steps: Sequence[Step], index: int) -> None:
    step = steps[index]
    right_types = {f.name: f.type for f in step.group.features or []}
    for left, right in zip(step.left_on, step.right_on, strict=True):
        source, column = left_key_source(steps, index, left)
        left_types = {f.name: f.type for f in steps[source].group.features or []}
        if left_types[column] != right_types[right]:
            raise QueryError(
                f"join key {left!r} ({left_types[column]}) and {step.group.name}.{right} "
                f"({right_types[right]}) have different types"
            )


def _output_columns(steps: Sequence[Step]) -> tuple[OutputColumn, ...]:
    outputs: list[OutputColumn] = []
    seen: dict[str, str] = {}
    for i, step in enumerate(steps):
        types = {f.name: f.type for f in step.group.features or []}
        for column in step.columns:
            # A right key equal by name to its left key would only repeat the left column.
            if i > 0 and not step.prefix and column in step.right_on:
                left = step.left_on[step.right_on.index(column)]
                if left == column:
                    continue
            name = step.prefix + column
            if name in seen:
                raise QueryError(
                    f"column {name!r} of {step.group.name} clashes with the one of {seen[name]}; "
                    "pass prefix= to the join, or select fewer columns"
                )
            seen[name] = step.group.name
            outputs.append(OutputColumn(i, column, name, types[column]))
    return tuple(outputs)


def _ttl(ttl: dt.timedelta | str | None) -> dt.timedelta | None:
    if ttl is None:
        return None
    if isinstance(ttl, str):
        try:
            with warnings.catch_warnings():
                # pandas deprecates lowercase units such as "2d"; users still write them.
                warnings.simplefilter("ignore")
                ttl = pd.Timedelta(ttl).to_pytimedelta()
        except ValueError as exc:
            raise QueryError(f"ttl {ttl!r} is not a duration such as '3h' or '2 days'") from exc
    if not isinstance(ttl, dt.timedelta) or ttl <= dt.timedelta(0):
        raise QueryError(f"ttl must be a positive timedelta, got {ttl!r}")
    return ttl


def _combine(a: Expr | None, b: Expr | None) -> Expr | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b
