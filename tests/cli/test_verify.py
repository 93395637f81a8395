"""``fti verify``: coverage per feature, --now, --request-param, and its exit codes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import fti
from fti.cli.main import app

T0 = dt.datetime(2013, 1, 1, tzinfo=dt.UTC)


@fti.on_demand(type="float64", inputs=["distance"], request_parameters=["speed"])
def eta(df: pd.DataFrame) -> pd.Series:
    return df["distance"] / df["speed"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A view of 2013 flights joined with their weather within 3 h, as in the demo."""
    home = tmp_path / "home"
    with fti.connect(home, "p") as project:
        fs = project.feature_store
        flights = fs.create_feature_group(
            "flights", primary_key=["fid"], event_time="p", on_demand_features=[eta]
        )
        flights.insert(
            pd.DataFrame(
                {"fid": [1, 2], "p": [T0, T0], "origin": ["EWR", "JFK"], "distance": [10.0, 20.0]}
            )
        )
        weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="t")
        weather.insert(pd.DataFrame({"origin": ["EWR", "JFK"], "t": [T0, T0], "temp": [1.0, 2.0]}))
        query = flights.select(["distance", "eta"]).join(weather.select(["temp"]), ttl="3h")
        fs.create_feature_view("delays", query=query)
    return home


def verify(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["--home", str(home), "--project", "p", "verify", "delays", *args], terminal_width=200
    )
    return result.exit_code, result.output


def test_no_skew_as_of_a_time_the_data_covers(home: Path) -> None:
    code, output = verify(home, "--now", "2013-01-01T01:00", "--request-param", "speed=2")
    assert code == 0, output
    assert "as of 2013-01-01T01:00:00+00:00" in output
    assert "No skew" in output
    assert "Not compared" not in output
    assert os.environ.get("FTI_NOW") is None  # set for the command only


def test_features_without_values_fail_and_suggest_now(home: Path) -> None:
    code, output = verify(home, "--request-param", "speed=2")
    assert code == 1
    assert "Not compared: temp had no value online or offline for any of the 2 keys" in output
    assert "--now" in output
    assert "No skew" not in output
    row = next(line for line in output.splitlines() if line.startswith("│ temp"))
    cells = [cell.strip() for cell in row.split("│")[2:5]]
    assert cells == ["0", "100%", "100%"]  # compared, null online, null offline


def test_skew_exits_1(home: Path) -> None:
    with fti.connect(home, "p") as project:
        weather = project.feature_store.get_feature_group("weather")
        project.online_store.drop(weather._online_table)
    code, output = verify(home, "--now", "2013-01-01T01:00", "--request-param", "speed=2")
    assert code == 1
    assert "Skew: 2 value(s) differ" in output and "behind" in output
    assert "No skew" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "tomorrow"], "not an ISO 8601 time"),
        (["--request-param", "speed"], "not NAME=VALUE"),
        ([], "take request parameter(s) speed"),
        (["--request-param", "speed=2", "--request-param", "x=1"], "x are taken by no"),
    ],
    ids=["bad-now", "bad-parameter", "missing-parameter", "unknown-parameter"],
)
def test_bad_options_exit_2_with_a_message(home: Path, args: list[str], message: str) -> None:
    code, output = verify(home, *args)
    assert code == 2
    assert message in " ".join(output.split())
