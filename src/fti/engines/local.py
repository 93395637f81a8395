"""The local engine: the plan's one DuckDB statement in this process (the default)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
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

    def __repr__(self) -> str:
        return "LocalEngine()"
