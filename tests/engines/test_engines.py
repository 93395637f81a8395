"""Choosing an engine: names, defaults, and Ray only when asked for (no Ray needed here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fti
from fti.engines import LocalEngine


def test_local_is_the_default_and_ray_is_not_imported(tmp_path: Path) -> None:
    with fti.connect(tmp_path, "p") as project:
        engine = project.feature_store.engine()
        assert isinstance(engine, LocalEngine)
        assert project.engine("local") is engine
    # In a process of its own: this session's other tests import Ray.
    code = (
        "import sys, fti\n"
        f"fti.connect({str(tmp_path)!r}, 'p').feature_store.engine()\n"
        "print('ray' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False", result.stderr


def test_an_unknown_engine_is_a_config_error(tmp_path: Path) -> None:
    with fti.connect(tmp_path, "p") as project, pytest.raises(fti.ConfigError, match="spark"):
        project.engine("spark")
    with pytest.raises(fti.ConfigError, match="not one of local, ray"):
        fti.connect(tmp_path, "p", engine="spark")


def test_the_ray_engine_without_ray_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with fti.connect(tmp_path, "p", engine="ray") as project:
        with pytest.raises(fti.MissingDependencyError, match=r"pip install 'fti\[ray\]'"):
            project.engine()
        with pytest.raises(fti.MissingDependencyError, match=r"fti\[ray\]"):
            project.feature_store.engine("ray")


def test_the_ray_engine_is_refused_through_a_server() -> None:
    # Nothing listens on port 9: the refusal comes before any request.
    with fti.connect("http://127.0.0.1:9", "p", engine="ray") as project:
        with pytest.raises(fti.ConfigError, match="ray engine reads the offline store"):
            project.engine()
        assert isinstance(project.engine("local"), LocalEngine)
