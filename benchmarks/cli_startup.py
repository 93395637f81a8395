"""Benchmark of the CLI's start: `fti --help` and `fti models list` against a bare interpreter.

Each command runs as a fresh process (what a user and a scheduler pay), ``--repeats`` times,
round-robin so the machine's noise falls on every contender alike. Target (issue "A new
user's first hour"): both commands under 0.5 s. Beside the wall time, each run's CPU time
(user + system, from the child's resource usage): on a machine loaded by other work the wall
time grows with the wait for a core, the CPU time hardly.

    .venv/bin/python benchmarks/cli_startup.py --repeats 21
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from harness import machine, median, verdict, workdir
from rich.console import Console
from rich.table import Table

TARGET_SECONDS = 0.5
RESULTS = Path(__file__).resolve().parent / "results" / "cli_startup.json"


def main() -> None:
    """Time the commands, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    fti_command = str(Path(sys.executable).with_name("fti"))
    with workdir(args, "fti-bench-cli-") as root:
        _registry(root)
        project = ["--home", str(root), "--project", "p"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "fti --help": [fti_command, "--help"],
            "fti models list": [fti_command, *project, "models", "list"],
        }
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                before = _children_cpu()
                started = time.perf_counter()
                subprocess.run(command, capture_output=True, check=True)
                seconds[name].append(time.perf_counter() - started)
                cpu[name].append(_children_cpu() - before)
    table = Table(title=f"CLI start, fresh process, median of {args.repeats} (target < 0.5 s)")
    for column in ("command", "median s", "min s", "max s", "median CPU s", "target"):
        table.add_column(column, justify="left" if column == "command" else "right")
    summary = {}
    for name, values in seconds.items():
        met = None if name.startswith("python") else median(values) < TARGET_SECONDS
        summary[name] = {
            "median": median(values),
            "min": min(values),
            "max": max(values),
            "median_cpu": median(cpu[name]),
        }
        table.add_row(
            name,
            f"{median(values):.3f}",
            f"{min(values):.3f}",
            f"{max(values):.3f}",
            f"{median(cpu[name]):.3f}",
            verdict(met),
        )
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "seconds": summary}, indent=2) + "\n")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _registry(root: Path) -> None:
    """A project with a few saved models, as `fti models list` would find after the demo."""
    import fti

    with fti.connect(root, "p") as project:
        for name in ("delays", "eta", "churn"):
            model = project.model_registry.create_model(name, metrics={"auc": 0.7})
            for _ in range(3):
                model.save(_weights(root))


def _weights(root: Path) -> Path:
    path = root / "weights.bin"
    path.write_bytes(b"weights")
    return path


if __name__ == "__main__":
    main()
