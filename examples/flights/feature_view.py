"""The feature view of the flights demo: what the model reads, for training and serving.

Every group is joined as of the flight's prediction time P (scheduled departure - 2 h):
weather within 3 h, carrier delays within 2 h, the aircraft's last departure within 24 h,
and the plane's static facts by tail number.
"""

from __future__ import annotations

import datetime as dt

import fti

NAME = "flight_delays"
LABEL = "is_delayed"
ROOT_COLUMNS = [
    "carrier",
    "origin",
    "dest",
    "distance",
    "dep_minute_of_day",
    "day_of_week",
    "month",
    LABEL,
]
WEATHER = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]
CARRIER_DELAYS = ["departures", "mean_dep_delay", "share_delayed"]
AIRCRAFT = ["prev_dep_delay"]
PLANES = ["year_built", "seats", "engines"]
JOINED = {
    "weather": WEATHER,
    "carrier_delays": CARRIER_DELAYS,
    "aircraft_history": AIRCRAFT,
    "planes": PLANES,
}
CATEGORICAL = ["carrier", "origin", "dest"]

# Local New York midnights, in UTC (EDT is UTC-4 on both dates).
VALIDATION_START = dt.datetime(2013, 9, 1, 4, tzinfo=dt.UTC)
TEST_START = dt.datetime(2013, 11, 1, 4, tzinfo=dt.UTC)


def query(fs: fti.FeatureStore) -> fti.Query:
    """flights joined as of P with weather, carrier delays, aircraft history and planes."""
    group = fs.get_feature_group
    return (
        group("flights")
        .select(ROOT_COLUMNS)
        .join(group("weather").select(WEATHER), on=["origin"], ttl="3h")
        .join(group("carrier_delays").select(CARRIER_DELAYS), on=["carrier", "origin"], ttl="2h")
        .join(group("aircraft_history").select(AIRCRAFT), on=["tailnum"], ttl="24h")
        .join(group("planes").select(PLANES), on=["tailnum"])
    )


def feature_view(fs: fti.FeatureStore) -> fti.FeatureView:
    """The demo's view, created on first use."""
    return fs.get_or_create_feature_view(
        NAME,
        version=1,
        query=query(fs),
        labels=[LABEL],
        description="Is a departure from New York delayed by 15 minutes or more? "
        "Features known 2 h before the scheduled departure.",
    )
