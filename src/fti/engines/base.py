"""The engine protocol: run a point-in-time plan, return its rows in the plan's order; insert
rows into a feature group."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.ingest import Commit
    from fti.feature_store.point_in_time import Plan, Spine


class Engine(Protocol):
    """Runs point-in-time plans and inserts; every engine gives the same rows, values and
    order, and leaves the same tables and online rows, and the same statistics up to
    floating-point rounding and distinct-count estimates."""

    name: str

    def point_in_time(
        self,
        plan: Plan,
        *,
        spine: Spine | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> pa.Table:
        """The rows of ``plan`` (with ``spine``, one per spine row, in its order), as
        :meth:`Plan.run` gives them."""
        ...

    def insert(self, fg: FeatureGroup, data: Any) -> Commit | None:
        """Write ``data`` to ``fg`` in one commit, as :func:`fti.feature_store.ingest.insert`
        does; None when it has no rows."""
        ...
