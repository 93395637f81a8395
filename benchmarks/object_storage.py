"""Benchmarks of the "Shared storage" issue: the offline store on S3 beside local disk.

An S3 API runs on loopback for the run: moto's standalone server (Python, single process), the
server the tests use. What moto alone does with the same bytes is measured in the same run, so
that fti's share of a time can be told from the server's.

insert
    ``--rows`` rows x 10 columns (the frame of benchmarks/feature_store.py: int64 key, event
    time, 3 floats, 3 ints, 2 strings) into a new feature group, with the offline store on S3
    and on local disk: the default insert (SQLite online + statistics) and offline only. Beside
    them, moto alone: a plain ``pyarrow.parquet.write_table`` of the same rows to the server
    (Arrow's S3 client), and a bare ``deltalake.write_deltalake`` to it.
    Target: >= 250,000 rows/s into the S3 offline store.
training
    ``fv.create_training_data(spine=...)`` of a ``--spine-rows`` spine as of ``--rows-training``
    feature rows (the data of benchmarks/feature_views.py: 100,000 keys over 90 days, 4
    features, inserted in ``--batches`` time-ordered batches) with the offline store on local
    disk, on S3 with an empty cache (cold: the pinned files are downloaded first) and on S3
    with the cache filled by an earlier run (warm). Beside them, moto alone: a plain download of
    the same pinned files with Arrow. Target: S3 within 2x of local disk.

Every measured operation runs in a fresh subprocess, round-robin over the contenders, after a
small warm-up where it has one; times are medians over ``--repeats``.

Run from the repository root::

    .venv/bin/python benchmarks/object_storage.py                 # everything, ~10 minutes
    .venv/bin/python benchmarks/object_storage.py --quick         # smoke run, about a minute
    .venv/bin/python benchmarks/object_storage.py --only insert

Results are printed as tables and written to ``benchmarks/results/object_storage.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from feature_views import feature_frame, fti_features, spine_frame, summarize, vm_hwm_mib
from harness import machine, median, verdict, workdir
from rich.console import Console
from rich.table import Table

from feature_store import WARM_ROWS, features, insert_frame

RESULTS = Path(__file__).resolve().parent / "results" / "object_storage.json"
RESULT_MARK = "@@RESULT@@ "
INSERT_TARGET_ROWS_S = 250_000
TRAINING_TARGET_RATIO = 2.0
KEYS = 100_000

INSERT_CONTENDERS = {
    "fti_s3": "fti insert, S3 offline (+ SQLite online + statistics)",
    "fti_s3_offline": "fti insert, S3 offline only",
    "fti_local": "fti insert, local offline (+ SQLite online + statistics)",
    "fti_local_offline": "fti insert, local offline only",
    "delta_s3": "moto alone: bare write_deltalake to S3",
    "arrow_s3": "moto alone: pyarrow write_table of the same rows to S3",
}
TRAINING_CONTENDERS = {
    "local": "fti create_training_data(spine=), local offline",
    "s3_cold": "fti create_training_data(spine=), S3, empty cache",
    "s3_warm": "fti create_training_data(spine=), S3, cache filled",
    "arrow_download": "moto alone: download of the pinned files with Arrow",
}


# Workers: each runs in its own process ---------------------------------------------------------


def connect(home: Path, offline_url: str) -> Any:
    """A project with explicit store URLs, so FTI_* variables cannot redirect the benchmark."""
    import fti

    return fti.connect(
        home,
        "bench",
        offline_url=offline_url,
        online_url=f"sqlite:///{home / 'online.db'}",
        metadata_url=f"sqlite:///{home / 'metadata.db'}",
        cache_dir=str(home / "cache"),
    )


def worker_insert(spec: dict[str, Any]) -> dict[str, Any]:
    mode, home, rows = spec["mode"], Path(spec["home"]), spec["rows"]
    home.mkdir(parents=True, exist_ok=True)
    df = insert_frame(rows)
    warm = df.head(WARM_ROWS)
    result: dict[str, Any] = {"rows": rows}
    if mode in ("arrow_s3", "delta_s3"):
        import pyarrow.fs as pafs
        from deltalake import write_deltalake

        from fti.types import coerce

        table = coerce(df, features())
        prefix = f"{spec['bucket']}/{mode}-{uuid.uuid4().hex}"
        if mode == "arrow_s3":
            filesystem = pafs.S3FileSystem(
                endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1"
            )
            pq.write_table(
                coerce(warm, features()), f"{prefix}/warm.parquet", filesystem=filesystem
            )
            start = time.perf_counter()
            pq.write_table(table, f"{prefix}/rows.parquet", filesystem=filesystem)
            result["seconds"] = time.perf_counter() - start
            result["bytes"] = filesystem.get_file_info(f"{prefix}/rows.parquet").size
        else:
            options = {"conditional_put": "etag"}
            write_deltalake(f"s3://{prefix}/warm", warm, storage_options=options)
            start = time.perf_counter()
            write_deltalake(f"s3://{prefix}/rows", table, storage_options=options)
            result["seconds"] = time.perf_counter() - start
        return result
    remote = mode.startswith("fti_s3")
    offline = f"s3://{spec['bucket']}/{mode}-{uuid.uuid4().hex}" if remote else str(home / "off")
    full = not mode.endswith("_offline")
    project = connect(home, offline)
    try:
        options = {"online_enabled": full, "statistics": full}
        groups = [
            project.feature_store.create_feature_group(
                f"{name}_{os.getpid()}",
                primary_key=["id"],
                event_time="ts",
                features=features(),
                **options,
            )
            for name in ("warm", "measured")
        ]
        groups[0].insert(warm)
        start = time.perf_counter()
        commit = groups[1].insert(df)
        result["seconds"] = time.perf_counter() - start
        assert commit is not None and commit.rows == rows, commit
        result["peak_rss_mib"] = vm_hwm_mib()
    finally:
        project.close()
    return result


def worker_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """The feature rows and the spine as Parquet (benchmarks/feature_views.py's data)."""
    data = Path(spec["data"])
    data.mkdir(parents=True, exist_ok=True)
    features_table = pa.Table.from_pandas(feature_frame(KEYS, spec["rows"]), preserve_index=False)
    pq.write_table(features_table, data / "features.parquet")
    spine = pa.Table.from_pandas(spine_frame(KEYS, spec["spine_rows"]), preserve_index=False)
    pq.write_table(spine, data / "spine.parquet")
    return {"rows": features_table.num_rows, "spine_rows": spine.num_rows}


def worker_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """Insert the feature rows into a group in time-ordered batches; create the view."""
    table = pq.read_table(Path(spec["data"]) / "features.parquet")
    project = connect(Path(spec["home"]), spec["offline_url"])
    try:
        fs = project.feature_store
        group = fs.create_feature_group(
            "users",
            primary_key=["user_id"],
            event_time="ts",
            features=fti_features(),
            online_enabled=False,
            statistics=False,
        )
        bounds = np.linspace(0, table.num_rows, spec["batches"] + 1).astype(int)
        start = time.perf_counter()
        for lo, hi in itertools.pairwise(bounds):
            group.insert(table.slice(lo, hi - lo))
        seconds = time.perf_counter() - start
        fs.create_feature_view("bench", query=group.select(["f1", "f2", "f3", "f4"]))
        version = group.commits()[-1].id
        files = project.offline_store.files(group._offline_table, version)
    finally:
        project.close()
    return {
        "insert_seconds": seconds,
        "files": len(files),
        "bytes": sum(f.size or os.path.getsize(f.path) for f in files),
    }


def worker_training(spec: dict[str, Any]) -> dict[str, Any]:
    mode, home = spec["mode"], Path(spec["home"])
    if mode == "arrow_download":
        return download_pinned(spec)
    if mode == "s3_cold":
        shutil.rmtree(home / "cache", ignore_errors=True)
    project = connect(home, spec["offline_url"])
    try:
        view = project.feature_store.get_feature_view("bench")
        start = time.perf_counter()
        spine = pq.read_table(Path(spec["data"]) / "spine.parquet")
        version = view.create_training_data(spine=spine)
        seconds = time.perf_counter() - start
        peak = vm_hwm_mib()
        x, _ = view.get_training_data(version, primary_key=True, event_time=True)
    finally:
        project.close()
    table = pa.Table.from_pandas(x, preserve_index=False)
    return {"seconds": seconds, "peak_rss_mib": peak, **summarize(table, ordered=True)}


def download_pinned(spec: dict[str, Any]) -> dict[str, Any]:
    """moto alone: the pinned data files copied to local disk with Arrow, nothing else."""
    import pyarrow.fs as pafs

    from fti.stores.offline import open_offline_store

    home = Path(spec["home"])
    store = open_offline_store(spec["offline_url"], cache_dir=home / "unused")
    table = "bench/users_v1"
    version = store.version(table)
    assert version is not None
    files = store.files(table, version)
    target = home / "download"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    filesystem = pafs.S3FileSystem(
        endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1"
    )
    start = time.perf_counter()
    for file in files:
        pafs.copy_files(
            file.path.removeprefix("s3://"),
            str(target / Path(file.path).name),
            source_filesystem=filesystem,
            destination_filesystem=pafs.LocalFileSystem(),
        )
    seconds = time.perf_counter() - start
    shutil.rmtree(target)
    return {"seconds": seconds, "files": len(files), "bytes": sum(f.size or 0 for f in files)}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "insert": worker_insert,
    "prepare": worker_prepare,
    "setup": worker_setup,
    "training": worker_training,
}


# Parent ----------------------------------------------------------------------------------------


@contextmanager
def moto_server() -> Iterator[dict[str, str]]:
    """moto's S3 API on a free loopback port; the AWS variables every client reads."""
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
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "benchmark",
            "AWS_SECRET_ACCESS_KEY": "benchmark",
            "AWS_REGION": "us-east-1",
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_worker(kind: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **env}
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"worker {kind} {spec} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    result["load"] = os.getloadavg()[0]
    return result


def create_bucket(env: dict[str, str]) -> str:
    import boto3

    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=bucket)
    return bucket


def rounds(
    contenders: list[str], repeats: int, run: Callable[[str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Each contender ``repeats`` times, round-robin, so a noisy period hits all alike."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for mode in contenders:
            runs[mode].append(run(mode))
    return runs


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    return {"median_s": median(seconds), "best_s": min(seconds), "runs": runs}


def bench_insert(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    bucket = create_bucket(env)
    contenders = list(INSERT_CONTENDERS)

    def run(mode: str) -> dict[str, Any]:
        spec = {
            "mode": mode,
            "home": str(work / "insert" / mode),
            "rows": args.rows,
            "bucket": bucket,
        }
        return run_worker("insert", spec, env)

    results = {mode: summary(r) for mode, r in rounds(contenders, args.repeats, run).items()}
    for res in results.values():
        res["rows_s"] = args.rows / res["median_s"]
    return {"rows": args.rows, "contenders": results}


def bench_training(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    data = work / "training-data"
    prepared = run_worker(
        "prepare",
        {"data": str(data), "rows": args.rows_training, "spine_rows": args.spine_rows},
        env,
    )
    bucket = create_bucket(env)
    homes = {"local": work / "home-local", "s3": work / "home-s3"}
    urls = {"local": str(homes["local"] / "offline"), "s3": f"s3://{bucket}/fti"}
    setup = {
        where: run_worker(
            "setup",
            {
                "data": str(data),
                "home": str(homes[where]),
                "offline_url": urls[where],
                "batches": args.batches,
            },
            env,
        )
        for where in ("local", "s3")
    }

    def run(mode: str) -> dict[str, Any]:
        where = "local" if mode == "local" else "s3"
        spec = {
            "mode": mode,
            "home": str(homes[where]),
            "offline_url": urls[where],
            "data": str(data),
        }
        return run_worker("training", spec, env)

    contenders = list(TRAINING_CONTENDERS)
    results = {mode: summary(r) for mode, r in rounds(contenders, args.repeats, run).items()}
    reference = {
        k: v
        for k, v in results["local"]["runs"][0].items()
        if k in ("rows", "matched", "f1_sum", "order_digest")
    }
    for mode in ("s3_cold", "s3_warm"):
        for r in results[mode]["runs"]:
            same = {k: r.get(k) for k in reference} == reference
            if not same:
                raise AssertionError(f"{mode} returned other rows than local disk: {r}")
    return {"prepared": prepared, "setup": setup, "contenders": results}


def print_insert(console: Console, res: dict[str, Any]) -> None:
    table = Table(title=f"insert {res['rows']:,} rows x 10 columns, median of runs")
    for column in ("contender", "median s", "best s", "rows/s", "x moto write"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    moto = res["contenders"]["arrow_s3"]["median_s"]
    for mode, label in INSERT_CONTENDERS.items():
        r = res["contenders"][mode]
        table.add_row(
            label,
            f"{r['median_s']:.3f}",
            f"{r['best_s']:.3f}",
            f"{r['rows_s']:,.0f}",
            f"{r['median_s'] / moto:.2f}",
        )
    console.print(table)
    rate = res["contenders"]["fti_s3"]["rows_s"]
    met = rate >= INSERT_TARGET_ROWS_S
    console.print(
        f"  target >= {INSERT_TARGET_ROWS_S:,} rows/s into S3 (default insert): "
        f"{rate:,.0f} rows/s, {verdict(met)}; offline only: "
        f"{res['contenders']['fti_s3_offline']['rows_s']:,.0f} rows/s"
    )


def print_training(console: Console, res: dict[str, Any]) -> None:
    prepared = res["prepared"]
    table = Table(
        title=f"training data: {prepared['spine_rows']:,}-row spine as of "
        f"{prepared['rows']:,} rows, median of runs"
    )
    for column in ("contender", "median s", "best s", "x local", "peak MiB"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    local = res["contenders"]["local"]["median_s"]
    for mode, label in TRAINING_CONTENDERS.items():
        r = res["contenders"][mode]
        peaks = [x.get("peak_rss_mib") for x in r["runs"] if x.get("peak_rss_mib")]
        table.add_row(
            label,
            f"{r['median_s']:.2f}",
            f"{r['best_s']:.2f}",
            f"{r['median_s'] / local:.2f}",
            f"{max(peaks):,.0f}" if peaks else "",
        )
    console.print(table)
    s3 = res["setup"]["s3"]
    console.print(
        f"  pinned files: {s3['files']} ({s3['bytes'] / 2**20:,.0f} MiB); setup "
        f"inserts: local {res['setup']['local']['insert_seconds']:.1f} s, "
        f"S3 {s3['insert_seconds']:.1f} s"
    )
    for mode in ("s3_cold", "s3_warm"):
        ratio = res["contenders"][mode]["median_s"] / local
        console.print(
            f"  {mode}: {ratio:.2f}x local (target <= {TRAINING_TARGET_RATIO}x): "
            f"{verdict(ratio <= TRAINING_TARGET_RATIO)}"
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, help="rows of the insert benchmark")
    parser.add_argument("--rows-training", type=int, help="feature rows of the training data")
    parser.add_argument("--spine-rows", type=int, help="rows of the spine")
    parser.add_argument("--batches", type=int, help="inserts that build the training group")
    parser.add_argument("--repeats", type=int, help="runs of each contender")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default="insert,training", help="comma-separated benchmarks")
    parser.add_argument("--workdir", type=Path, help="where the stores go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = (
        {"rows": 50_000, "rows_training": 200_000, "spine_rows": 20_000, "batches": 3, "repeats": 1}
        if args.quick
        else {
            "rows": 1_000_000,
            "rows_training": 10_000_000,
            "spine_rows": 1_000_000,
            "batches": 9,
            "repeats": 3,
        }
    )
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    if args.only - {"insert", "training"}:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(args.only))}")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        result = WORKERS[argv[1]](json.loads(argv[2]))
        print(RESULT_MARK + json.dumps(result))
        return 0
    args = parse_args(argv)
    console = Console()
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {
            k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
    }
    with workdir(args, prefix="fti-objbench-") as work, moto_server() as env:
        console.print(f"S3: moto_server at {env['AWS_ENDPOINT_URL']}; work dir {work}")
        if "insert" in args.only:
            results["insert"] = bench_insert(args, work, env)
            print_insert(console, results["insert"])
        if "training" in args.only:
            results["training"] = bench_training(args, work, env)
            print_training(console, results["training"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
