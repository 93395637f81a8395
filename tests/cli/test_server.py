"""``fti server`` through the real command: the bind rule, workers, and several servers
starting at once on one database (each migrates it, once)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fti.stores.metadata import migrations, sql

FTI = str(Path(sys.executable).with_name("fti"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTI_")}
    return env | {"COLUMNS": "200"} | variables


@dataclass
class Run:
    """A running ``fti server``; ``stderr`` is what it wrote there, once it stopped."""

    process: subprocess.Popen[str]
    stderr: str = ""


@contextmanager
def running(home: Path, port: int, *args: str, **variables: str) -> Iterator[Run]:
    """``fti server`` on ``port``, stopped with SIGTERM (and required to exit 0)."""
    command = [FTI, "--home", str(home), "server", "--port", str(port), *args]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(**variables),
    ) as process:
        run = Run(process)
        try:
            yield run
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
            run.stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, run.stderr


def announced(run: Run, port: int) -> str:
    process = run.process
    assert process.stdout is not None
    line = process.stdout.readline()
    failed = process.stderr.read() if process.poll() is not None and process.stderr else ""
    assert line.startswith(f"Serving fti server on http://127.0.0.1:{port}"), (line, failed)
    return line


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_authentication_off_is_refused_off_loopback(tmp_path: Path, host: str) -> None:
    done = subprocess.run(
        [FTI, "--home", str(tmp_path), "server", "--host", host, "--no-auth"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
    )
    assert done.returncode == 2, done
    assert done.stderr.startswith(f"error: refusing to serve on {host} without API keys")
    assert not (tmp_path / "metadata.db").exists()


def test_a_new_server_with_two_workers_asks_for_a_first_admin(tmp_path: Path) -> None:
    port = free_port()
    with running(tmp_path, port, "--workers", "2") as run:
        line = announced(run, port)
        assert "(2 worker(s), API keys required)" in line
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/api/v1/health").json()["status"] == "ok"
        assert httpx.get(f"{url}/api/v1/users").status_code == 401
        key = subprocess.run(
            [FTI, "--home", str(tmp_path), "admin", "bootstrap", "root"],
            check=True,
            capture_output=True,
            text=True,
            env=environment(),
        ).stdout.strip()
        for _ in range(4):  # whichever worker answers
            me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
            assert me.json()["user"] == "root"
    assert "No admin yet: create the first one on this host with `fti admin bootstrap" in (
        run.stderr
    )


def test_authentication_off_on_loopback_makes_every_caller_an_admin(tmp_path: Path) -> None:
    port = free_port()
    with running(tmp_path, port, "--no-auth") as run:
        assert "no API keys: every caller is an admin" in announced(run, port)
        answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/users", json={"name": "alice"})
        assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("start", ["empty", "before_migrations"])
def test_servers_starting_at_once_on_one_postgres_database_all_serve(
    tmp_path: Path, postgres_url: str, start: str
) -> None:
    engine = sql.engine_for(postgres_url)
    if start == "before_migrations":
        old = sa.MetaData()
        for table in (sql.entities, sql.records):
            table.to_metadata(old)
        old.create_all(engine)
    ports = [free_port() for _ in range(3)]
    with ExitStack() as servers:
        started = [
            servers.enter_context(
                running(tmp_path / f"host{i}", port, FTI_METADATA_URL=postgres_url)
            )
            for i, port in enumerate(ports)
        ]
        for run, port in zip(started, ports, strict=True):
            announced(run, port)
            assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
    with engine.connect() as conn:
        versions = conn.execute(sa.text(f"SELECT version_num FROM {migrations.VERSION_TABLE}"))
        assert list(versions.scalars()) == [migrations.HEAD]
    engine.dispose()
