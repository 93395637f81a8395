"""The statuses of a monitor's window, in a module of their own so the CLI loads them cheaply."""

from __future__ import annotations

ALERT_STATUSES = frozenset({"drift", "degraded"})
"""The statuses that alert (log, webhook) and make ``fti monitor run`` exit 1."""
