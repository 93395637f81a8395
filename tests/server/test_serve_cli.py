"""``fti serve`` through the real command (a subprocess of the installed ``fti``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served_model import MODEL, NOW, home_of

import fti

FTI = str(Path(sys.executable).with_name("fti"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fti_serve(project: fti.Project, *args: str) -> list[str]:
    home = str(home_of(project))
    return [FTI, "--home", home, "--project", project.name, "serve", *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTI_")}
    return env | {"COLUMNS": "200"}


@pytest.fixture
def listening() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nosuch"], "nosuch"),
        (["--model", MODEL, "--now", "yesterday"], "FTI_NOW='yesterday' is not an ISO 8601"),
        (["--model", "bad name!"], "bad name!"),
    ],
    ids=["unknown_model", "bad_now", "bad_reference"],
)
def test_a_model_that_cannot_be_served_is_an_error(
    served_project: fti.Project, args: list[str], message: str
) -> None:
    port = str(free_port())
    done = subprocess.run(
        [*fti_serve(served_project, *args), "--port", port],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
    )
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr and "Serving" not in done.stdout


def test_a_port_in_use_is_an_error(served_project: fti.Project, listening: int) -> None:
    done = subprocess.run(
        [*fti_serve(served_project, "--model", MODEL), "--port", str(listening)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
    )
    assert done.returncode == 2, done
    assert f"error: cannot listen on 127.0.0.1:{listening}" in done.stderr
    assert "Serving" not in done.stdout


@pytest.mark.parametrize(
    ("workers", "stop"),
    [
        (1, signal.SIGINT),
        (1, signal.SIGTERM),
        pytest.param(2, signal.SIGTERM, marks=pytest.mark.slow),
    ],
    ids=["one_worker-sigint", "one_worker-sigterm", "two_workers-sigterm"],
)
def test_serving_is_announced_once_ready_and_now_is_the_given_time(
    served_project: fti.Project, workers: int, stop: signal.Signals
) -> None:
    # A stop by signal is a clean shutdown: exit code 0 (orchestrators send SIGTERM).
    port = free_port()
    command = fti_serve(
        served_project, "--model", MODEL, "--port", str(port), "--workers", str(workers)
    )
    with subprocess.Popen(
        [*command, "--now", NOW.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()  # blocks until the server is ready (or exits)
            failed = process.stderr.read() if process.poll() is not None else ""
            assert line.startswith(f"Serving {MODEL} on http://127.0.0.1:{port}"), (line, failed)
            # Ready when announced: the first request is answered.
            body = {"entries": [{"ride_id": 0, "speed": 30.0}, {"ride_id": 1, "speed": 30.0}]}
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/{MODEL}/predict", json=body)
            assert answer.status_code == 200, answer.text
            # As of --now, zone "a" is fresh and zone "b" expired; on the wall clock both are.
            assert answer.json()["expired_features"] == [[], ["traffic"]]
        finally:
            process.send_signal(stop)
            try:
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
    assert process.returncode == 0


def test_serve_documents_now() -> None:
    done = subprocess.run(
        [FTI, "serve", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
    )
    assert done.returncode == 0 and "--now" in done.stdout and "FTI_NOW" in done.stdout
