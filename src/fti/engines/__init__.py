"""Engines: where a point-in-time plan runs (DuckDB in this process, or a Ray cluster).

``Project.engine(name)`` opens them; the feature store only sees the :class:`Engine` protocol,
so Ray is imported only when the ray engine is used.
"""

from __future__ import annotations

from fti.engines.base import Engine
from fti.engines.local import LocalEngine

__all__ = ["Engine", "LocalEngine"]
