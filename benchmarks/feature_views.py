"""Benchmarks of the "Feature views" issue: point-in-time training data and online vectors.

Two benchmarks, each beside references measured in the same run:

training
    A spine of ``--spine-rows`` rows (key, time) joined as of with a feature group of
    ``--rows`` rows (``--keys`` keys over 90 days, 4 features; synthetic, seeded). Contenders:
    fti ``fv.create_training_data(spine=...)`` and ``fv.get_batch_data(spine=...)`` on the
    group inserted into fti beforehand (Delta Lake); a hand-written DuckDB ``ASOF LEFT JOIN``
    over the same rows as Parquet files, with the spine's row order kept (the result fti
    returns) and without; pandas ``merge_asof``; Feast's ``get_historical_features`` with its
    file (dask) offline store and with its DuckDB offline store, run by ``--feast-python`` (a
    separate venv with ``pip install 'feast[duckdb]'``; never fti's). Each run is a fresh
    subprocess; its time starts before the spine is read from Parquet and stops when the
    result is in memory; peak memory is the process's kernel high-water mark (VmHWM) right
    after the operation, whole process. Feast runs are killed after ``--feast-timeout``
    seconds or above ``--memory-limit-gib`` of resident memory, and reported as such.
    Targets: fti <= 1.2x the hand-written DuckDB time, >= 10x faster than Feast (file store),
    peak memory <= 1.5 GB.
serving
    ``fv.get_feature_vector`` of a view over two groups (users joined as of with cities
    through the user row's ``city_id``, ttl 7 days, ``standard_scaler`` on one feature),
    in-process: p50/p99 over ``--calls`` random keys, interleaved with a raw sqlite3 primary-key
    look-up and a raw chained pair of look-ups (user row, then its city row) on plain tables of
    the same rows; ``fv.get_feature_vectors`` of 100 entries beside raw ``IN (...)`` look-ups.
    The same on Redis (``--redis-url``, db 13 by default; only this run's keys are written and
    deleted) beside raw redis-py GET / MGET. Targets: p50 <= 100 µs, p99 <= 300 µs, 100 entries
    <= 1 ms.

Run from the repository root::

    .venv/bin/python benchmarks/feature_views.py                # everything, ~15 minutes
    .venv/bin/python benchmarks/feature_views.py --quick        # smoke run, under a minute
    .venv/bin/python benchmarks/feature_views.py --only serving --calls 5000
    .venv/bin/python benchmarks/feature_views.py --profile      # + cProfile of fti's paths

Results are printed as tables and written to ``benchmarks/results/feature_views.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from harness import (
    connect,
    interleaved,
    latency_summary,
    machine,
    median,
    redis_available,
    verdict,
    workdir,
)

# Workers also run in Feast's venv: only the standard library, numpy, pandas and pyarrow are
# imported at module level; fti, duckdb, rich and feast are imported where they are used.

RESULTS = Path(__file__).resolve().parent / "results" / "feature_views.json"
PROFILE = RESULTS.with_name("feature_views_profile.txt")
RESULT_MARK = "@@RESULT@@ "
DEFAULT_FEAST_PYTHON = "/tmp/feastvenv/bin/python"
# Feast's file store peaked at 17.5 GiB on this data; stay clear of the machine's own limit.
DEFAULT_MEMORY_LIMIT_GIB = min(
    20.0, 0.85 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
)

TRAINING_RATIO_TARGET = 1.2
FEAST_SPEEDUP_TARGET = 10.0
PEAK_TARGET_BYTES = 1.5e9
VECTOR_P50_TARGET_US = 100.0
VECTOR_P99_TARGET_US = 300.0
VECTORS_TARGET_MS = 1.0
BATCH_SIZE = 100

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
START_US = int(START.timestamp() * 1_000_000)
DAY_US = 86_400 * 1_000_000
DAYS = 90
FEATURES = ("f1", "f2", "f3", "f4")

TRAINING_CONTENDERS = {
    "fti_training": "fti create_training_data(spine=)",
    "fti_batch": "fti get_batch_data(spine=)",
    "duckdb": "hand-written DuckDB ASOF, spine order",
    "duckdb_unordered": "hand-written DuckDB ASOF, any order",
    "pandas": "pandas merge_asof",
    "feast_file": "Feast, file (dask) offline store",
    "feast_duckdb": "Feast, DuckDB offline store",
}
FEAST_CONTENDERS = ("feast_file", "feast_duckdb")
ORDERED = ("fti_training", "fti_batch", "duckdb", "pandas")
"""Contenders whose row i belongs to spine row i (so their row-order digests must agree)."""


# Data ------------------------------------------------------------------------------------------


def feature_frame(keys: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of ``keys`` keys, event times over 90 days, in time order (as appended)."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, keys, rows)
    micros = START_US + rng.integers(0, DAYS * DAY_US, rows)
    frame = pd.DataFrame({"user_id": user, "ts": micros})
    # fti upserts on (key, time): a duplicate pair would leave fti with fewer rows than Parquet.
    frame = frame.drop_duplicates(["user_id", "ts"]).sort_values("ts", kind="stable")
    n = len(frame)
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].to_numpy(np.int64),
            "ts": pd.to_datetime(frame["ts"].to_numpy(), unit="us", utc=True),
            "f1": rng.random(n),
            "f2": rng.normal(100.0, 15.0, n),
            "f3": rng.integers(0, 1_000, n),
            "f4": rng.random(n).astype(np.float32),
        }
    )


def spine_frame(keys: int, rows: int, seed: int = 1) -> pd.DataFrame:
    """Spine rows in random order; 1 % of the keys are unknown to the feature group."""
    rng = np.random.default_rng(seed)
    micros = START_US + rng.integers(0, DAYS * DAY_US, rows)
    return pd.DataFrame(
        {
            "user_id": rng.integers(0, keys + keys // 100, rows).astype(np.int64),
            "ts": pd.to_datetime(micros, unit="us", utc=True),
        }
    )


def fti_features() -> list[Any]:
    import fti

    return [
        fti.Feature("user_id", "int64"),
        fti.Feature("ts", "timestamp"),
        fti.Feature("f1", "float64"),
        fti.Feature("f2", "float64"),
        fti.Feature("f3", "int64"),
        fti.Feature("f4", "float32"),
    ]


# Measuring -------------------------------------------------------------------------------------


def vm_hwm_mib() -> float | None:
    """This process's peak resident memory so far (kernel high-water mark), MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def summarize(table: pa.Table, ordered: bool) -> dict[str, Any]:
    """What every contender's result must agree on (the digest only where order is kept)."""
    f1 = table.column("f1").to_numpy(zero_copy_only=False).astype(np.float64)
    f3 = table.column("f3").to_numpy(zero_copy_only=False).astype(np.float64)
    matched = ~np.isnan(f1)
    summary: dict[str, Any] = {
        "rows": table.num_rows,
        "matched": int(matched.sum()),
        "f1_sum": round(float(f1[matched].sum()), 6),
        "f3_sum": float(np.nansum(f3)),
    }
    if ordered:
        summary["order_digest"] = hashlib.sha256(np.nan_to_num(f1, nan=-1.0).tobytes()).hexdigest()
    return summary


# Workers: each runs in its own process ---------------------------------------------------------


def worker_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the feature rows and the spine as Parquet (the input of every contender)."""
    data = Path(spec["data"])
    data.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    features = feature_frame(spec["keys"], spec["rows"])
    pq.write_table(pa.Table.from_pandas(features, preserve_index=False), data / "features.parquet")
    spine = spine_frame(spec["keys"], spec["spine_rows"])
    pq.write_table(pa.Table.from_pandas(spine, preserve_index=False), data / "spine.parquet")
    return {"rows": len(features), "spine_rows": len(spine), "seconds": time.perf_counter() - start}


def worker_fti_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """Insert the feature rows into an fti group in time-ordered batches; create the view."""
    data, home = Path(spec["data"]), Path(spec["home"])
    table = pq.read_table(data / "features.parquet")
    project = connect(home)
    try:
        fs = project.feature_store
        group = fs.create_feature_group(
            "users",
            primary_key=["user_id"],
            event_time="ts",
            features=fti_features(),
            online_enabled=False,
            statistics=False,
        )
        bounds = np.linspace(0, table.num_rows, spec["batches"] + 1).astype(int)
        start = time.perf_counter()
        for lo, hi in itertools.pairwise(bounds):
            group.insert(table.slice(lo, hi - lo))
        seconds = time.perf_counter() - start
        fs.create_feature_view("bench", query=group.select(list(FEATURES)))
    finally:
        project.close()
    return {"rows": table.num_rows, "batches": spec["batches"], "insert_seconds": seconds}


def run_fti(spec: dict[str, Any], mode: str) -> tuple[pa.Table, float, dict[str, Any]]:
    project = connect(Path(spec["home"]))
    try:
        view = project.feature_store.get_feature_view("bench")
        start = time.perf_counter()
        spine = pq.read_table(Path(spec["data"]) / "spine.parquet")
        extra: dict[str, Any] = {}
        if mode == "fti_training":
            version = view.create_training_data(spine=spine)
            seconds = time.perf_counter() - start
            extra["peak_rss_mib"] = vm_hwm_mib()
            start = time.perf_counter()
            x, _ = view.get_training_data(version, primary_key=True, event_time=True)
            extra["reread_seconds"] = time.perf_counter() - start
            extra["training_dataset_version"] = version
        else:
            x = view.get_batch_data(spine=spine)
            seconds = time.perf_counter() - start
            extra["peak_rss_mib"] = vm_hwm_mib()
        return pa.Table.from_pandas(x, preserve_index=False), seconds, extra
    finally:
        project.close()


def run_duckdb(spec: dict[str, Any], ordered: bool) -> tuple[pa.Table, float, dict[str, Any]]:
    import duckdb

    data = Path(spec["data"])
    spine, features = data / "spine.parquet", data / "features.parquet"
    order = "ORDER BY s.file_row_number" if ordered else ""
    sql = f"""
        SELECT s.user_id, s.ts, f.f1, f.f2, f.f3, f.f4
        FROM read_parquet('{spine}', file_row_number = true) AS s
        ASOF LEFT JOIN read_parquet('{features}') AS f
          ON s.user_id = f.user_id AND s.ts >= f.ts
        {order}
    """
    start = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(sql).to_arrow_table()
        query_seconds = time.perf_counter() - start
    # A script's own connection is closed when it is done, which frees DuckDB's buffers (~0.1 s
    # after this join). fti keeps one database per process and closes only a cursor, so both
    # times are reported: with the close (the time) and the query alone ("query_seconds").
    seconds = time.perf_counter() - start
    return table, seconds, {"peak_rss_mib": vm_hwm_mib(), "query_seconds": query_seconds}


def run_pandas(spec: dict[str, Any]) -> tuple[pa.Table, float, dict[str, Any]]:
    data = Path(spec["data"])
    start = time.perf_counter()
    spine = pd.read_parquet(data / "spine.parquet")
    features = pd.read_parquet(data / "features.parquet")
    spine["row"] = np.arange(len(spine))
    # merge_asof needs both sides sorted on the time column.
    joined = pd.merge_asof(
        spine.sort_values("ts", kind="stable"),
        features.sort_values("ts", kind="stable"),
        on="ts",
        by="user_id",
        direction="backward",
        allow_exact_matches=True,
    )
    result = joined.sort_values("row").drop(columns="row").reset_index(drop=True)
    seconds = time.perf_counter() - start
    extra = {"peak_rss_mib": vm_hwm_mib()}
    return pa.Table.from_pandas(result, preserve_index=False), seconds, extra


def run_feast(spec: dict[str, Any], store: str) -> tuple[pa.Table, float, dict[str, Any]]:
    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.repo_config import RepoConfig
    from feast.types import Float32, Float64, Int64

    data, repo = Path(spec["data"]), Path(spec["home"])
    repo.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench",
        registry=str(repo / "registry.db"),
        provider="local",
        # Options of the store (Feast's ray store needs a storage_path).
        offline_store={"type": store, **spec.get("offline_options", {})},
        online_store={"type": "sqlite", "path": str(repo / "online.db")},
        entity_key_serialization_version=3,
    )
    fs = FeatureStore(config=config)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    source = FileSource(path=str(data / "features.parquet"), timestamp_field="ts")
    view = FeatureView(
        name="users",
        entities=[user],
        ttl=dt.timedelta(0),  # Feast: 0 means no ttl, as fti's join without ttl=
        schema=[
            Field(name="f1", dtype=Float64),
            Field(name="f2", dtype=Float64),
            Field(name="f3", dtype=Int64),
            Field(name="f4", dtype=Float32),
        ],
        source=source,
        online=False,
    )
    fs.apply([user, view])
    start = time.perf_counter()
    spine = pd.read_parquet(data / "spine.parquet").rename(columns={"ts": "event_timestamp"})
    job = fs.get_historical_features(
        entity_df=spine, features=[f"users:{name}" for name in FEATURES]
    )
    table = job.to_arrow()
    seconds = time.perf_counter() - start
    return table, seconds, {"peak_rss_mib": vm_hwm_mib(), "feast": feast.__version__}


def worker_training(spec: dict[str, Any]) -> dict[str, Any]:
    mode = spec["mode"]
    if mode in ("fti_training", "fti_batch"):
        table, seconds, extra = run_fti(spec, mode)
    elif mode in ("duckdb", "duckdb_unordered"):
        table, seconds, extra = run_duckdb(spec, ordered=mode == "duckdb")
    elif mode == "pandas":
        table, seconds, extra = run_pandas(spec)
    elif mode == "feast_file":
        table, seconds, extra = run_feast(spec, "file")
    elif mode == "feast_duckdb":
        table, seconds, extra = run_feast(spec, "duckdb")
    elif mode == "feast_ray":  # benchmarks/ray_engine.py: Feast's Ray offline store
        table, seconds, extra = run_feast(spec, "ray")
    else:
        raise ValueError(f"unknown training mode {mode!r}")
    return {"seconds": seconds, **extra, **summarize(table, mode in ORDERED)}


def worker_training_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """cProfile of fti's create_training_data and get_batch_data with a spine."""
    project = connect(Path(spec["home"]))
    out = io.StringIO()
    try:
        view = project.feature_store.get_feature_view("bench")
        spine = pq.read_table(Path(spec["data"]) / "spine.parquet")
        for name, call in (
            ("create_training_data(spine=)", lambda: view.create_training_data(spine=spine)),
            ("get_batch_data(spine=)", lambda: view.get_batch_data(spine=spine)),
        ):
            profiler = cProfile.Profile()
            profiler.runcall(call)
            out.write(f"== fv.{name} with a {spine.num_rows:,}-row spine\n")
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            out.write(f"-- by own time: {name}\n")
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    finally:
        project.close()
    return {"text": out.getvalue()}


# Serving ---------------------------------------------------------------------------------------


def serving_frames(users: int, cities: int, now: dt.datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users (one row each, in the last 2 days) and cities (in the last 12 hours)."""
    rng = np.random.default_rng(5)
    user_frame = pd.DataFrame(
        {
            "user_id": np.arange(users, dtype=np.int64),
            "ts": now - pd.to_timedelta(rng.integers(1, 2 * 86_400, users), unit="s"),
            "city_id": rng.integers(0, cities, users),
            "spend": rng.gamma(2.0, 50.0, users),
            "age": rng.integers(18, 90, users).astype(np.float64),
            "churned": rng.random(users) < 0.1,
        }
    )
    city_frame = pd.DataFrame(
        {
            "city_id": np.arange(cities, dtype=np.int64),
            "ts": now - pd.to_timedelta(rng.integers(1, 12 * 3_600, cities), unit="s"),
            "temp": rng.normal(15.0, 8.0, cities),
            "rain": rng.random(cities),
        }
    )
    return user_frame, city_frame


def build_serving_view(project: Any, users: pd.DataFrame, cities: pd.DataFrame) -> Any:
    import fti

    fs = project.feature_store
    user_group = fs.create_feature_group(
        "users", primary_key=["user_id"], event_time="ts", statistics=False
    )
    user_group.insert(users)
    city_group = fs.create_feature_group(
        "cities", primary_key=["city_id"], event_time="ts", statistics=False
    )
    city_group.insert(cities)
    query = user_group.select(["city_id", "spend", "age", "churned"]).join(
        city_group.select(["temp", "rain"]), on=["city_id"], ttl="7d"
    )
    view = fs.create_feature_view(
        "serving",
        query=query,
        labels=["churned"],
        transformations={"spend": fti.transforms.standard_scaler},
    )
    view.init_serving(view.create_training_data())
    return view


def measure(
    calls: dict[str, Callable[[Any], Any]], keys: list[Any], warm: int
) -> dict[str, dict[str, float]]:
    interleaved(calls, keys[:warm])
    return {name: latency_summary(s) for name, s in interleaved(calls, keys[warm:]).items()}


def raw_sqlite_tables(path: Path, users: pd.DataFrame, cities: pd.DataFrame) -> sqlite3.Connection:
    """The same rows in plain typed tables, with the pragmas fti's SQLite store uses."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE users (user_id INTEGER PRIMARY KEY, ts INTEGER, city_id INTEGER, "
        "spend REAL, age REAL, churned INTEGER)"
    )
    conn.execute(
        "CREATE TABLE cities (city_id INTEGER PRIMARY KEY, ts INTEGER, temp REAL, rain REAL)"
    )
    for name, frame in (("users", users), ("cities", cities)):
        rows = frame.assign(ts=frame["ts"].astype("int64") // 1_000).astype(object)
        marks = ", ".join("?" * frame.shape[1])
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO {name} VALUES ({marks})", rows.itertuples(index=False, name=None)
        )
        conn.execute("COMMIT")
    return conn


def sqlite_references(
    conn: sqlite3.Connection,
) -> tuple[dict[str, Callable[[Any], Any]], dict[str, Callable[[Any], Any]]]:
    one = "SELECT city_id, spend, age FROM users WHERE user_id = ?"
    city = "SELECT temp, rain FROM cities WHERE city_id = ?"

    def chained(key: int) -> Any:
        row = conn.execute(one, (key,)).fetchone()
        return (*row, *conn.execute(city, (row[0],)).fetchone())

    def many(keys: list[int]) -> Any:
        marks = ", ".join("?" * len(keys))
        rows = conn.execute(
            f"SELECT user_id, city_id, spend, age FROM users WHERE user_id IN ({marks})", keys
        ).fetchall()
        city_ids = sorted({r[1] for r in rows})
        marks = ", ".join("?" * len(city_ids))
        found = dict(
            (r[0], r[1:])
            for r in conn.execute(
                f"SELECT city_id, temp, rain FROM cities WHERE city_id IN ({marks})", city_ids
            )
        )
        by_user = {r[0]: r for r in rows}
        return [(*by_user[k][1:], *found[by_user[k][1]]) for k in keys]

    single = {
        "raw sqlite3: 1 look-up": lambda k: conn.execute(one, (k,)).fetchone(),
        "raw sqlite3: 2 chained look-ups": chained,
    }
    return single, {"raw sqlite3: 2 IN (...) look-ups": many}


def redis_references(
    client: Any, project: str
) -> tuple[dict[str, Callable[[Any], Any]], dict[str, Callable[[Any], Any]]]:
    # The Redis store's documented layout: fti:{table}:{key} -> 16-byte header + JSON row.
    users, cities = f"fti:{project}__users__v1:", f"fti:{project}__cities__v1:"
    city_index = 2  # users' schema: user_id, ts, city_id, spend, age, churned

    def chained(key: int) -> Any:
        row = json.loads(client.get(users + str(key))[16:])
        return (row, client.get(cities + str(row[city_index])))

    def many(keys: list[int]) -> Any:
        rows = [json.loads(v[16:]) for v in client.mget([users + str(k) for k in keys])]
        city_ids = sorted({r[city_index] for r in rows})
        values = client.mget([cities + str(c) for c in city_ids])
        return rows, values

    single = {
        "raw redis-py: 1 GET": lambda k: client.get(users + str(k)),
        "raw redis-py: 2 chained GETs": chained,
    }
    return single, {"raw redis-py: 2 MGETs": many}


def worker_serving(spec: dict[str, Any]) -> dict[str, Any]:
    home, backend = Path(spec["home"]), spec["backend"]
    calls, batches = spec["calls"], spec["batch_calls"]
    home.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    users, cities = serving_frames(spec["users"], spec["cities"], now)
    project_name = f"fvbench{os.getpid()}"
    online_url = spec["redis_url"] if backend == "redis" else None
    project = connect(home, project_name, online_url)
    cleanup: list[Callable[[], None]] = [project.close]
    result: dict[str, Any] = {"backend": backend, "users": len(users), "cities": len(cities)}
    try:
        fs = project.feature_store

        def delete_groups() -> None:
            for group in fs.list_feature_groups():
                group.delete()

        cleanup.append(delete_groups)
        view = build_serving_view(project, users, cities)
        vector = view.get_feature_vector({"user_id": 1})
        result["example_vector"] = vector
        assert len(vector) == 5 and None not in vector, vector
        audit = view.verify_online(sample=min(1_000, len(users)))
        result["skew_audit"] = {"checked": audit.checked, "mismatches": len(audit.mismatches)}

        if backend == "sqlite":
            raw = raw_sqlite_tables(home / "raw.db", users, cities)
            cleanup.append(raw.close)
            single_refs, batch_refs = sqlite_references(raw)
        else:
            import redis

            client = redis.Redis.from_url(spec["redis_url"])
            cleanup.append(client.close)
            single_refs, batch_refs = redis_references(client, project_name)

        rng = np.random.default_rng(11)
        keys = rng.integers(0, len(users), calls).tolist()
        single: dict[str, Callable[[Any], Any]] = {
            "fti get_feature_vector (list)": lambda k: view.get_feature_vector({"user_id": k}),
            "fti get_feature_vector (dict)": lambda k: view.get_feature_vector(
                {"user_id": k}, return_type="dict"
            ),
            **single_refs,
        }
        result["single"] = measure(single, keys, warm=max(1, calls // 10))
        key_sets = [rng.integers(0, len(users), BATCH_SIZE).tolist() for _ in range(batches)]
        batch: dict[str, Callable[[Any], Any]] = {
            f"fti get_feature_vectors ({BATCH_SIZE})": lambda ks: view.get_feature_vectors(
                [{"user_id": k} for k in ks]
            ),
            **batch_refs,
        }
        result["batch"] = measure(batch, key_sets, warm=max(1, batches // 10))
        if spec.get("profile"):
            profiler = cProfile.Profile()
            profiler.enable()
            for k in keys:
                view.get_feature_vector({"user_id": k})
            profiler.disable()
            out = io.StringIO()
            out.write(f"== {len(keys):,} x fv.get_feature_vector (list), {backend}\n")
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            profiler = cProfile.Profile()
            profiler.enable()
            for ks in key_sets:
                view.get_feature_vectors([{"user_id": k} for k in ks])
            profiler.disable()
            out.write(f"== {len(key_sets):,} x fv.get_feature_vectors ({BATCH_SIZE}), {backend}\n")
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            result["profile"] = out.getvalue()
    finally:
        for step in reversed(cleanup):
            step()
    if backend == "redis":
        result["leftover_keys_deleted"] = delete_redis_keys(spec["redis_url"], project_name)
    return result


def delete_redis_keys(url: str, project: str) -> int:
    """Delete what fg.delete() left of this run's project (only keys under its own prefix)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"fti:{project}__*", count=1_000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "prepare": worker_prepare,
    "fti_setup": worker_fti_setup,
    "training": worker_training,
    "training_profile": worker_training_profile,
    "serving": worker_serving,
}


# Parent: runs the workers, prints and saves ----------------------------------------------------


class WorkerError(RuntimeError):
    """A worker exited with an error, was killed, or printed no result."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def run_worker(
    kind: str,
    spec: dict[str, Any],
    *,
    python: str = sys.executable,
    timeout: float | None = None,
    memory_limit_mib: float | None = None,
) -> dict[str, Any]:
    """Run one worker in a fresh process; adds its wall time and peak memory (wait4)."""
    command = [python, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)]
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        killed = None
        highest = 0.0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - start
            rss = child_rss_mib(child.pid)
            highest = max(highest, rss or 0.0)
            if killed is None and timeout is not None and elapsed > timeout:
                killed = f"killed after {timeout:.0f} s (time limit), resident {rss or 0:,.0f} MiB"
            if killed is None and memory_limit_mib is not None and (rss or 0) > memory_limit_mib:
                killed = (
                    f"killed at {rss:,.0f} MiB resident (memory limit "
                    f"{memory_limit_mib:,.0f} MiB) after {elapsed:.0f} s"
                )
            if killed is not None:
                child.kill()
            time.sleep(0.1)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if killed is not None:
        raise WorkerError(f"worker {kind} {spec}: {killed}", killed)
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if child.returncode != 0 or not lines:
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        raise WorkerError(
            f"worker {kind} {spec} failed (exit {child.returncode}):\n{stderr[-4000:]}",
            f"failed (exit {child.returncode}): {last[0][:300]}",
        )
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    result["process_seconds"] = wall
    result["process_peak_rss_mib"] = usage.ru_maxrss / 1024
    result["load_1m_before"] = load
    return result


def child_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def feast_python(args: argparse.Namespace) -> tuple[str | None, str]:
    """The interpreter of Feast's venv and its version, or None and why not."""
    path = args.feast_python
    if args.no_feast:
        return None, "disabled (--no-feast)"
    if not path or not Path(path).exists():
        return None, (
            f"not installed: no interpreter at {path}; install it apart from fti with "
            "`python3 -m venv /tmp/feastvenv && /tmp/feastvenv/bin/pip install 'feast[duckdb]'`"
        )
    done = subprocess.run(
        [path, "-c", "import feast; print(feast.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None, f"cannot import feast with {path}: {done.stderr.strip()[-300:]}"
    return path, f"feast {done.stdout.strip()} ({path})"


def bench_training(
    args: argparse.Namespace, work: Path, progress: Any, feast: str | None
) -> dict[str, Any]:
    data = work / "data"
    spec = {"data": str(data), "keys": args.keys, "rows": args.rows, "spine_rows": args.spine_rows}
    marker, home = data / "spec.json", work / "fti"
    task = progress.add_task("training: prepare data", total=None)
    # With --workdir, data and the fti group of an earlier run of the same sizes are reused.
    reuse = marker.exists() and json.loads(marker.read_text()) == spec
    if reuse:
        prepared = json.loads((data / "prepared.json").read_text())
    else:
        shutil.rmtree(data, ignore_errors=True)
        prepared = run_worker("prepare", spec)
        marker.write_text(json.dumps(spec))
        (data / "prepared.json").write_text(json.dumps(prepared))
    progress.update(task, description="training: insert into fti (setup, not measured)")
    if reuse and (home / "setup.json").exists():
        setup = json.loads((home / "setup.json").read_text())
    else:
        shutil.rmtree(home, ignore_errors=True)
        setup = run_worker("fti_setup", {"data": str(data), "home": str(home), "batches": 9})
        (home / "setup.json").write_text(json.dumps(setup))
    progress.remove_task(task)

    local = [c for c in TRAINING_CONTENDERS if c not in FEAST_CONTENDERS]
    task = progress.add_task("training", total=args.repeats * len(local))
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in TRAINING_CONTENDERS}
    failures: dict[str, str] = {}
    for repeat in range(args.repeats):
        for mode in local:
            progress.update(task, description=f"training: {mode} #{repeat + 1}")
            runs[mode].append(
                run_worker("training", {"mode": mode, "data": str(data), "home": str(home)})
            )
            progress.advance(task)
    for mode in FEAST_CONTENDERS:
        if feast is None:
            continue
        progress.update(task, description=f"training: {mode} (limit {args.feast_timeout:.0f} s)")
        repo = work / mode
        shutil.rmtree(repo, ignore_errors=True)
        try:
            runs[mode].append(
                run_worker(
                    "training",
                    {"mode": mode, "data": str(data), "home": str(repo)},
                    python=feast,
                    timeout=args.feast_timeout,
                    memory_limit_mib=args.memory_limit_gib * 1024,
                )
            )
        except WorkerError as exc:
            failures[mode] = exc.reason
        shutil.rmtree(repo, ignore_errors=True)
    progress.remove_task(task)

    profile = None
    if args.profile:
        task = progress.add_task("training: cProfile of fti (not measured)", total=None)
        profile = run_worker("training_profile", {"data": str(data), "home": str(home)})["text"]
        progress.remove_task(task)

    reference = runs["duckdb"]
    results: dict[str, Any] = {
        "keys": args.keys,
        "rows": prepared["rows"],
        "spine_rows": prepared["spine_rows"],
        "repeats": args.repeats,
        "prepare_seconds": prepared["seconds"],
        "fti_setup": setup,
        "contenders": {},
        "failures": failures,
    }
    duckdb_seconds = median([r["seconds"] for r in reference])
    duckdb_query_seconds = median([r["query_seconds"] for r in reference])
    unordered_seconds = median([r["seconds"] for r in runs["duckdb_unordered"]])
    expected = {k: reference[0][k] for k in ("rows", "matched", "f1_sum", "order_digest")}
    for mode, measured in runs.items():
        if not measured:
            continue
        seconds = median([r["seconds"] for r in measured])
        first = measured[0]
        same = all(first[k] == expected[k] for k in ("rows", "matched"))
        same = same and abs(first["f1_sum"] - expected["f1_sum"]) <= 1e-6 * abs(expected["f1_sum"])
        if mode in ORDERED:
            same = same and first["order_digest"] == expected["order_digest"]
        results["contenders"][mode] = {
            "label": TRAINING_CONTENDERS[mode],
            "seconds_median": seconds,
            "seconds": [r["seconds"] for r in measured],
            "process_seconds_median": median([r["process_seconds"] for r in measured]),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in measured),
            "process_peak_rss_mib": max(r["process_peak_rss_mib"] for r in measured),
            "load_1m_before": median([r["load_1m_before"] for r in measured]),
            "vs_duckdb": seconds / duckdb_seconds,
            "vs_duckdb_query": seconds / duckdb_query_seconds,
            "vs_duckdb_unordered": seconds / unordered_seconds,
            "rows": first["rows"],
            "matched": first["matched"],
            "same_result_as_duckdb": same,
            **{k: first[k] for k in ("reread_seconds", "feast") if k in first},
        }
    results["targets"] = training_targets(results)
    results["profile"] = profile
    return results


def training_targets(results: dict[str, Any]) -> dict[str, Any]:
    contenders, failures = results["contenders"], results["failures"]
    targets: dict[str, Any] = {}
    for mode in ("fti_training", "fti_batch"):
        entry = contenders[mode]
        seconds = entry["seconds_median"]
        target: dict[str, Any] = {
            "vs_duckdb": entry["vs_duckdb"],
            "vs_duckdb_met": entry["vs_duckdb"] <= TRAINING_RATIO_TARGET,
            "vs_duckdb_query": entry["vs_duckdb_query"],
            "vs_duckdb_unordered": entry["vs_duckdb_unordered"],
            "peak_rss_mib": entry["peak_rss_mib"],
            "peak_met": entry["peak_rss_mib"] * 2**20 <= PEAK_TARGET_BYTES,
        }
        feast = contenders.get("feast_file")
        if feast is not None:
            target["feast_speedup"] = feast["seconds_median"] / seconds
            target["feast_speedup_is_lower_bound"] = False
            target["feast_met"] = target["feast_speedup"] >= FEAST_SPEEDUP_TARGET
        elif "feast_file" in failures:
            # Killed after N seconds: Feast would have needed at least that long.
            limit = failure_seconds(failures["feast_file"])
            if limit is not None:
                target["feast_speedup"] = limit / seconds
                target["feast_speedup_is_lower_bound"] = True
                target["feast_met"] = target["feast_speedup"] >= FEAST_SPEEDUP_TARGET
        targets[mode] = target
    return targets


def failure_seconds(reason: str) -> float | None:
    words = reason.replace("(", " ").split()
    for before, word in itertools.pairwise(words):
        if before == "after":
            with contextlib.suppress(ValueError):
                return float(word)
    return None


def bench_serving(
    args: argparse.Namespace, work: Path, progress: Any, redis_url: str | None
) -> dict[str, Any]:
    backends = ["sqlite"] + (["redis"] if redis_url else [])
    task = progress.add_task("serving", total=len(backends))
    results: dict[str, Any] = {"calls": args.calls, "batch_calls": args.batch_calls}
    for backend in backends:
        progress.update(task, description=f"serving: {backend}")
        home = work / f"serving_{backend}"
        shutil.rmtree(home, ignore_errors=True)
        spec = {
            "home": str(home),
            "backend": backend,
            "users": args.users,
            "cities": args.cities,
            "calls": args.calls,
            "batch_calls": args.batch_calls,
            "redis_url": redis_url,
            "profile": args.profile,
        }
        results[backend] = run_worker("serving", spec)
        shutil.rmtree(home, ignore_errors=True)
        progress.advance(task)
    progress.remove_task(task)
    for backend in backends:
        res = results[backend]
        single = res["single"]["fti get_feature_vector (list)"]
        batch = res["batch"][f"fti get_feature_vectors ({BATCH_SIZE})"]
        res["targets"] = {
            "p50_met": single["p50_us"] <= VECTOR_P50_TARGET_US,
            "p99_met": single["p99_us"] <= VECTOR_P99_TARGET_US,
            "batch_p50_met": batch["p50_us"] <= VECTORS_TARGET_MS * 1_000,
        }
    return results


# Tables ----------------------------------------------------------------------------------------


def print_training(console: Any, res: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"training data: {res['spine_rows']:,}-row spine as of {res['rows']:,} rows "
        f"({res['keys']:,} keys), median of {res['repeats']} (Feast: 1 run)"
    )
    columns = (
        "contender",
        "s",
        "x DuckDB",
        "process s",
        "peak MiB",
        "matched rows",
        "same",
        "load",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for entry in res["contenders"].values():
        table.add_row(
            entry["label"],
            f"{entry['seconds_median']:.2f}",
            f"{entry['vs_duckdb']:.2f}x",
            f"{entry['process_seconds_median']:.2f}",
            f"{entry['peak_rss_mib']:,.0f}",
            f"{entry['matched']:,} / {entry['rows']:,}",
            "yes" if entry["same_result_as_duckdb"] else "[red]no[/red]",
            f"{entry['load_1m_before']:.1f}",
        )
    for mode, reason in res["failures"].items():
        table.add_row(TRAINING_CONTENDERS[mode], f"[red]{reason}[/red]", *[""] * 6)
    console.print(table)
    console.print(
        "  s: spine read -> result in memory; process s: the whole subprocess (imports too); "
        "peak: VmHWM right after the operation; same: rows, matched rows and sum of f1 equal "
        "to the DuckDB reference (and the row order, for contenders that keep the spine's); load: "
        f"median 1-minute load average when its runs started ({os.cpu_count()} CPUs)"
    )
    setup = res["fti_setup"]
    console.print(
        f"  setup (not measured above): fti insert of {setup['rows']:,} rows in "
        f"{setup['batches']} batches took {setup['insert_seconds']:.1f} s"
    )
    if "reread_seconds" in res["contenders"].get("fti_training", {}):
        console.print(
            "  fti get_training_data(version) re-read of the stored dataset: "
            f"{res['contenders']['fti_training']['reread_seconds']:.2f} s"
        )
    for mode, target in res["targets"].items():
        feast = "Feast (file store) not measured"
        if "feast_speedup" in target:
            bound = ">= " if target["feast_speedup_is_lower_bound"] else ""
            feast = (
                f"{bound}{target['feast_speedup']:.1f}x faster than Feast (file store), "
                f"target >= {FEAST_SPEEDUP_TARGET:.0f}x: {verdict(target['feast_met'])}"
            )
        console.print(
            f"  {mode}: {target['vs_duckdb']:.2f}x DuckDB (target <= {TRAINING_RATIO_TARGET}x): "
            f"{verdict(target['vs_duckdb_met'])}; {target['vs_duckdb_query']:.2f}x its query alone "
            f"(connection not closed); {target['vs_duckdb_unordered']:.2f}x the "
            f"unordered DuckDB; peak {target['peak_rss_mib']:,.0f} MiB (target <= 1.5 GB): "
            f"{verdict(target['peak_met'])}; {feast}"
        )


def print_serving(console: Any, res: dict[str, Any]) -> None:
    from rich.table import Table

    for backend in ("sqlite", "redis"):
        if backend not in res:
            continue
        entry = res[backend]
        table = Table(
            title=f"online vectors on {backend}: {entry['users']:,} users, {entry['cities']:,} "
            f"cities; {res['calls']:,} single calls, {res['batch_calls']:,} batches; load "
            f"{entry['load_1m_before']:.1f} at the start"
        )
        for column in ("call", "p50 µs", "p99 µs", "mean µs", "p50 / raw"):
            table.add_column(column, justify="left" if column == "call" else "right")
        for kind in ("single", "batch"):
            calls = entry[kind]
            raw = next(v for k, v in calls.items() if k.startswith("raw"))
            for name, stats in calls.items():
                table.add_row(
                    name,
                    f"{stats['p50_us']:,.1f}",
                    f"{stats['p99_us']:,.1f}",
                    f"{stats['mean_us']:,.1f}",
                    f"{stats['p50_us'] / raw['p50_us']:.1f}x",
                )
        console.print(table)
        single = entry["single"]["fti get_feature_vector (list)"]
        batch = entry["batch"][f"fti get_feature_vectors ({BATCH_SIZE})"]
        targets = entry["targets"]
        audit = entry["skew_audit"]
        console.print(
            f"  targets: p50 {single['p50_us']:.0f} µs <= {VECTOR_P50_TARGET_US:.0f}: "
            f"{verdict(targets['p50_met'])}; p99 {single['p99_us']:.0f} µs <= "
            f"{VECTOR_P99_TARGET_US:.0f}: {verdict(targets['p99_met'])}; {BATCH_SIZE} entries "
            f"p50 {batch['p50_us'] / 1_000:.2f} ms <= {VECTORS_TARGET_MS:.0f} ms: "
            f"{verdict(targets['batch_p50_met'])}; skew audit: {audit['mismatches']} mismatches "
            f"in {audit['checked']} keys"
        )


# Entry point -----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--keys", type=int, help="keys of the feature group")
    parser.add_argument("--rows", type=int, help="rows of the feature group")
    parser.add_argument("--spine-rows", type=int, help="rows of the spine")
    parser.add_argument("--repeats", type=int, help="runs of each non-Feast training contender")
    parser.add_argument("--users", type=int, help="users (online keys) of the serving view")
    parser.add_argument("--cities", type=int, help="cities of the serving view")
    parser.add_argument("--calls", type=int, help="get_feature_vector calls (10 %% warm-up)")
    parser.add_argument("--batch-calls", type=int, help="get_feature_vectors calls")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default="training,serving", help="comma-separated benchmarks")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis contenders")
    parser.add_argument("--feast-python", default=DEFAULT_FEAST_PYTHON, help="Feast's venv python")
    parser.add_argument("--no-feast", action="store_true", help="skip the Feast contenders")
    parser.add_argument("--feast-timeout", type=float, default=600.0, help="seconds per Feast run")
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=DEFAULT_MEMORY_LIMIT_GIB,
        help="kill a Feast run above this resident memory",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile fti's paths")
    parser.add_argument("--workdir", type=Path, help="where data and stores go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (data is reused)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = {
        "keys": 2_000,
        "rows": 200_000,
        "spine_rows": 20_000,
        "repeats": 1,
        "users": 5_000,
        "cities": 100,
        "calls": 2_000,
        "batch_calls": 100,
    }
    full = {
        "keys": 100_000,
        "rows": 10_000_000,
        "spine_rows": 1_000_000,
        "repeats": 3,
        "users": 100_000,
        "cities": 1_000,
        "calls": 20_000,
        "batch_calls": 1_000,
    }
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = args.only - {"training", "serving"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        result = WORKERS[argv[1]](json.loads(argv[2]))
        print(RESULT_MARK + json.dumps(result))
        return 0
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    args = parse_args(argv)
    # Wide enough for the tables when the output goes to a file or a pipe.
    console = Console(width=None if sys.stdout.isatty() else 150)
    redis_url: str | None = None
    redis_note = "disabled (--no-redis)"
    if not args.no_redis:
        problem = redis_available(args.redis_url)
        redis_url = None if problem else args.redis_url
        redis_note = problem or args.redis_url
    feast, feast_note = feast_python(args)
    console.print(f"Redis: {redis_note}\nFeast: {feast_note}")
    report: dict[str, Any] = {
        "machine": machine(),
        "arguments": {
            k: sorted(v) if isinstance(v, set) else (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        "redis": redis_note,
        "feast": feast_note,
        "load_average_before": os.getloadavg(),
    }
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    columns += (TimeElapsedColumn(),)
    profiles: list[str] = []
    with workdir(args, "fti-fv-bench-") as work:
        if "training" in args.only:
            with Progress(*columns, console=console, transient=True) as progress:
                report["training"] = bench_training(args, work, progress, feast)
            report["training"]["load_average_after"] = os.getloadavg()
            print_training(console, report["training"])
            profiles.append(report["training"].pop("profile") or "")
        if "serving" in args.only:
            with Progress(*columns, console=console, transient=True) as progress:
                report["serving"] = bench_serving(args, work, progress, redis_url)
            report["serving"]["load_average_after"] = os.getloadavg()
            print_serving(console, report["serving"])
            for backend in ("sqlite", "redis"):
                profiles.append(report["serving"].get(backend, {}).pop("profile", ""))
    if args.profile:
        PROFILE.parent.mkdir(parents=True, exist_ok=True)
        PROFILE.write_text("".join(profiles), encoding="utf-8")
        report["profile"] = str(PROFILE)
        console.print(f"profile written to {PROFILE}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
