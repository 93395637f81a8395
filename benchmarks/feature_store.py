"""Benchmarks of the "Feature store core" issue: insert, upsert and online-read speed.

Three benchmarks, each beside a bare reference measured in the same run:

insert
    ``--rows`` rows x 10 columns (int64 key, timestamp event time, 3 floats, 3 ints, 2 strings)
    into a new feature group: offline + online (SQLite) + statistics, offline only, with Redis
    online, and the online store's write alone (rows encoded beforehand), beside a bare
    ``deltalake.write_deltalake`` of the same pandas frame and a bare sqlite3 INSERT of the same
    encoded rows. Target: >= 500k rows/s end to end.
upsert
    ``--upsert-rows`` rows (half updates of recent rows, half new keys, all in the time range of
    the last batch) into a group of ``--upsert-base-rows`` rows built in ``--batches``
    time-ordered inserts: seconds, and the Delta files rewritten versus left untouched.
read
    ``read_online`` of one key, p50/p99 over ``--lookups`` random existing keys, as "dict",
    "list" and "pandas", beside ``SELECT * FROM t WHERE id = ?`` with plain sqlite3 on a table of
    the same rows; and on Redis beside a raw redis-py GET of the stored key.
    Target: p50 of dict/list <= 5x the raw sqlite3 lookup.

Every measured operation runs in a fresh subprocess (one per contender and repeat, round-robin
so that a noisy period hits all contenders alike) after a small warm-up write, so its peak
resident memory can be read from the kernel. Timings are medians over ``--repeats``.

Run from the repository root::

    .venv/bin/python benchmarks/feature_store.py                 # everything, a few minutes
    .venv/bin/python benchmarks/feature_store.py --quick         # smoke run, seconds
    .venv/bin/python benchmarks/feature_store.py --only read --lookups 5000
    .venv/bin/python benchmarks/feature_store.py --profile       # + cProfile of insert and read

Results are printed as tables and written to ``benchmarks/results/feature_store.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results" / "feature_store.json"
PROFILE = RESULTS.with_name("feature_store_profile.txt")
RESULT_MARK = "@@RESULT@@ "

INSERT_TARGET_ROWS_S = 500_000
READ_TARGET_RATIO = 5.0

# name, fti type, SQL type of the raw sqlite3 reference table
COLUMNS = [
    ("id", "int64", "INTEGER PRIMARY KEY"),
    ("ts", "timestamp", "INTEGER NOT NULL"),
    ("f1", "float64", "REAL"),
    ("f2", "float64", "REAL"),
    ("f3", "float32", "REAL"),
    ("i1", "int64", "INTEGER"),
    ("i2", "int32", "INTEGER"),
    ("i3", "int64", "INTEGER"),
    ("s1", "string", "TEXT"),
    ("s2", "string", "TEXT"),
]
START_US = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
DAY_US = 86_400 * 1_000_000
WARM_ROWS = 1_000

INSERT_CONTENDERS = {
    "delta": "bare write_deltalake",
    "fti_offline": "fti, offline only",
    "fti_sqlite": "fti + SQLite online + stats",
    "fti_redis": "fti + Redis online + stats",
    "online_sqlite": "online write alone: SQLite",
    "online_redis": "online write alone: Redis",
    "sqlite_raw": "bare sqlite3 INSERT",
}
"""Short labels; in full: fti is ``fg.insert`` into a new group; the online writes alone are
``project.online_store.write`` of rows encoded beforehand; the bare sqlite3 INSERT writes the same
encoded rows into a new table like the store's, with a plain INSERT in one transaction."""
REDIS_CONTENDERS = {"fti_redis", "online_redis"}


# Data ------------------------------------------------------------------------------------


def features() -> list[Any]:
    import fti

    return [fti.Feature(name, kind) for name, kind, _ in COLUMNS]


def make_frame(ids: np.ndarray, micros: np.ndarray, seed: int) -> pd.DataFrame:
    """A pandas frame of the benchmark schema; the values are a function of ``seed``."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    return pd.DataFrame(
        {
            "id": ids.astype(np.int64),
            "ts": pd.to_datetime(micros, unit="us", utc=True),
            "f1": rng.random(n),
            "f2": rng.normal(100.0, 15.0, n),
            "f3": rng.random(n).astype(np.float32),
            "i1": rng.integers(0, 1_000, n),
            "i2": rng.integers(0, 1_000_000_000, n).astype(np.int32),
            "i3": rng.integers(0, 10**12, n),
            "s1": pd.array(rng.choice(["red", "green", "blue", "yellow"], n), dtype="str"),
            "s2": pd.array(np.char.add("user_", (ids % 50_000).astype(str)), dtype="str"),
        }
    )


def insert_frame(rows: int) -> pd.DataFrame:
    """``rows`` rows with keys 0..rows-1 and event times over 30 days, in time order."""
    rng = np.random.default_rng(0)
    micros = START_US + np.sort(rng.integers(0, 30 * DAY_US, rows))
    return make_frame(np.arange(rows), micros, seed=1)


def upsert_layout(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys (shuffled, so every batch spans the key range) and sorted event times over a year."""
    rng = np.random.default_rng(2)
    return rng.permutation(rows).astype(np.int64), START_US + np.sort(
        rng.integers(0, 365 * DAY_US, rows)
    )


# Memory ----------------------------------------------------------------------------------


def rss_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """Resident memory before and at the peak of an operation, from the kernel.

    The kernel's high-water mark is reset first (``/proc/self/clear_refs``, Linux >= 4.0) so the
    peak is that of the operation, not of building the input; where that fails the peak is
    ``ru_maxrss`` over the whole process. That peak also counts file pages mapped into the
    process (SQLite maps its file for reads), so the private (anonymous) part is sampled too,
    every 10 ms by a thread: it can miss a spike shorter than that.
    """

    def __init__(self) -> None:
        self.baseline = rss_mib("VmRSS")
        self.anon_baseline = rss_mib("RssAnon")
        self.anon_peak = self.anon_baseline or 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.anon_peak = max(self.anon_peak, rss_mib("RssAnon") or 0.0)

    def result(self) -> dict[str, Any]:
        self._stop.set()
        self._sampler.join()
        self.anon_peak = max(self.anon_peak, rss_mib("RssAnon") or 0.0)
        peak = rss_mib("VmHWM") if self.reset else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "rss_before_mib": self.baseline,
            "peak_rss_mib": peak,
            "peak_reset": self.reset,
            "anon_before_mib": self.anon_baseline,
            "anon_peak_mib": self.anon_peak,
        }


# Workers: each runs in its own process -----------------------------------------------------


def encode_online(table: pa.Table) -> tuple[list[str], list[int], list[str]]:
    from fti.feature_store.online_codec import encode_keys, encode_values

    feats = features()
    keys = encode_keys(table, feats[:1])
    # In key order, as fg.insert hands rows to the store.
    order = pc.sort_indices(keys)
    table = table.take(order)
    times = table.column("ts").cast(pa.int64()).to_pylist()
    return keys.take(order).to_pylist(), times, encode_values(table, feats).to_pylist()


def raw_sqlite_open(path: Path) -> sqlite3.Connection:
    """A connection set up as the fti store sets its own, so only the statements differ."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def raw_sqlite_insert(
    conn: sqlite3.Connection, table: str, keys: list[str], times: list[int], values: list[str]
) -> None:
    """What the SQLite online store's write costs at least: the same rows, plain INSERT."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        f"CREATE TABLE {table} (k TEXT PRIMARY KEY, e INTEGER NOT NULL, c INTEGER NOT NULL, "
        "v TEXT NOT NULL)"
    )
    conn.executemany(
        f"INSERT INTO {table} (k, e, c, v) VALUES (?, ?, ?, ?)",
        zip(keys, times, [0] * len(keys), values, strict=True),
    )
    conn.execute("COMMIT")


def worker_insert(spec: dict[str, Any]) -> dict[str, Any]:
    from deltalake import write_deltalake

    from fti.types import coerce

    mode, home, rows = spec["mode"], Path(spec["home"]), spec["rows"]
    redis_url = spec.get("redis_url")
    home.mkdir(parents=True, exist_ok=True)
    df = insert_frame(rows)
    warm = df.head(WARM_ROWS)
    result: dict[str, Any] = {"rows": rows}
    cleanup: list[Callable[[], None]] = []
    try:
        if mode == "delta":
            write_deltalake(home / "warm", warm)
            memory = PeakMemory()
            start = time.perf_counter()
            write_deltalake(home / "bare", df)
            result["seconds"] = time.perf_counter() - start

        elif mode.startswith("fti_"):
            online = mode != "fti_offline"
            project = connect(home, f"p{os.getpid()}", redis_url if mode == "fti_redis" else None)
            cleanup.append(project.close)
            options = {"online_enabled": online, "statistics": online}
            groups = []
            for name in ("warm", "measured"):
                group = project.feature_store.create_feature_group(
                    name, primary_key=["id"], event_time="ts", features=features(), **options
                )
                cleanup.append(group.delete)
                groups.append(group)
            groups[0].insert(warm)
            memory = PeakMemory()
            start = time.perf_counter()
            commit = groups[1].insert(df)
            result["seconds"] = time.perf_counter() - start
            assert commit is not None and commit.rows == rows, commit

        elif mode in ("online_sqlite", "online_redis"):
            project = connect(home, "p", redis_url if mode == "online_redis" else None)
            cleanup.append(project.close)
            store = project.online_store
            table_name = f"bench_{os.getpid()}"
            store.write(table_name + "_warm", *encode_online(coerce(warm, features())), 0)
            cleanup.append(lambda: store.drop(table_name + "_warm"))
            start = time.perf_counter()
            encoded = encode_online(coerce(df, features()))
            result["encode_seconds"] = time.perf_counter() - start
            memory = PeakMemory()
            cleanup.append(lambda: store.drop(table_name))
            start = time.perf_counter()
            store.write(table_name, *encoded, 0)
            result["seconds"] = time.perf_counter() - start

        elif mode == "sqlite_raw":
            conn = raw_sqlite_open(home / "raw.db")
            cleanup.append(conn.close)
            raw_sqlite_insert(conn, "warm", *encode_online(coerce(warm, features())))
            encoded = encode_online(coerce(df, features()))
            memory = PeakMemory()
            start = time.perf_counter()
            raw_sqlite_insert(conn, "measured", *encoded)
            result["seconds"] = time.perf_counter() - start
        else:
            raise ValueError(f"unknown insert mode {mode!r}")
        result.update(memory.result())
    finally:
        for step in reversed(cleanup):
            step()
    return result


def upsert_group(home: Path) -> Any:
    project = connect(home, "bench")
    try:
        return project, project.feature_store.get_feature_group("big")
    except Exception:
        project.close()
        raise


def worker_upsert_build(spec: dict[str, Any]) -> dict[str, Any]:
    home, rows, batches = Path(spec["home"]), spec["base_rows"], spec["batches"]
    project = connect(home, "bench")
    group = project.feature_store.create_feature_group(
        "big", primary_key=["id"], event_time="ts", features=features()
    )
    ids, micros = upsert_layout(rows)
    bounds = np.linspace(0, rows, batches + 1).astype(int)
    seconds = []
    memory = PeakMemory()
    for b in range(batches):
        part = slice(bounds[b], bounds[b + 1])
        frame = make_frame(ids[part], micros[part], seed=100 + b)
        start = time.perf_counter()
        group.insert(frame)
        seconds.append(time.perf_counter() - start)
    project.close()
    return {"rows": rows, "batches": batches, "batch_seconds": seconds, **memory.result()}


def delta_files(path: str, version: int | None = None) -> dict[str, tuple[int, int]]:
    from deltalake import DeltaTable

    table = pa.table(DeltaTable(path, version=version).get_add_actions(flatten=True))
    return {
        p: (size, records)
        for p, size, records in zip(
            table.column("path").to_pylist(),
            table.column("size_bytes").to_pylist(),
            table.column("num_records").to_pylist(),
            strict=True,
        )
    }


def worker_upsert(spec: dict[str, Any]) -> dict[str, Any]:
    from deltalake import DeltaTable

    home, rows, batches, upsert_rows = (
        Path(spec["home"]),
        spec["base_rows"],
        spec["batches"],
        spec["upsert_rows"],
    )
    repeat = spec["repeat"]
    project, group = upsert_group(home)
    ids, micros = upsert_layout(rows)
    last_start = int(np.linspace(0, rows, batches + 1)[-2])
    rng = np.random.default_rng(1_000 + repeat)
    updates = upsert_rows // 2
    picked = rng.choice(np.arange(last_start, rows), updates, replace=False)
    # Each repeat adds its own new keys, above every earlier key.
    new_ids = rows + repeat * (upsert_rows - updates) + np.arange(upsert_rows - updates)
    new_micros = rng.integers(micros[last_start], micros[-1] + 1, len(new_ids))
    frame = pd.concat(
        [
            make_frame(ids[picked], micros[picked], seed=2_000 + repeat),
            make_frame(new_ids, new_micros, seed=3_000 + repeat),
        ],
        ignore_index=True,
    )
    path = str(home / "offline" / "bench" / "big_v1")
    before = delta_files(path)
    memory = PeakMemory()
    profiler = cProfile.Profile() if spec.get("profile") else None
    start = time.perf_counter()
    commit = group.insert(frame) if profiler is None else profiler.runcall(group.insert, frame)
    seconds = time.perf_counter() - start
    result = memory.result()
    assert commit is not None
    if profiler is not None:
        out = io.StringIO()
        out.write(f"== fg.insert (upsert) of {len(frame):,} rows into {rows:,}\n")
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        result["profile"] = out.getvalue()
    after = delta_files(path)
    entry = DeltaTable(path).history(1)[0]
    metrics = entry.get("operationMetrics") or {}
    removed = set(before) - set(after)
    project.close()
    return {
        "rows": len(frame),
        "seconds": seconds,
        "rows_inserted": commit.rows_inserted,
        "rows_updated": commit.rows_updated,
        "table_rows_before": sum(r for _, r in before.values()),
        "files_before": len(before),
        "files_after": len(after),
        "files_removed": len(removed),
        "files_untouched": len(set(before) & set(after)),
        "files_added": len(set(after) - set(before)),
        "rows_in_removed_files": sum(before[p][1] for p in removed),
        "bytes_removed": sum(before[p][0] for p in removed),
        "merge_rows_copied": metrics.get("num_target_rows_copied"),
        "merge_execution_ms": metrics.get("execution_time_ms"),
        **result,
    }


def raw_sqlite_table(path: Path, df: pd.DataFrame) -> None:
    """The same rows in a plain sqlite3 table, one typed column per feature."""
    conn = sqlite3.connect(path)
    try:
        columns = ", ".join(f"{name} {sql}" for name, _, sql in COLUMNS)
        conn.execute(f"CREATE TABLE t ({columns})")
        frame = df.assign(ts=df["ts"].astype("int64"))
        rows = frame.astype(object).itertuples(index=False, name=None)
        marks = ", ".join("?" * len(COLUMNS))
        conn.executemany(f"INSERT INTO t VALUES ({marks})", rows)
        conn.commit()
    finally:
        conn.close()


def worker_read(spec: dict[str, Any]) -> dict[str, Any]:
    home, rows, lookups, rounds = Path(spec["home"]), spec["rows"], spec["lookups"], spec["rounds"]
    redis_url = spec.get("redis_url")
    home.mkdir(parents=True, exist_ok=True)
    df = insert_frame(rows)
    rng = np.random.default_rng(7)
    key_sets = [rng.integers(0, rows, lookups).tolist() for _ in range(rounds + 1)]
    warm_keys = key_sets.pop()[: max(1, lookups // 10)]
    result: dict[str, Any] = {"rows": rows, "lookups": lookups, "rounds": rounds}
    cleanup: list[Callable[[], None]] = []
    try:
        project = connect(home, "bench")
        cleanup.append(project.close)
        group = project.feature_store.create_feature_group(
            "read", primary_key=["id"], event_time="ts", features=features()
        )
        group.insert(df)
        raw_sqlite_table(home / "raw.db", df)
        raw = sqlite3.connect(home / "raw.db")
        cleanup.append(raw.close)
        query = "SELECT * FROM t WHERE id = ?"
        sample = int(df["id"].iloc[rows // 2])
        expected = raw.execute(query, (sample,)).fetchone()
        got = group.read_online({"id": sample}, return_type="list")
        assert got[0] == expected[0] and got[8] == expected[8], (got, expected)

        sqlite_calls: dict[str, Callable[[Any], Any]] = {
            "dict": lambda k: group.read_online({"id": k}, return_type="dict"),
            "list": lambda k: group.read_online({"id": k}, return_type="list"),
            "sqlite3": lambda k: raw.execute(query, (k,)).fetchone(),
        }
        result["sqlite"] = measure_rounds(sqlite_calls, warm_keys, key_sets)
        pandas_keys = [keys[: max(1, lookups // 10)] for keys in key_sets]
        result["pandas"] = measure_rounds(
            {"pandas": lambda k: group.read_online({"id": k}, return_type="pandas")},
            warm_keys[:50],
            pandas_keys,
        )

        if redis_url:
            import redis

            rproject = connect(home, f"r{os.getpid()}", redis_url)
            cleanup.append(rproject.close)
            rgroup = rproject.feature_store.create_feature_group(
                "read", primary_key=["id"], event_time="ts", features=features()
            )
            cleanup.append(rgroup.delete)
            rgroup.insert(df)
            client = redis.Redis.from_url(redis_url)
            cleanup.append(client.close)
            # The store's documented layout: fti:{table}:{key}, the value after a 40-byte header.
            prefix = f"fti:{rproject.name}__read__v1:"
            assert client.get(prefix + str(sample)) is not None
            redis_calls: dict[str, Callable[[Any], Any]] = {
                "dict": lambda k: rgroup.read_online({"id": k}, return_type="dict"),
                "list": lambda k: rgroup.read_online({"id": k}, return_type="list"),
                "redis GET": lambda k: client.get(prefix + str(k)),
            }
            result["redis"] = measure_rounds(redis_calls, warm_keys, key_sets)
    finally:
        for step in reversed(cleanup):
            step()
    return result


def measure_rounds(
    calls: dict[str, Callable[[Any], Any]], warm_keys: list[Any], key_sets: list[list[Any]]
) -> dict[str, Any]:
    interleaved(calls, warm_keys)
    rounds = [
        {name: latency_summary(samples) for name, samples in interleaved(calls, keys).items()}
        for keys in key_sets
    ]
    return {
        name: {
            "p50_us": statistics.median(r[name]["p50_us"] for r in rounds),
            "p99_us": statistics.median(r[name]["p99_us"] for r in rounds),
            "rounds": [r[name] for r in rounds],
        }
        for name in calls
    }


def worker_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """cProfile of an end-to-end insert (SQLite online), the one-key dict read, a Redis write."""
    home, rows = Path(spec["home"]), spec["rows"]
    home.mkdir(parents=True, exist_ok=True)
    df = insert_frame(rows)
    project = connect(home, "bench")
    warm = project.feature_store.create_feature_group(
        "warm", primary_key=["id"], event_time="ts", features=features()
    )
    warm.insert(df.head(WARM_ROWS))
    group = project.feature_store.create_feature_group(
        "measured", primary_key=["id"], event_time="ts", features=features()
    )
    out = io.StringIO()
    profiler = cProfile.Profile()
    profiler.runcall(group.insert, df)
    out.write(f"== fg.insert of {rows:,} rows (offline + online SQLite + statistics)\n")
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    keys = np.random.default_rng(9).integers(0, rows, 20_000).tolist()
    for k in keys[:1_000]:
        group.read_online({"id": k}, return_type="dict")
    profiler = cProfile.Profile()
    profiler.enable()
    for k in keys:
        group.read_online({"id": k}, return_type="dict")
    profiler.disable()
    out.write(f"== {len(keys):,} x fg.read_online(one key, return_type='dict')\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    project.close()
    redis_url = spec.get("redis_url")
    if redis_url:
        from fti.types import coerce

        rproject = connect(home, "p", redis_url)
        table_name = f"bench_profile_{os.getpid()}"
        encoded = encode_online(coerce(df, features()))
        profiler = cProfile.Profile()
        try:
            profiler.runcall(rproject.online_store.write, table_name, *encoded, 0)
        finally:
            rproject.online_store.drop(table_name)
            rproject.close()
        out.write(f"== online_store.write of {rows:,} encoded rows to Redis\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    return {"text": out.getvalue()}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "insert": worker_insert,
    "upsert_build": worker_upsert_build,
    "upsert": worker_upsert,
    "read": worker_read,
    "profile": worker_profile,
}


def code_fingerprint() -> dict[str, Any]:
    """What the worker ran: a hash of the fti sources it imported and the hiredis version.

    Other people edit and reinstall while a long run goes on; the parent compares these.
    """
    import hashlib

    import fti

    root = Path(fti.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    try:
        from importlib.metadata import version

        hiredis = version("hiredis")
    except Exception:
        hiredis = None
    return {"fti_sources": digest.hexdigest()[:12], "hiredis": hiredis}


# Parent: runs the workers, prints and saves ---------------------------------------------------

FINGERPRINTS: list[dict[str, Any]] = []
WORKER_ENV = dict(os.environ)


def snapshot_sources(work: Path) -> str:
    """Copy the fti package and make every worker import the copy.

    Others edit src/ while a long run goes on; the copy makes one run measure one version.
    """
    import importlib.util

    spec = importlib.util.find_spec("fti")
    if spec is None or spec.origin is None:
        raise RuntimeError("fti is not installed")
    target = work / "code"
    shutil.copytree(
        Path(spec.origin).parent, target / "fti", ignore=shutil.ignore_patterns("__pycache__")
    )
    WORKER_ENV["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(target), os.environ.get("PYTHONPATH")) if p
    )
    return str(target / "fti")


def run_worker(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=WORKER_ENV)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"worker {kind} {spec} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    FINGERPRINTS.append({"worker": kind, **result.pop("code")})
    return result


def bench_insert(
    args: argparse.Namespace, work: Path, progress: Progress, redis_url: str | None
) -> dict[str, Any]:
    contenders = [c for c in INSERT_CONTENDERS if redis_url or c not in REDIS_CONTENDERS]
    task = progress.add_task("insert", total=args.repeats * len(contenders))
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    for repeat in range(args.repeats):
        for mode in contenders:
            progress.update(task, description=f"insert: {mode} #{repeat + 1}")
            home = work / "insert" / f"{mode}_{repeat}"
            spec = {"mode": mode, "home": str(home), "rows": args.rows, "redis_url": redis_url}
            runs[mode].append(run_worker("insert", spec))
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)
            progress.advance(task)
    results: dict[str, Any] = {"rows": args.rows, "repeats": args.repeats, "contenders": {}}
    delta_seconds = median([r["seconds"] for r in runs["delta"]])
    for mode, measured in runs.items():
        seconds = median([r["seconds"] for r in measured])
        entry = {
            "label": INSERT_CONTENDERS[mode],
            "seconds_median": seconds,
            "rows_per_s": args.rows / seconds,
            "time_vs_delta": seconds / delta_seconds,
            "seconds": [r["seconds"] for r in measured],
            "seconds_best": min(r["seconds"] for r in measured),
            "rss_before_mib": median([r["rss_before_mib"] for r in measured]),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in measured),
            "anon_before_mib": median([r["anon_before_mib"] for r in measured]),
            "anon_peak_mib": max(r["anon_peak_mib"] for r in measured),
            "peak_reset": all(r["peak_reset"] for r in measured),
        }
        if "encode_seconds" in measured[0]:
            entry["encode_seconds_median"] = median([r["encode_seconds"] for r in measured])
        results["contenders"][mode] = entry
    full = results["contenders"]["fti_sqlite"]
    offline = results["contenders"]["fti_offline"]
    difference = full["seconds_median"] - offline["seconds_median"]
    results["online_and_statistics_by_difference_seconds"] = difference
    results["target"] = {
        "rows_per_s": INSERT_TARGET_ROWS_S,
        "measured_rows_per_s": full["rows_per_s"],
        "met": full["rows_per_s"] >= INSERT_TARGET_ROWS_S,
    }
    return results


def bench_upsert(args: argparse.Namespace, work: Path, progress: Progress) -> dict[str, Any]:
    task = progress.add_task("upsert: build", total=1 + args.repeats + int(args.profile))
    home = work / "upsert"
    spec = {
        "home": str(home),
        "base_rows": args.upsert_base_rows,
        "batches": args.batches,
        "upsert_rows": args.upsert_rows,
    }
    start = time.perf_counter()
    build = run_worker("upsert_build", spec)
    build["wall_seconds"] = time.perf_counter() - start
    progress.advance(task)
    runs = []
    for repeat in range(args.repeats):
        progress.update(task, description=f"upsert #{repeat + 1}")
        runs.append(run_worker("upsert", {**spec, "repeat": repeat}))
        progress.advance(task)
    profile = None
    if args.profile:
        progress.update(task, description="upsert: extra run under cProfile (not measured)")
        profile = run_worker("upsert", {**spec, "repeat": args.repeats, "profile": True})["profile"]
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    seconds = median([r["seconds"] for r in runs])
    insert_seconds = sum(build["batch_seconds"])
    return {
        "base_rows": args.upsert_base_rows,
        "batches": args.batches,
        "upsert_rows": args.upsert_rows,
        "build": {
            **build,
            "insert_seconds": insert_seconds,
            "rows_per_s": args.upsert_base_rows / insert_seconds,
            "batch_seconds_median": median(build["batch_seconds"]),
        },
        "seconds_median": seconds,
        "seconds_best": min(r["seconds"] for r in runs),
        "rows_per_s": args.upsert_rows / seconds,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "runs": runs,
        "profile": profile,
    }


def bench_read(
    args: argparse.Namespace, work: Path, progress: Progress, redis_url: str | None
) -> dict[str, Any]:
    task = progress.add_task("read: build + lookups", total=1)
    home = work / "read"
    spec = {
        "home": str(home),
        "rows": args.rows,
        "lookups": args.lookups,
        "rounds": args.repeats,
        "redis_url": redis_url,
    }
    result = run_worker("read", spec)
    progress.advance(task)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    raw = result["sqlite"]["sqlite3"]["p50_us"]
    result["target"] = {
        "ratio": READ_TARGET_RATIO,
        **{f"{kind}_ratio": result["sqlite"][kind]["p50_us"] / raw for kind in ("dict", "list")},
    }
    result["target"]["met"] = all(
        result["target"][f"{kind}_ratio"] <= READ_TARGET_RATIO for kind in ("dict", "list")
    )
    return result


# Tables ---------------------------------------------------------------------------------------


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def print_insert(console: Console, res: dict[str, Any]) -> None:
    table = Table(title=f"insert {res['rows']:,} rows, median of {res['repeats']}")
    for column in ("contender", "s", "best s", "rows/s", "x Delta", "RSS MiB", "peak", "anon"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for entry in res["contenders"].values():
        table.add_row(
            entry["label"],
            f"{entry['seconds_median']:.3f}",
            f"{entry['seconds_best']:.3f}",
            fmt_int(entry["rows_per_s"]),
            f"{entry['time_vs_delta']:.2f}x",
            f"{entry['rss_before_mib']:.0f}",
            f"{entry['peak_rss_mib']:.0f}",
            f"{entry['anon_before_mib']:.0f} -> {entry['anon_peak_mib']:.0f}",
        )
    difference = res["online_and_statistics_by_difference_seconds"]
    table.add_row(
        "SQLite online + stats (difference)",
        f"{difference:.3f}",
        "",
        fmt_int(res["rows"] / difference) if difference > 0 else "-",
        "",
        "",
        "",
        "",
    )
    console.print(table)
    console.print(
        "  s: median; rows/s from the median; x Delta: median time over the bare Delta write's; "
        "RSS: resident MiB before the operation, peak: kernel high-water mark during it; "
        "anon: private MiB before -> sampled peak"
    )
    for mode, entry in res["contenders"].items():
        if "encode_seconds_median" in entry:
            console.print(
                f"  {mode}: encoding the rows beforehand took {entry['encode_seconds_median']:.3f}"
                f" s ({fmt_int(res['rows'] / entry['encode_seconds_median'])} rows/s)"
            )
    target = res["target"]
    console.print(
        f"  target >= {fmt_int(target['rows_per_s'])} rows/s end to end (SQLite online): "
        f"{fmt_int(target['measured_rows_per_s'])} rows/s, {verdict(target['met'])}"
    )


def print_upsert(console: Console, res: dict[str, Any]) -> None:
    build = res["build"]
    console.print(
        f"upsert: built {res['base_rows']:,} rows in {res['batches']} inserts in "
        f"{build['insert_seconds']:.1f} s ({fmt_int(build['rows_per_s'])} rows/s; median batch "
        f"{build['batch_seconds_median']:.2f} s; peak RSS {build['peak_rss_mib']:.0f} MiB, "
        f"anon {build['anon_peak_mib']:.0f} MiB)"
    )
    table = Table(title=f"upsert {res['upsert_rows']:,} rows into {res['base_rows']:,}")
    runs = res["runs"]
    table.add_column("")
    for i in range(len(runs)):
        table.add_column(f"run {i + 1}", justify="right")
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("seconds", lambda r: f"{r['seconds']:.3f}"),
        ("rows inserted / updated", lambda r: f"{r['rows_inserted']:,} / {r['rows_updated']:,}"),
        ("files before", lambda r: str(r["files_before"])),
        ("files after", lambda r: str(r["files_after"])),
        ("files removed (rewritten)", lambda r: str(r["files_removed"])),
        ("files untouched", lambda r: str(r["files_untouched"])),
        ("files added", lambda r: str(r["files_added"])),
        ("rows in rewritten files", lambda r: f"{r['rows_in_removed_files']:,}"),
        ("MERGE execution (Delta log)", lambda r: f"{r['merge_execution_ms']} ms"),
        ("RSS before -> peak", lambda r: f"{r['rss_before_mib']:.0f} -> {r['peak_rss_mib']:.0f}"),
        (
            "anon before -> peak",
            lambda r: f"{r['anon_before_mib']:.0f} -> {r['anon_peak_mib']:.0f}",
        ),
    ]
    for label, cell in lines:
        table.add_row(label, *[cell(r) for r in runs])
    console.print(table)
    console.print(
        "  files (Delta log): removed = in the previous version only, rewritten by the MERGE; "
        "untouched = in both versions; added = in the upsert's version only"
    )
    console.print(
        f"  median {res['seconds_median']:.3f} s ({fmt_int(res['rows_per_s'])} rows/s), "
        f"best {res['seconds_best']:.3f} s; memory in MiB"
    )


def print_read(console: Console, res: dict[str, Any]) -> None:
    table = Table(
        title=f"read_online of 1 key in {res['rows']:,} rows, {res['lookups']:,} lookups x "
        f"{res['rounds']} rounds (median of rounds)"
    )
    for column in ("store", "call", "p50 µs", "p99 µs", "p50/raw", "p99/raw"):
        table.add_column(column, justify="left" if column in ("store", "call") else "right")
    raw = res["sqlite"]["sqlite3"]
    groups = [("SQLite", res["sqlite"], raw), ("SQLite", res["pandas"], raw)]
    if "redis" in res:
        groups.append(("Redis", res["redis"], res["redis"]["redis GET"]))
    for store, calls, reference in groups:
        for name, entry in calls.items():
            label = {"sqlite3": "raw sqlite3 SELECT", "redis GET": "raw redis-py GET"}.get(
                name, f"read_online {name}"
            )
            table.add_row(
                store,
                label,
                f"{entry['p50_us']:.1f}",
                f"{entry['p99_us']:.1f}",
                f"{entry['p50_us'] / reference['p50_us']:.2f}x",
                f"{entry['p99_us'] / reference['p99_us']:.2f}x",
            )
    console.print(table)
    target = res["target"]
    console.print(
        f"  target p50 <= {target['ratio']:.0f}x raw sqlite3: dict {target['dict_ratio']:.2f}x, "
        f"list {target['list_ratio']:.2f}x, {verdict(target['met'])}"
    )


# Entry point ----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help="rows of the insert and read benchmarks")
    parser.add_argument("--upsert-base-rows", type=int, help="rows of the group upserted into")
    parser.add_argument("--batches", type=int, help="inserts that build the upserted group")
    parser.add_argument("--upsert-rows", type=int, help="rows upserted")
    parser.add_argument("--lookups", type=int, help="one-key reads per round")
    parser.add_argument("--repeats", type=int, help="repeats (insert, upsert) and read rounds")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only", default="insert,upsert,read", help="comma-separated benchmarks to run"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis contenders")
    parser.add_argument("--profile", action="store_true", help="also cProfile insert and read")
    parser.add_argument("--workdir", type=Path, help="where the stores go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores after the run")
    parser.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="import the live fti sources in every worker instead of a copy made at the start",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = {
        "rows": 20_000,
        "upsert_base_rows": 40_000,
        "batches": 4,
        "upsert_rows": 2_000,
        "lookups": 1_000,
        "repeats": 1,
    }
    full = {
        "rows": 1_000_000,
        "upsert_base_rows": 10_000_000,
        "batches": 20,
        "upsert_rows": 100_000,
        "lookups": 20_000,
        "repeats": 3,
    }
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = args.only - {"insert", "upsert", "read"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        code = code_fingerprint()
        result = WORKERS[argv[1]](json.loads(argv[2]))
        print(RESULT_MARK + json.dumps({**result, "code": code}))
        return 0
    args = parse_args(argv)
    console = Console()
    redis_url: str | None = None
    redis_note = "disabled (--no-redis)"
    if not args.no_redis:
        problem = redis_available(args.redis_url)
        redis_url = None if problem else args.redis_url
        redis_note = problem or args.redis_url
    report: dict[str, Any] = {
        "machine": machine(),
        "arguments": {
            k: sorted(v) if isinstance(v, set) else (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        "redis": redis_note,
        "load_average_before": os.getloadavg(),
    }
    console.print(f"Redis: {redis_note}")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with workdir(args) as work:
        if args.snapshot:
            report["sources"] = snapshot_sources(work)
            console.print(f"measuring a copy of the fti sources: {report['sources']}")
        if "insert" in args.only:
            with Progress(*columns, console=console, transient=True) as progress:
                report["insert"] = bench_insert(args, work, progress, redis_url)
            report["insert"]["load_average_after"] = os.getloadavg()
            print_insert(console, report["insert"])
        if "upsert" in args.only:
            with Progress(*columns, console=console, transient=True) as progress:
                report["upsert"] = bench_upsert(args, work, progress)
            report["upsert"]["load_average_after"] = os.getloadavg()
            print_upsert(console, report["upsert"])
        if "read" in args.only:
            with Progress(*columns, console=console, transient=True) as progress:
                report["read"] = bench_read(args, work, progress, redis_url)
            report["read"]["load_average_after"] = os.getloadavg()
            print_read(console, report["read"])
        if args.profile:
            with console.status("cProfile of insert, read and a Redis write"):
                spec = {"home": str(work / "profile"), "rows": args.rows, "redis_url": redis_url}
                text = run_worker("profile", spec)["text"]
            upsert_profile = report.get("upsert", {}).pop("profile", None)
            PROFILE.parent.mkdir(parents=True, exist_ok=True)
            PROFILE.write_text(text + (upsert_profile or ""), encoding="utf-8")
            report["profile"] = str(PROFILE)
            console.print(f"profile written to {PROFILE}")
    distinct = {(f["fti_sources"], f["hiredis"]) for f in FINGERPRINTS}
    report["code"] = {"consistent": len(distinct) <= 1, "workers": FINGERPRINTS}
    if len(distinct) > 1:
        console.print(
            "[red]warning: the fti sources or hiredis changed during the run; the figures "
            f"mix {len(distinct)} versions (see 'code' in the JSON)[/red]"
        )
    else:
        first = FINGERPRINTS[0] if FINGERPRINTS else {"fti_sources": "-", "hiredis": "-"}
        console.print(f"code: fti sources {first['fti_sources']}, hiredis {first['hiredis']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
