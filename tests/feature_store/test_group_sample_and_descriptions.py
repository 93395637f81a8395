"""FeatureGroup.head (a sample of the latest rows, read without scanning every file) and
set_feature_description (kept in the group's metadata, seen by every later handle)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import fti
from fti.errors import InvalidArgumentError, NotFoundError, QueryError

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[fti.Project]:
    with fti.connect(tmp_path / "home", "p") as opened:
        yield opened


def rows(first: int, count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(first, first + count),
            "t": [T0 + dt.timedelta(minutes=i) for i in range(count)],
            "x": [float(i) for i in range(count)],
        }
    )


@pytest.fixture(scope="module")
def three_commits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fti.FeatureGroup]:
    """A group of 30 rows in three commits (three files)."""
    with fti.connect(tmp_path_factory.mktemp("head") / "home", "p") as opened:
        fg = opened.feature_store.create_feature_group("g", primary_key=["id"], event_time="t")
        for first in (0, 10, 20):
            fg.insert(rows(first, 10))
        yield fg


@pytest.mark.parametrize(("wanted", "got"), [(0, 0), (1, 1), (7, 7), (25, 25), (1000, 30)])
def test_head_returns_at_most_the_rows_asked_for_across_commits(
    three_commits: fti.FeatureGroup, wanted: int, got: int
) -> None:
    sample = three_commits.head(wanted)
    assert len(sample) == got
    assert list(sample.columns) == ["id", "t", "x"]
    assert set(sample["id"]) <= set(range(30))


def test_head_of_a_group_without_rows_and_bad_counts(project: fti.Project) -> None:
    fg = project.feature_store.create_feature_group(
        "g", primary_key=["id"], features=[fti.Feature("id", "int64"), fti.Feature("v", "string")]
    )
    assert fg.head(5).empty
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(InvalidArgumentError):
            fg.head(bad)  # type: ignore[arg-type]


def test_a_feature_description_is_kept_for_every_later_handle(project: fti.Project) -> None:
    fs = project.feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="t")
    with pytest.raises(QueryError, match="no schema yet"):
        fg.set_feature_description("x", "before any insert")
    fg.insert(rows(0, 3))
    fg.set_feature_description("x", "a reading, in volts")
    assert {f.name: f.description for f in fg.features or []}["x"] == "a reading, in volts"
    again = fs.get_feature_group("g", 1)
    assert {f.name: f.description for f in again.features or []}["x"] == "a reading, in volts"
    again.insert(rows(3, 3))  # an insert after it keeps the description and the schema
    assert fs.get_feature_group("g", 1).features == again.features


@pytest.mark.parametrize(
    ("feature", "description", "error"),
    [
        ("absent", "text", NotFoundError),
        ("x", "a" * 2001, InvalidArgumentError),
        ("x", 3, InvalidArgumentError),
    ],
)
def test_a_bad_description_is_refused_and_changes_nothing(
    project: fti.Project, feature: str, description: object, error: type[Exception]
) -> None:
    fg = project.feature_store.create_feature_group("g", primary_key=["id"], event_time="t")
    fg.insert(rows(0, 3))
    before = fg.features
    with pytest.raises(error):
        fg.set_feature_description(feature, description)  # type: ignore[arg-type]
    assert project.feature_store.get_feature_group("g", 1).features == before
