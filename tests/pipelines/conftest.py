"""Projects for the pipeline tests: embedded stores, and the metadata store on SQLite or on a
real PostgreSQL server where locks and runs must behave the same ("Shared storage")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import fti


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata store of each kind: the embedded SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'metadata.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def project(tmp_path: Path) -> Iterator[fti.Project]:
    """A project over the embedded stores."""
    with fti.connect(tmp_path / "home", f"p{uuid.uuid4().hex[:8]}") as p:
        yield p


@pytest.fixture
def shared_project(tmp_path: Path, metadata_url: str) -> Iterator[fti.Project]:
    """A project whose metadata store is SQLite, then PostgreSQL."""
    with fti.connect(tmp_path / "home", "shared", metadata_url=metadata_url) as p:
        yield p
