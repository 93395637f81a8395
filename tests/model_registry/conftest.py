"""Fixtures of the model registry tests: a project on the embedded stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import fti


@pytest.fixture
def local_project(tmp_path: Path) -> Iterator[fti.Project]:
    """A project on the embedded stores only (the registry needs no online backend)."""
    with fti.connect(tmp_path / "home", "p") as project:
        yield project


@pytest.fixture
def mr(local_project: fti.Project) -> fti.ModelRegistry:
    """The registry of ``local_project``."""
    return local_project.model_registry
