"""Fixtures of the server tests: the models of ``served_model`` in a project, and a uvicorn
server of them on a free loopback port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from served_model import BODY_LIMIT, MODEL, NOW, TEXT_MODEL, build

import fti
from fti.server import create_app


@pytest.fixture(scope="module")
def served_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fti.Project]:
    """A project on the embedded stores with the rides model."""
    home = tmp_path_factory.mktemp("served")
    with fti.connect(home / "home", "served") as project:
        build(project)
        yield project


@pytest.fixture(scope="module")
def server_url(served_project: fti.Project) -> Iterator[str]:
    """A uvicorn server of the rides model on a free loopback port, as of ``NOW``."""
    previous = os.environ.get("FTI_NOW")
    os.environ["FTI_NOW"] = NOW.isoformat()
    app = create_app(served_project, [MODEL, TEXT_MODEL], max_body_bytes=BODY_LIMIT)
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
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if previous is None:
            os.environ.pop("FTI_NOW", None)
        else:
            os.environ["FTI_NOW"] = previous
