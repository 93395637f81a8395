"""The model the server tests serve: rides joined with zones (ttl) and a label-only group.

``rides`` (root, online) has an on-demand feature ``eta`` that needs the request parameter
``speed`` and an integer feature ``passengers`` that is null in a fifth of the rows; ``zones``
is joined with a ttl of one hour; ``outcomes`` (not online-enabled) gives only the label. At
``NOW`` the row of zone ``b`` has expired and zone ``d`` has none.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

import fti

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(hours=10)
RIDES = 60
MODEL = "rides"
TEXT_MODEL = "rides_text"  # the same, with classes "late" and "on_time"
TEXT_LABELS = {True: "late", False: "on_time"}
BODY_LIMIT = 64 * 1024


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def eta(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"] * 60


def rides_frame() -> pd.DataFrame:
    """Rides 0..59, one every 10 minutes; passengers null every fifth ride."""
    rng = np.random.default_rng(4)
    ids = np.arange(RIDES)
    passengers = pd.array([None if i % 5 == 0 else int(1 + i % 4) for i in ids], dtype="Int64")
    return pd.DataFrame(
        {
            "ride_id": ids,
            "t": [T0 + dt.timedelta(minutes=10 * int(i)) for i in ids],
            "zone": np.array(["a", "b", "c", "d"])[ids % 4],
            "distance": rng.gamma(2.0, 3.0, RIDES),
            "passengers": passengers,
            "speed": rng.uniform(20.0, 40.0, RIDES),
        }
    )


def build(project: fti.Project) -> fti.Model:
    """The groups, the view, and the models trained on it (``rides``: bool classes;
    ``rides_text``: text classes)."""
    fs = project.feature_store
    frame = rides_frame()
    rides = fs.create_feature_group(
        "rides", primary_key=["ride_id"], event_time="t", on_demand_features=[eta]
    )
    rides.insert(frame)
    zones = fs.create_feature_group("zones", primary_key=["zone"], event_time="t")
    zones.insert(
        pd.DataFrame(
            {
                "zone": ["a", "b", "c"],
                "t": [T0 + dt.timedelta(hours=h) for h in (9.25, 2.0, 9.5)],
                "traffic": [0.2, 0.5, 0.8],
            }
        )
    )
    outcomes = fs.create_feature_group("outcomes", primary_key=["ride_id"], online_enabled=False)
    outcomes.insert(pd.DataFrame({"ride_id": frame["ride_id"], "late": frame["distance"] > 6.0}))
    view = fs.create_feature_view(
        "ride_delays",
        query=rides.select(["distance", "passengers", "eta"])
        .join(zones.select(["traffic"]), on=["zone"], ttl="1h")
        .join(outcomes.select(["late"]), on=["ride_id"]),
        labels=["late"],
        transformations={"distance": fti.transforms.standard_scaler},
    )
    x, _, y, _ = view.train_test_split(test_size=0.25, seed=1)
    estimator = HistGradientBoostingClassifier(max_iter=20).fit(x, y)
    model = project.model_registry.create_model(
        MODEL, feature_view=view, training_dataset_version=1, input_example=x.head(2)
    )
    model.save(estimator)
    labelled = project.model_registry.create_model(
        TEXT_MODEL, feature_view=view, training_dataset_version=1, input_example=x.head(2)
    )
    labelled.save(HistGradientBoostingClassifier(max_iter=20).fit(x, y.map(TEXT_LABELS)))
    return model


def home_of(project: fti.Project) -> Path:
    """The fti home folder of ``project``."""
    return Path(project.settings.home)
