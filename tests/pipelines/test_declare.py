"""Declaring pipelines: what @fti.pipeline accepts and refuses, and finding them in a module."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import fti
from fti.errors import ConfigError, InvalidArgumentError, InvalidNameError, NotFoundError
from fti.pipelines.declare import find, load_pipelines, parse_params


def test_a_declaration_keeps_its_options_and_the_function_runs_directly() -> None:
    @fti.pipeline(
        kind="feature",
        schedule="0 * * * *",
        params={"hours": 1},
        misfire="catch_up",
        retries=2,
        retry_delay="1m",
        timeout="1h",
    )
    def hourly(project: Any, hours: int, scheduled_time: dt.datetime) -> tuple[int, dt.datetime]:
        """Insert the last hours."""
        return hours, scheduled_time

    assert (hourly.name, hourly.kind, hourly.schedule) == ("hourly", "feature", "0 * * * *")
    assert (hourly.misfire, hourly.retries) == ("catch_up", 2)
    assert hourly.retry_delay == dt.timedelta(minutes=1)
    assert hourly.timeout == dt.timedelta(hours=1)
    assert hourly.description == "Insert the last hours."
    hours, when = hourly(None, hours=3)
    assert hours == 3 and when.tzinfo is not None


def test_scheduled_time_is_passed_only_to_a_function_that_takes_it() -> None:
    @fti.pipeline(kind="training", name="train_model")
    def train(project: Any) -> str:
        return "trained"

    assert train.name == "train_model"
    assert train.arguments({}) == {}
    assert train(None) == "trained"


def test_unknown_run_parameters_are_refused() -> None:
    @fti.pipeline(kind="inference", params={"day": "2013-11-01"})
    def predict(project: Any, day: str) -> None:
        pass

    with pytest.raises(InvalidArgumentError, match=r"no parameter 'dya' \(its parameters: day\)"):
        predict.arguments({"dya": "x"})


def noop(project: Any) -> None:
    pass


def takes_n(project: Any, n: int) -> None:
    pass


@pytest.mark.parametrize(
    ("options", "function", "message"),
    [
        ({"kind": "etl"}, noop, "kind must be one of feature, training"),
        ({"kind": "feature", "schedule": "every hour"}, noop, "five fields"),
        ({"kind": "feature", "schedule": "61 * * * *"}, noop, "not a valid cron"),
        ({"kind": "feature", "misfire": "later"}, noop, "misfire must be"),
        ({"kind": "feature", "retries": -1}, noop, "retries must be"),
        ({"kind": "feature", "retries": True}, noop, "retries must be"),
        ({"kind": "feature", "timeout": "soon"}, noop, "not a duration"),
        ({"kind": "feature", "retry_delay": dt.timedelta(0)}, noop, "positive duration"),
        ({"kind": "feature", "params": {"x": object()}}, noop, "must be a JSON value"),
        ({"kind": "feature", "params": {"Bad-Name": 1}}, noop, "invalid parameter name"),
        ({"kind": "feature", "params": {"m": 1}}, takes_n, "takes no parameter 'm'"),
        ({"kind": "feature"}, takes_n, "must take the project first"),
        ({"kind": "feature", "name": "Not A Name"}, noop, "invalid pipeline name"),
    ],
    ids=[
        "kind",
        "schedule-words",
        "schedule-range",
        "misfire",
        "retries-negative",
        "retries-bool",
        "timeout",
        "retry-delay-zero",
        "param-not-json",
        "param-name",
        "param-not-in-function",
        "function-needs-more",
        "name",
    ],
)
def test_bad_declarations_are_refused(options: dict[str, Any], function: Any, message: str) -> None:
    with pytest.raises((InvalidArgumentError, InvalidNameError), match=message):
        fti.pipeline(**options)(function)


DECLARED = """
import fti

@fti.pipeline(kind="feature", schedule="0 * * * *")
def features(project, scheduled_time):
    pass

@fti.pipeline(kind="training")
def training(project):
    pass

alias = features  # the same pipeline twice is one pipeline
"""


def test_pipelines_are_found_in_a_file_in_declaration_order(tmp_path: Path) -> None:
    module = tmp_path / "pipelines.py"
    module.write_text(DECLARED)

    found = load_pipelines(str(module))

    assert list(found) == ["features", "training"]
    assert find(found, "training").kind == "training"
    with pytest.raises(NotFoundError, match="no pipeline 'train'; declared: features, training"):
        find(found, "train")


@pytest.mark.parametrize(
    ("source", "text", "message"),
    [
        ("", None, "no pipelines module: set `pipelines` in fti.toml"),
        ("missing.py", None, "does not exist"),
        ("no_such_module_here", None, "cannot import pipelines module"),
        ("empty.py", "x = 1\n", "declares no pipeline"),
        (
            "twice.py",
            "import fti\n"
            "a = fti.pipeline(kind='feature', name='same')(lambda project: None)\n"
            "b = fti.pipeline(kind='feature', name='same')(lambda project: None)\n",
            "two pipelines named 'same'",
        ),
    ],
    ids=["unset", "missing-file", "missing-module", "none-declared", "duplicate-names"],
)
def test_bad_pipeline_modules_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, text: str | None, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / source).write_text(text)

    with pytest.raises(ConfigError, match=message):
        load_pipelines(source)


def test_command_line_params_are_json_or_text() -> None:
    assert parse_params(["n=3", "day=2013-11-01", "flag=true", "xs=[1, 2]", "empty="]) == {
        "n": 3,
        "day": "2013-11-01",
        "flag": True,
        "xs": [1, 2],
        "empty": "",
    }
    with pytest.raises(InvalidArgumentError, match="KEY=VALUE"):
        parse_params(["novalue"])
