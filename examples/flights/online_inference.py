"""The online inference pipeline of the flights demo: predictions by flight id over HTTP.

    python examples/flights/online_inference.py --flight 20131231_UA_1545_EWR ...

Starts the prediction server in-process on a free loopback port (the same app `fti serve`
runs), sends the flight ids, and prints the predictions. The server looks up each flight's
features in the online store (the flight row, then its origin's weather, its carrier's recent
delays, its aircraft's last departure and its plane), transforms them as in training, and
predicts with the model that holds the alias ``production``.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import training_pipeline

import fti
from fti.server import create_app

console = Console()


@contextmanager
def running_server(project: fti.Project) -> Iterator[str]:
    """A prediction server for the production model on a free loopback port; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(project, [f"{training_pipeline.MODEL_NAME}@{training_pipeline.ALIAS}"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def predict(url: str, flight_ids: list[str]) -> dict[str, Any]:
    """POST the flight ids to the server; returns its JSON answer."""
    body = {"entries": [{"flight_id": f} for f in flight_ids]}
    response = httpx.post(f"{url}/v1/models/{training_pipeline.MODEL_NAME}/predict", json=body)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def show(flight_ids: list[str], answer: dict[str, Any]) -> Table:
    """The answer as a table: each flight's prediction, or why it has none, and the features
    the server could not look up (missing) or found too old for their ttl (expired)."""
    table = Table(title=f"HTTP predictions of {answer['model']} v{answer['version']}")
    for column in ("flight", "delayed?", "P(delayed)", "features missing or expired"):
        table.add_column(column)
    n = len(flight_ids)
    probabilities = answer.get("probabilities") or [None] * n
    errors = answer.get("errors") or [None] * n
    missing = answer.get("missing_features") or [[]] * n
    expired = answer.get("expired_features") or [[]] * n
    rows = zip(
        flight_ids, answer["predictions"], probabilities, errors, missing, expired, strict=True
    )
    for flight, label, p, error, lacks, old in rows:
        if error is not None:
            table.add_row(flight, "-", "-", f"[red]{error}[/]")
            continue
        score = "-" if p is None or p[1] is None else f"{p[1]:.3f}"
        gaps = ", ".join([*lacks, *(f"{name} (expired)" for name in old)]) or "-"
        table.add_row(flight, str(label), score, gaps)
    return table


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: predict the given flights over HTTP."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flight", action="append", required=True, help="a flight id")
    parser.add_argument("--home", help="fti home (default: $FTI_HOME or ./.fti)")
    parser.add_argument("--project", default="flights")
    args = parser.parse_args(argv)
    with fti.connect(args.home, args.project) as project, running_server(project) as url:
        console.print(show(args.flight, predict(url, args.flight)))


if __name__ == "__main__":
    main()
