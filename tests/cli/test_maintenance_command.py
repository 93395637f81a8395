"""``fti maintenance``: a table of what was done per group, --dry-run, and its exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import fti
from fti.cli.main import app

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Two groups: one with five small commits, one with a single commit."""
    home = tmp_path / "home"
    with fti.connect(home, "p", offline_maintenance_interval="0") as project:
        fs = project.feature_store
        hourly = fs.create_feature_group("hourly", primary_key=["id"], event_time="ts")
        for hour in range(5):
            hourly.insert(
                pd.DataFrame({"id": [1, 2], "ts": T0 + dt.timedelta(hours=hour), "x": [1.0, 2.0]})
            )
        once = fs.create_feature_group("once", primary_key=["id"], event_time="ts")
        once.insert(pd.DataFrame({"id": [1], "ts": [T0], "x": [1.0]}))
    return home


def files(home: Path, group: str) -> int:
    with fti.connect(home, "p") as project:
        fg = project.feature_store.get_feature_group(group)
        version = fg._offline.version(fg._offline_table)
        assert version is not None
        return len(fg._offline.files(fg._offline_table, version))


def invoke(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["--home", str(home), "--project", "p", "maintenance", *args], terminal_width=200
    )
    return result.exit_code, result.output


def test_maintenance_prints_what_it_did_per_group(home: Path) -> None:
    code, output = invoke(home)

    assert code == 0, output
    assert "Maintenance of project 'p'" in output and "dry run" not in output
    hourly = next(line for line in output.splitlines() if "hourly" in line)
    assert "5 -> 1" in hourly
    once = next(line for line in output.splitlines() if "once" in line)
    assert "1 -> 1" in once
    assert "kept: every version of the last 7d" in output
    assert files(home, "hourly") == 1


def test_dry_run_changes_nothing(home: Path) -> None:
    code, output = invoke(home, "hourly", "--dry-run")

    assert code == 0, output
    assert "dry run: nothing changed" in output
    assert "5 -> 1" in output and "once" not in output
    assert files(home, "hourly") == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no feature group nope (groups: hourly, once)"),
        (["hourly", "ghost"], "no feature group ghost"),
    ],
    ids=["unknown", "one-unknown"],
)
def test_an_unknown_group_is_an_error_and_changes_nothing(
    home: Path, args: list[str], message: str
) -> None:
    code, output = invoke(home, *args)

    assert code == 2
    assert message in " ".join(output.split())
    assert files(home, "hourly") == 5
