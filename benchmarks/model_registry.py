"""Benchmarks of the model registry: artifact save/load speed on local disk and on S3, and
metadata look-ups.

local
    A ``--mb`` MB artifact of random bytes on local disk, beside references measured in the
    same run (round-robin, the order rotating each repeat, so a noisy period hits every
    contender alike):

    - ``copy``: ``shutil.copyfile`` (in-kernel copy, no hashing);
    - ``sha256``: ``hashlib.sha256`` of the bytes in memory;
    - ``copy + sha256``: both, one after the other: **the reference**;
    - ``save path``: ``create_model(...).save(path)``: copy + sha256 manifest + metadata;
    - ``save object``: ``save(bytes, framework="python")``: pickle written + hashed;
    - ``download``: ``model.download(dir)``: verified copy of the files and manifest;
    - ``load object``: ``model.load(unsafe_pickle=True)``: verified read + unpickle.

    Target: each of the four within 1.3x the reference's time.
s3
    The same artifact on S3: moto's server on loopback (started here from the venv's
    ``moto_server``), through ``pyarrow.fs`` like fti itself:

    - ``put``: ``open_output_stream`` + ``write`` of the bytes: the reference of saves;
    - ``get``: ``open_input_file`` + ``read`` of an object of the same bytes (one GET; a read
      of ``open_input_stream`` issues many small ranged GETs and is far slower): the reference
      of loads;
    - ``save path``, ``save object``, ``download``, ``load object`` as above, with
      ``artifacts_url=s3://...``.

    Target: saves within 1.5x ``put``, loads within 1.5x ``get``.
lookup
    ``get_model(name, version=v)``, ``get_model(name)`` (latest) and ``get_model(name,
    alias=...)`` in-process on a registry with ``--versions`` versions: p50 and p99 over
    ``--lookups`` calls.

Run from the repository root::

    .venv/bin/python benchmarks/model_registry.py --repeats 11   # a few minutes
    .venv/bin/python benchmarks/model_registry.py --quick        # smoke run

Results are printed and written to ``benchmarks/results/model_registry.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import machine, verdict
from rich.console import Console
from rich.table import Table

import fti
from fti.stores.locations import open_location

Cleanup = Callable[[], None] | None
Contenders = dict[str, Callable[[], Cleanup]]
RESULTS = Path(__file__).resolve().parent / "results" / "model_registry.json"
LOCAL_TARGET = 1.3
S3_TARGET = 1.5
console = Console()


def rounds(contenders: Contenders, repeats: int) -> dict[str, list[float]]:
    """Seconds of every contender per repeat, the order rotating each repeat; each contender
    returns what to clean up afterwards, outside the timing."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            cleanup = contenders[name]()
            times[name].append(time.perf_counter() - started)
            if cleanup is not None:
                cleanup()
    return times


def registry_contenders(mr: fti.ModelRegistry, root: Path, source: Path, data: bytes) -> Contenders:
    """Save and load contenders of the registry over its artifact store."""
    stored_file = mr.create_model("stored").save(source)
    stored_object = mr.create_model("pickled", framework="python").save(data, unsafe_pickle=True)
    counter = iter(range(1_000_000))

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

    return {
        "save path": save_path,
        "save object": save_object,
        "download": download,
        "load object": load_object,
    }


def bench_local(root: Path, data: bytes, repeats: int) -> dict[str, Any]:
    """Local disk: the registry beside a copy, a sha256 and both."""
    root.mkdir(parents=True, exist_ok=True)
    source = root / "artifact.bin"
    source.write_bytes(data)
    counter = iter(range(1_000_000))

    def copy() -> Cleanup:
        target = root / f"copy_{next(counter)}"
        shutil.copyfile(source, target)
        return target.unlink

    def sha256() -> Cleanup:
        hashlib.sha256(data).digest()
        return None

    def copy_and_sha256() -> Cleanup:
        cleanup = copy()
        hashlib.sha256(data).digest()
        return cleanup

    with fti.connect(
        root / "home",
        "bench",
        metadata_url=f"sqlite:///{root / 'home' / 'metadata.db'}",
        artifacts_url=str(root / "home" / "artifacts"),
    ) as project:
        contenders: Contenders = {
            "copy": copy,
            "sha256": sha256,
            "copy + sha256": copy_and_sha256,
            **registry_contenders(project.model_registry, root, source, data),
        }
        times = rounds(contenders, repeats)
    references = dict.fromkeys(
        ["save path", "save object", "download", "load object"], "copy + sha256"
    )
    return summary(times, references, LOCAL_TARGET, len(data))


def bench_s3(root: Path, data: bytes, repeats: int) -> dict[str, Any] | None:
    """S3 on loopback: the registry beside a plain put and get of the same bytes."""
    import pyarrow.fs as pafs

    with moto_s3() as endpoint:
        if endpoint is None:
            return None
        root.mkdir(parents=True, exist_ok=True)
        bucket = "fti-bench"
        pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True).create_dir(bucket)
        source = root / "artifact.bin"
        source.write_bytes(data)
        url = f"s3://{bucket}/artifacts"
        with fti.connect(
            root / "s3_home",
            "bench",
            metadata_url=f"sqlite:///{root / 's3_home' / 'metadata.db'}",
            artifacts_url=url,
        ) as project:
            location = open_location(url)
            fs = location.filesystem()
            counter = iter(range(1_000_000))
            with fs.open_output_stream(location.path("plain/stored.bin")) as out:
                out.write(data)

            def put() -> Cleanup:
                path = location.path(f"plain/put_{next(counter)}.bin")
                with fs.open_output_stream(path) as out:
                    out.write(data)
                return lambda: fs.delete_file(path)

            def get() -> Cleanup:
                # open_input_file: one GET of the whole object. open_input_stream().read()
                # reads in small ranged GETs, far slower: not a fair reference.
                with fs.open_input_file(location.path("plain/stored.bin")) as stream:
                    assert len(stream.read()) == len(data)
                return None

            contenders: Contenders = {
                "put": put,
                "get": get,
                **registry_contenders(project.model_registry, root, source, data),
            }
            times = rounds(contenders, repeats)
    references = {"save path": "put", "save object": "put", "download": "get", "load object": "get"}
    return summary(times, references, S3_TARGET, len(data))


@contextmanager
def moto_s3() -> Iterator[str | None]:
    """moto's S3 server on a free loopback port, with the AWS variables fti reads; None (and a
    message) when the venv has no ``moto_server``."""
    command = Path(sys.executable).with_name("moto_server")
    if not command.exists():
        console.print("[yellow]moto_server not found: pip install 'moto[server]'; S3 skipped")
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(command), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.terminate()
        server.wait(timeout=10)


def summary(
    times: dict[str, list[float]], references: dict[str, str], target: float, size: int
) -> dict[str, Any]:
    """Medians, MB/s, each contender's time over its reference's, and the verdicts."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratios = {name: medians[name] / medians[ref] for name, ref in references.items()}
    return {
        "megabytes": size >> 20,
        "repeats": len(next(iter(times.values()))),
        "seconds": medians,
        "mb_per_s": {name: (size >> 20) / s for name, s in medians.items()},
        "references": references,
        "ratio_to_reference": ratios,
        "target": target,
        "met": all(r <= target for r in ratios.values()),
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
    parser.add_argument("--only", choices=["local", "s3", "lookup"], action="append")
    parser.add_argument("--quick", action="store_true", help="small and fast smoke run")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.repeats, args.versions, args.lookups = 10, 2, 10, 100
    only = set(args.only or ["local", "s3", "lookup"])
    data = os.urandom(args.mb << 20)
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fti_bench_models_") as scratch:
        root = Path(scratch)
        if "local" in only:
            results["local"] = bench_local(root / "local", data, args.repeats)
            _print("local disk", results["local"])
        if "s3" in only:
            results["s3"] = bench_s3(root / "s3", data, args.repeats)
            if results["s3"] is not None:
                _print("S3 (moto on loopback)", results["s3"])
        if "lookup" in only:
            results["lookup"] = bench_lookup(root, args.versions, args.lookups)
            _print_lookup(results["lookup"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"Results written to {RESULTS}")


def _print(where: str, io_results: dict[str, Any]) -> None:
    table = Table(
        title=f"{where}: {io_results['megabytes']} MB artifact, median of "
        f"{io_results['repeats']} (target: within {io_results['target']}x the reference) "
        f"{verdict(io_results['met'])}"
    )
    for column in ("operation", "seconds", "MB/s", "reference", "x reference"):
        table.add_column(
            column, justify="left" if column in ("operation", "reference") else "right"
        )
    for name, seconds in io_results["seconds"].items():
        reference = io_results["references"].get(name)
        ratio = io_results["ratio_to_reference"].get(name)
        table.add_row(
            name,
            f"{seconds:.3f}",
            f"{io_results['mb_per_s'][name]:,.0f}",
            reference or "",
            "" if ratio is None else f"{ratio:.2f}",
        )
    console.print(table)


def _print_lookup(lookup: dict[str, Any]) -> None:
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
