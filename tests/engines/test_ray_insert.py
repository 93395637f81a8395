"""Inserts on the ray engine, on a real two-node cluster, leave what a local insert leaves: the
same rows, commits, statistics and online rows, on adversarial random data; a bad batch or a
dead worker leaves the table as it was.

Stores: local folders (the cluster's nodes share this machine's disk), SQLite metadata and
online store; one test on the S3 server (moto), PostgreSQL and Redis.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import fti
from fti.engines.ray import RayEngine
from fti.errors import (
    DataValidationError,
    EngineError,
    ExpectationError,
    SchemaError,
    StoreError,
)
from support.dying_worker import dying_opener

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

BASE = pd.Timestamp("2024-03-01", tz="UTC")


@pytest.fixture
def project(ray_cluster: Any, tmp_path: Path) -> Iterator[fti.Project]:
    """A project in local folders whose ray engine splits into 3 partitions."""
    with fti.connect(tmp_path / "home", "p", ray_partitions="3") as opened:
        yield opened


def batch(seed: int, n: int, keys: int, *, start: int = 0) -> pd.DataFrame:
    """Random rows: few keys and a small minute grid (duplicate keys and event times within
    the batch, ties), nulls in the features, strings and a list column."""
    rng = np.random.default_rng(seed)
    value = pd.Series(rng.normal(size=n)).mask(rng.random(n) < 0.2)
    return pd.DataFrame(
        {
            "id": rng.integers(start, start + keys, n).astype("int64"),
            "ts": BASE + pd.to_timedelta(rng.integers(0, 6, n), unit="min"),
            "value": value,
            "name": pd.Series(rng.choice(["a", "b", "ü", ""], n)).mask(rng.random(n) < 0.1),
            "count": pd.array(rng.integers(0, 100, n), dtype="Int64"),
            "tags": [list(map(int, rng.integers(0, 5, rng.integers(0, 3)))) for _ in range(n)],
        }
    )


def create(project: fti.Project, name: str, **options: Any) -> fti.FeatureGroup:
    return project.feature_store.create_feature_group(
        name, primary_key=["id"], event_time="ts", online_enabled=True, **options
    )


def assert_same_statistics(local: dict[str, Any], ray: dict[str, Any]) -> None:
    """Equal statistics; mean and stddev, merged from the partitions', to the last bits."""
    assert local.keys() == ray.keys()
    for name, expected in local.items():
        want, got = expected.to_dict(), ray[name].to_dict()
        for key in ("mean", "stddev"):
            a, b = want.pop(key), got.pop(key)
            assert (a is None) == (b is None), (name, key)
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (name, key, a, b)
        assert want == got, name


def assert_same_group(local: fti.FeatureGroup, ray: fti.FeatureGroup, keys: list[Any]) -> None:
    """Equal rows, commits, statistics and online rows."""
    order = ["id", "ts"]
    pd.testing.assert_frame_equal(
        local.read().sort_values(order).reset_index(drop=True),
        ray.read().sort_values(order).reset_index(drop=True),
    )
    left, right = local.commits(), ray.commits()
    assert [(c.id, c.rows, c.rows_inserted, c.rows_updated) for c in left] == [
        (c.id, c.rows, c.rows_inserted, c.rows_updated) for c in right
    ]
    for commit in left:
        assert_same_statistics(local.statistics(commit.id), ray.statistics(commit.id))
    assert local.read_online([{"id": k} for k in keys], return_type="list") == ray.read_online(
        [{"id": k} for k in keys], return_type="list"
    )
    # The change feed of every commit: what an online repair replays.
    for commit in left:
        changes = [g.read_changes(commit.id, commit.id) for g in (local, ray)]
        left_rows, right_rows = (
            c.drop(columns=[x for x in c.columns if x.startswith("_")])
            .sort_values(order)
            .reset_index(drop=True)
            for c in changes
        )
        pd.testing.assert_frame_equal(left_rows, right_rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_ray_inserts_equal_local_ones_on_random_batches(project: fti.Project, seed: int) -> None:
    local, ray = create(project, f"local{seed}"), create(project, f"ray{seed}")
    batches = [batch(seed, 400, 60), batch(seed + 10, 300, 40, start=30), batch(seed + 20, 50, 200)]
    for data in batches:
        local.insert(data, engine="local")
        ray.insert(data, engine="ray")
    assert_same_group(local, ray, list(range(-1, 201)))
    assert ray.commits()[1].rows_updated > 0  # the second batch replaced stored rows


def test_every_source_kind_gives_the_same_table(project: fti.Project) -> None:
    import ray

    data = batch(5, 300, 50)
    local = create(project, "local")
    local.insert(data, engine="local")
    table = pa.Table.from_pandas(data, preserve_index=False)
    sources = {
        "arrow": table,
        "polars": pl.from_arrow(table),
        "ray": ray.data.from_arrow([table.slice(0, 100), table.slice(100)]),
    }
    for kind, source in sources.items():
        group = create(project, kind)
        group.insert(source, engine="ray")
        assert_same_group(local, group, list(range(50)))


def test_a_stream_of_arrow_batches_is_inserted_a_block_at_a_time(
    project: fti.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = batch(6, 300, 50)
    local = create(project, "local")
    local.insert(data, engine="local")
    table = pa.Table.from_pandas(data, preserve_index=False)
    # Batches of 50 rows gathered into blocks of 100 on the driver: 3 blocks, in order.
    monkeypatch.setattr("fti.engines.ray_insert.BLOCK_ROWS", 100)
    for engine in ("ray", "local"):
        group = create(project, f"stream_{engine}")
        group.insert(
            pa.RecordBatchReader.from_batches(table.schema, table.to_batches(50)), engine=engine
        )
        assert_same_group(local, group, list(range(50)))


@pytest.fixture
def spark(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local Spark session (its JVM a process of its own)."""
    if shutil.which("java") is None:
        message = "no java on PATH: Spark needs Java 17 or newer"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from pyspark.sql import SparkSession

    # Its Python workers import fti (the conversion of their batches): this venv's Python.
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Batches of 50 rows: a partition of the test's frame sends several.
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "50")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.slow
def test_a_spark_dataframe_is_inserted_by_arrow_batches(
    project: fti.Project, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = batch(7, 300, 50)
    local = create(project, "local")
    local.insert(data, engine="local")
    frame = spark.createDataFrame(pa.Table.from_pandas(data, preserve_index=False))
    # Batches of 50 rows gathered into blocks of 100 on the driver: 3 blocks, in order.
    monkeypatch.setattr("fti.engines.ray_insert.BLOCK_ROWS", 100)
    for engine in ("ray", "local"):
        group = create(project, f"spark_{engine}")
        group.insert(frame, engine=engine)
        assert_same_group(local, group, list(range(50)))
    empty = create(project, "spark_empty")
    assert empty.insert(frame.limit(0), engine="ray") is None
    assert empty.commits() == []


def test_warn_mode_keeps_the_local_report(project: fti.Project) -> None:
    import pandera.pandas as pandera

    expectations = pandera.DataFrameSchema(
        {"value": pandera.Column(float, pandera.Check.ge(-1.0), nullable=True)}
    )
    local, ray = (
        create(project, name, expectations=expectations, validation="warn")
        for name in ("local", "ray")
    )
    data = batch(7, 400, 80)
    assert local.insert(data, engine="local").validation == "failed"  # type: ignore[union-attr]
    assert ray.insert(data, engine="ray").validation == "failed"  # type: ignore[union-attr]
    ((_, want),) = local.validation_reports()
    ((_, got),) = ray.validation_reports()
    assert (got.passed, got.rows_checked) == (want.passed, want.rows_checked)
    assert [(f.column, f.check, f.failed_rows) for f in got.failures] == [
        (f.column, f.check, f.failed_rows) for f in want.failures
    ]
    assert_same_group(local, ray, list(range(80)))


def table_files(project: fti.Project, fg: fti.FeatureGroup) -> set[str]:
    """The Parquet files in the group's table folder, committed or not."""
    folder = Path(project.offline_store._path(fg._offline_table))  # type: ignore[attr-defined]
    return {p.name for p in folder.glob("*.parquet")}


@pytest.mark.parametrize("failure", ["expectation", "null key", "future time"])
def test_a_batch_failing_on_one_worker_writes_nothing(project: fti.Project, failure: str) -> None:
    import pandera.pandas as pandera

    expectations = pandera.DataFrameSchema({"count": pandera.Column(int, pandera.Check.ge(0))})
    fg = create(project, "g", expectations=expectations)
    fg.insert(batch(8, 300, 50), engine="ray")
    before, files = fg.read(), table_files(project, fg)
    online = fg.read_online([{"id": k} for k in range(50)], return_type="list")
    bad = batch(9, 600, 100)
    if failure == "expectation":
        bad.loc[550, "count"] = -1
        error: type[Exception] = DataValidationError
    elif failure == "null key":
        bad["id"] = bad["id"].astype("Int64")
        bad.loc[550, "id"] = None
        error = SchemaError
    else:
        bad.loc[550, "ts"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=30)
        error = SchemaError
    # Blocks of 100 rows: the bad row is in the last block, checked by one task.
    data = pa.Table.from_pandas(bad, preserve_index=False)
    with pytest.raises(error):
        fg.insert(ray_dataset(data, 100), engine="ray")
    assert [c.id for c in fg.commits()] == [0]
    pd.testing.assert_frame_equal(fg.read(), before)
    assert table_files(project, fg) == files
    assert fg.read_online([{"id": k} for k in range(50)], return_type="list") == online


def test_expectations_judging_the_whole_batch_are_refused_before_any_work(
    project: fti.Project,
) -> None:
    import pandera.pandas as pandera

    whole = pandera.DataFrameSchema({"name": pandera.Column(str, unique=True, nullable=True)})
    fg = create(project, "whole", expectations=whole)
    with pytest.raises(ExpectationError, match=r"column 'name': unique.*engine='local'"):
        fg.insert(batch(13, 200, 30), engine="ray")
    assert fg.commits() == []
    # unique over columns holding the primary key is decided within a key partition.
    keyed = pandera.DataFrameSchema(unique=["id", "ts"])
    data = batch(14, 300, 40)
    local_group = create(project, "keyed_local", expectations=keyed)
    ray_group = create(project, "keyed", expectations=keyed)
    local_group.insert(data, engine="local")
    ray_group.insert(data, engine="ray")
    assert_same_group(local_group, ray_group, list(range(40)))


def ray_dataset(table: pa.Table, rows: int) -> Any:
    import ray

    return ray.data.from_arrow([table.slice(i, rows) for i in range(0, table.num_rows, rows)])


def test_the_connection_engine_applies_to_inserts(ray_cluster: Any, tmp_path: Path) -> None:
    with fti.connect(tmp_path / "home", "p", engine="ray") as project:
        fg = create(project, "g")
        for seed in (11, 12):
            fg.insert(batch(seed, 200, 30))
        # delta-rs names the commits it writes itself CREATE TABLE or MERGE, the ray engine's
        # transactions WRITE.
        operations = [c.operation for c in project.offline_store.history(fg._offline_table)]
        assert operations == ["CREATE TABLE", "WRITE"]
        assert [c.rows_updated for c in fg.commits()][1] > 0


def test_on_object_storage_postgresql_and_redis(ray_project: fti.Project) -> None:
    local, ray = create(ray_project, "local"), create(ray_project, "ray")
    for seed in (21, 22):
        data = batch(seed, 300, 40)
        local.insert(data, engine="local")
        ray.insert(data, engine="ray")
    assert_same_group(local, ray, list(range(40)))


def dying_engine(project: fti.Project, marker: Path, *, always: bool, retries: int) -> None:
    """Makes the project's ray engine one whose workers die opening the store to write."""
    opener = project.engine("ray")._open_offline  # type: ignore[attr-defined]
    dying = dying_opener(opener, marker, always)
    project._engines["ray"] = RayEngine(dying, "", 3, max_retries=retries)


def test_a_worker_killed_mid_insert_is_retried_by_ray(project: fti.Project, tmp_path: Path) -> None:
    local, ray = create(project, "local"), create(project, "ray")
    first, second = batch(31, 300, 40), batch(32, 300, 40)
    for fg in (local, ray):
        fg.insert(first, engine="local")
    local.insert(second, engine="local")
    dying_engine(project, tmp_path / "killed-once", always=False, retries=3)

    ray.insert(second, engine="ray")

    assert (tmp_path / "killed-once").exists()
    assert_same_group(local, ray, list(range(40)))


def test_an_insert_whose_workers_keep_dying_is_an_engine_error_and_commits_nothing(
    project: fti.Project, tmp_path: Path
) -> None:
    fg = create(project, "g")
    fg.insert(batch(33, 300, 40), engine="local")
    before, files = fg.read(), table_files(project, fg)
    dying_engine(project, tmp_path / "killed-always", always=True, retries=0)

    with pytest.raises(EngineError, match="Ray"):
        fg.insert(batch(34, 300, 40), engine="ray")

    assert [c.id for c in fg.commits()] == [0]
    pd.testing.assert_frame_equal(fg.read(), before)
    assert table_files(project, fg) == files


def test_a_group_without_event_time_upserts_on_its_key(project: fti.Project) -> None:
    groups = [
        project.feature_store.create_feature_group(name, primary_key=["id"], online_enabled=True)
        for name in ("local", "ray")
    ]
    for seed in (41, 42):
        data = batch(seed, 200, 50).drop(columns=["ts"])
        for fg, engine in zip(groups, ("local", "ray"), strict=True):
            fg.insert(data, engine=engine)
    local, ray = (fg.read().sort_values("id").reset_index(drop=True) for fg in groups)
    pd.testing.assert_frame_equal(local, ray)
    assert [c.rows_updated for c in groups[0].commits()] == [
        c.rows_updated for c in groups[1].commits()
    ]
    keys = [{"id": k} for k in range(50)]
    assert groups[0].read_online(keys, return_type="list") == groups[1].read_online(
        keys, return_type="list"
    )


def racing_commits(
    monkeypatch: pytest.MonkeyPatch, fg: fti.FeatureGroup, batches: list[pd.DataFrame]
) -> list[int]:
    """Before each of the ray insert's commits, another writer (a local insert of the next of
    ``batches``) commits first; returns the list of commit attempts, which grows."""
    from fti.engines import ray_insert

    real = ray_insert.commit_files
    attempts: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> int:
        if len(attempts) < len(batches):
            fg.insert(batches[len(attempts)], engine="local")
        attempts.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ray_insert, "commit_files", racing)
    return attempts


def test_a_commit_lost_to_another_writer_is_planned_again(
    project: fti.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other, mine = batch(51, 300, 40), batch(52, 200, 40), batch(53, 300, 40)
    reference = create(project, "reference")
    for data in (first, other, mine):
        reference.insert(data, engine="local")
    fg = create(project, "g")
    fg.insert(first, engine="local")
    attempts = racing_commits(monkeypatch, fg, [other])

    fg.insert(mine, engine="ray")

    assert len(attempts) == 2
    order = ["id", "ts"]
    pd.testing.assert_frame_equal(
        reference.read().sort_values(order).reset_index(drop=True),
        fg.read().sort_values(order).reset_index(drop=True),
    )
    keys = [{"id": k} for k in range(40)]
    assert reference.read_online(keys, return_type="list") == fg.read_online(
        keys, return_type="list"
    )


def test_an_insert_that_never_wins_its_commit_deletes_its_files(
    project: fti.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fti.engines import ray_insert

    fg = create(project, "g")
    fg.insert(batch(54, 100, 40), engine="local")
    monkeypatch.setattr(ray_insert, "COMMIT_ATTEMPTS", 3)
    racing_commits(monkeypatch, fg, [batch(55 + i, 50, 40) for i in range(3)])

    with pytest.raises(StoreError, match="other writers committed first"):
        fg.insert(batch(60, 300, 40), engine="ray")

    assert len(fg.commits()) == 4  # the other writer's
    # delta-rs names its files *.snappy.parquet; none of the ray insert's is left.
    assert all(name.endswith(".snappy.parquet") for name in table_files(project, fg))
