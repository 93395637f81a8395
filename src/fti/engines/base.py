"""The engine protocol: run a point-in-time plan, return its rows in the plan's order."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from fti.feature_store.point_in_time import Plan, Spine


class Engine(Protocol):
    """Runs point-in-time plans; every engine gives the same rows, values and order."""

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
