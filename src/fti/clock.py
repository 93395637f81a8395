"""The current time as fti sees it: the wall clock, or ``$FTI_NOW`` when replaying history.

Online serving decides ttl expiry "as of now". A demo or a backtest that replays past days
sets ``FTI_NOW`` (an ISO 8601 time; naive means UTC) so that online vectors are those a
server would have returned then.
"""

from __future__ import annotations

import datetime as dt
import os

from fti.errors import ConfigError

ENV = "FTI_NOW"


def now() -> dt.datetime:
    """The current UTC time, or the time in ``$FTI_NOW``."""
    value = os.environ.get(ENV)
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{ENV}={value!r} is not an ISO 8601 time") from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
