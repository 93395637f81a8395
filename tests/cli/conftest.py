"""Fixtures of the CLI tests: a live ``fti server`` app (uvicorn in a thread) for the commands
that talk to one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from platform_server import LiveServer

from fti.server.platform.app import create_platform_app
from fti.settings import Settings


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A platform app with API keys on a free loopback port, over a fresh home."""
    home = tmp_path / "home"
    monkeypatch.setenv("FTI_METADATA_URL", f"sqlite:///{home / 'metadata.db'}")
    monkeypatch.delenv("FTI_URL", raising=False)
    monkeypatch.delenv("FTI_API_KEY", raising=False)
    app = create_platform_app(Settings.load(home))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", home)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
