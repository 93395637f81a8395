"""The offline store roots the contract suite runs against: a local folder, and a prefix on a
real S3 API (moto's server on loopback, the ``s3_url`` fixture of tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fti.stores.offline import OfflineStore, open_offline_store


@pytest.fixture(params=["local", "s3"])
def offline_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty root: a folder, then a new bucket's prefix."""
    if request.param == "local":
        return str(tmp_path / "offline")
    url: str = request.getfixturevalue("s3_url")
    return url


@pytest.fixture
def offline_store(offline_url: str, tmp_path: Path) -> OfflineStore:
    """An offline store of each kind, its cache of remote files in ``tmp_path/cache``."""
    return open_offline_store(offline_url, cache_dir=tmp_path / "cache")
