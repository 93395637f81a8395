"""Fixtures of the model registry tests: a project on the embedded stores, then the same through
fti server (the remote backends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import fti
from support.remote_stores import LiveServer


@pytest.fixture(params=["embedded", "server"])
def local_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[fti.Project]:
    """A project on the embedded stores (the registry needs no online backend), then one of
    its own on the session's fti server."""
    if request.param == "server":
        url = request.getfixturevalue("fti_server_url")
        with fti.connect(url, f"p{uuid.uuid4().hex[:12]}") as project:
            yield project
        return
    with fti.connect(tmp_path / "home", "p") as project:
        yield project


@pytest.fixture
def mr(local_project: fti.Project) -> fti.ModelRegistry:
    """The registry of ``local_project``."""
    return local_project.model_registry


@pytest.fixture
def artifacts_root(local_project: fti.Project, request: pytest.FixtureRequest) -> Path:
    """The folder of ``local_project``'s model trees, wherever its artifact store keeps them
    (through a server: in the server's store)."""
    if local_project.settings.url:
        server: LiveServer = request.getfixturevalue("fti_server")
        return Path(server.settings.artifacts_url) / local_project.name
    return Path(local_project.settings.artifacts_url) / local_project.name
