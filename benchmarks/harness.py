"""What the benchmark scripts share: the machine's description, scratch folders, verdicts,
interleaved latency measurements."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def connect(home: Path, project: str = "bench", online_url: str | None = None) -> Any:
    """A project with explicit store URLs, so FTI_* variables cannot redirect the benchmark."""
    import fti

    return fti.connect(
        home,
        project,
        online_url=online_url or f"sqlite:///{home / 'online.db'}",
        offline_url=str(home / "offline"),
        metadata_url=f"sqlite:///{home / 'metadata.db'}",
    )


def redis_available(url: str) -> str | None:
    """None when Redis at ``url`` answers, else why not."""
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'fti[redis]')"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {url} does not answer: {exc}"
    finally:
        client.close()
    return None


def median(values: list[float]) -> float:
    """The median as a float."""
    return float(statistics.median(values))


def interleaved(calls: dict[str, Callable[[Any], Any]], keys: list[Any]) -> dict[str, list[int]]:
    """Nanoseconds of each call per key; the order of the calls rotates key by key, so the
    machine's noise falls on every contender alike. A call that finds nothing for a key is an
    error: every contender must look up existing keys."""
    names = list(calls)
    found: dict[str, list[int]] = {n: [] for n in names}
    misses = dict.fromkeys(names, 0)
    clock = time.perf_counter_ns
    for i, key in enumerate(keys):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            call = calls[name]
            start = clock()
            value = call(key)
            found[name].append(clock() - start)
            if value is None:
                misses[name] += 1
    if any(misses.values()):
        raise AssertionError(f"look-ups of existing keys found nothing: {misses}")
    return found


def latency_summary(samples: list[int]) -> dict[str, float]:
    """p50, p99 and mean in microseconds of nanosecond samples."""
    values = np.array(samples, dtype=np.float64) / 1_000
    return {
        "p50_us": float(np.percentile(values, 50)),
        "p99_us": float(np.percentile(values, 99)),
        "mean_us": float(values.mean()),
        "n": len(samples),
    }


def machine() -> dict[str, Any]:
    """Date, CPUs, memory and package versions, recorded with every result."""
    from importlib.metadata import version

    packages = ["fti", "deltalake", "pyarrow", "duckdb", "pandas", "numpy", "redis"]
    versions = {}
    for name in packages:
        with contextlib.suppress(Exception):
            versions[name] = version(name)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


def verdict(met: bool | None) -> str:
    """A target's outcome, coloured for rich."""
    if met is None:
        return "[yellow]not measured[/yellow]"
    return "[green]met[/green]" if met else "[red]missed[/red]"


@contextlib.contextmanager
def workdir(args: argparse.Namespace, prefix: str = "fti-bench-") -> Iterator[Path]:
    """``--workdir`` when given, else a temporary folder removed afterwards unless ``--keep``."""
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        yield args.workdir
        return
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if not args.keep:
            shutil.rmtree(path, ignore_errors=True)
