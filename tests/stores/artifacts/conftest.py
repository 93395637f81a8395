"""The artifact stores the contract suite runs against: a local folder, and a prefix on a real
S3 API (moto's server on loopback, the ``s3_url`` fixture of tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_helpers import Raw

from fti.stores.artifacts import ArtifactStore, open_artifact_store
from fti.stores.artifacts.remote import RemoteArtifactStore
from fti.stores.locations import open_location
from support.remote_stores import SERVER, in_process_client, server_settings


@pytest.fixture(params=["local", "s3", "server"])
def artifacts_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty root: a folder, a new bucket's prefix, then a folder behind fti
    server (``server+/path``: the remote backend)."""
    if request.param == "local":
        return str(tmp_path / "artifacts")
    if request.param == "server":
        return SERVER + str(tmp_path / "artifacts")
    url: str = request.getfixturevalue("s3_url")
    return url


@pytest.fixture
def store(artifacts_url: str, tmp_path: Path) -> ArtifactStore:
    """An artifact store of each kind; an object or remote store stages in
    ``tmp_path/staging``."""
    if artifacts_url.startswith(SERVER):
        root = artifacts_url[len(SERVER) :]
        client = in_process_client(server_settings(tmp_path / "server", artifacts_url=root))
        return RemoteArtifactStore(client, staging=tmp_path / "staging")
    return open_artifact_store(artifacts_url, staging=tmp_path / "staging")


@pytest.fixture
def raw(artifacts_url: str) -> Raw:
    """Direct access to the objects of ``store``'s root (behind the server: its folder)."""
    return Raw(open_location(artifacts_url.removeprefix(SERVER)))
