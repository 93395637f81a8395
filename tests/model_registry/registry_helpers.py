"""Helpers of the model registry tests: a small feature view with a training dataset."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

import fti

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def flights_frame(first_id: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """Flights with a label that depends on distance and temperature."""
    rng = np.random.default_rng(seed)
    ids = np.arange(first_id, first_id + rows)
    return pd.DataFrame(
        {
            "fid": ids,
            "p": [T0 + dt.timedelta(hours=int(i)) for i in ids],
            "origin": rng.choice(["EWR", "JFK", "LGA"], rows),
            "distance": rng.integers(100, 3000, rows),
            "late": rng.random(rows) < 0.3,
        }
    )


def make_view(fs: fti.FeatureStore, *, online: bool = True, rows: int = 60) -> fti.FeatureView:
    """Two groups (flights, weather) joined as of time, a view and one training dataset."""
    flights = fs.create_feature_group(
        "flights", primary_key=["fid"], event_time="p", online_enabled=online
    )
    flights.insert(flights_frame(1, rows))
    weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="t")
    weather.insert(
        pd.DataFrame(
            {
                "origin": ["EWR", "JFK", "LGA"],
                "t": [T0 - dt.timedelta(hours=1)] * 3,
                "temp": [1.5, 2.5, 3.5],
            }
        )
    )
    query = flights.select(["origin", "distance", "late"]).join(
        weather.select(["temp"]), on=["origin"]
    )
    view = fs.create_feature_view("delays", query=query, labels=["late"])
    view.train_test_split(test_size=0.25, seed=1)
    return view
