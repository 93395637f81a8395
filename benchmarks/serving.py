"""Benchmarks of the "Inference" issue (5): HTTP predict of one entity and batch predict.

http
    ``POST /v1/models/delays/predict`` of one entity (a ``trips`` group of ``--rows`` rows
    joined with a ``zones`` group, a standard_scaler, a scikit-learn LogisticRegression
    registered with lineage and alias ``production``), served by uvicorn in a subprocess on
    127.0.0.1, for each contender:

    * ``floor``: a minimal FastAPI app returning ``model.predict`` of a fixed 1-row frame;
    * ``fti sqlite`` / ``fti redis``: ``fti.server.create_app`` with SQLite or Redis online
      (``--redis-url``, database 12 by default; only this run's keys are deleted after), with
      ``log=True`` (the inference log) and ``log=False``;
    * ``feast serve`` (features alone: the two groups' features, no model) on the same data,
      run from Feast's own venv (``--feast-python``) with its default options, when present.

    Each gets concurrency 8 for ``--duration`` s (aiohttp, bounded by count and time),
    then sequential requests on one keep-alive connection (one httpx.Client, the same for every
    contender, bounded by count and time): p50, p99, max, requests > 100 ms (stalls), errors.
    Targets: 0 errors; concurrency 8: p50 <= 1.5x floor + 0.5 ms, p99 <= 10 ms; sequential:
    p50 <= 1.2x floor (and <= feast serve), p99 <= 1.5x floor, no request > 100 ms.
batch
    ``batch_predict`` of ``--batch-rows`` root rows over 30 days joined with the zones group,
    the same model shape, end to end (features + model + write of the predictions group), in a
    fresh subprocess: rows/s and its peak RSS. Target: >= 200k rows/s.

Run from the repository root::

    .venv/bin/python benchmarks/serving.py            # everything, ~10 minutes
    .venv/bin/python benchmarks/serving.py --quick    # smoke run, seconds
    .venv/bin/python benchmarks/serving.py --only http --profile

Results are printed as tables and written to ``benchmarks/results/serving.json``.
"""

# Workers also run in Feast's venv: only the standard library, numpy and pandas are imported at
# module level; fti, httpx, rich, uvicorn and feast are imported where they are used.

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pickle
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "serving.json"
PROFILE = RESULTS.with_name("serving_profile.txt")
RESULT_MARK = "@@RESULT@@ "
DEFAULT_FEAST_PYTHON = "/tmp/feastvenv/bin/python"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ZONES = 50
STALL_MS = 100.0
P50_RATIO_CONC, P50_SLACK_MS, P99_CONC_MS = 1.5, 0.5, 10.0
P50_RATIO_SEQ, P99_RATIO_SEQ = 1.2, 1.5
BATCH_TARGET = 200_000
PREDICT_PATH = "/v1/models/delays/predict"


# Data ----------------------------------------------------------------------------------------


def make_frames(rows: int, days: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, days * 86_400, rows)
    trips = pd.DataFrame(
        {
            "trip_id": np.arange(rows, dtype=np.int64),
            "t": pd.Timestamp(T0) + pd.to_timedelta(np.sort(seconds), unit="s"),
            "zone": np.array([f"z{i}" for i in range(ZONES)])[rng.integers(0, ZONES, rows)],
            "distance": rng.gamma(2.0, 3.0, rows),
        }
    )
    zones = pd.DataFrame(
        {"zone": [f"z{i}" for i in range(ZONES)], "traffic": rng.random(ZONES).round(3)}
    )
    traffic = trips["zone"].map(dict(zip(zones["zone"], zones["traffic"], strict=True)))
    logit = 0.3 * (trips["distance"] - 6.0) + 2.0 * (traffic - 0.5)
    trips["late"] = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    return trips, zones


def build_project(
    home: Path, project_name: str, online_url: str | None, rows: int, days: int, online: bool
) -> dict[str, Any]:
    """The test_serving shape with more rows; returns what the floor app and clients need."""
    from sklearn.linear_model import LogisticRegression

    import fti

    trips_df, zones_df = make_frames(rows, days)
    project = fti.connect(home, project_name, online_url=online_url)
    fs = project.feature_store
    trips = fs.create_feature_group(
        "trips", primary_key=["trip_id"], event_time="t", online_enabled=online
    )
    trips.insert(trips_df)
    zones = fs.create_feature_group("zones", primary_key=["zone"])
    zones.insert(zones_df)
    view = fs.create_feature_view(
        "trip_delays",
        query=trips.select(["distance", "late"]).join(zones.select(["traffic"]), on=["zone"]),
        labels=["late"],
        transformations={"distance": fti.transforms.standard_scaler},
    )
    x, _, y, _ = view.train_test_split(test_size=0.25, seed=3)
    estimator = LogisticRegression().fit(x, y)
    model = project.model_registry.create_model(
        "delays",
        metrics={"accuracy": float(estimator.score(x, y))},
        feature_view=view,
        training_dataset_version=1,
        input_example=x.head(2),
    )
    model.save(estimator)
    if online:  # the batch project's root group is offline only: no alias, version 1
        model.set_alias("production")
    with (home / "floor.pkl").open("wb") as f:
        pickle.dump({"estimator": estimator, "vector": x.head(1).reset_index(drop=True)}, f)
    return {"zones": trips_df["zone"].tolist()}


# Servers (subprocess workers) ----------------------------------------------------------------


def serve_fti(home: str, project_name: str, online_url: str, port: int, log: bool) -> None:
    import uvicorn

    import fti
    from fti.server import create_app

    project = fti.connect(home, project_name, online_url=online_url or None)
    app = create_app(project, ["delays@production"], log=log)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_floor(home: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    with (Path(home) / "floor.pkl").open("rb") as f:
        saved = pickle.load(f)
    estimator, vector = saved["estimator"], saved["vector"]
    app = FastAPI()

    @app.post(PREDICT_PATH)
    async def predict(body: dict[str, Any]) -> dict[str, Any]:
        return {"predictions": estimator.predict(vector).tolist()}

    @app.get("/v2/health/live")
    def live() -> dict[str, bool]:
        return {"live": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def feast_setup(repo: str, rows: int) -> None:
    """Runs in Feast's venv: a local repo (file offline, SQLite online) on the same data."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, String

    root = Path(repo)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    trips_df, zones_df = make_frames(rows, 3)
    zones_df["ts"] = pd.Timestamp(T0)
    trips_df.to_parquet(data / "trips.parquet", index=False)
    zones_df.to_parquet(data / "zones.parquet", index=False)
    (root / "feature_store.yaml").write_text(
        "project: srvbench\nregistry: data/registry.db\nprovider: local\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
        "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )
    trip = Entity(name="trip", join_keys=["trip_id"], value_type=ValueType.INT64)
    zone = Entity(name="zone", join_keys=["zone"], value_type=ValueType.STRING)
    trips_fv = FeatureView(
        name="trips",
        entities=[trip],
        ttl=dt.timedelta(0),
        schema=[Field(name="distance", dtype=Float64), Field(name="zone", dtype=String)],
        source=FileSource(path=str(data / "trips.parquet"), timestamp_field="t"),
    )
    zones_fv = FeatureView(
        name="zones",
        entities=[zone],
        ttl=dt.timedelta(0),
        schema=[Field(name="traffic", dtype=Float64)],
        source=FileSource(path=str(data / "zones.parquet"), timestamp_field="ts"),
    )
    store = FeatureStore(repo_path=str(root))
    store.apply([trip, zone, trips_fv, zones_fv])
    store.materialize(T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=4))
    print(RESULT_MARK + json.dumps({"ok": True}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def server(command: list[str], health: str, port: int, log_file: Path) -> Iterator[str]:
    with log_file.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}{health}", proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# Clients ---------------------------------------------------------------------------------------


def summary(latencies_s: list[float], errors: int, seconds: float) -> dict[str, Any]:
    ms = np.asarray(latencies_s) * 1000.0
    done = len(ms)
    return {
        "requests": done,
        "errors": errors,
        "seconds": round(seconds, 2),
        "throughput_rps": round(done / seconds, 1) if seconds else 0.0,
        "p50_ms": round(float(np.percentile(ms, 50)), 3) if done else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 3) if done else None,
        "max_ms": round(float(ms.max()), 1) if done else None,
        "over_100ms": int((ms > STALL_MS).sum()),
    }


async def concurrent_load(
    url: str, bodies: list[bytes], concurrency: int, duration: float, max_requests: int
) -> dict[str, Any]:
    """``concurrency`` workers over as many keep-alive connections.

    aiohttp, not httpx.AsyncClient: the load generator shares the two cores with the server,
    and with httpx every contender, the floor included, had requests over 100 ms (none with
    aiohttp, docs/benchmarks.md)."""
    import aiohttp

    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def post(body: bytes) -> bool:
            async with client.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status == 200

        for body in bodies[: concurrency * 4]:  # warm-up: open the connections
            await post(body)
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            nonlocal errors, sent
            while sent < max_requests and time.perf_counter() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                t = time.perf_counter()
                try:
                    ok = await post(body)
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return summary(latencies, errors, seconds)


def sequential_load(
    client: Any, url: str, bodies: list[bytes], duration: float, max_requests: int
) -> dict[str, Any]:
    import httpx

    headers = {"content-type": "application/json"}
    for body in bodies[:100]:  # warm-up
        client.post(url, content=body, headers=headers)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + duration
    for i in range(max_requests):
        if time.perf_counter() >= deadline:
            break
        t = time.perf_counter()
        try:
            ok = client.post(url, content=bodies[i % len(bodies)], headers=headers).is_success
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - t)
        errors += not ok
    return summary(latencies, errors, time.perf_counter() - started)


# Orchestration ---------------------------------------------------------------------------------


def worker_command(*args: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, str(Path(__file__).resolve()), "--worker", *args]


def run_worker(command: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    raise RuntimeError(f"{command[3:]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def redis_cleanup(url: str, project_name: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"fti:{project_name}__*", count=1000))
    for first in range(0, len(keys), 1000):
        client.unlink(*keys[first : first + 1000])
    client.close()
    return len(keys)


def bench_http(args: argparse.Namespace, work: Path, console: Any) -> dict[str, Any]:
    import httpx

    project_name = f"srvbench{os.getpid()}"
    rng = np.random.default_rng(7)
    keys = rng.integers(0, args.rows, 5000).tolist()
    bodies = [json.dumps({"entries": [{"trip_id": int(k)}]}).encode() for k in keys]
    homes = {"sqlite": work / "sqlite", "redis": work / "redis"}
    started = time.perf_counter()
    info = build_project(homes["sqlite"], project_name, None, args.rows, 3, True)
    redis_ok = True
    try:
        build_project(homes["redis"], project_name, args.redis_url, args.rows, 3, True)
    except Exception as exc:
        console.print(f"[yellow]Redis contender skipped: {exc}")
        redis_ok = False
    console.print(f"built {args.rows:,} trips x2 projects in {time.perf_counter() - started:.1f} s")
    zones = info["zones"]
    feast_bodies = [
        json.dumps(
            {
                "features": ["trips:distance", "zones:traffic"],
                "entities": {"trip_id": [int(k)], "zone": [zones[int(k)]]},
            }
        ).encode()
        for k in keys
    ]

    contenders: list[tuple[str, list[str], str, str, list[bytes]]] = []
    # name, command (port appended), health path, predict path, bodies
    contenders.append(
        ("floor", ["serve-floor", str(homes["sqlite"])], "/v2/health/live", PREDICT_PATH, bodies)
    )
    for store in ("sqlite", "redis"):
        if store == "redis" and not redis_ok:
            continue
        url = args.redis_url if store == "redis" else ""
        for log in ("1", "0"):
            name = f"fti {store} log={'True' if log == '1' else 'False'}"
            command = ["serve-fti", str(homes[store]), project_name, url, log]
            contenders.append((name, command, "/v2/health/live", PREDICT_PATH, bodies))
    feast_note = None
    feast_python = Path(args.feast_python)
    feast_bin = feast_python.with_name("feast")
    if args.no_feast:
        feast_note = "--no-feast"
    elif not feast_python.exists() or not feast_bin.exists():
        feast_note = f"{feast_python} / {feast_bin} not found"
    else:
        repo = work / "feast_repo"
        try:
            run_worker(
                worker_command("feast-setup", str(repo), str(args.rows), python=str(feast_python)),
                timeout=900,
            )
            contenders.append(
                (
                    "feast serve (features only)",
                    [str(feast_bin), "-c", str(repo), "serve", "--no-access-log", "-h"],
                    "/health",
                    "/get-online-features",
                    feast_bodies,
                )
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            feast_note = f"feast setup failed: {str(exc)[-500:]}"
            console.print(f"[yellow]{feast_note}")

    results: dict[str, Any] = {}
    sequential_client = httpx.Client(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), timeout=10.0
    )
    try:
        for name, command, health, path, contender_bodies in contenders:
            port = free_port()
            if command[0] == "serve-floor" or command[0] == "serve-fti":
                full = worker_command(*command, str(port))
            else:
                full = [*command, "127.0.0.1", "-p", str(port)]
            log_file = work / f"server_{len(results)}.log"
            console.print(f"[bold]{name}[/]: starting")
            with server(full, health, port, log_file) as base:
                url = base + path
                check = httpx.post(
                    url,
                    content=contender_bodies[0],
                    headers={"content-type": "application/json"},
                    timeout=10.0,
                )
                if check.status_code != 200:
                    raise RuntimeError(f"{name}: {check.status_code} {check.text[:500]}")
                conc = asyncio.run(
                    concurrent_load(
                        url, contender_bodies, 8, args.duration, args.max_requests_concurrent
                    )
                )
                console.print(f"  concurrency 8: {conc}")
                seq = sequential_load(
                    sequential_client,
                    url,
                    contender_bodies,
                    args.seq_duration,
                    args.max_requests_sequential,
                )
                console.print(f"  sequential:    {seq}")
            results[name] = {"concurrent_8": conc, "sequential": seq}
    finally:
        sequential_client.close()
        if redis_ok:
            removed = redis_cleanup(args.redis_url, project_name)
            console.print(f"removed {removed} Redis keys of project {project_name}")
    return {
        "rows": args.rows,
        "zones": ZONES,
        "contenders": results,
        "feast_not_measured": feast_note,
        "checks": http_checks(results),
    }


def http_checks(results: dict[str, Any]) -> dict[str, Any]:
    floor = results.get("floor")
    feast = results.get("feast serve (features only)")
    checks: dict[str, Any] = {}
    if floor is None:
        return checks
    fc, fs = floor["concurrent_8"], floor["sequential"]
    for name, r in results.items():
        if not name.startswith("fti"):
            continue
        c, s = r["concurrent_8"], r["sequential"]
        entry = {
            "errors_0": c["errors"] == 0 and s["errors"] == 0,
            "conc_p50_ratio": round(c["p50_ms"] / fc["p50_ms"], 2),
            "conc_p50_ok": c["p50_ms"] <= P50_RATIO_CONC * fc["p50_ms"] + P50_SLACK_MS,
            "conc_p99_ok": c["p99_ms"] <= P99_CONC_MS,
            "seq_p50_ratio": round(s["p50_ms"] / fs["p50_ms"], 2),
            "seq_p50_ok": s["p50_ms"] <= P50_RATIO_SEQ * fs["p50_ms"],
            "seq_p99_ratio": round(s["p99_ms"] / fs["p99_ms"], 2),
            "seq_p99_ok": s["p99_ms"] <= P99_RATIO_SEQ * fs["p99_ms"],
            "no_stalls": s["over_100ms"] == 0 and c["over_100ms"] == 0,
        }
        if feast is not None:
            entry["seq_p50_vs_feast"] = round(s["p50_ms"] / feast["sequential"]["p50_ms"], 2)
            entry["seq_p50_le_feast"] = s["p50_ms"] <= feast["sequential"]["p50_ms"]
        checks[name] = entry
    return checks


def bench_batch(args: argparse.Namespace, work: Path, console: Any) -> dict[str, Any]:
    home = work / "batch"
    started = time.perf_counter()
    run_worker(worker_command("batch-setup", str(home), str(args.batch_rows)), timeout=1800)
    console.print(f"built the batch project in {time.perf_counter() - started:.1f} s")
    runs = []
    for i in range(args.batch_repeats):
        result = run_worker(worker_command("batch-run", str(home), str(i + 1)), timeout=1800)
        console.print(f"  batch run {i + 1}: {result}")
        runs.append(result)
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "rows": args.batch_rows,
        "days": 30,
        "runs": runs,
        "median_rows_per_s": round(statistics.median(r["rows_per_s"] for r in runs)),
        "best": best,
        "target_rows_per_s": BATCH_TARGET,
        "target_met": statistics.median(r["rows_per_s"] for r in runs) >= BATCH_TARGET,
    }


def batch_setup(home: str, rows: int) -> None:
    build_project(Path(home), "batch", None, rows, 30, False)
    print(RESULT_MARK + json.dumps({"ok": True}), flush=True)


def batch_run(home: str, run: int) -> None:
    import fti
    from fti.inference.batch import batch_predict

    project = fti.connect(home, "batch")
    model = project.model_registry.get_model("delays", version=1)
    started = time.perf_counter()
    out = batch_predict(
        model, T0, T0 + dt.timedelta(days=30), output_feature_group=f"delays_predictions_{run}"
    )
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "rows": len(out),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(out) / seconds),
        "peak_rss_mib": round(peak_mib),
    }
    print(RESULT_MARK + json.dumps(result), flush=True)


def profile_request_path(work: Path, rows: int, requests: int, log: bool) -> str:
    """cProfile of the fti predict route, awaited in-process on one event loop (no HTTP,
    SQLite): the body parsing, the look-up, the model and the log, as a worker runs them."""
    import cProfile
    import io
    import pstats

    from starlette.requests import Request

    import fti
    from fti.server import create_app
    from fti.server.routes import predict as route

    home = work / "profile"
    build_project(home, "prof", None, rows, 3, True)
    app = create_app(fti.connect(home, "prof"), ["delays@production"], log=log)
    rng = np.random.default_rng(3)

    async def call(key: int) -> None:
        payload = json.dumps({"entries": [{"trip_id": key}]}).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": payload, "more_body": False}

        scope = {
            "type": "http",
            "app": app,
            "method": "POST",
            "path": "/v1/models/delays/predict",
            "headers": [(b"content-type", b"application/json")],
        }
        await route.predict("delays", Request(scope, receive))

    async def calls(keys: list[int]) -> None:
        for k in keys:
            await call(k)

    asyncio.run(calls(rng.integers(0, rows, 200).tolist()))
    keys = rng.integers(0, rows, requests).tolist()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    asyncio.run(calls(keys))
    profiler.disable()
    per_request = (time.perf_counter() - started) / requests * 1000
    app.state.deployments.close()
    out = io.StringIO()
    out.write(f"{requests} calls of the predict route in-process, {per_request:.3f} ms each\n")
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


# Reporting ---------------------------------------------------------------------------------------


def print_tables(console: Any, results: dict[str, Any]) -> None:
    from rich.table import Table

    http = results.get("http")
    if http:
        for mode, title in (("concurrent_8", "concurrency 8"), ("sequential", "sequential")):
            table = Table(title=f"HTTP predict of one entity, {title} ({http['rows']:,} trips)")
            for col in ("contender", "requests", "errors", "req/s", "p50 ms", "p99 ms"):
                table.add_column(col, justify="right" if col != "contender" else "left")
            table.add_column("max ms", justify="right")
            table.add_column("> 100 ms", justify="right")
            for name, r in http["contenders"].items():
                m = r[mode]
                table.add_row(
                    name,
                    f"{m['requests']:,}",
                    str(m["errors"]),
                    f"{m['throughput_rps']:,.0f}",
                    f"{m['p50_ms']:.2f}",
                    f"{m['p99_ms']:.2f}",
                    f"{m['max_ms']:.1f}",
                    str(m["over_100ms"]),
                )
            console.print(table)
        table = Table(title="HTTP targets (ratios to the floor)")
        for col in ("contender", "c8 p50 x", "c8 p50", "c8 p99", "seq p50 x", "seq p50"):
            table.add_column(col)
        for col in ("seq p99 x", "seq p99", "no stall", "0 err", "vs feast"):
            table.add_column(col)
        for name, c in http["checks"].items():
            table.add_row(
                name,
                str(c["conc_p50_ratio"]),
                ok(c["conc_p50_ok"]),
                ok(c["conc_p99_ok"]),
                str(c["seq_p50_ratio"]),
                ok(c["seq_p50_ok"]),
                str(c["seq_p99_ratio"]),
                ok(c["seq_p99_ok"]),
                ok(c["no_stalls"]),
                ok(c["errors_0"]),
                f"{c['seq_p50_vs_feast']}x" if "seq_p50_vs_feast" in c else "-",
            )
        console.print(table)
        if http["feast_not_measured"]:
            console.print(f"feast serve not measured: {http['feast_not_measured']}")
    batch = results.get("batch")
    if batch:
        table = Table(title=f"batch_predict, {batch['rows']:,} rows over 30 days")
        for col in ("run", "rows", "seconds", "rows/s", "peak RSS MiB"):
            table.add_column(col, justify="right")
        for i, r in enumerate(batch["runs"], start=1):
            table.add_row(
                str(i),
                f"{r['rows']:,}",
                f"{r['seconds']:.2f}",
                f"{r['rows_per_s']:,}",
                str(r["peak_rss_mib"]),
            )
        console.print(table)
        console.print(
            f"median {batch['median_rows_per_s']:,} rows/s, target >= {BATCH_TARGET:,}: "
            + ok(batch["target_met"])
        )


def ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, seconds")
    parser.add_argument("--only", choices=["http", "batch"])
    parser.add_argument("--rows", type=int, default=100_000, help="trips in the HTTP projects")
    parser.add_argument("--duration", type=float, default=20.0, help="concurrency-8 seconds")
    parser.add_argument("--max-requests-concurrent", type=int, default=200_000)
    parser.add_argument("--seq-duration", type=float, default=15.0)
    parser.add_argument("--max-requests-sequential", type=int, default=5_000)
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--batch-repeats", type=int, default=2)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--feast-python", default=DEFAULT_FEAST_PYTHON)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--profile", action="store_true", help="+ cProfile of the predict route")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        kind, rest = args.worker[0], args.worker[1:]
        if kind == "serve-fti":
            serve_fti(rest[0], rest[1], rest[2], int(rest[4]), rest[3] == "1")
        elif kind == "serve-floor":
            serve_floor(rest[0], int(rest[1]))
        elif kind == "feast-setup":
            feast_setup(rest[0], int(rest[1]))
        elif kind == "batch-setup":
            batch_setup(rest[0], int(rest[1]))
        elif kind == "batch-run":
            batch_run(rest[0], int(rest[1]))
        return

    from rich.console import Console

    if args.quick:
        args.rows, args.duration, args.seq_duration = 2_000, 1.0, 1.0
        args.max_requests_sequential, args.batch_rows, args.batch_repeats = 300, 20_000, 1
    console = Console()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_start": os.getloadavg(),
        },
        "quick": args.quick,
    }
    work = Path(tempfile.mkdtemp(prefix="fti-serving-bench-"))
    try:
        if args.only in (None, "http"):
            results["http"] = bench_http(args, work, console)
        if args.only in (None, "batch"):
            results["batch"] = bench_batch(args, work, console)
        if args.profile:
            text = profile_request_path(work, args.rows, 300 if args.quick else 3000, True)
            PROFILE.parent.mkdir(parents=True, exist_ok=True)
            PROFILE.write_text(text)
            console.print(f"profile written to {PROFILE}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_end"] = os.getloadavg()
    print_tables(console, results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"results written to {RESULTS}")


if __name__ == "__main__":
    main()
