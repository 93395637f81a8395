"""Monitors over real stores: drift windows, no-data windows, model quality, alerts, reports."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import fti
from fti.cli.main import app
from fti.inference.batch import batch_predict
from fti.monitoring import monitors
from fti.monitoring.drift import METRIC_DESCRIPTIONS
from fti.monitoring.quality import QUALITY_METRIC_DESCRIPTIONS
from fti.monitoring.report import write_report

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def day_rows(day: int, n: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(n) + day * 10_000,
            "t": [T0 + day * DAY + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 1440, n)],
            "temp": rng.normal(10 + shift, 2, n),
            "city": rng.choice(["a", "b"] if shift == 0 else ["b", "c"], n),
            "late": rng.random(n) < (0.3 if shift == 0 else 0.6),
        }
    )


@pytest.fixture(params=["embedded", "server"])
def connection(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[fti.Project]:
    """A project on the embedded stores, then one of its own through the session's server."""
    if request.param == "server":
        url = request.getfixturevalue("fti_server_url")
        with fti.connect(url, f"mon{uuid.uuid4().hex[:12]}") as project:
            yield project
        return
    with fti.connect(tmp_path / "home", "mon") as project:
        yield project


@pytest.fixture
def setup(connection: fti.Project) -> tuple[fti.Project, fti.FeatureView]:
    rng = np.random.default_rng(5)
    fs = connection.feature_store
    fg = fs.create_feature_group("obs", primary_key=["id"], event_time="t")
    fg.insert(pd.concat([day_rows(d, 300, 0.0, rng) for d in range(5)]))
    view = fs.create_feature_view(
        "obs_view", query=fg.select(["temp", "city", "late"]), labels=["late"]
    )
    view.create_training_data(end_time=T0 + 5 * DAY)
    fg.insert(day_rows(6, 300, 0.0, rng))  # like the training data
    fg.insert(day_rows(7, 300, 8.0, rng))  # drifted
    return connection, view


def test_feature_monitor_flags_the_drifted_window(
    setup: tuple[fti.Project, fti.FeatureView],
) -> None:
    project, view = setup
    monitor = view.create_monitor("obs_drift", reference_training_dataset_version=1, window="1d")
    calm = monitor.run(T0 + 7 * DAY)
    drifted = monitor.run(T0 + 8 * DAY)
    empty = monitor.run(T0 + 20 * DAY)
    assert calm.status == "ok" and calm.rows == 300 and not calm.drifted
    assert drifted.status == "drift" and set(drifted.drifted) == {"temp", "city"}
    assert empty.status == "no_data" and empty.rows == 0
    history = project.monitoring.get_monitor("obs_drift").history()
    assert [r.status for r in history] == ["ok", "drift", "no_data"]
    assert history[1].features["temp"].metrics["psi"] > 0.2


def test_missing_reference_dataset_is_not_found(setup: tuple[fti.Project, fti.FeatureView]) -> None:
    _, view = setup
    with pytest.raises(fti.NotFoundError):
        view.create_monitor("bad", reference_training_dataset_version=9)


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    delay = 0.0

    def do_POST(self) -> None:
        time.sleep(self.delay)
        length = int(self.headers["content-length"])
        Receiver.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[Receiver]]]:
    Receiver.received = []
    Receiver.delay = 0.0
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", Receiver
    server.shutdown()
    server.server_close()


def test_drift_alert_is_posted(
    setup: tuple[fti.Project, fti.FeatureView], webhook: tuple[str, type[Receiver]]
) -> None:
    _, view = setup
    url, receiver = webhook
    monitor = view.create_monitor("alerted", reference_training_dataset_version=1, webhook_url=url)
    result = monitor.run(T0 + 8 * DAY)
    assert result.alert == {"sent": True, "status": 204}
    assert receiver.received[0]["monitor"] == "alerted"
    assert set(receiver.received[0]["drifted"]) == {"temp", "city"}


def test_a_timing_out_webhook_does_not_fail_the_run(
    setup: tuple[fti.Project, fti.FeatureView],
    webhook: tuple[str, type[Receiver]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, view = setup
    url, receiver = webhook
    receiver.delay = 1.0
    monkeypatch.setattr(monitors, "WEBHOOK_TIMEOUT_SECONDS", 0.2)
    monitor = view.create_monitor("slow", reference_training_dataset_version=1, webhook_url=url)
    result = monitor.run(T0 + 8 * DAY)
    assert result.status == "drift"
    assert result.alert["sent"] is False and "timed out" in result.alert["error"]
    assert monitor.history()[0].alert["sent"] is False


@pytest.fixture
def scored(setup: tuple[fti.Project, fti.FeatureView]) -> fti.Project:
    """A model of lateness from temperature, which cannot predict it: accuracy is about one
    minus the rate of late rows, 0.7 on days 0-6 and 0.4 on day 7 (drifted: more late rows,
    warmer, so its scores drift too). Every day is scored."""
    project, view = setup
    x, y = view.get_training_data(1)
    estimator = LogisticRegression().fit(x[["temp"]], y)
    narrow = project.feature_store.create_feature_view(
        "temp_only", query=view.query.root.select(["temp", "late"]), labels=["late"]
    )
    narrow.create_training_data(end_time=T0 + 5 * DAY)
    model = project.model_registry.create_model(
        "late_model", feature_view=narrow, training_dataset_version=1
    )
    model.save(estimator)
    batch_predict(model, T0, T0 + 8 * DAY)
    return project


def test_model_monitor_computes_quality_per_window(scored: fti.Project) -> None:
    monitor = scored.monitoring.create_model_monitor("late_model", "obs", "late", window="1d")
    result = monitor.run(T0 + 7 * DAY)
    assert result.rows == 300
    assert 0.0 <= result.quality["accuracy"] <= 1.0
    assert result.quality["roc_auc"] is not None and result.quality["log_loss"] > 0
    assert monitor.run(T0 + 30 * DAY).status == "no_data"


def test_a_window_below_a_quality_minimum_is_degraded(scored: fti.Project) -> None:
    monitor = scored.monitoring.create_model_monitor(
        "late_model",
        "obs",
        "late",
        window="1d",
        quality_thresholds={"accuracy": 0.6, "log_loss": 2.0},
    )

    calm = monitor.run(T0 + 7 * DAY)
    worse = monitor.run(T0 + 8 * DAY)

    assert calm.status == "ok" and calm.quality["accuracy"] > 0.6
    assert worse.quality["accuracy"] < 0.6 and worse.quality["log_loss"] < 2.0
    assert worse.status == "degraded"  # the scores drifted too: degraded wins
    assert worse.degraded == ["accuracy"] and worse.drifted == ["score"]
    assert f"accuracy {worse.quality['accuracy']:.3f} < 0.6 (minimum)" in worse.crossed
    assert any(line.startswith("score: psi ") for line in worse.crossed)
    stored = scored.monitoring.get_monitor(monitor.name)
    assert stored.quality_thresholds == {"accuracy": 0.6, "log_loss": 2.0}
    assert [(r.status, r.degraded) for r in stored.history()] == [
        ("ok", []),
        ("degraded", ["accuracy"]),
    ]


def test_a_quality_maximum_is_crossed_from_below(scored: fti.Project) -> None:
    monitor = scored.monitoring.create_model_monitor(
        "late_model", "obs", "late", window="1d", quality_thresholds={"log_loss": 0.65}
    )

    calm, worse = monitor.run(T0 + 7 * DAY), monitor.run(T0 + 8 * DAY)

    assert calm.quality["log_loss"] < 0.65 < worse.quality["log_loss"]
    assert (calm.status, worse.status) == ("ok", "degraded")
    assert worse.crossed[-1] == f"log_loss {worse.quality['log_loss']:.3f} > 0.65 (maximum)"


def test_score_drift_without_a_crossed_quality_threshold_stays_drift(scored: fti.Project) -> None:
    monitor = scored.monitoring.create_model_monitor(
        "late_model", "obs", "late", window="1d", quality_thresholds={"accuracy": 0.1}
    )

    result = monitor.run(T0 + 8 * DAY)

    assert (result.status, result.drifted, result.degraded) == ("drift", ["score"], [])


def test_without_quality_thresholds_quality_does_not_set_the_status(scored: fti.Project) -> None:
    monitor = scored.monitoring.create_model_monitor("late_model", "obs", "late", window="1d")

    assert monitor.quality_thresholds == {}
    assert monitor.run(T0 + 8 * DAY).status == "drift"  # accuracy 0.4, but no minimum was set


def test_a_degraded_window_is_posted(
    scored: fti.Project, webhook: tuple[str, type[Receiver]]
) -> None:
    url, receiver = webhook
    monitor = scored.monitoring.create_model_monitor(
        "late_model", "obs", "late", quality_thresholds={"accuracy": 0.6}, webhook_url=url
    )

    result = monitor.run(T0 + 8 * DAY)

    assert result.alert == {"sent": True, "status": 204}
    assert receiver.received[0]["status"] == "degraded"
    assert receiver.received[0]["degraded"] == ["accuracy"]
    assert receiver.received[0]["crossed"] == result.crossed


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"f1": 0.5}, "unknown quality metric 'f1'"),
        ({"accuracy": 1.5}, "'accuracy' must be between 0 and 1"),
        ({"log_loss": -0.1}, "'log_loss' must be >= 0"),
        ({"roc_auc": math.nan}, "must be a finite number"),
        ({"roc_auc": True}, "must be a finite number"),
        ({"roc_auc": "0.7"}, "must be a finite number"),
        ({"accuracy": 0.8, "mae": 3.0}, "mix classification metrics"),
        ({"rmse": 3.0}, "rmse is not measured on them"),
    ],
    ids=["unknown", "above-one", "negative", "nan", "bool", "string", "mixed", "wrong-task"],
)
def test_invalid_quality_thresholds_are_rejected_and_nothing_is_created(
    scored: fti.Project, thresholds: dict[str, Any], message: str
) -> None:
    with pytest.raises(fti.InvalidArgumentError, match=message):
        scored.monitoring.create_model_monitor(
            "late_model", "obs", "late", quality_thresholds=thresholds
        )
    assert scored.monitoring.list_monitors() == []


def fti_cli(project: fti.Project, *args: str) -> Result:
    """``fti --home ... --project <project> monitor ARGS`` (through the project's server, if
    any: ``FTI_URL``), on a terminal wide enough for the tables."""
    base = ["--home", str(project.settings.home), "--project", project.name, "monitor"]
    env = {"COLUMNS": "250", "FTI_URL": project.settings.url or None}
    return CliRunner().invoke(app, [*base, *args], env=env)


def test_cli_run_exits_1_on_degraded_quality(scored: fti.Project) -> None:
    scored.monitoring.create_model_monitor(
        "late_model", "obs", "late", quality_thresholds={"accuracy": 0.6, "roc_auc": 0.1}
    )

    calm = fti_cli(scored, "run", "late_model_quality", "--end", "2024-01-07T00:00:00")
    worse = fti_cli(scored, "run", "late_model_quality", "--end", "2024-01-09T00:00:00")

    assert calm.exit_code == 0, calm.output
    assert worse.exit_code == 1, worse.output
    assert "degraded" in worse.output
    assert re.search(r"accuracy 0\.\d{3} < 0\.6 \(minimum\)", worse.output)


def test_cli_list_shows_each_monitor_its_thresholds_and_last_run(
    setup: tuple[fti.Project, fti.FeatureView], scored: fti.Project
) -> None:
    project, view = setup
    drift = view.create_monitor(
        "obs_drift", 1, window="7d", features=["temp"], thresholds={"ks_pvalue": 0.01}
    )
    project.monitoring.create_model_monitor(
        "late_model", "obs", "late", quality_thresholds={"accuracy": 0.6, "log_loss": 0.7}
    )
    drift.run(T0 + 8 * DAY)

    listed = fti_cli(project, "list")

    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    drift_row = next(line for line in lines if "obs_drift" in line)
    for text in ("feature", "1 feature of view obs_view v1", "7 days", "drift"):
        assert text in drift_row
    assert "window to 2024-01-09 00:00" in drift_row
    assert any("ks_pvalue < 0.01" in line for line in lines)
    assert any("psi > 0.2" in line for line in lines)
    model_row = next(line for line in lines if "late_model_quality" in line)
    for text in ("model", "model late_model: late_model_predictions against obs.late", "never"):
        assert text in model_row
    assert any("accuracy < 0.6 (minimum)" in line for line in lines)
    assert any("log_loss > 0.7 (maximum)" in line for line in lines)


def test_cli_list_without_monitors_says_how_to_create_one(
    setup: tuple[fti.Project, fti.FeatureView],
) -> None:
    listed = fti_cli(setup[0], "list")

    assert listed.exit_code == 0
    assert "has no monitors. Create one with view.create_monitor" in listed.output


def test_cli_an_unknown_monitor_is_exit_2_naming_the_monitors(
    setup: tuple[fti.Project, fti.FeatureView],
) -> None:
    project, view = setup
    view.create_monitor("obs_drift", 1)

    shown = fti_cli(project, "show", "obs_drfit")

    assert shown.exit_code == 2
    assert "Did you mean 'obs_drift'?" in shown.output


def test_cli_run_exits_1_on_drift_and_report_renders(
    setup: tuple[fti.Project, fti.FeatureView], tmp_path: Path
) -> None:
    project, view = setup
    view.create_monitor("cli_drift", reference_training_dataset_version=1)

    calm = fti_cli(project, "run", "cli_drift", "--end", "2024-01-08T00:00:00")
    assert calm.exit_code == 0, calm.output
    drift = fti_cli(project, "run", "cli_drift", "--end", "2024-01-09T00:00:00")
    assert drift.exit_code == 1, drift.output
    not_due = fti_cli(project, "run", "--end", "2024-01-09T12:00:00")
    assert not_due.exit_code == 0 and "No monitor is due" in not_due.output
    due = fti_cli(project, "run", "--end", "2024-01-10T00:00:00")
    assert due.exit_code == 0 and "no_data" in due.output  # due, but day 9 has no rows
    shown = fti_cli(project, "show", "cli_drift")
    assert shown.exit_code == 0 and "temp" in shown.output
    out = tmp_path / "report.html"
    made = fti_cli(project, "report", "cli_drift", "--out", str(out))
    assert made.exit_code == 0, made.output
    assert "temp: psi over time" in out.read_text()


def test_report_explains_the_reference_each_threshold_and_metric(
    setup: tuple[fti.Project, fti.FeatureView], tmp_path: Path
) -> None:
    _, view = setup
    monitor = view.create_monitor("explained", 1, thresholds={"ks_pvalue": 0.01})
    for day in (7, 8):
        monitor.run(T0 + day * DAY)

    text = write_report(monitor, tmp_path / "report.html").read_text()

    assert (
        "The train rows of training dataset 1 of view obs_view v1: event times from the first "
        "row to 2024-01-06 00:00 UTC." in text
    )
    assert "Feature drift of all features of view obs_view v1, in windows of 1 day." in text
    for threshold in ("psi &gt; 0.2", "ks_statistic &gt; 0.1", "ks_pvalue &lt; 0.01"):
        assert f"Drift when <code>{threshold}</code> for a feature." in text
    for metric in ("psi", "ks_statistic", "ks_pvalue", "js_distance", "null_rate_shift"):
        assert f"<dt>{metric}</dt><dd>{html.escape(METRIC_DESCRIPTIONS[metric])}</dd>" in text
    assert re.search(r"temp: psi [\d.]+ &gt; 0\.2<br>", text)
    assert "share of non-null rows" in text
    assert "reference (1,500 rows)" in text and "window to 2024-01-09 (300 rows)" in text


@pytest.mark.parametrize(
    ("quality_thresholds", "expected"),
    [
        (
            {"accuracy": 0.6},
            ["Degraded when <code>accuracy &lt; 0.6 (minimum)</code>.", "minimum 0.6"],
        ),
        (None, ["No quality thresholds: the status follows the drift of the scores only."]),
    ],
    ids=["with-quality-thresholds", "without"],
)
def test_model_report_shows_quality_thresholds(
    scored: fti.Project,
    tmp_path: Path,
    quality_thresholds: dict[str, float] | None,
    expected: list[str],
) -> None:
    monitor = scored.monitoring.create_model_monitor(
        "late_model", "obs", "late", quality_thresholds=quality_thresholds
    )
    for day in (7, 8):
        monitor.run(T0 + day * DAY)

    text = write_report(monitor, tmp_path / "report.html").read_text()

    for line in expected:
        assert line in text
    assert "Scores: every prediction made before the window" in text
    assert f"<dt>accuracy</dt><dd>{html.escape(QUALITY_METRIC_DESCRIPTIONS['accuracy'])}" in text
    status = "degraded" if quality_thresholds else "drift"
    assert f'<tr class="alert"><td>2024-01-09 00:00</td><td>{status}</td>' in text


def test_report_renders_in_a_real_browser(
    setup: tuple[fti.Project, fti.FeatureView], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        import os

        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make test installs it with apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    _, view = setup
    monitor = view.create_monitor("browser", reference_training_dataset_version=1)
    for day in (7, 8):
        monitor.run(T0 + day * DAY)
    path = write_report(monitor, tmp_path / "report.html")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector(".plot-container", timeout=15_000)
        plots = page.locator(".plot-container").count()
        title = page.title()
        browser.close()
    assert title == "fti monitor browser"
    assert plots >= 4  # histograms and metric lines of temp and city
    assert errors == []


def test_monitor_windows_can_come_from_a_log_group(
    setup: tuple[fti.Project, fti.FeatureView],
) -> None:
    project, view = setup
    rng = np.random.default_rng(9)
    served = day_rows(7, 200, 8.0, rng).rename(columns={"t": "logged_at"}).drop(columns=["late"])
    log = project.feature_store.create_feature_group(
        "served_log", primary_key=["id"], event_time="logged_at", online_enabled=False
    )
    log.insert(served)
    monitor = view.create_monitor(
        "served_drift", reference_training_dataset_version=1, source_feature_group="served_log"
    )
    result = monitor.run(T0 + 8 * DAY)
    assert result.rows == 200 and result.status == "drift"
    assert monitor.run(T0 + 2 * DAY).status == "no_data"
    other = project.feature_store.create_feature_group(
        "other_log", primary_key=["id"], event_time="t"
    )
    other.insert(pd.DataFrame({"id": [1], "t": [T0], "x": [1.0]}))
    with pytest.raises(fti.InvalidArgumentError, match="lacks"):
        view.create_monitor("no_temp", 1, source_feature_group="other_log")


# Finding monitors and telling what they are ---------------------------------------------------


def test_an_unknown_monitor_names_the_ones_that_exist(
    setup: tuple[fti.Project, fti.FeatureView],
) -> None:
    project, view = setup
    view.create_monitor("obs_drift", reference_training_dataset_version=1)
    view.create_monitor("obs_weekly", reference_training_dataset_version=1, window="7d")

    with pytest.raises(fti.NotFoundError) as caught:
        project.monitoring.get_monitor("obs_drfit")

    message = str(caught.value)
    assert "no monitor 'obs_drfit'" in message
    assert "Did you mean 'obs_drift'?" in message
    assert "Its monitors: obs_drift, obs_weekly" in message


def test_an_unknown_monitor_in_a_project_without_monitors_says_how_to_create_one(
    setup: tuple[fti.Project, fti.FeatureView],
) -> None:
    project, _ = setup

    with pytest.raises(fti.NotFoundError, match=r"no monitors yet\. Create one with view\."):
        project.monitoring.get_monitor("anything")


def test_reprs_say_what_the_objects_are(setup: tuple[fti.Project, fti.FeatureView]) -> None:
    project, view = setup
    drift = view.create_monitor("obs_drift", reference_training_dataset_version=1, window="1d")
    quality = project.monitoring.create_model_monitor("late_model", "obs", "late", window="7d")
    result = drift.run(T0 + 8 * DAY)

    assert repr(project.monitoring) == f"Monitoring(project={project.name!r})"
    assert repr(drift) == (
        "Monitor(name='obs_drift', kind='feature', view='obs_view', view_version=1, window='1 day')"
    )
    assert repr(quality) == (
        "Monitor(name='late_model_quality', kind='model', model='late_model', window='7 days')"
    )
    assert re.fullmatch(
        r"MonitorResult\(monitor='obs_drift', window_end='2024-01-09T00:00:00\+00:00', "
        r"status='drift', rows=300, crossed=\['temp: psi [\d.]+ > 0\.2', "
        r"'temp: ks_statistic [\d.]+ > 0\.1', 'city: js_distance [\d.]+ > 0\.1'\]\)",
        repr(result),
    )
    assert repr(result.features["temp"]) == (
        "FeatureDrift(feature='temp', kind='numeric', drifted=True, "
        "crossed=['psi', 'ks_statistic'], reference_rows=1500, current_rows=300)"
    )
