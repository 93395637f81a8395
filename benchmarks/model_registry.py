"""Benchmarks of the "Model registry" issue: artifact save/load speed and metadata look-ups.

save / load
    A ``--mb`` MB artifact of random bytes, beside a plain ``shutil.copyfile`` of the same file
    measured in the same run (round-robin, so a noisy period hits every contender alike):

    - ``copy``: ``shutil.copyfile`` (in-kernel copy, no hashing): the reference;
    - ``save path``: ``create_model(...).save(path)``: copy + sha256 manifest + metadata;
    - ``save object``: ``save(bytes, framework="python")``: pickle written + hashed in place;
    - ``download``: ``model.download(dir)``: verified copy of the files and manifest;
    - ``load object``: ``model.load(unsafe_pickle=True)``: verified read + unpickle;
    - ``sha256 only``: ``hashlib.sha256`` of the bytes in memory, the bound of any verified
      save or load on one core.

    Target: save and load >= 0.7x the copy's throughput. Medians over ``--repeats``.
lookup
    ``get_model(name, version=v)``, ``get_model(name)`` (latest) and ``get_model(name,
    alias=...)`` in-process on a registry with ``--versions`` versions: p50 and p99 over
    ``--lookups`` calls.

Run from the repository root::

    .venv/bin/python benchmarks/model_registry.py              # about a minute
    .venv/bin/python benchmarks/model_registry.py --quick      # smoke run

Results are printed and written to ``benchmarks/results/model_registry.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import fti

Cleanup = Callable[[], None] | None
RESULTS = Path(__file__).resolve().parent / "results" / "model_registry.json"
TARGET_RATIO = 0.7
console = Console()


def bench_io(root: Path, megabytes: int, repeats: int) -> dict[str, Any]:
    """Seconds per contender (median over repeats) for one artifact of ``megabytes`` MB."""
    data = os.urandom(megabytes << 20)
    source = root / "artifact.bin"
    source.write_bytes(data)
    with fti.connect(root / "home", "bench") as project:
        mr = project.model_registry
        stored_file = mr.create_model("stored").save(source)
        stored_object = mr.create_model("pickled", framework="python").save(
            data, unsafe_pickle=True
        )
        counter = iter(range(1_000_000))
        # Each contender returns what to clean up afterwards, outside the timing.

        def copy() -> Cleanup:
            target = root / f"copy_{next(counter)}"
            shutil.copyfile(source, target)
            return target.unlink

        def save_path() -> Cleanup:
            return mr.create_model("saved").save(source).delete

        def save_object() -> Cleanup:
            model = mr.create_model("saved_object", framework="python")
            return model.save(data, unsafe_pickle=True).delete

        def download() -> Cleanup:
            target = stored_file.download(root / f"download_{next(counter)}")
            return lambda: shutil.rmtree(target)

        def load_object() -> Cleanup:
            assert len(stored_object.load(unsafe_pickle=True)) == len(data)
            return None

        def sha256_only() -> Cleanup:
            hashlib.sha256(data).digest()
            return None

        contenders: dict[str, Callable[[], Cleanup]] = {
            "copy": copy,
            "save path": save_path,
            "save object": save_object,
            "download": download,
            "load object": load_object,
            "sha256 only": sha256_only,
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(repeats):
            for name, run in contenders.items():
                started = time.perf_counter()
                cleanup = run()
                times[name].append(time.perf_counter() - started)
                if cleanup is not None:
                    cleanup()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "megabytes": megabytes,
        "repeats": repeats,
        "seconds": medians,
        "mb_per_s": {name: megabytes / s for name, s in medians.items()},
        "ratio_to_copy": {name: medians["copy"] / s for name, s in medians.items()},
        "all_seconds": times,
    }


def bench_lookup(root: Path, versions: int, lookups: int) -> dict[str, Any]:
    """p50/p99 of get_model by version, latest and alias, in microseconds."""
    with fti.connect(root / "lookup_home", "bench") as project:
        mr = project.model_registry
        model = mr.create_model("lookup", metrics={"auc": 0.75}, params={"depth": 6})
        for _ in range(versions):
            model.save(_tiny(root))
        model.set_alias("production")
        cases: dict[str, Callable[[int], Any]] = {
            "get_model(name, version=v)": lambda i: mr.get_model("lookup", 1 + i % versions),
            "get_model(name)": lambda i: mr.get_model("lookup"),
            "get_model(name, alias=a)": lambda i: mr.get_model("lookup", alias="production"),
        }
        out = {}
        for name, call in cases.items():
            for i in range(min(100, lookups)):
                call(i)  # warm-up: connections, statement caches
            samples = []
            for i in range(lookups):
                started = time.perf_counter_ns()
                call(i)
                samples.append((time.perf_counter_ns() - started) / 1000)
            samples.sort()
            out[name] = {
                "p50_us": samples[len(samples) // 2],
                "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
            }
    return {"versions": versions, "lookups": lookups, "results": out}


def _tiny(root: Path) -> Path:
    path = root / "tiny.bin"
    if not path.exists():
        path.write_bytes(b"weights")
    return path


def main() -> None:
    """Run the benchmarks, print tables, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="artifact size in MB")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: /tmp)")
    parser.add_argument("--quick", action="store_true", help="small and fast smoke run")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.repeats, args.versions, args.lookups = 10, 2, 10, 100
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fti_bench_models_") as scratch:
        root = Path(scratch)
        io_results = bench_io(root, args.mb, args.repeats)
        lookup = bench_lookup(root, args.versions, args.lookups)
    _print(io_results, lookup)
    results = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "io": io_results,
        "lookup": lookup,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"Results written to {RESULTS}")


def _print(io_results: dict[str, Any], lookup: dict[str, Any]) -> None:
    table = Table(
        title=f"{io_results['megabytes']} MB artifact, median of {io_results['repeats']} "
        f"(target: save and load >= {TARGET_RATIO}x copy)"
    )
    for column in ("operation", "seconds", "MB/s", "x copy"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    for name, seconds in io_results["seconds"].items():
        table.add_row(
            name,
            f"{seconds:.3f}",
            f"{io_results['mb_per_s'][name]:,.0f}",
            f"{io_results['ratio_to_copy'][name]:.2f}",
        )
    console.print(table)
    table = Table(
        title=f"get_model look-ups, {lookup['versions']} versions, {lookup['lookups']} calls"
    )
    for column in ("call", "p50 (us)", "p99 (us)"):
        table.add_column(column, justify="right" if column != "call" else "left")
    for name, result in lookup["results"].items():
        table.add_row(name, f"{result['p50_us']:,.0f}", f"{result['p99_us']:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
