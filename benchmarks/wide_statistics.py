"""Benchmark of the "first hour and hostile input" issue: statistics of wide feature groups.

A 1-row insert into a new group of ``N`` float64 columns (plus an int64 key) with statistics
on, for each ``--columns`` count, each in a fresh process (its peak resident memory is the
kernel's high-water mark of that process, ``VmHWM``). Reported: the insert's seconds, the
seconds of ``compute_statistics`` alone on the same row, and the peak. Target: peak memory
grows linearly and small with the columns: 1,000 columns under 1.5 GB, 10,000 completes.

Before the fix, one DuckDB statement summarized every column: 200 columns took 1 GB, 500 over
3 GB, 10,000 were killed at 23.5 GB.

Run from the repository root::

    .venv/bin/python benchmarks/wide_statistics.py                      # 100, 1,000, 10,000
    .venv/bin/python benchmarks/wide_statistics.py --columns 100 1000   # fewer
    .venv/bin/python benchmarks/wide_statistics.py --quick              # seconds

Results are printed as a table and written to ``benchmarks/results/wide_statistics.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import connect, machine, verdict, workdir
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results" / "wide_statistics.json"
RESULT_MARK = "@@RESULT@@ "
TARGET_MIB = {1_000: 1.5 * 1024}


def peak_mib() -> float:
    """The kernel's high-water mark of this process (VmHWM: unlike ru_maxrss, not inherited
    from the parent that started it)."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def worker(columns: int, home: str) -> dict[str, Any]:
    import pandas as pd
    import pyarrow as pa

    import fti
    from fti.feature_store.statistics import compute_statistics

    features = [fti.Feature("id", "int64")] + [
        fti.Feature(f"c{i}", "float64") for i in range(columns)
    ]
    frame = pd.DataFrame({"id": [1], **{f"c{i}": [i + 0.5] for i in range(columns)}})
    with connect(Path(home)) as project:
        group = project.feature_store.create_feature_group(
            "wide", primary_key=["id"], features=features
        )
        start = time.perf_counter()
        commit = group.insert(frame)
        insert_seconds = time.perf_counter() - start
        assert commit is not None and len(group.statistics(commit.id)) == columns + 1
    table = pa.Table.from_pandas(frame, preserve_index=False)
    start = time.perf_counter()
    compute_statistics(table, {f.name: f.type for f in features})
    statistics_seconds = time.perf_counter() - start
    return {
        "columns": columns,
        "insert_seconds": insert_seconds,
        "statistics_seconds": statistics_seconds,
        "peak_mib": peak_mib(),
    }


def run(columns: int, home: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(columns), str(home)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"columns": columns, "error": f"did not finish in {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        return {"columns": columns, "error": f"exit {done.returncode}: {done.stderr[-2000:]}"}
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        print(RESULT_MARK + json.dumps(worker(int(argv[1]), argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--quick", action="store_true", help="10 and 100 columns: a smoke run")
    parser.add_argument("--timeout", type=float, default=1_800, help="seconds per count")
    parser.add_argument("--workdir", type=Path, help="where the stores go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores after the run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.columns = [10, 100]
    console = Console()
    with workdir(args, "fti-wide-") as work:
        results = [run(n, work / f"home_{n}", args.timeout) for n in args.columns]
    table = Table(title="1-row insert into N float64 columns, statistics on (fresh process each)")
    for header in ("columns", "insert s", "statistics alone s", "peak MiB", "target"):
        table.add_column(header, justify="right")
    for r in results:
        if "error" in r:
            table.add_row(f"{r['columns']:,}", "-", "-", "-", f"[red]{r['error'][:60]}[/red]")
            continue
        target = TARGET_MIB.get(r["columns"])
        met = None if target is None else r["peak_mib"] < target
        table.add_row(
            f"{r['columns']:,}",
            f"{r['insert_seconds']:.2f}",
            f"{r['statistics_seconds']:.2f}",
            f"{r['peak_mib']:,.0f}",
            verdict(met) if target else "completes",
        )
    console.print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    console.print(f"results written to {args.output}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
