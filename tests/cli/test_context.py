"""Every CLI command but ``fti demo`` opens an existing project and never creates a home."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import fti
from fti.cli.main import app

READ_ONLY = [
    ["models", "list"],
    ["models", "show", "delays"],
    ["feature-groups", "list"],
    ["feature-views", "list"],
    ["monitor", "run"],
    ["verify", "trips"],
]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", READ_ONLY, ids=[" ".join(c) for c in READ_ONLY])
def test_a_missing_home_is_an_error_and_stays_missing(tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "nothing" / "here"

    code, output = invoke("--home", str(home), *command)

    assert code == 2
    assert "no fti project here" in output and "fti demo" in output
    assert not home.exists() and not (tmp_path / "nothing").exists()


def test_an_unknown_project_lists_the_projects_there(tmp_path: Path) -> None:
    with fti.connect(tmp_path, "flights") as project:
        project.feature_store.create_feature_group("trips", primary_key=["trip_id"]).insert(
            pd.DataFrame({"trip_id": [1]})
        )
    before = sorted(p.name for p in tmp_path.iterdir())

    code, output = invoke("--home", str(tmp_path), "--project", "nope", "models", "list")

    assert code == 2
    assert "project 'nope' does not exist" in output and "projects there: flights" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_project_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fti.connect(tmp_path, "flights") as project:
        project.feature_store.create_feature_group("trips", primary_key=["trip_id"])
    monkeypatch.setenv("FTI_PROJECT", "flights")

    code, output = invoke("--home", str(tmp_path), "feature-groups", "list")

    assert code == 0, output
    assert "trips" in output and "'flights'" in output


def test_not_found_lists_what_exists(tmp_path: Path) -> None:
    with fti.connect(tmp_path, "p") as project:
        for name in ("weather", "trips"):
            project.feature_store.create_feature_group(name, primary_key=["k"])

    code, output = invoke("--home", str(tmp_path), "--project", "p", "feature-groups", "show", "x")

    assert code == 2
    assert "feature groups in it: trips, weather" in output
