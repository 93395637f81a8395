"""Benchmarks of the "Scale-out on Ray" issue: training data on the ray engine beside the local
engine, in one run on this machine.

The data is benchmarks/feature_views.py's: ``--rows`` feature rows of ``--keys`` users over 90
days (int64 key, event time, 4 features), inserted in ``--batches`` time-ordered commits, and a
``--spine-rows`` spine. The view's root is that group, so the spine's key splits it.

overhead
    ``fv.create_training_data(spine=...)`` on the local engine and on the ray engine (a Ray
    started on this machine with its CPUs, automatic partitions), alternately, ``--repeats``
    times; medians, the ratio, digests compared. Target: ray within 2x of local.
memory
    The same training data on ray with ``--partitions`` partitions, and on the local engine
    with DuckDB's memory limit set to ``--limit-mib``. For every Ray worker process: its
    resident memory before the job and its peak during it (the kernel's high-water mark,
    reset before the job through /proc/<pid>/clear_refs); a worker's working memory is the
    difference. For the local engine: this process's peak, and whether DuckDB failed or
    spilled (bytes in its temporary folder). Target: the feature table is 10x the limit, and
    every worker's working memory stays under it.
stats
    Statistics and drift over a large window (independent of the data above): a
    ``--stats-rows`` table (int64, float64 with nulls and NaN, a string of 1,000 values, a
    bool, a timestamp) in ``--stats-partitions`` blocks in Ray's object store;
    ``compute_statistics`` of the whole table beside ``statistics_on_ray`` of the blocks, then
    ``compute_drift`` of a reference of a tenth of the rows against the whole window beside
    ``drift_on_ray``; one run each, the results compared, and the driver's merge time.
insert
    ``fg.insert`` on the local engine and on the ray engine (automatic partitions) into two
    groups (online on SQLite, statistics on), alternately: a first insert of ``--insert-rows``
    rows (a pandas frame, cut into Arrow blocks), then an upsert of half as many, most of them
    replacing stored rows (same key and event time, a new value), then the first insert again
    into two groups without statistics; after a small warm-up insert on each. One run; the
    times, the ratios, and the two tables compared (rows, updated rows, the sum of the
    replaced values).
scaling
    From the memory run's task timings (Ray's task events): the work per partition and the
    driver's serial part (planning, the final sort, the Parquet write and digest), and the
    model T(w) = serial + sum(tasks) / w for w workers.

Run from the repository root (the machine is shared: the load average is recorded)::

    .venv/bin/python benchmarks/ray_engine.py                    # 10M rows x 1M spine
    .venv/bin/python benchmarks/ray_engine.py --quick            # 1M x 100k, a smoke run
    .venv/bin/python benchmarks/ray_engine.py --only stats       # statistics and drift, 10M
    .venv/bin/python benchmarks/ray_engine.py --only insert      # inserts, 2M rows

Results are printed as tables and written to ``benchmarks/results/ray_engine_<parts>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from feature_views import feature_frame, fti_features, spine_frame
from harness import machine, median, verdict, workdir
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results" / "ray_engine.json"
"""Where results go: ray_engine_<parts run>.json beside this name."""


def status_kib(pid: int | str, field: str) -> int | None:
    """A ``Vm*`` field of /proc/<pid>/status in KiB (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak(pid: int | str) -> None:
    """Reset the kernel's peak resident memory of a process of ours (clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def ray_workers() -> list[str]:
    """Pids of the Ray worker processes this process started (through its raylet): other
    helpers on the machine may run Ray clusters of their own."""
    parents: dict[str, str] = {}
    names: dict[str, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                parents[entry] = stat.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                names[entry] = cmd.read().split(b"\0")[0].decode(errors="replace")
        except (OSError, IndexError):
            continue
    me = str(os.getpid())

    def ours(pid: str) -> bool:
        for _ in range(10):
            pid = parents.get(pid, "0")
            if pid == me:
                return True
            if pid in ("0", "1"):
                return False
        return False

    return [pid for pid, name in names.items() if name.startswith("ray::") and ours(pid)]


def open_project(home: Path, **settings: str) -> Any:
    """The benchmark's project; maintenance off, so the tables keep one file per commit (a
    compaction would merge them into files of ~100 MiB, and a scatter task reads at least one
    file)."""
    import fti

    return fti.connect(
        home,
        "bench",
        online_url=f"sqlite:///{home / 'online.db'}",
        offline_url=str(home / "offline"),
        metadata_url=f"sqlite:///{home / 'metadata.db'}",
        offline_maintenance_interval="0",
        **settings,
    )


def private_kib(pid: str) -> int:
    """A process's own resident memory (Private_Clean + Private_Dirty), KiB: a worker's RSS
    also counts the pages of Ray's shared object store it has touched."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


class Sampler:
    """Peaks of the private and resident memory of this Ray's worker processes (those there
    at the start, and any started during the job, such as Ray's spill workers), sampled every
    20 ms in a thread, with each process's title (``ray::<task>``, ``ray::IDLE``...)."""

    def __init__(self, pids: list[str]) -> None:
        self.private = dict.fromkeys(pids, 0)
        self.rss = dict.fromkeys(pids, 0)
        self.titles: dict[str, set[str]] = {pid: set() for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(0.02):
            rounds += 1
            if rounds % 25 == 0:
                for pid in ray_workers():
                    self.private.setdefault(pid, 0)
                    self.rss.setdefault(pid, 0)
                    self.titles.setdefault(pid, set())
            for pid in list(self.private):
                self.private[pid] = max(self.private[pid], private_kib(pid))
                self.rss[pid] = max(self.rss[pid], status_kib(pid, "VmRSS") or 0)
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                        title = cmd.read().split(b"\0")[0].decode(errors="replace").strip()
                    self.titles[pid].add(title.split(" ")[0])
                except OSError:
                    pass

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def phases() -> Any:
    """The time the ray engine spends from planning to the last task's result (the rest of a
    call is the driver's serial part: the sort, the Parquet file, the digest, the fit)."""
    from fti.engines.ray import RayEngine

    found = {"distributed": 0.0}
    parts, get = RayEngine.point_in_time_parts, RayEngine._get

    def timed_parts(self: Any, *a: Any, **k: Any) -> Any:
        found["start"] = time.perf_counter()
        return parts(self, *a, **k)

    def timed_get(self: Any, refs: Any) -> Any:
        result = get(self, refs)
        found["distributed"] += time.perf_counter() - found["start"]
        return result

    RayEngine.point_in_time_parts = timed_parts  # type: ignore[method-assign]
    RayEngine._get = timed_get  # type: ignore[method-assign]
    try:
        yield found
    finally:
        RayEngine.point_in_time_parts = parts  # type: ignore[method-assign]
        RayEngine._get = get  # type: ignore[method-assign]


def spilled_mib() -> float | None:
    """Bytes Ray spilled from its object store to disk so far, MiB (from its memory summary)."""
    try:
        from ray._private.internal_api import memory_summary

        text = memory_summary(stats_only=True)
    except Exception:
        return None
    for line in text.splitlines():
        if "Spilled" in line and "MiB" in line:
            return float(line.split("Spilled", 1)[1].split("MiB")[0].strip(" :"))
    return 0.0


def setup(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """The feature group (``--batches`` commits), the view, and the spine."""
    start = time.perf_counter()
    features = pa.Table.from_pandas(feature_frame(args.keys, args.rows), preserve_index=False)
    spine = pa.Table.from_pandas(spine_frame(args.keys, args.spine_rows), preserve_index=False)
    generated = time.perf_counter() - start
    project = open_project(home)
    group = project.feature_store.create_feature_group(
        "users",
        primary_key=["user_id"],
        event_time="ts",
        features=fti_features(),
        online_enabled=False,
        statistics=False,
    )
    start = time.perf_counter()
    bounds = np.linspace(0, features.num_rows, args.batches + 1).astype(int)
    for lo, hi in itertools.pairwise(bounds):
        group.insert(features.slice(lo, hi - lo))
    inserted = time.perf_counter() - start
    project.feature_store.create_feature_view("bench", query=group.select(["f1", "f2", "f3", "f4"]))
    project.close()
    return {
        "rows": features.num_rows,
        "arrow_mib": features.nbytes / 2**20,
        "spine": spine,
        "generate_seconds": generated,
        "insert_seconds": inserted,
    }


def timed_training(view: Any, spine: pa.Table, engine: str) -> tuple[float, str, int]:
    start = time.perf_counter()
    version = view.create_training_data(spine=spine, engine=engine)
    seconds = time.perf_counter() - start
    dataset = view.training_dataset(version)
    return seconds, dataset.digest, dataset.rows


def overhead(args: argparse.Namespace, home: Path, spine: pa.Table) -> dict[str, Any]:
    """Local and ray, alternately; the first call of each is a warm-up."""
    project = open_project(home)
    view = project.feature_store.get_feature_view("bench")
    times: dict[str, list[float]] = {"local": [], "ray": []}
    digests: dict[str, set[str]] = {"local": set(), "ray": set()}
    rows = 0
    for repeat in range(args.repeats + 1):
        order = ["local", "ray"] if repeat % 2 == 0 else ["ray", "local"]
        for engine in order:
            seconds, digest, rows = timed_training(view, spine, engine)
            digests[engine].add(digest)
            if repeat > 0:
                times[engine].append(seconds)
    project.close()
    local, ray = median(times["local"]), median(times["ray"])
    return {
        "seconds": times,
        "local_median": local,
        "ray_median": ray,
        "ratio": ray / local,
        "rows": rows,
        "same_digest": len(digests["local"] | digests["ray"]) == 1,
        "met": ray / local <= 2.0,
    }


def memory(args: argparse.Namespace, home: Path, spine: pa.Table, ray: Any) -> dict[str, Any]:
    """Ray with ``--partitions`` partitions (workers' peaks), then local under DuckDB's limit."""
    from fti import duckdb_database

    # A new Ray whose object store is small, as a worker node's share would be: the shuffle's
    # blocks that do not fit are spilled to disk by Ray.
    ray.shutdown()
    ray.init(
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        object_store_memory=args.object_store_mib * 2**20,
    )
    project = open_project(home, ray_partitions=str(args.partitions))
    view = project.feature_store.get_feature_view("bench")
    # Every worker starts and imports what a task needs, reading no rows (a range after the
    # data prunes every file), before its idle memory is read.
    view.get_batch_data(start_time=dt.datetime(2100, 1, 1, tzinfo=dt.UTC), engine="ray")
    workers = ray_workers()
    idle = {pid: private_kib(pid) for pid in workers}
    sampler = Sampler(workers)
    reset_peak("self")
    start_ns = time.time_ns()
    with sampler, phases() as phase:
        seconds, digest, rows = timed_training(view, spine, "ray")
    driver_ray = (status_kib("self", "VmHWM") or 0) / 1024
    # A process started during the job has no idle reading: all its memory counts.
    per_worker = [
        {
            "pid": pid,
            "titles": sorted(sampler.titles[pid]),
            "idle_private_mib": (idle.get(pid) or 0) / 1024,
            "peak_private_mib": sampler.private[pid] / 1024,
            "peak_rss_mib": sampler.rss[pid] / 1024,
            "working_mib": (sampler.private[pid] - (idle.get(pid) or 0)) / 1024,
        }
        for pid in sampler.private
    ]
    tasks = task_seconds(ray, start_ns)
    limit = args.limit_mib
    ray_result = {
        "partitions": args.partitions,
        "object_store_mib": args.object_store_mib,
        "seconds": seconds,
        "distributed_seconds": phase["distributed"],
        "serial_seconds": seconds - phase["distributed"],
        "digest": digest,
        "rows": rows,
        "workers": per_worker,
        "max_working_mib": max((w["working_mib"] for w in per_worker), default=None),
        "driver_peak_mib": driver_ray,
        "spilled_mib": spilled_mib(),
        "tasks": tasks,
    }
    # The local engine without a limit, then with DuckDB limited as a worker's working memory.
    reset_peak("self")
    s, d, _ = timed_training(view, spine, "local")
    unlimited = {
        "seconds": s,
        "same_digest": d == digest,
        "peak_mib": (status_kib("self", "VmHWM") or 0) / 1024,
    }
    spill = Path(tempfile.mkdtemp(prefix="fti-duckdb-spill-", dir=home))
    with duckdb_database.cursor() as con:
        con.execute(f"SET memory_limit = '{limit}MiB'")
        con.execute(f"SET temp_directory = '{spill}'")
    reset_peak("self")
    local: dict[str, Any] = {}
    stop = False
    spilled = 0

    def watch() -> None:
        nonlocal spilled
        while not stop:
            size = sum(p.stat().st_size for p in spill.rglob("*") if p.is_file())
            spilled = max(spilled, size)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        s, d, _ = timed_training(view, spine, "local")
        local = {"seconds": s, "digest": d, "outcome": "completed"}
    except Exception as exc:  # the outcome under the limit is what is measured
        local = {"seconds": None, "outcome": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        stop = True
        watcher.join()
        with duckdb_database.cursor() as con:
            con.execute("RESET memory_limit")
    local["peak_mib"] = (status_kib("self", "VmHWM") or 0) / 1024
    local["spilled_mib"] = spilled / 2**20
    local["limit_mib"] = limit
    project.close()
    return {"ray": ray_result, "local": unlimited, "local_limited": local}


def task_seconds(ray: Any, since_ns: int) -> dict[str, Any]:
    """Durations of the job's scatter and join tasks, from Ray's timeline."""
    durations: dict[str, list[float]] = {"_scatter": [], "_join": []}
    for event in ray.timeline():
        category = str(event.get("cat", ""))
        key = next((k for k in durations if category == f"task::{k}"), None)
        if key is None or event.get("ph") != "X" or event["ts"] * 1000 < since_ns:
            continue
        durations[key].append(event["dur"] / 1e6)
    return {
        k: {"n": len(v), "sum_s": sum(v), "max_s": max(v, default=0.0)}
        for k, v in durations.items()
    }


def feast(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """fti (ray and local engines) and Feast's Ray offline store on the same smaller data:
    ``--feast-rows`` feature rows, a spine of a tenth of them. Feast runs in its own venv
    (``--feast-python``) and process, and starts its own Ray inside the timed call."""
    import pyarrow.parquet as pq
    from feature_views import WorkerError, run_worker, summarize

    rows = args.feast_rows
    data = work / "feast-data"
    data.mkdir()
    features = pa.Table.from_pandas(feature_frame(rows // 10, rows), preserve_index=False)
    spine = pa.Table.from_pandas(spine_frame(rows // 10, rows // 10), preserve_index=False)
    pq.write_table(features, data / "features.parquet")
    pq.write_table(spine, data / "spine.parquet")
    home = work / "feast-fti"
    project = open_project(home)
    group = project.feature_store.create_feature_group(
        "users",
        primary_key=["user_id"],
        event_time="ts",
        features=fti_features(),
        online_enabled=False,
        statistics=False,
    )
    group.insert(features)
    view = project.feature_store.create_feature_view(
        "bench", query=group.select(["f1", "f2", "f3", "f4"])
    )
    result: dict[str, Any] = {"feature_rows": features.num_rows, "spine_rows": spine.num_rows}
    for engine in ("ray", "local"):
        start = time.perf_counter()
        x = view.get_batch_data(spine=spine, engine=engine, return_type="pyarrow")
        result[f"fti_{engine}"] = {"seconds": time.perf_counter() - start, **summarize(x, True)}
    project.close()
    spec = {
        "mode": "feast_ray",
        "data": str(data),
        "home": str(work / "feast-repo"),
        "offline_options": {"storage_path": str(work / "feast-storage")},
    }
    try:
        result["feast_ray"] = run_worker(
            "training", spec, python=args.feast_python, timeout=args.feast_timeout
        )
    except WorkerError as exc:
        result["feast_ray"] = {"error": str(exc)[-1000:]}
    return result


def stats_table(rows: int, seed: int = 3) -> pa.Table:
    """The statistics benchmark's rows: every kind of column the statistics summarize."""
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    values = rng.normal(50.0, 10.0, rows)
    values[rng.random(rows) < 0.01] = np.nan
    words = pa.array([f"city_{i:04d}" for i in range(1_000)])
    return pa.table(
        {
            "user_id": pa.array(rng.integers(0, rows // 10, rows)),
            "amount": pa.array(values, mask=rng.random(rows) < 0.05),
            "city": pc.take(words, pa.array(rng.zipf(1.3, rows) % 1_000)),
            "flag": pa.array(rng.random(rows) < 0.3),
            "ts": pa.array(
                np.datetime64("2024-01-01") + rng.integers(0, 90 * 86_400, rows).astype("m8[s]"),
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


STATS_TYPES = {
    "user_id": "int64",
    "amount": "float64",
    "city": "string",
    "flag": "bool",
    "ts": "timestamp",
}


@contextlib.contextmanager
def merge_timer() -> Any:
    """The driver's serial merge time of statistics_on_ray and drift_on_ray."""
    from fti.engines import ray_statistics

    found = {"statistics": 0.0, "drift": 0.0}
    wrapped = {
        "_merge_scalars": "statistics",
        "_finish": "statistics",
        "merge_windows": "drift",
        "compute_drift_of_window": "drift",
    }
    originals = {name: getattr(ray_statistics, name) for name in wrapped}

    def timed(name: str) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[name](*a, **k)
            finally:
                found[wrapped[name]] += time.perf_counter() - start

        return call

    for name in wrapped:
        setattr(ray_statistics, name, timed(name))
    try:
        yield found
    finally:
        for name, original in originals.items():
            setattr(ray_statistics, name, original)


def statistics_and_drift(args: argparse.Namespace, ray: Any) -> dict[str, Any]:
    """Local statistics and drift of the whole table beside the Ray ones of its blocks."""
    from fti.engines.ray_statistics import drift_on_ray, statistics_on_ray
    from fti.feature_store.statistics import compute_statistics
    from fti.monitoring.drift import compute_drift

    table = stats_table(args.stats_rows)
    reference = stats_table(args.stats_rows // 10, seed=4)
    bounds = np.linspace(0, table.num_rows, args.stats_partitions + 1).astype(int)
    start = time.perf_counter()
    refs = [ray.put(table.slice(lo, hi - lo)) for lo, hi in itertools.pairwise(bounds)]
    put = time.perf_counter() - start
    features = ["user_id", "amount", "city", "flag"]
    result: dict[str, Any] = {
        "rows": table.num_rows,
        "reference_rows": reference.num_rows,
        "partitions": len(refs),
        "arrow_mib": table.nbytes / 2**20,
        "put_seconds": put,
    }
    # Warm-up, not timed: Ray starts its workers and they import fti; scipy is imported.
    small = table.slice(0, 1_000)
    compute_drift(reference, small, features=features)
    drift_on_ray(reference.slice(0, 1_000), [ray.put(small)] * 2, features=features)
    statistics_on_ray([ray.put(small)] * 2, STATS_TYPES)
    with merge_timer() as merged:
        start = time.perf_counter()
        local = compute_statistics(table, STATS_TYPES)
        local_s = time.perf_counter() - start
        start = time.perf_counter()
        on_ray = statistics_on_ray(refs, STATS_TYPES)
        ray_s = time.perf_counter() - start
        start = time.perf_counter()
        local_drift = compute_drift(reference, table, features=features)
        local_drift_s = time.perf_counter() - start
        start = time.perf_counter()
        ray_drift = drift_on_ray(reference, refs, features=features)
        ray_drift_s = time.perf_counter() - start
    exact = ("count", "null_count", "nan_count", "min", "max", "histogram", "top_values")
    result["statistics"] = {
        "local_seconds": local_s,
        "ray_seconds": ray_s,
        "ratio": ray_s / local_s,
        "merge_seconds": merged["statistics"],
        "equal": all(
            getattr(local[c], k) == getattr(on_ray[c], k) for c in STATS_TYPES for k in exact
        ),
        "mean_max_relative_gap": max(
            abs(local[c].mean - on_ray[c].mean) / max(1.0, abs(local[c].mean))  # type: ignore[operator]
            for c in STATS_TYPES
            if local[c].mean is not None
        ),
        "distinct": {
            c: [local[c].distinct_count, on_ray[c].distinct_count, local[c].distinct_approximate]
            for c in STATS_TYPES
        },
    }
    same = ("psi", "ks_statistic", "ks_pvalue", "null_rate_current")
    result["drift"] = {
        "local_seconds": local_drift_s,
        "ray_seconds": ray_drift_s,
        "ratio": ray_drift_s / local_drift_s,
        "merge_seconds": merged["drift"],
        "equal": all(
            local_drift[f].metrics.get(k) == ray_drift[f].metrics.get(k)
            and local_drift[f].histogram == ray_drift[f].histogram
            for f in features
            for k in same
        ),
    }
    return result


def insert_batches(rows: int) -> tuple[Any, Any]:
    """The first insert's rows and the upsert's: a half of them, most replaced (a new ``f1``
    for an existing key and event time), the rest new."""
    first = feature_frame(max(1, rows // 4), rows)
    replaced = first.sample(frac=0.4, random_state=1).assign(f1=lambda f: f["f1"] + 1.0)
    new = feature_frame(max(1, rows // 4), rows // 10, seed=2)
    return first, pd_concat([replaced, new])


def pd_concat(frames: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def inserts(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Local and ray inserts side by side (module docstring, ``insert``)."""
    first, upsert = insert_batches(args.insert_rows)
    project = open_project(work / "insert-home")
    groups = {
        engine: project.feature_store.create_feature_group(
            engine, primary_key=["user_id"], event_time="ts", features=fti_features()
        )
        for engine in ("local", "ray")
    }
    warm = feature_frame(100, 1_000, seed=3)
    for engine in ("local", "ray"):
        project.feature_store.create_feature_group(
            f"warm_{engine}", primary_key=["user_id"], event_time="ts", features=fti_features()
        ).insert(warm, engine=engine)
    # The same first insert into groups without statistics: the statistics' share.
    plain = {
        engine: project.feature_store.create_feature_group(
            f"plain_{engine}",
            primary_key=["user_id"],
            event_time="ts",
            features=fti_features(),
            statistics=False,
        )
        for engine in ("local", "ray")
    }
    steps: dict[str, dict[str, Any]] = {}
    for step, data, pair in (
        ("insert", first, groups),
        ("upsert", upsert, groups),
        ("insert, no statistics", first, plain),
    ):
        row: dict[str, Any] = {"rows": len(data)}
        for engine, group in pair.items():
            start = time.perf_counter()
            commit = group.insert(data, engine=engine)
            row[f"{engine}_seconds"] = time.perf_counter() - start
            row[f"{engine}_updated"] = commit.rows_updated
        row["ratio"] = row["ray_seconds"] / row["local_seconds"]
        steps[step] = row
    tables = {engine: group.read(return_type="pyarrow") for engine, group in groups.items()}
    same = {
        engine: (t.num_rows, round(float(pa.compute.sum(t.column("f1")).as_py()), 6))
        for engine, t in tables.items()
    }
    project.close()
    return {"steps": steps, "tables": same, "equal": same["local"] == same["ray"]}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--spine-rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=40)
    parser.add_argument("--limit-mib", type=int, default=0, help="0: a tenth of the table")
    parser.add_argument("--object-store-mib", type=int, default=100)
    parser.add_argument(
        "--only",
        choices=["overhead", "memory", "feast", "stats", "insert"],
        action="append",
        help="default: overhead and memory",
    )
    parser.add_argument("--feast-python", default="/tmp/feast-venv/bin/python")
    parser.add_argument("--feast-rows", type=int, default=100_000)
    parser.add_argument("--feast-timeout", type=float, default=900)
    parser.add_argument("--stats-rows", type=int, default=10_000_000)
    parser.add_argument("--stats-partitions", type=int, default=20)
    parser.add_argument("--insert-rows", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.keys, args.spine_rows, args.batches = 1_000_000, 100_000, 100_000, 10
        args.repeats, args.partitions = 2, 10
        args.insert_rows = 200_000
    return args


def main(argv: list[str]) -> int:
    import ray

    args = parse_args(argv)
    only = args.only or ["overhead", "memory"]
    console = Console(width=None if sys.stdout.isatty() else 150)
    report: dict[str, Any] = {"machine": machine(), "load_average_before": os.getloadavg()}
    report["arguments"] = {k: str(v) for k, v in vars(args).items()}
    with workdir(args, "fti-ray-bench-") as work:
        home = work / "home"
        if set(only) - {"stats", "insert"}:
            console.print(f"setting up {args.rows:,} feature rows in {args.batches} commits...")
            data = setup(args, home)
            spine = data.pop("spine")
            if not args.limit_mib:
                args.limit_mib = max(1, int(data["arrow_mib"] / 10))
            report["data"] = data
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if "overhead" in only:
                console.print("overhead: local and ray, alternately...")
                report["overhead"] = overhead(args, home, spine)
            if "memory" in only:
                console.print("memory: ray with many partitions, local under DuckDB's limit...")
                report["memory"] = memory(args, home, spine, ray)
            if "feast" in only:
                console.print("feast: fti and Feast's Ray offline store on the same rows...")
                report["feast"] = feast(args, work)
            if "stats" in only:
                console.print("stats: statistics and drift, local and on ray...")
                report["stats"] = statistics_and_drift(args, ray)
            if "insert" in only:
                console.print(f"insert: {args.insert_rows:,} rows, local and ray...")
                report["insert"] = inserts(args, work)
        finally:
            ray.shutdown()
    report["load_average_after"] = os.getloadavg()
    show(console, report)
    RESULTS.parent.mkdir(exist_ok=True)
    path = RESULTS.with_name(f"ray_engine_{'_'.join(only)}.json")
    path.write_text(json.dumps(report, indent=2, default=str))
    return 0


def show(console: Console, report: dict[str, Any]) -> None:
    data = report.get("data", {})
    if "overhead" in report:
        show_overhead(console, data, report["overhead"])
    if "memory" in report:
        show_memory(console, data, report["memory"])
    if "feast" in report:
        show_feast(console, report["feast"])
    if "stats" in report:
        show_stats(console, report["stats"])
    if "insert" in report:
        show_inserts(console, report["insert"])


def show_inserts(console: Console, result: dict[str, Any]) -> None:
    table = Table(title="fg.insert: local and ray engines (one run each)")
    for column in ("step", "rows", "local s", "ray s", "ray / local", "updated (local, ray)"):
        table.add_column(column)
    for step, row in result["steps"].items():
        table.add_row(
            step,
            f"{row['rows']:,}",
            f"{row['local_seconds']:.2f}",
            f"{row['ray_seconds']:.2f}",
            f"{row['ratio']:.2f}",
            f"{row['local_updated']:,}, {row['ray_updated']:,}",
        )
    console.print(table)
    console.print(f"tables (rows, sum of f1): {result['tables']}; equal: {result['equal']}")


def show_stats(console: Console, result: dict[str, Any]) -> None:
    table = Table(
        title=f"statistics and drift: {result['rows']:,} rows in {result['partitions']} blocks, "
        f"reference {result['reference_rows']:,} rows"
    )
    for column in ("call", "local s", "ray s", "ray / local", "driver merge s", "equal"):
        table.add_column(column)
    for name in ("statistics", "drift"):
        row = result[name]
        table.add_row(
            name,
            f"{row['local_seconds']:.2f}",
            f"{row['ray_seconds']:.2f}",
            f"{row['ratio']:.2f}",
            f"{row['merge_seconds']:.3f}",
            str(row["equal"]),
        )
    console.print(table)
    console.print(
        f"put into Ray's store: {result['put_seconds']:.2f} s; distinct (local, ray, local "
        f"approximate): {result['statistics']['distinct']}; largest relative mean gap "
        f"{result['statistics']['mean_max_relative_gap']:.2e}"
    )


def show_feast(console: Console, result: dict[str, Any]) -> None:
    table = Table(
        title=f"{result['feature_rows']:,} feature rows x {result['spine_rows']:,} spine rows"
    )
    for column in ("contender", "seconds", "rows", "rows with a match", "f1 sum"):
        table.add_column(column)
    for name in ("fti_ray", "fti_local", "feast_ray"):
        row = result[name]
        if "error" in row:
            table.add_row(name, "-", "-", "-", row["error"][-200:])
            continue
        table.add_row(
            name,
            f"{row['seconds']:.2f}",
            f"{row['rows']:,}",
            f"{row['matched']:,}",
            f"{row['f1_sum']:.3f}",
        )
    console.print(table)


def show_overhead(console: Console, data: dict[str, Any], over: dict[str, Any]) -> None:
    table = Table(title=f"training data: {data['rows']:,} feature rows x {over['rows']:,} spine")
    for column in ("engine", "median s", "runs s", "ratio", "same digest", "target <= 2x"):
        table.add_column(column)
    table.add_row(
        "local", f"{over['local_median']:.2f}", _runs(over["seconds"]["local"]), "1.00", "", ""
    )
    table.add_row(
        "ray",
        f"{over['ray_median']:.2f}",
        _runs(over["seconds"]["ray"]),
        f"{over['ratio']:.2f}",
        str(over["same_digest"]),
        verdict(over["met"]),
    )
    console.print(table)


def show_memory(console: Console, data: dict[str, Any], mem: dict[str, Any]) -> None:
    ray, local = mem["ray"], mem["local_limited"]
    limit = local["limit_mib"]
    table = Table(title=f"memory: table {data['arrow_mib']:.0f} MiB in Arrow, limit {limit} MiB")
    for column in ("run", "seconds", "peak MiB", "working MiB (max worker)", "outcome"):
        table.add_column(column)
    working = ray["max_working_mib"]
    table.add_row(
        f"ray, {ray['partitions']} partitions",
        f"{ray['seconds']:.2f}",
        f"workers private {max(w['peak_private_mib'] for w in ray['workers']):.0f} "
        f"(rss {max(w['peak_rss_mib'] for w in ray['workers']):.0f}), "
        f"driver {ray['driver_peak_mib']:.0f}",
        f"{working:.0f}" if working is not None else "?",
        verdict(working is not None and working < limit),
    )
    unlimited = mem["local"]
    table.add_row(
        "local, no limit",
        f"{unlimited['seconds']:.2f}",
        f"{unlimited['peak_mib']:.0f}",
        "",
        f"completed, same digest: {unlimited['same_digest']}",
    )
    seconds = local["seconds"]
    table.add_row(
        f"local, DuckDB limit {limit} MiB",
        "-" if seconds is None else f"{seconds:.2f}",
        f"{local['peak_mib']:.0f}",
        f"spilled {local['spilled_mib']:.0f} MiB",
        local["outcome"].splitlines()[0],
    )
    console.print(table)
    processes = Table(title="Ray worker processes during the job (MiB)")
    for column in ("pid", "titles", "idle private", "peak private", "working", "peak RSS"):
        processes.add_column(column)
    for w in ray["workers"]:
        processes.add_row(
            w["pid"],
            " ".join(w["titles"]),
            f"{w['idle_private_mib']:.0f}",
            f"{w['peak_private_mib']:.0f}",
            f"{w['working_mib']:.0f}",
            f"{w['peak_rss_mib']:.0f}",
        )
    console.print(processes)
    console.print(
        f"ray: distributed {ray['distributed_seconds']:.2f} s, serial {ray['serial_seconds']:.2f}"
        f" s, spilled {ray['spilled_mib']} MiB, tasks {ray['tasks']}"
    )


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
