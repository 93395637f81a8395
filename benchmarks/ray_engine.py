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
scaling
    From the memory run's task timings (Ray's task events): the work per partition and the
    driver's serial part (planning, the final sort, the Parquet write and digest), and the
    model T(w) = serial + sum(tasks) / w for w workers.

Run from the repository root (the machine is shared: the load average is recorded)::

    .venv/bin/python benchmarks/ray_engine.py                    # 10M rows x 1M spine
    .venv/bin/python benchmarks/ray_engine.py --quick            # 1M x 100k, a smoke run

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
        choices=["overhead", "memory", "feast"],
        action="append",
        help="default: overhead and memory",
    )
    parser.add_argument("--feast-python", default="/tmp/feast-venv/bin/python")
    parser.add_argument("--feast-rows", type=int, default=100_000)
    parser.add_argument("--feast-timeout", type=float, default=900)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.keys, args.spine_rows, args.batches = 1_000_000, 100_000, 100_000, 10
        args.repeats, args.partitions = 2, 10
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
        finally:
            ray.shutdown()
    report["load_average_after"] = os.getloadavg()
    show(console, report)
    RESULTS.parent.mkdir(exist_ok=True)
    path = RESULTS.with_name(f"ray_engine_{'_'.join(only)}.json")
    path.write_text(json.dumps(report, indent=2, default=str))
    return 0


def show(console: Console, report: dict[str, Any]) -> None:
    data = report["data"]
    if "overhead" in report:
        show_overhead(console, data, report["overhead"])
    if "memory" in report:
        show_memory(console, data, report["memory"])
    if "feast" in report:
        show_feast(console, report["feast"])


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
