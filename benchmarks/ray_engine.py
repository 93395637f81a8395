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

Results are printed as tables and written to ``benchmarks/results/ray_engine.json``.
"""

from __future__ import annotations

import argparse
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

    # A new Ray: workers of the overhead runs keep the memory their allocators hold.
    ray.shutdown()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    project = open_project(home, ray_partitions=str(args.partitions))
    view = project.feature_store.get_feature_view("bench")
    # Every worker starts and imports what a task needs before its idle memory is read.
    timed_training(view, spine.slice(0, 5000), "ray")
    workers = ray_workers()
    before = {pid: status_kib(pid, "VmRSS") for pid in workers}
    for pid in [*workers, "self"]:
        reset_peak(pid)
    start_ns = time.time_ns()
    seconds, digest, rows = timed_training(view, spine, "ray")
    driver_ray = (status_kib("self", "VmHWM") or 0) / 1024
    peaks = {pid: status_kib(pid, "VmHWM") for pid in ray_workers()}
    per_worker = []
    for pid, peak in peaks.items():
        base = before.get(pid)
        if peak is None:
            continue
        per_worker.append(
            {
                "pid": pid,
                "idle_mib": None if base is None else base / 1024,
                "peak_mib": peak / 1024,
                "working_mib": None if base is None else (peak - base) / 1024,
            }
        )
    tasks = task_seconds(ray, start_ns)
    limit = args.limit_mib
    working = [w["working_mib"] for w in per_worker if w["working_mib"] is not None]
    ray_result = {
        "partitions": args.partitions,
        "seconds": seconds,
        "digest": digest,
        "rows": rows,
        "workers": per_worker,
        "max_working_mib": max(working, default=None),
        "driver_peak_mib": driver_ray,
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--spine-rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=40)
    parser.add_argument("--limit-mib", type=int, default=0, help="0: a tenth of the table")
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
            console.print("overhead: local and ray, alternately...")
            report["overhead"] = overhead(args, home, spine)
            console.print("memory: ray with many partitions, local under DuckDB's limit...")
            report["memory"] = memory(args, home, spine, ray)
        finally:
            ray.shutdown()
    report["load_average_after"] = os.getloadavg()
    show(console, report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    return 0


def show(console: Console, report: dict[str, Any]) -> None:
    data, over, mem = report["data"], report["overhead"], report["memory"]
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
    ray, local = mem["ray"], mem["local_limited"]
    limit = local["limit_mib"]
    table = Table(title=f"memory: table {data['arrow_mib']:.0f} MiB in Arrow, limit {limit} MiB")
    for column in ("run", "seconds", "peak MiB", "working MiB (max worker)", "outcome"):
        table.add_column(column)
    working = ray["max_working_mib"]
    table.add_row(
        f"ray, {ray['partitions']} partitions",
        f"{ray['seconds']:.2f}",
        f"workers {max(w['peak_mib'] for w in ray['workers']):.0f}, "
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
    console.print(f"ray tasks: {ray['tasks']}")


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
