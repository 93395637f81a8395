"""The ray engine on a real two-node cluster gives what the local engine gives: the same
rows, values, order, digests and splits, on adversarial random data and the flights view.

Stores: the offline store on S3 (moto), metadata on PostgreSQL, online on Redis.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import fti
from fti.engines.ray import RayEngine
from fti.errors import EngineError
from fti.feature_store.training_data import SPLIT_COLUMN
from support.dying_worker import dying_opener

# Ray Data's own context warns about its own deprecated option when it is first made.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

BASE = pd.Timestamp("2024-03-01", tz="UTC")
MINUTES = 30  # event times on a small minute grid: many ties, and ttl edges hit exactly


def _times(rng: np.random.Generator, n: int) -> pd.Series:
    return pd.Series(BASE + pd.to_timedelta(rng.integers(0, MINUTES, n), unit="min"))


def _nulls(rng: np.random.Generator, values: Any, share: float = 0.15) -> pd.Series:
    series = pd.Series(values)
    return series.mask(rng.random(len(series)) < share)


def random_view(
    fs: fti.FeatureStore, seed: int, transformations: dict[str, Any] | None = None
) -> tuple[fti.FeatureView, pd.DataFrame]:
    """A view over random groups: a root with null keys, a group on the root's key (inner),
    one on a nullable key with a ttl, one on a string key and a static group chained from it;
    each group written in two commits, the second upserting rows of the first. Returns the
    view and the root's rows."""
    rng = np.random.default_rng(seed)
    n = 240
    customers = [f"c{i}" for i in range(12)]
    merchants = [f"m{i}" for i in range(8)]
    txn = pd.DataFrame(
        {
            "tid": rng.permutation(n).astype("int64"),
            "ts": _times(rng, n),
            "cust": _nulls(rng, rng.choice(customers, n)),
            "merchant": _nulls(rng, rng.choice(merchants, n), 0.05),
            "amount": _nulls(rng, rng.normal(size=n)),
            "label": rng.integers(0, 2, n),
        }
    )
    extra = pd.DataFrame(
        {"tid": rng.integers(0, n + 20, n), "ts": _times(rng, n), "flag": rng.random(n) < 0.5}
    )
    cust = pd.DataFrame(
        {
            "cust": rng.choice([*customers, "c_unused"], 300),
            "ts": _times(rng, 300),
            "spend": _nulls(rng, rng.gamma(2.0, size=300)),
        }
    )
    merchant = pd.DataFrame(
        {
            "merchant": rng.choice(merchants, 120),
            "ts": _times(rng, 120),
            "region": _nulls(rng, rng.choice(["north", "south", "east"], 120), 0.1),
            "score": rng.integers(-5, 5, 120),
        }
    )
    region = pd.DataFrame({"region": ["north", "south", "west"], "tax": [0.1, None, 0.3]})
    specs = [
        ("txn", ["tid"], "ts", txn),
        ("extra", ["tid"], "ts", extra),
        ("cust", ["cust"], "ts", cust),
        ("merchant", ["merchant"], "ts", merchant),
        ("region", ["region"], None, region),
    ]
    groups = {}
    for name, keys, time, given in specs:
        frame = given.drop_duplicates([*keys, *([time] if time else [])], keep="last")
        fg = fs.create_feature_group(name, 1, primary_key=keys, event_time=time)
        half = len(frame) // 2
        fg.insert(frame)
        # The second commit replaces some rows of the first (same key and time).
        changed = frame.iloc[:half].copy()
        for column in frame.columns:
            if column not in keys and column != time and frame[column].dtype.kind == "f":
                changed[column] = changed[column] * 2
        fg.insert(changed)
        groups[name] = fg
    query = (
        groups["txn"]
        .select(["cust", "merchant", "amount", "label"])
        .join(groups["extra"].select(["flag"]), on=["tid"], join_type="inner", ttl="20m")
        .join(groups["cust"].select(["spend"]), on=["cust"], ttl="5m")
        .join(groups["merchant"].select(["region", "score"]), on=["merchant"])
        .join(groups["region"].select(["tax"]), on=["region"])
    )
    view = fs.create_feature_view(
        "random", 1, query=query, labels=["label"], transformations=transformations
    )
    return view, txn


def spine_of(txn: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Rows of known keys drawn with replacement (duplicates), keys nobody has, and times on
    and off the grid, with labels."""
    rng = np.random.default_rng(seed + 100)
    known = txn[["tid"]].sample(150, replace=True, random_state=seed)
    unknown = pd.DataFrame({"tid": rng.integers(10_000, 10_010, 20)})
    spine = pd.concat([known, unknown, known.head(10)], ignore_index=True)
    offsets = rng.integers(-2, MINUTES + 5, len(spine)) * 60 + rng.choice([0, 30], len(spine))
    spine["ts"] = BASE + pd.to_timedelta(offsets, unit="s")
    spine["label"] = rng.integers(0, 2, len(spine))
    return spine


def assert_same_dataset(view: fti.FeatureView, local: int, ray: int) -> None:
    """Same digest, row count and stored rows (values, types and order)."""
    a, b = view.training_dataset(local), view.training_dataset(ray)
    assert (a.digest, a.rows) == (b.digest, b.rows)
    assert a.rows > 0
    left, right = view.read_training_data_table(local), view.read_training_data_table(ray)
    assert left.schema == right.schema
    assert left.equals(right)


@pytest.mark.parametrize("seed", [0, 1])
def test_training_data_and_splits_equal_the_local_engine(
    ray_project: fti.Project, seed: int
) -> None:
    view, txn = random_view(ray_project.feature_store, seed)

    assert_same_dataset(
        view, view.create_training_data(engine="local"), view.create_training_data(engine="ray")
    )
    spine = spine_of(txn, seed)
    assert_same_dataset(
        view,
        view.create_training_data(spine=spine, engine="local"),
        view.create_training_data(spine=spine, engine="ray"),
    )
    local = view.train_test_split(test_size=0.3, seed=seed, engine="local")
    ray = view.train_test_split(test_size=0.3, seed=seed, engine="ray")
    for a, b in zip(local, ray, strict=True):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    start, end = BASE + pd.Timedelta(minutes=7), BASE + pd.Timedelta(minutes=21)
    pd.testing.assert_frame_equal(
        view.get_batch_data(start, end, primary_key=True, event_time=True, engine="local"),
        view.get_batch_data(start, end, primary_key=True, event_time=True, engine="ray"),
    )
    keys = spine.drop(columns="label")
    pd.testing.assert_frame_equal(
        view.get_batch_data(spine=keys, primary_key=True, engine="local"),
        view.get_batch_data(spine=keys, primary_key=True, engine="ray"),
    )


def test_the_connections_engine_is_the_default_of_every_call(
    ray_cluster: Any, tmp_path: Path, s3_url: str
) -> None:
    with fti.connect(tmp_path / "home", "p", offline_url=s3_url, engine="ray") as project:
        view, _ = random_view(project.feature_store, 2)
        assert project.engine().name == "ray"
        three = view.train_validation_test_split(validation_size=0.2, test_size=0.2, seed=3)
        local = view.train_validation_test_split(
            validation_size=0.2, test_size=0.2, seed=3, engine="local"
        )
        for a, b in zip(three, local, strict=True):
            pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
        versions = [d.version for d in view.training_datasets()]
        assert view.verify_training_data(versions[0]).matches


def test_batch_data_as_a_ray_dataset_is_the_local_frame_in_order(
    ray_project: fti.Project,
) -> None:
    import ray

    scaled = {"spend": fti.transforms.standard_scaler, "merchant": fti.transforms.label_encoder}
    view, txn = random_view(ray_project.feature_store, 5, scaled)
    view.create_training_data(engine="local")
    spine = spine_of(txn, 5).drop(columns="label")

    # A spine with duplicates and unknown keys, whose order the dataset must keep (Ray Data's
    # sort is slow to start: one case only).
    dataset = view.get_batch_data(
        spine=spine, primary_key=True, event_time=True, return_type="ray", engine="ray"
    )
    assert isinstance(dataset, ray.data.Dataset)
    local = view.get_batch_data(spine=spine, primary_key=True, event_time=True)
    # Ray Data's to_pandas() uses a keyword pandas 3.1 deprecates: the blocks instead.
    rows = pa.concat_tables(ray.get(dataset.to_arrow_refs()))
    pd.testing.assert_frame_equal(rows.to_pandas(), local)

    with pytest.raises(fti.InvalidArgumentError, match="needs the ray engine"):
        view.get_batch_data(return_type="ray", engine="local")


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def eta_minutes(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"] * 60


def test_on_demand_features_recomputed_from_a_spine_equal_the_local_ones(
    ray_project: fti.Project,
) -> None:
    rng = np.random.default_rng(6)
    fs = ray_project.feature_store
    trips = fs.create_feature_group(
        "trips",
        1,
        primary_key=["id"],
        event_time="ts",
        features=[
            fti.Feature("id", "int64"),
            fti.Feature("ts", "timestamp"),
            fti.Feature("distance", "float64"),
        ],
        on_demand_features=[eta_minutes],
    )
    n = 200
    rows = pd.DataFrame(
        {"id": rng.integers(0, 40, n), "ts": _times(rng, n), "distance": rng.gamma(3.0, size=n)}
    ).drop_duplicates(["id", "ts"])
    trips.insert(rows.assign(speed=rng.uniform(10, 50, len(rows))))
    view = fs.create_feature_view("eta", 1, query=trips.select(["distance", "eta_minutes"]))
    spine = pd.DataFrame(
        {"id": rng.integers(0, 45, 120), "ts": _times(rng, 120), "speed": rng.uniform(5, 60, 120)}
    )

    local = view.get_batch_data(spine=spine, primary_key=True, engine="local")
    pd.testing.assert_frame_equal(
        view.get_batch_data(spine=spine, primary_key=True, engine="ray"), local
    )
    assert local["eta_minutes"].notna().sum() > 0


def test_batch_predict_on_ray_scores_as_local_in_one_commit(ray_project: fti.Project) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from fti.inference.batch import batch_predict

    scaled = {"spend": fti.transforms.standard_scaler, "amount": fti.transforms.standard_scaler}
    view, txn = random_view(ray_project.feature_store, 7, scaled)
    x, _, y, _ = view.train_test_split(test_size=0.25, seed=1)
    columns = ["amount", "spend", "score", "tax"]
    model = ray_project.model_registry.create_model(
        "risk", metrics={"accuracy": 0.5}, feature_view=view, training_dataset_version=1
    )
    numeric = ColumnTransformer([("numeric", SimpleImputer(), columns)])
    model.save(make_pipeline(numeric, LogisticRegression()).fit(x, y))
    spine = spine_of(txn, 7).drop(columns="label")

    local = batch_predict(model, spine=spine, output_feature_group="local_predictions")
    ray = batch_predict(model, spine=spine, output_feature_group="ray_predictions", engine="ray")

    same = ["tid", "ts", "prediction", "score", "model_version"]
    pd.testing.assert_frame_equal(ray[same], local[same])
    predictions = ray_project.feature_store.get_feature_group("ray_predictions")
    assert [c.rows for c in predictions.commits()] == [len(ray)]


@pytest.fixture
def dying(ray_project: fti.Project) -> Callable[..., RayEngine]:
    """Makes the project's ray engine one whose workers die opening the store."""

    def make(marker: Path, always: bool, retries: int) -> RayEngine:
        opener = ray_project.engine("ray")._open_offline  # type: ignore[attr-defined]
        engine = RayEngine(dying_opener(opener, marker, always), "", 2, max_retries=retries)
        ray_project._engines["ray"] = engine
        return engine

    return make


def test_a_worker_killed_mid_job_is_retried_by_ray(
    ray_project: fti.Project, dying: Callable[..., RayEngine], tmp_path: Path
) -> None:
    view, _ = random_view(ray_project.feature_store, 3)
    dying(tmp_path / "killed-once", always=False, retries=3)

    ray_version = view.create_training_data(engine="ray")

    assert (tmp_path / "killed-once").exists()
    assert_same_dataset(view, view.create_training_data(engine="local"), ray_version)


def test_a_job_whose_workers_keep_dying_is_an_engine_error_and_records_nothing(
    ray_project: fti.Project, dying: Callable[..., RayEngine], tmp_path: Path
) -> None:
    view, _ = random_view(ray_project.feature_store, 4)
    dying(tmp_path / "killed-always", always=True, retries=0)

    with pytest.raises(EngineError, match="Ray"):
        view.create_training_data(engine="ray")

    assert view.training_datasets() == []
    offline = ray_project.offline_store
    folder = f"{ray_project.name}/_training_data/{view.name}_v{view.version}"
    assert not _files_under(offline, folder)


def _files_under(offline: Any, folder: str) -> list[str]:
    from pyarrow import fs as pafs

    selector = pafs.FileSelector(offline._path(folder), allow_not_found=True, recursive=True)
    return [info.path for info in offline._fs().get_file_info(selector)]


def test_flights_view_has_the_local_digest(ray_project: fti.Project) -> None:
    flights = Path(__file__).resolve().parents[2] / "examples" / "flights"
    sys.path.insert(0, str(flights))
    try:
        import feature_pipeline
        import feature_view
        import features
    finally:
        sys.path.remove(str(flights))
    import datetime as dt

    frames = features.build_all()
    feature_pipeline.run(
        ray_project, dt.date(2013, 3, 1), dt.date(2013, 3, 3), frames, progress=False
    )
    view = feature_view.feature_view(ray_project.feature_store)

    local = view.create_training_data(engine="local")
    assert_same_dataset(view, local, view.create_training_data(engine="ray"))
    assert view.training_dataset(local).rows > 2_000
    table = view.read_training_data_table(local)
    assert set(table.column(SPLIT_COLUMN).to_pylist()) == {"train"}
    assert isinstance(table, pa.Table)
