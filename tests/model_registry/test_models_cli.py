"""``fti models``: list, show (metrics, lineage tree, signature) and alias, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import make_view
from sklearn.dummy import DummyClassifier
from typer.testing import CliRunner

import fti
from fti.cli.main import app


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with fti.connect(home, "p") as project:
        view = make_view(project.feature_store)
        x, y = view.get_training_data(1)
        for auc in (0.7, 0.8):
            project.model_registry.create_model(
                "delays",
                metrics={"roc_auc": auc},
                feature_view=view,
                training_dataset_version=1,
                input_example=x,
            ).save(DummyClassifier().fit(x, y))
    return home


def run(home: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--home", str(home), "--project", "p", "models", *args], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_list_show_and_alias(home: Path) -> None:
    assert "delays" in run(home, "list")
    assert "now 'production'" in run(home, "alias", "delays", "1", "production")

    shown = run(home, "show", "delays", "--alias", "production")

    assert "delays v1" in shown and "aliases: production" in shown
    assert "roc_auc" in shown and "0.7" in shown
    assert "feature view delays v1" in shown
    assert "training dataset 1" in shown
    assert "feature group flights v1: Delta commit 0" in shown
    assert "distance" in shown and "int64" in shown
    assert "production -> v1" in run(home, "list")
    assert "delays v2" in run(home, "show", "delays")


def test_errors_exit_with_a_message(home: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(home), "--project", "p", "models", "show", "delays", "--version", "9"]
    )
    assert result.exit_code == 2
    assert "version 9" in result.output
