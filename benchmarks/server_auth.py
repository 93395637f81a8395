"""Benchmark of the API-key check of fti server: the same GET with keys on and keys off.

Two apps over one metadata database (SQLite): one checks keys (``auth=True``, the default
5 s key cache), one lets everyone in (``auth=False``). Each request is a viewer's GET, handed
to each app in-process as uvicorn hands it over, alternating on and off request by request so
the machine's noise falls on both alike. Both apps run the same access dependency; only the
key check differs. Two GETs: ``/bench/projects/p/ping``, a route added for the benchmark that
needs a viewer and does nothing else (what the check adds, undiluted), and
``/api/v1/projects/p``, a real route (two database reads of its own). Also timed alone: the
check of a cached key (``authenticate`` + ``check``) and of an uncached one (a database read).

Target (issue "fti server: one platform for a team"): the key check adds at most 50 us to a
request (p50 with keys on minus p50 with keys off, on the ping route).

    .venv/bin/python benchmarks/server_auth.py --requests 20000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import anyio
from harness import latency_summary, machine, verdict, workdir
from rich.console import Console
from rich.table import Table

TARGET_US = 50.0
RESULTS = Path(__file__).resolve().parent / "results" / "server_auth.json"
PING = "/bench/projects/p/ping"
REAL = "/api/v1/projects/p"


def main() -> None:
    """Time both apps and the check alone, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="Per app, after warm-up.")
    parser.add_argument("--quick", action="store_true", help="2,000 requests per app.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    count = 2_000 if args.quick else args.requests
    with workdir(args, "fti-bench-auth-") as root:
        results = measure(root, count)
    report(results, count)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")


def measure(root: Path, count: int) -> dict[str, Any]:
    """Latencies of the GETs on both apps, and of the check alone."""
    from fastapi import APIRouter, Depends

    from fti.errors import UnauthenticatedError
    from fti.server.platform.access import Access, check, requires
    from fti.server.platform.app import create_platform_app
    from fti.server.platform.auth import KeyAuthenticator
    from fti.settings import Settings

    bench = APIRouter()

    @bench.get("/bench/projects/{project}/ping", dependencies=[Depends(requires(Access.READ))])
    async def ping(project: str) -> dict[str, str]:
        return {"project": project}

    settings = Settings.load(root, metadata_url=f"sqlite:///{root / 'metadata.db'}")
    on = create_platform_app(settings, auth=True, routers=[bench])
    off = create_platform_app(settings, auth=False, routers=[bench])
    accounts = on.state.platform.accounts
    accounts.bootstrap("root")
    accounts.create_user("vera")
    accounts.create_project("p", "root")
    accounts.set_member("p", "vera", "viewer")
    _, key = accounts.create_key("vera")
    headers = [(b"authorization", f"Bearer {key}".encode())]

    async def requests(path: str) -> dict[str, list[int]]:
        samples: dict[str, list[int]] = {"keys on": [], "keys off": []}
        apps = {"keys on": on, "keys off": off}
        for i in range(count + count // 10):
            order = ["keys on", "keys off"] if i % 2 == 0 else ["keys off", "keys on"]
            for name in order:
                elapsed = await _get(apps[name], path, headers)
                if i >= count // 10:  # the first tenth warms up (and fills the key cache)
                    samples[name].append(elapsed)
        return samples

    results: dict[str, Any] = {}
    for path in (PING, REAL):
        samples = anyio.run(requests, path)
        results[path] = {name: latency_summary(values) for name, values in samples.items()}

    cached = KeyAuthenticator(accounts)
    cold = KeyAuthenticator(accounts, cache_seconds=0)

    def check_once(authenticator: KeyAuthenticator) -> int:
        started = time.perf_counter_ns()
        principal = authenticator.authenticate(key)
        check(authenticator, principal, Access.READ, "p")
        return time.perf_counter_ns() - started

    check_once(cached)
    checks = {
        "check, cached key": [check_once(cached) for _ in range(count)],
        "check, uncached key": [check_once(cold) for _ in range(min(count, 2_000))],
    }
    try:
        cached.authenticate("fti_0123456789abcdef_" + "A" * 43)
    except UnauthenticatedError:
        pass
    else:
        raise AssertionError("an unknown key was accepted")
    results["check alone"] = {name: latency_summary(values) for name, values in checks.items()}
    return results


async def _get(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """Nanoseconds of one GET of ``path`` handed to ``app`` in-process; it must answer 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter_ns()
    await app(scope, receive, send)
    elapsed = time.perf_counter_ns() - started
    if status != 200:
        raise AssertionError(f"GET {path} answered {status}")
    return elapsed


def report(results: dict[str, Any], count: int) -> None:
    """Print the latencies and the verdict."""
    table = Table(title=f"In-process GETs, {count:,} per app (keys on and off interleaved)")
    for column in ("what", "p50 us", "p99 us", "mean us"):
        table.add_column(column, justify="left" if column == "what" else "right")
    added = {}
    for section, summaries in results.items():
        for name, summary in summaries.items():
            table.add_row(
                f"{section}: {name}",
                f"{summary['p50_us']:.1f}",
                f"{summary['p99_us']:.1f}",
                f"{summary['mean_us']:.1f}",
            )
        if "keys on" in summaries:
            on, off = summaries["keys on"], summaries["keys off"]
            added[section] = {
                "p50_us": on["p50_us"] - off["p50_us"],
                "p99_us": on["p99_us"] - off["p99_us"],
            }
            table.add_row(
                f"{section}: added by the key check",
                f"{added[section]['p50_us']:.1f}",
                f"{added[section]['p99_us']:.1f}",
                "",
            )
    results["added"] = added
    console = Console()
    console.print(table)
    met = added[PING]["p50_us"] <= TARGET_US
    console.print(
        f"Target: the key check adds at most {TARGET_US:.0f} us (p50, {PING}): {verdict(met)}"
    )


if __name__ == "__main__":
    main()
