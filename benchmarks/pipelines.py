"""Benchmark of scheduling overhead: the run record of a no-op pipeline, and 1,000 simulated
runs of one through the scheduler.

Targets (issue "Automation: pipelines that run on their own"): a no-op run record under 20 ms;
1,000 simulated runs of a no-op pipeline under 30 s. Both on the embedded SQLite metadata
store (``--postgres URL`` adds PostgreSQL).

    .venv/bin/python benchmarks/pipelines.py --records 200 --simulated 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from harness import connect, machine, median, verdict, workdir
from rich.console import Console
from rich.table import Table

import fti
from fti.pipelines import run_pipeline
from fti.pipelines.scheduler import Scheduler

RECORD_TARGET_MS = 20.0
SIMULATED_TARGET_S = 30.0
RESULTS = Path(__file__).resolve().parent / "results" / "pipelines.json"


@fti.pipeline(kind="feature", schedule="* * * * *")
def noop(project: Any) -> None:
    """Does nothing: what is measured is fti's own work around a run."""


def measure(project: Any, records: int, simulated: int) -> dict[str, float]:
    """Median ms of ``records`` manual no-op runs, and seconds of ``simulated`` scheduled ones."""
    run_pipeline(project, noop)  # the first run creates tables and warms caches
    each = []
    for _ in range(records):
        started = time.perf_counter()
        run = run_pipeline(project, noop)
        each.append((time.perf_counter() - started) * 1000)
        assert run.status == "succeeded"
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    runs = Scheduler(project, [noop]).simulate(start, start + dt.timedelta(minutes=simulated))
    elapsed = time.perf_counter() - started
    assert len(runs) == simulated and {r.status for r in runs} == {"succeeded"}
    return {"record_ms_median": median(each), "record_ms_max": max(each), "simulated_s": elapsed}


def main() -> None:
    """Measure, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--simulated", type=int, default=1000)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database URL")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with workdir(args, "fti-bench-pipelines-") as root:
        with connect(root / "sqlite") as project:
            results["sqlite"] = measure(project, args.records, args.simulated)
        if args.postgres:
            with fti.connect(root / "pg", "bench", metadata_url=args.postgres) as project:
                results["postgres"] = measure(project, args.records, args.simulated)
    table = Table(title="Scheduling overhead of a no-op pipeline")
    for column in (
        "metadata store",
        "run record, median ms",
        "max ms",
        f"{args.simulated:,} simulated runs, s",
        "targets",
    ):
        table.add_column(column)
    for store, r in results.items():
        met = r["record_ms_median"] < RECORD_TARGET_MS and (
            r["simulated_s"] * 1000 / args.simulated < SIMULATED_TARGET_S
        )
        table.add_row(
            store,
            f"{r['record_ms_median']:.1f}",
            f"{r['record_ms_max']:.1f}",
            f"{r['simulated_s']:.1f}",
            verdict(met),
        )
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": machine(), "args": vars(args) | {"workdir": None}, "results": results},
            indent=2,
            default=str,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
