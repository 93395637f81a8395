"""Benchmark of the "shared storage" issue, section 6: a group fed by many small commits.

1,000 hourly commits of 1,000 rows into one group (the same 1,000 keys every hour, each commit
an hour later; fti's defaults otherwise: SQLite online store, statistics), once with the
automatic maintenance policy of the default settings (``offline_maintenance_interval`` 20,
``time_travel_retention`` 7d), once with it off (interval 0), and once with the policy on and
a retention of 0 (the run lasts minutes, so with 7 days nothing it wrote ever expires; with 0,
vacuum and the log cleanup keep only the latest version: the state of a table whose history
has expired), on local disk and on S3 (a moto server on loopback, started from the venv's
``moto_server`` as the tests do). Each run is a fresh process with a fresh home.

Every insert is timed. ``fg.read()`` and ``get_batch_data`` for a 1,000-row spine (every key,
half an hour after the latest commit) are timed after each commit of two windows: "at commit
1,000" (the last 21 commits: more than one policy period, so the window holds the files
maintenance leaves and those that pile up until its next run) and "at commit 10" (commits
5-15 of a second, new group, fed one commit after each of those last 21: the machine is
shared and its load drifts over minutes, so both windows are measured side by side; the
run's own commits 5-15 are reported too, as "start"). Reported: medians per window and their
ratio (reads and look-ups: the best of 3 calls after each commit); the target is a ratio
within 1.5x. The reference "one file" holds the rows of the last commit's table in a single
commit: what the data alone costs there, whatever the layout.

Run from the repository root::

    .venv/bin/python benchmarks/small_commits.py                      # local and S3, 1,000 commits
    .venv/bin/python benchmarks/small_commits.py --storage local      # local disk only
    .venv/bin/python benchmarks/small_commits.py --quick              # 60 commits, seconds

Results are printed as tables and written to ``benchmarks/results/small_commits.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import machine, verdict, workdir
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results" / "small_commits.json"
RESULT_MARK = "@@RESULT@@ "
TARGET = 1.5
KEYS = 1_000
FIRST = range(5, 16)
"""The commits (1-based) of the window "at commit 10"."""
LAST_SIZE = 21
REPEATS = 3


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One run: ``args.commits`` hourly commits into a new group; the timings."""
    import numpy as np
    import pandas as pd

    import fti

    home = Path(args.home)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    rng = np.random.default_rng(0)
    last = range(args.commits - LAST_SIZE + 1, args.commits + 1)

    def batch(hour: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": np.arange(KEYS),
                "ts": start + pd.Timedelta(hours=hour),
                "a": rng.random(KEYS),
                "b": rng.integers(0, 100, KEYS),
                "c": rng.choice(["x", "y", "z"], KEYS),
            }
        )

    def spine(hour: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"id": np.arange(KEYS), "ts": start + pd.Timedelta(hours=hour, minutes=30)}
        )

    with fti.connect(
        home,
        "bench",
        offline_url=args.offline_url or str(home / "offline"),
        online_url=f"sqlite:///{home / 'online.db'}",
        metadata_url=f"sqlite:///{home / 'metadata.db'}",
        offline_maintenance_interval=str(args.interval),
        time_travel_retention=args.retention,
    ) as project:
        fs = project.feature_store
        if args.reference:
            return reference(fs, batch, spine, args.commits)
        main = Feed(fs, "hourly", batch, spine)
        fresh = Feed(fs, "fresh", batch, spine)
        began = time.perf_counter()
        for i in range(1, args.commits + 1):
            commit = main.insert(i)
            if args.interval and commit.id and commit.id % args.interval == 0:
                main.maintained.append(i)
            if i == FIRST[0] - 1:
                main.measure(i)  # warms up DuckDB and the caches
            if i in FIRST:
                main.measure(i, "start")
            if i in last:
                # A new group's first commits, interleaved with the last ones: "at 10" and
                # "at 1,000" are measured under the same load of this shared machine.
                j = i - last[0] + 1
                fresh.insert(j)
                main.measure(i, "last")
                if j in FIRST:
                    fresh.measure(j, "first")
        total = time.perf_counter() - began
        version = main.fg._offline.version(main.fg._offline_table)
        assert version is not None
        files = len(main.fg._offline.files(main.fg._offline_table, version))
        inserts = main.inserts
        insert_windows = {
            "start": [inserts[i - 1] for i in FIRST],
            "first": [fresh.inserts[j - 1] for j in FIRST],
            "last": [inserts[i - 1] for i in last],
        }
        reads = {**main.reads, **fresh.reads}
        lookups = {**main.lookups, **fresh.lookups}
        maintained = main.maintained
        return {
            "commits": args.commits,
            "interval": args.interval,
            "seconds": total,
            "insert_mean": statistics.fmean(inserts),
            "insert_max": max(inserts),
            "maintenance_inserts": [inserts[i - 1] for i in maintained],
            "files_at_end": files,
            "delta_version_at_end": version,
            "insert": insert_windows,
            "read": reads,
            "batch": lookups,
        }


class Feed:
    """One group fed hourly commits, with the timings of its inserts, reads and look-ups."""

    def __init__(self, fs: Any, name: str, batch: Any, spine: Any) -> None:
        self.fs, self.name, self.batch, self.spine = fs, name, batch, spine
        self.fg = fs.create_feature_group(name, primary_key=["id"], event_time="ts")
        self.view: Any = None
        self.inserts: list[float] = []
        self.maintained: list[int] = []
        self.reads: dict[str, list[float]] = {}
        self.lookups: dict[str, list[float]] = {}

    def insert(self, commit: int) -> Any:
        data = self.batch(commit - 1)
        tick = time.perf_counter()
        done = self.fg.insert(data)
        self.inserts.append(time.perf_counter() - tick)
        assert done is not None
        if self.view is None:
            self.view = self.fs.create_feature_view(self.name, query=self.fg.select_all())
        return done

    def measure(self, commit: int, window: str | None = None) -> None:
        """The best of :data:`REPEATS` reads and look-ups (other processes' bursts of load
        fall on single calls, and the 1M-row join uses both cores)."""
        spine = self.spine(commit - 1)
        reads, lookups = [], []
        for _ in range(REPEATS):
            tick = time.perf_counter()
            self.fg.read()
            reads.append(time.perf_counter() - tick)
            tick = time.perf_counter()
            self.view.get_batch_data(spine=spine)
            lookups.append(time.perf_counter() - tick)
        if window is not None:
            self.reads.setdefault(window, []).append(min(reads))
            self.lookups.setdefault(window, []).append(min(lookups))


def reference(fs: Any, batch: Any, spine: Any, commits: int) -> dict[str, Any]:
    """The rows of ``commits`` hourly commits in one commit (one file): read and look-up."""
    import pandas as pd

    fg = fs.create_feature_group("hourly", primary_key=["id"], event_time="ts")
    fg.insert(pd.concat([batch(hour) for hour in range(commits)], ignore_index=True))
    view = fs.create_feature_view("hourly", query=fg.select_all())
    reads, lookups = [], []
    for round_ in range(LAST_SIZE + 1):
        tick = time.perf_counter()
        fg.read()
        read_seconds = time.perf_counter() - tick
        tick = time.perf_counter()
        view.get_batch_data(spine=spine(commits - 1))
        if round_:  # the first round warms up
            reads.append(read_seconds)
            lookups.append(time.perf_counter() - tick)
    version = fg._offline.version(fg._offline_table)
    return {
        "read": {"last": reads},
        "batch": {"last": lookups},
        "files_at_end": len(fg._offline.files(fg._offline_table, version)),
    }


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """A moto S3 server on loopback (the venv's, as tests/conftest.py starts it) and a bucket;
    yields the offline URL and sets the AWS variables for the child processes."""
    import boto3

    command = str(Path(sys.executable).with_name("moto_server"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
            }
        )
        bucket = f"fti-bench-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
        yield f"s3://{bucket}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(
    name: str,
    home: Path,
    commits: int,
    interval: int,
    retention: str,
    offline_url: str | None,
    ref: bool,
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--home",
        str(home),
        "--commits",
        str(commits),
        "--interval",
        str(interval),
        "--retention",
        retention,
    ]
    if offline_url:
        command += ["--offline-url", f"{offline_url}/{name}"]
    if ref:
        command.append("--reference")
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in output.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line.removeprefix(RESULT_MARK)))
    raise RuntimeError(f"{name} failed:\n{output.stdout}\n{output.stderr}")


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def report(console: Console, storage: str, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ref = runs["one file"]
    contenders = [(name, r) for name, r in runs.items() if name != "one file"]
    commits = runs["policy on"]["commits"]
    table = Table(title=f"{storage}: {commits:,} hourly commits of {KEYS:,} rows (median ms)")
    columns = ("operation", "run", "at 10", f"at {commits:,}", "ratio", "target 1.5x", "start")
    for column in columns:
        table.add_column(column, justify="left" if column in ("operation", "run") else "right")
    verdicts: dict[str, Any] = {}
    for operation, label in (
        ("insert", "insert"),
        ("read", "read()"),
        ("batch", "get_batch_data, 1,000 rows"),
    ):
        for name, result in contenders:
            first, last = ms(result[operation]["first"]), ms(result[operation]["last"])
            ratio = last / first
            if name == "policy on":
                verdicts[operation] = {"first_ms": first, "last_ms": last, "ratio": ratio}
            start = f"{ms(result[operation]['start']):.1f}"
            row = [label, name, f"{first:.1f}", f"{last:.1f}", f"{ratio:.2f}"]
            table.add_row(*row, verdict(ratio <= TARGET), start)
        if operation != "insert":
            last = ms(ref[operation]["last"])
            ratio = last / ms(runs["policy on"][operation]["first"])
            table.add_row(label, "one file (reference)", "", f"{last:.1f}", f"{ratio:.2f}", "", "")
    table.caption = (
        '"at 10": a new group\'s commits 5-15, interleaved with the last commits; "start": the '
        "same run's own commits 5-15"
    )
    console.print(table)
    for name, result in contenders:
        runs_of_maintenance = result["maintenance_inserts"]
        detail = (
            f"{len(runs_of_maintenance)} inserts ran maintenance (median "
            f"{ms(runs_of_maintenance):.0f} ms, max {max(runs_of_maintenance) * 1000:.0f} ms)"
            if runs_of_maintenance
            else "no maintenance"
        )
        console.print(
            f"{name}: {result['seconds']:.0f} s for the run; insert mean "
            f"{result['insert_mean'] * 1000:.1f} ms, max {result['insert_max'] * 1000:.0f} ms; "
            f"{detail}; {result['files_at_end']} data files at the end "
            f"(Delta version {result['delta_version_at_end']})"
        )
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--interval", type=int, default=20, help="the policy's interval")
    parser.add_argument("--retention", default="7d", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="60 commits")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--offline-url", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(RESULT_MARK + json.dumps(worker(args)), flush=True)
        return
    commits = 60 if args.quick else args.commits
    console = Console()
    results: dict[str, Any] = {"machine": machine(), "commits": commits, "storages": {}}
    storages = ["local", "s3"] if args.storage == "both" else [args.storage]
    with workdir(args, "fti-small-commits-") as folder:
        for storage in storages:
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(s3_server()) if storage == "s3" else None
                runs = {}
                for name, interval, retention, ref in (
                    ("policy on", args.interval, "7d", False),
                    ("policy off", 0, "7d", False),
                    ("policy on, retention 0", args.interval, "0s", False),
                    ("one file", 0, "7d", True),
                ):
                    slug = name.replace(",", "").replace(" ", "-")
                    started = time.perf_counter()
                    runs[name] = run(
                        slug, folder / storage / slug, commits, interval, retention, url, ref
                    )
                    console.print(f"{storage}, {name}: {time.perf_counter() - started:.0f} s")
                verdicts = report(console, storage, runs)
            results["storages"][storage] = {"runs": runs, "verdicts": verdicts}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")
    console.print(f"Raw numbers: {RESULTS}")


if __name__ == "__main__":
    main()
