"""What the benchmark scripts share: the machine's description, scratch folders, verdicts."""

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
