"""Benchmark of the remote SDK: the same calls embedded and through ``fti server``.

One home holds the stores (SQLite metadata and online store, Delta tables and artifacts in
folders); ``fti server --workers 2`` serves it on loopback with API keys on, and the remote
side is ``fti.connect(URL, api_key=...)`` with an editor's key. Measured side by side in one
run, alternating embedded and remote run by run:

- ``insert`` of ``--rows`` rows x 10 features into a new group (the remote one uploads one
  Arrow stream; validation and statistics run in the client both ways);
- ``create_training_data`` of a ``--spine``-row spine as of a group of ``--feature-rows``
  rows over ``--keys`` keys (inserted once, embedded, before the runs), on a new view each
  run: the remote one downloads the pinned data files into an emptied cache, and uploads the
  dataset and the spine; then again on the same view (the remote one reads its cached
  copies);

Target (issue "fti server: one platform for a team"): remote insert and training data within
1.5x of embedded. The latency of ``get_feature_vector`` through the server is
benchmarks/remote_vectors.py.

    .venv/bin/python benchmarks/remote.py --rows 1000000 --feature-rows 10000000 \
        --spine 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from harness import machine, median, verdict, workdir
from rich.console import Console
from rich.table import Table

from feature_store import DAY_US, START_US, insert_frame, make_frame

RESULTS = Path(__file__).resolve().parent / "results" / "remote.json"
RATIO_TARGET = 1.5


def main() -> None:
    """Run every part, print tables, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--keys", type=int, default=1_000_000, help="Of the training group.")
    parser.add_argument("--spine", type=int, default=1_000_000)
    parser.add_argument("--parts", default="bulk", help="Comma-separated.")
    parser.add_argument("--runs", type=int, default=3, help="Of insert and training data.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with workdir(args, "fti-bench-remote-") as root:
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        key = bootstrap(home)
        server, url = start_server(home, args.workers)
        try:
            parts = args.parts.split(",")
            results: dict[str, Any] = {"config": vars(args) | {"workdir": str(root)}}
            if "bulk" in parts:
                results["bulk"] = bulk(home, url, key, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")


def settings_env(home: Path) -> dict[str, str]:
    """The environment of every process: the home's stores, named explicitly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTI_")}
    env.update(
        FTI_HOME=str(home),
        FTI_METADATA_URL=f"sqlite:///{home / 'metadata.db'}",
        FTI_ONLINE_URL=f"sqlite:///{home / 'online.db'}",
        FTI_OFFLINE_URL=str(home / "offline"),
        FTI_ARTIFACTS_URL=str(home / "artifacts"),
    )
    return env


def bootstrap(home: Path) -> str:
    """An admin, an editor of project ``bench``, and the editor's key."""
    from fti.stores.metadata.accounts import AccountStore
    from fti.stores.metadata.sql import SqlMetadataStore

    metadata = SqlMetadataStore(f"sqlite:///{home / 'metadata.db'}")
    accounts = AccountStore(metadata)
    accounts.bootstrap("root")
    accounts.create_user("eddie")
    accounts.create_project("bench", "root")
    accounts.set_member("bench", "eddie", "editor")
    _, key = accounts.create_key("eddie")
    metadata.close()
    return key


def start_server(home: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``fti server --workers N`` on a free loopback port, once it answers."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("fti")), "server", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=settings_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health").status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("fti server did not start")


def connect(home: Path, url: str | None, key: str | None) -> Any:
    """The project ``bench``, embedded on ``home`` or through the server at ``url``."""
    import fti

    os.environ.update(settings_env(home))
    if url is None:
        return fti.connect(home, "bench")
    return fti.connect(url, "bench", api_key=key)


def bulk(home: Path, url: str, key: str, args: argparse.Namespace) -> dict[str, Any]:
    """Insert and training data, embedded and remote, alternating run by run."""
    rng = np.random.default_rng(3)
    with connect(home, None, None) as project:
        history = make_frame(
            np.arange(args.feature_rows) % args.keys,
            START_US + np.sort(rng.integers(0, 30 * DAY_US, args.feature_rows)),
            seed=5,
        )
        group = project.feature_store.create_feature_group(
            "training_group", primary_key=["id"], event_time="ts", online_enabled=False
        )
        started = time.perf_counter()
        group.insert(history)
        print(f"{args.feature_rows} rows inserted in {time.perf_counter() - started:.1f} s")
        del history
    frame = insert_frame(args.rows)
    # Spine times over the group's 30 days, so that most rows find features as of them.
    spine = pd.DataFrame(
        {
            "id": rng.integers(0, args.keys, args.spine),
            "ts": pd.to_datetime(
                START_US + rng.integers(0, 30 * DAY_US, args.spine), unit="us", utc=True
            ),
        }
    )
    times: dict[str, dict[str, list[float]]] = {
        "insert": {"embedded": [], "remote": []},
        "training data": {"embedded": [], "remote": []},
        "training data, again": {"embedded": [], "remote": []},
    }
    for run in range(args.runs):
        for side in ("embedded", "remote"):
            with connect(home, None if side == "embedded" else url, key) as project:
                fs = project.feature_store
                name = f"{side}_{run}"
                group = fs.create_feature_group(
                    name, primary_key=["id"], event_time="ts", online_enabled=False
                )
                started = time.perf_counter()
                group.insert(frame)
                times["insert"][side].append(time.perf_counter() - started)
                training = fs.get_feature_group("training_group")
                view = fs.create_feature_view(f"{name}_view", query=training.select_all())
                # The remote side's copies of the pinned files, gone: a first read of them.
                shutil.rmtree(home / "cache", ignore_errors=True)
                started = time.perf_counter()
                view.create_training_data(spine=spine)
                times["training data"][side].append(time.perf_counter() - started)
                # Again: the remote side has the pinned files in its cache now.
                started = time.perf_counter()
                view.create_training_data(spine=spine)
                times["training data, again"][side].append(time.perf_counter() - started)
                print(
                    f"run {run} {side}: insert {times['insert'][side][-1]:.2f} s, training "
                    f"data {times['training data'][side][-1]:.2f} s",
                    flush=True,
                )
    return {
        what: {
            "embedded_s": sides["embedded"],
            "remote_s": sides["remote"],
            "ratio": median(sides["remote"]) / median(sides["embedded"]),
        }
        for what, sides in times.items()
    }


def report(results: dict[str, Any]) -> None:
    """The tables and the verdicts."""
    console = Console()
    table = Table(title="Embedded and remote, median of the runs")
    for column in ("call", "embedded", "remote", "remote / embedded", "target 1.5x"):
        table.add_column(column, justify="right")
    for what, found in results.get("bulk", {}).items():
        table.add_row(
            what,
            f"{median(found['embedded_s']):.2f} s",
            f"{median(found['remote_s']):.2f} s",
            f"{found['ratio']:.2f}x",
            verdict(found["ratio"] <= RATIO_TARGET),
        )
    console.print(table)


if __name__ == "__main__":
    main()
