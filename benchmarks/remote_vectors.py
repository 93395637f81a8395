"""Benchmark of ``get_feature_vector`` through ``fti server``: latency, throughput, CPU cost.

One home holds the stores (SQLite metadata and online store); ``fti server --workers 2``
serves it on loopback with API keys on; the remote side is ``fti.connect(URL, api_key=...)``
with an editor's key, one keep-alive connection per client process. A group of ``--keys``
rows (an int key, two floats, a string) and a view on it; every call asks for one random key.
In one run:

- embedded: the same call in-process on the same home (the reference);
- sequential: one remote client, one call after the other (the round trip itself), with the
  CPU time of client and server per call;
- closed loop: ``--clients`` client processes, each sending its next call as soon as the last
  one answered, for ``--seconds``: the saturation throughput, and the latency that a closed loop
  cannot beat on the machine's cores: by Little's law, latency >= clients x CPU per call /
  cores, with the CPU per call (client + server) measured in the same part;
- open loop: ``--clients`` processes sending at a fixed total rate (each ``--rates`` / clients,
  Poisson arrivals) for ``--seconds``; latency counts from the scheduled send time, so a
  server that falls behind is charged for the calls that waited (no coordinated omission).

Targets (issue "fti server: one platform for a team"): remote ``get_feature_vector`` p50 <=
1.5 ms and p99 <= 5 ms; the server holds its p99 with 8 concurrent clients and 2 workers.

    .venv/bin/python benchmarks/remote_vectors.py --seconds 10 --rates 500,1000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from harness import latency_summary, machine, verdict, workdir
from remote import bootstrap, connect, start_server
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results" / "remote_vectors.json"
P50_TARGET_US = 1_500.0
P99_TARGET_US = 5_000.0
START = pd.Timestamp("2024-01-01", tz="UTC")
WARM_UP = 200
TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Run every part, print tables, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000, help="Rows of the online group.")
    parser.add_argument("--calls", type=int, default=3_000, help="Sequential and embedded.")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="Of each loop part.")
    parser.add_argument("--rates", default="500,1000", help="Open loop: total calls/s.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    with workdir(args, "fti-bench-vectors-") as root:
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        key = bootstrap(home)
        embedded = prepare(home, args.keys, args.calls)
        server, url = start_server(home, args.workers)
        try:
            ctx = (str(home), url, key, args.keys)
            results: dict[str, Any] = {
                "config": vars(args) | {"workdir": str(root), "cores": os.cpu_count()},
                "embedded": embedded,
                "sequential": sequential(ctx, args.calls, server.pid),
                "closed": loop(ctx, args, None, server.pid),
                "open": [loop(ctx, args, rate, server.pid) for rate in rates],
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")


def prepare(home: Path, keys: int, calls: int) -> dict[str, float]:
    """The online group and its view; the embedded latency of ``calls`` vectors."""
    with connect(home, None, None) as project:
        fs = project.feature_store
        rng = np.random.default_rng(4)
        group = fs.create_feature_group(
            "online_group", primary_key=["id"], event_time="ts", online_enabled=True
        )
        group.insert(
            pd.DataFrame(
                {
                    "id": np.arange(keys),
                    "ts": START,
                    "f1": rng.random(keys),
                    "f2": rng.normal(size=keys),
                    "s1": rng.choice(["a", "b", "c"], keys),
                }
            )
        )
        view = fs.create_feature_view("online_view", query=group.select_all())
        samples, _ = timed(view, np.random.default_rng(0).integers(0, keys, calls))
    return latency_summary(samples)


def timed(view: Any, keys: Any) -> tuple[list[int], float]:
    """Nanoseconds of a vector per key after a warm-up, and the CPU seconds they took."""
    for key in keys[:WARM_UP]:
        view.get_feature_vector({"id": int(key)})
    samples = []
    cpu = time.process_time()
    for key in keys:
        started = time.perf_counter_ns()
        view.get_feature_vector({"id": int(key)})
        samples.append(time.perf_counter_ns() - started)
    return samples, time.process_time() - cpu


def sequential(ctx: tuple[str, str, str, int], calls: int, server: int) -> dict[str, Any]:
    """One remote client in this process, calls one after the other."""
    home, url, key, keys = ctx
    with connect(Path(home), url, key) as project:
        view = project.feature_store.get_feature_view("online_view")
        load = os.getloadavg()[0]
        before = server_cpu(server)
        samples, client = timed(view, np.random.default_rng(1).integers(0, keys, calls))
        spent = server_cpu(server) - before
    # The server's CPU includes the warm-up calls.
    return latency_summary(samples) | {
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "client_cpu_us": client / calls * 1e6,
        "server_cpu_us": spent / (calls + WARM_UP) * 1e6,
    }


def loop(
    ctx: tuple[str, str, str, int], args: argparse.Namespace, rate: float | None, server: int
) -> dict[str, Any]:
    """``args.clients`` processes for ``args.seconds``: a closed loop (``rate`` None) or an
    open one at ``rate`` calls/s in total."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(args.clients + 1)
    answers = spawn.Queue()
    per_client = None if rate is None else rate / args.clients
    processes = [
        spawn.Process(target=client, args=(ctx, seed, args.seconds, per_client, barrier, answers))
        for seed in range(args.clients)
    ]
    for process in processes:
        process.start()
    load = os.getloadavg()[0]
    barrier.wait(timeout=300)
    before = server_cpu(server)
    # Until the last client is done: an open loop that fell behind runs past its seconds.
    found = [answers.get(timeout=args.seconds + 600) for _ in processes]
    spent = server_cpu(server) - before
    for process in processes:
        process.join(timeout=30)
    calls = sum(len(f["latency"]) for f in found)
    elapsed = max(f["finished"] for f in found) - min(f["started"] for f in found)
    client_cpu = sum(f["cpu"] for f in found)
    cpu_per_call = (spent + client_cpu) / calls
    cores = os.cpu_count() or 1
    result: dict[str, Any] = {
        "rate": rate,
        "clients": args.clients,
        "calls": calls,
        "throughput": calls / elapsed,
        "elapsed_s": elapsed,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "latency": latency_summary([s for f in found for s in f["latency"]]),
        "service": latency_summary([s for f in found for s in f["service"]]),
        "client_cpu_us": client_cpu / calls * 1e6,
        "server_cpu_us": spent / calls * 1e6,
        "cpu_capacity": cores / cpu_per_call,
    }
    if rate is None:
        result["floor_us"] = args.clients * cpu_per_call / cores * 1e6
    return result


def client(
    ctx: tuple[str, str, str, int],
    seed: int,
    seconds: float,
    rate: float | None,
    barrier: Barrier,
    answers: Any,
) -> None:
    """One client process: warm up, wait for the others, then call for ``seconds``. Closed
    loop when ``rate`` is None, else Poisson arrivals at ``rate``/s, latency from each
    call's scheduled time."""
    home, url, key, keys = ctx
    rng = np.random.default_rng(100 + seed)
    with connect(Path(home), url, key) as project:
        view = project.feature_store.get_feature_view("online_view")
        for k in rng.integers(0, keys, WARM_UP):
            view.get_feature_vector({"id": int(k)})
        barrier.wait(timeout=300)
        clock = time.perf_counter
        start = clock()
        end = start + seconds
        cpu = time.process_time()
        latency: list[int] = []
        service: list[int] = []
        if rate is None:
            now = start
            while now < end:
                view.get_feature_vector({"id": int(rng.integers(0, keys))})
                done = clock()
                latency.append(int((done - now) * 1e9))
                now = done
            service = latency
        else:
            gaps = rng.exponential(1 / rate, int(rate * seconds * 2) + 100)
            for due in start + np.cumsum(gaps):
                if due >= end:
                    break
                wait = due - clock()
                if wait > 0:
                    time.sleep(wait)
                sent = clock()
                view.get_feature_vector({"id": int(rng.integers(0, keys))})
                done = clock()
                latency.append(int((done - due) * 1e9))
                service.append(int((done - sent) * 1e9))
        answers.put(
            {
                "latency": latency,
                "service": service,
                "cpu": time.process_time() - cpu,
                "started": start,
                "finished": clock(),
            }
        )


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its descendants so far."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def report(results: dict[str, Any]) -> None:
    """The tables and the verdicts."""
    console = Console(width=150)
    config = results["config"]
    table = Table(title=f"get_feature_vector, {config['workers']} server workers")
    for column in (
        "part",
        "load",
        "calls/s",
        "p50",
        "p99",
        "service p99",
        "client CPU/call",
        "server CPU/call",
        "n",
    ):
        table.add_column(column, justify="right")
    e = results["embedded"]
    table.add_row("embedded", "", "", f"{e['p50_us']:.0f} us", f"{e['p99_us']:.0f} us")
    rows = [("sequential, 1 client", results["sequential"], results["sequential"])]
    closed = results["closed"]
    rows.append((f"closed loop, {closed['clients']} clients", closed["latency"], closed))
    for part in results["open"]:
        rows.append(
            (f"open loop {part['rate']:.0f}/s, {part['clients']} clients", part["latency"], part)
        )
    for name, lat, part in rows:
        table.add_row(
            name,
            f"{part['load_before']:.0f}-{part['load_after']:.0f}" if "load_before" in part else "",
            f"{part['throughput']:.0f}" if "throughput" in part else "",
            f"{lat['p50_us']:.0f} us",
            f"{lat['p99_us']:.0f} us",
            f"{part['service']['p99_us']:.0f} us" if "service" in part else "",
            f"{part['client_cpu_us']:.0f} us",
            f"{part['server_cpu_us']:.0f} us",
            str(lat["n"]),
        )
    console.print(table)
    console.print(
        f"closed loop: Little's-law floor {closed['floor_us']:.0f} us (clients x CPU per call "
        f"/ {config['cores']} cores); CPU capacity {closed['cpu_capacity']:.0f} calls/s"
    )
    seq = results["sequential"]
    met = seq["p50_us"] <= P50_TARGET_US and seq["p99_us"] <= P99_TARGET_US
    console.print(f"one client: p50 <= 1.5 ms and p99 <= 5 ms: {verdict(met)}")
    for part in results["open"]:
        lat = part["latency"]
        met = lat["p50_us"] <= P50_TARGET_US and lat["p99_us"] <= P99_TARGET_US
        console.print(
            f"open loop {part['rate']:.0f}/s, {part['clients']} clients: p50 <= 1.5 ms and "
            f"p99 <= 5 ms: {verdict(met)}"
        )


if __name__ == "__main__":
    main()
