"""Benchmark of the web UI: each page's server time on the flights demo project.

Run ``fti demo`` first (its home holds the project), then point this at its home. Every page
is requested in-process through FastAPI's test client (routing, the page's service calls,
template rendering; no network), ``--rounds`` times round-robin, after one warm-up request
each, beside the UI's stylesheet (the framework's own cost: the floor of any page). Beside the
wall time, the process's CPU time per request (all its threads): on a machine loaded by other
work the wall time grows with the wait for a core. Target (issue "Web UI"): every page's p50
and p99 within 300 ms.

    FTI_HOME=/tmp/ui-demo-home fti demo            # once, ~5 min
    .venv/bin/python benchmarks/ui_pages.py --home /tmp/ui-demo-home --rounds 30
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
from harness import machine, verdict
from rich.console import Console
from rich.table import Table

TARGET_MS = 300.0
RESULTS = Path(__file__).resolve().parent / "results" / "ui_pages.json"


def pages(project: str, group: str, view: str, model: str, monitors: list[str]) -> dict[str, str]:
    """The pages measured, by name."""
    p = f"/projects/{project}"
    found = {
        "stylesheet (floor)": "/static/ui.css",
        "project": p,
        "search": f"{p}?q=delay",
        f"group {group}": f"{p}/groups/{group}/1",
        f"group {group} commit 0": f"{p}/groups/{group}/1?commit=0",
        "group weather": f"{p}/groups/weather/1",
        f"view {view}": f"{p}/views/{view}/1",
        f"model {model}": f"{p}/models/{model}",
        "runs": f"{p}/runs",
    }
    for name in monitors:
        found[f"monitor {name}"] = f"{p}/monitors/{name}"
    return found


def main() -> None:
    """Time the pages, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the demo's fti home")
    parser.add_argument("--project", default="flights")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    import fti
    from fti.settings import Settings
    from fti.ui.app import create_ui_app

    with fti.connect(args.home, args.project, create=False) as project:
        flights = project.feature_store.get_feature_group("flights", 1)
        commits = flights.commits()
        size = {"commits": len(commits), "rows": int(flights.read(return_type="pyarrow").num_rows)}
        monitors = [m.name for m in project.monitoring.list_monitors()]
    measured = pages(args.project, "flights", "flight_delays", "flight_delays", monitors)
    settings = Settings.load(args.home, project=args.project)
    seconds: dict[str, list[float]] = {name: [] for name in measured}
    cpu: dict[str, list[float]] = {name: [] for name in measured}
    with TestClient(create_ui_app(settings)) as client:
        for name, path in measured.items():  # warm-up: first opens, imports, caches
            answer = client.get(path)
            assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text[-300:]}"
        for _ in range(args.rounds):
            for name, path in measured.items():
                started, used = time.perf_counter(), time.process_time()
                answer = client.get(path)
                seconds[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - used)
                assert answer.status_code == 200, name
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(
        title=f"UI pages, {args.rounds} rounds: flights has {size['commits']} commits, "
        f"{size['rows']:,} rows (target p50 and p99 <= {TARGET_MS:.0f} ms)"
    )
    columns = ("page", "p50 ms", "p99 ms", "max ms", "CPU p50 ms", "CPU p99 ms", "x floor (p50)")
    for column in (*columns, "target"):
        table.add_column(column, justify="left" if column == "page" else "right")
    floor = float(np.percentile(seconds["stylesheet (floor)"], 50)) * 1000
    results = {}
    for name, values in seconds.items():
        ms, cpu_ms = np.array(values) * 1000, np.array(cpu[name]) * 1000
        p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
        cpu50, cpu99 = float(np.percentile(cpu_ms, 50)), float(np.percentile(cpu_ms, 99))
        met = p99 <= TARGET_MS
        results[name] = {
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": float(ms.max()),
            "cpu_p50_ms": cpu50,
            "cpu_p99_ms": cpu99,
            "met": met,
        }
        table.add_row(
            name,
            f"{p50:.1f}",
            f"{p99:.1f}",
            f"{ms.max():.1f}",
            f"{cpu50:.1f}",
            f"{cpu99:.1f}",
            f"{p50 / floor:.0f}x",
            verdict(met),
        )
    console = Console()
    console.print(table)
    console.print(f"Peak memory of the process: {peak_mib:.0f} MiB")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine(),
                "project": size,
                "rounds": args.rounds,
                "pages": results,
                "peak_mib": peak_mib,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
