"""``fti feature-views list`` and ``show``: joins, columns with their roles, datasets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import fti
from fti.cli.main import app

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_show_lists_query_labels_and_datasets(tmp_path: Path) -> None:
    with fti.connect(tmp_path, "p") as project:
        fs = project.feature_store
        trips = fs.create_feature_group("trips", primary_key=["trip_id"], event_time="t")
        trips.insert(
            pd.DataFrame(
                {"trip_id": [1, 2], "t": [T0, T0], "zone": ["a", "b"], "distance": [1.0, 2.0]}
            )
        )
        zones = fs.create_feature_group("zones", primary_key=["zone"])
        zones.insert(pd.DataFrame({"zone": ["a", "b"], "traffic": [0.1, 0.9]}))
        view = fs.create_feature_view(
            "rides",
            query=trips.select(["distance"]).join(zones.select(["traffic"]), on=["zone"]),
            labels=["rating"],
        )
        view.create_training_data(
            spine=pd.DataFrame({"trip_id": [1, 2], "t": [T0, T0], "rating": [4, 5]})
        )

    def run(*args: str) -> str:
        result = CliRunner().invoke(
            app,
            ["--home", str(tmp_path), "--project", "p", "feature-views", *args],
            terminal_width=200,
        )
        assert result.exit_code == 0, result.output
        return result.output

    assert "rides" in run("list")
    shown = run("show", "rides")
    assert "key join zones v1 on zone: traffic" in shown
    assert "rating" in shown and "label, carried by the spine" in shown
    assert "distance" in shown and "feature" in shown
