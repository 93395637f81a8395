"""``fti pipelines list``, ``fti run``, ``fti runs ...`` and ``fti scheduler --from --to``
on a real pipelines module and project."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fti.cli.main import app

MODULE = """
import pandas as pd
import fti

@fti.pipeline(kind="feature", schedule="0 * * * *", params={"rows": 2})
def hourly(project, rows, scheduled_time):
    print(f"hour {scheduled_time:%H}")
    fs = project.feature_store
    group = fs.get_or_create_feature_group("g", primary_key=["k"], event_time="t")
    group.insert(pd.DataFrame({"k": range(rows), "t": pd.Timestamp(scheduled_time), "v": 1.0}))

@fti.pipeline(kind="training")
def broken(project):
    raise RuntimeError("no labels yet")
"""


@pytest.fixture
def fti_cli(tmp_path: Path) -> tuple[CliRunner, list[str]]:
    module = tmp_path / "pipelines.py"
    module.write_text(MODULE)
    home = tmp_path / "home"
    home.mkdir()
    (home / "fti.toml").write_text(f'pipelines = "{module}"\n')
    return CliRunner(), ["--home", str(home), "--project", "p"]


def test_run_list_show_logs_which_and_simulate(fti_cli: tuple[CliRunner, list[str]]) -> None:
    runner, base = fti_cli

    ran = runner.invoke(
        app, [*base, "run", "hourly", "--param", "rows=3", "--at", "2013-11-01T10:00"]
    )
    assert ran.exit_code == 0, ran.output
    assert "run hourly:1: succeeded" in ran.output and "commit 0 of g v1 (3 rows)" in ran.output

    failed = runner.invoke(app, [*base, "run", "broken"])
    assert failed.exit_code == 1
    assert "RuntimeError: no labels yet" in failed.output

    simulated = runner.invoke(
        app, [*base, "scheduler", "--from", "2013-11-02T00:00", "--to", "2013-11-02T03:00"]
    )
    assert simulated.exit_code == 0, simulated.output
    assert "3 run(s) from 2013-11-02 00:00 to 2013-11-02 03:00" in simulated.output

    listed = runner.invoke(app, [*base, "pipelines", "list"])
    assert listed.exit_code == 0 and "0 * * * *" in listed.output and "hourly:4" in listed.output
    runs = runner.invoke(app, [*base, "runs", "list", "--status", "failed"])
    assert "broken:1" in runs.output and "hourly" not in runs.output
    shown = runner.invoke(app, [*base, "runs", "show", "hourly:1"])
    assert "rows=3" in shown.output and "2013-11-01 10:00" in shown.output
    logs = runner.invoke(app, [*base, "runs", "logs", "hourly:4"])
    assert logs.output == "hour 02\n"
    which = runner.invoke(app, [*base, "runs", "which", "commit", "g", "0"])
    assert which.exit_code == 0 and "hourly:1" in which.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "no pipeline 'nope'; declared: hourly, broken"),
        (["run", "hourly", "--param", "rowz=1"], "no parameter 'rowz'"),
        (["run", "hourly", "--at", "yesterday"], "not an ISO 8601 time"),
        (["runs", "show", "hourly:x"], "PIPELINE:NUMBER"),
        (["runs", "show", "hourly:9"], "has no run 9"),
        (["runs", "which", "model", "m", "1"], "no run recorded making model version 1"),
        (["scheduler", "--from", "2013-11-01"], "give both --from and --to"),
    ],
    ids=[
        "unknown-pipeline",
        "unknown-param",
        "bad-time",
        "bad-ref",
        "no-such-run",
        "unmade",
        "half-range",
    ],
)
def test_bad_input_is_a_message_and_exit_code_2(
    fti_cli: tuple[CliRunner, list[str]], args: list[str], message: str
) -> None:
    runner, base = fti_cli
    runner.invoke(app, [*base, "run", "hourly"])  # the project exists

    result = runner.invoke(app, [*base, *args])

    assert result.exit_code == 2
    assert message in result.output
