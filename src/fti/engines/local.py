"""The local engine: the plan's one DuckDB statement, and inserts, in this process (the
default)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.ingest import Commit
    from fti.feature_store.point_in_time import Plan, Spine


class LocalEngine:
    """DuckDB in this process, reading the pinned Parquet files itself."""

    name = "local"

    def point_in_time(
        self,
        plan: Plan,
        *,
        spine: Spine | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> pa.Table:
        """The rows of ``plan``: :meth:`Plan.run`."""
        return plan.run(spine=spine, start_time=start_time, end_time=end_time)

    def insert(self, fg: FeatureGroup, data: Any) -> Commit | None:
        """Write ``data`` to ``fg`` in this process: :func:`fti.feature_store.ingest.insert`."""
        from fti.feature_store import ingest

        return ingest.insert(fg, data)

    def __repr__(self) -> str:
        return "LocalEngine()"
