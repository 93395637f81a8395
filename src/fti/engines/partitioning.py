"""How a point-in-time plan is split into key partitions that join independently.

A row of the driving table (the spine, or the root group without one) joins only rows of the
other groups with equal key values. Hashing the same key values on both sides puts them in
the same partition, so each partition runs the plan's statement on its own rows and the union
of the partitions' results is the whole result. One set of root columns, ``root``, is hashed:
the groups joined on exactly those columns are split the same way; any other group (joined on
other columns, or on columns of an earlier group: chained keys) is read whole by every
partition. The hashed columns are chosen to split the largest groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fti.feature_store.query import Query, left_key_source


@dataclass(frozen=True)
class Layout:
    """The hashed columns of the driving table and of each step's group."""

    root: tuple[str, ...]
    """Columns of the root group (and of the spine) whose hash picks a row's partition."""
    keys: tuple[tuple[str, ...] | None, ...]
    """Per step, the group's columns hashed in the same order as :attr:`root`; None: every
    partition reads all the group's rows."""


def layout(query: Query, has_spine: bool, weights: Sequence[int]) -> Layout:
    """The layout that splits the most bytes (``weights``: bytes read per step).

    With a spine the hashed columns are the root's primary key: the spine carries no other
    root column.
    """
    steps = query.steps
    root = steps[0].group
    root_types = {f.name: f.type for f in root.features or []}
    primary = tuple(sorted(root.primary_key))
    members: dict[tuple[str, ...], dict[int, tuple[str, ...]]] = {primary: {0: primary}}
    for i, step in enumerate(steps[1:], start=1):
        sources = [left_key_source(steps, i, key) for key in step.left_on]
        left = [column for _, column in sources]
        if any(source != 0 for source, _ in sources) or len(set(left)) != len(left):
            continue
        right_types = {f.name: f.type for f in step.group.features or []}
        pairs = sorted(zip(left, step.right_on, strict=True))
        # Equal values of different types may hash differently: such a group is read whole.
        if any(root_types.get(a) != right_types.get(b) for a, b in pairs):
            continue
        hashed = tuple(a for a, _ in pairs)
        if has_spine and hashed != primary:
            continue
        group = members.setdefault(hashed, {0: hashed})
        group[i] = tuple(b for _, b in pairs)

    def split_bytes(hashed: tuple[str, ...]) -> tuple[int, bool]:
        return sum(weights[i] for i in members[hashed]), hashed == primary

    best = max(members, key=split_bytes)
    chosen = members[best]
    return Layout(best, tuple(chosen.get(i) for i in range(len(steps))))
