"""Saves killed midway: their versions are marked failed and their staging folders removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fti
from fti.cli.main import app
from fti.model_registry import registry
from fti.stores.artifacts import Owner

# The child stops inside the save, after its version is allocated and its files are staged,
# and waits to be killed there.
KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    import fti
    from fti.stores.artifacts.local import LocalArtifactStore

    home, ready = sys.argv[1:3]

    def stall(self, key, staged):
        Path(ready).write_text(str(staged))
        time.sleep(600)

    LocalArtifactStore.commit = stall
    x = np.random.default_rng(0).normal(size=(50, 3))
    with fti.connect(home, "p") as project:
        project.model_registry.create_model("churn").save(LogisticRegression().fit(x, x[:, 0] > 0))
    """
)


def kill_a_save(tmp_path: Path, home: Path) -> Path:
    """Run a save in a new process and SIGKILL it midway; returns its staging folder."""
    script, ready = tmp_path / "killed_save.py", tmp_path / "ready"
    script.write_text(KILLED_SAVE)
    child = subprocess.Popen([sys.executable, str(script), str(home), str(ready)])
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert ready.exists(), "the save never reached its stall"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    staged = Path(ready.read_text())
    assert staged.is_dir() and staged.name.startswith(f"{child.pid}@")
    return staged


def small_model() -> object:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(1).normal(size=(50, 3))
    return LogisticRegression().fit(x, x[:, 0] > 0)


def models(home: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--home", str(home), "--project", "p", "models", *args], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with fti.connect(home, "p") as project:
        project.model_registry.create_model("churn").save(small_model())
    return home


@pytest.mark.slow
def test_a_killed_save_is_shown_stuck_then_failed_by_the_next_save(
    tmp_path: Path, home: Path
) -> None:
    staged = kill_a_save(tmp_path, home)

    with fti.connect(home, "p") as project:
        (stuck,) = project.model_registry.unfinished("churn")
        assert (stuck.version, stuck.state, stuck.stuck) == (2, "saving", True)
        assert "is gone" in stuck.note
        listed = models(home, "list")
        assert "Unfinished saves" in listed and "saving (stuck)" in listed
        assert "fti models cleanup" in listed

        again = project.model_registry.create_model("churn").save(small_model())

        assert again.version == 3  # the number of the killed save is not given out again
        assert project.model_registry.get_model("churn", version=2).state == "failed"
        assert [(v.version, v.state) for v in project.model_registry.unfinished()] == [
            (2, "failed")
        ]
        assert not staged.exists()
        assert "churn v2  failed" in models(home, "show", "churn", "--version", "2")


@pytest.mark.slow
def test_cleanup_marks_failed_and_removes_staging_once(tmp_path: Path, home: Path) -> None:
    staged = kill_a_save(tmp_path, home)
    size = sum(f.stat().st_size for f in staged.rglob("*") if f.is_file())

    output = models(home, "cleanup")

    assert "churn v2: marked failed" in output and "is gone" in output
    assert f"removed {staged} ({size:,} bytes)" in output
    assert not staged.exists()
    with fti.connect(home, "p") as project:
        assert project.model_registry.get_model("churn").version == 1
        assert project.model_registry.cleanup() == registry.Cleanup([], [])
    assert "Nothing to clean up." in models(home, "cleanup")
    assert "churn" in models(home, "show", "churn") and "failed" in models(home, "list")


def test_a_save_running_over_the_limit_counts_as_stuck(
    mr: fti.ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A version in state saving whose process (this one) still runs.
    owner = {"host": Owner.current().host, "pid": os.getpid()}
    mr._metadata.create("model", mr.project, "slow", None, {"state": "saving", "owner": owner})
    assert [v.stuck for v in mr.unfinished("slow")] == [False]
    assert "in progress" in mr.unfinished("slow")[0].note

    monkeypatch.setattr(registry, "STUCK_AFTER", timedelta(0))

    (failed,) = mr.cleanup().failed
    assert (failed.name, failed.version) == ("slow", 1)
    assert "over 0:00:00" in failed.note
    assert mr.get_model("slow", version=1).state == "failed"
