"""Maintenance of offline tables: compaction changes no version, vacuum keeps what training
datasets pin and what the time-travel retention covers, the automatic policy never fails an
insert, and concurrent writers lose nothing."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

import fti
from fti.errors import NotFoundError
from fti.feature_store import maintenance

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
KEYS = 4
Connect = Callable[..., fti.Project]


def hourly(hour: int, value: float | None = None) -> pd.DataFrame:
    """One hourly batch: every key at ``hour``."""
    return pd.DataFrame(
        {
            "id": range(KEYS),
            "ts": T0 + dt.timedelta(hours=hour),
            "x": [value if value is not None else hour + k / 10 for k in range(KEYS)],
        }
    )


@pytest.fixture
def connect(tmp_path: Path, online_url: str) -> Iterator[Connect]:
    """Open projects in one home with the given maintenance settings (automatic off unless
    an interval is given)."""
    name = f"p{uuid.uuid4().hex[:12]}"
    opened: list[fti.Project] = []

    def open_project(retention: str = "7d", interval: str = "0") -> fti.Project:
        project = fti.connect(
            tmp_path / "home",
            name,
            online_url=online_url,
            time_travel_retention=retention,
            offline_maintenance_interval=interval,
        )
        opened.append(project)
        return project

    yield open_project
    for fg in opened[0].feature_store.list_feature_groups() if opened else []:
        fg.delete()
    for project in opened:
        project.close()


def rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["id", "ts"]).reset_index(drop=True)


def feed(changes: pd.DataFrame) -> pd.DataFrame:
    """The change feed in one order (delta-rs gives none)."""
    order = ["_commit_id", "_change_type", "id", "ts"]
    return changes.sort_values(order).reset_index(drop=True)


def data_files(fg: fti.FeatureGroup) -> int:
    version = fg._offline.version(fg._offline_table)
    assert version is not None
    return len(fg._offline.files(fg._offline_table, version))


def run(fg: fti.FeatureGroup, *, dry_run: bool = False) -> maintenance.GroupMaintenance:
    return maintenance.maintain(fg, fg._store._maintenance, dry_run=dry_run)


def test_compaction_changes_no_version_nor_the_change_feed(connect: Connect) -> None:
    fs = connect().feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    for hour in range(6):
        fg.insert(hourly(hour))
    fg.insert(hourly(2, value=-1.0))  # an upsert: the change feed has update rows
    versions = range(7)
    before = {v: rows(fg.read(as_of=v)) for v in versions}
    changes = fg.read_changes(0, 6)

    done = run(fg)

    assert done.table is not None and not done.skipped
    # Six files: the upsert rewrote the file of hour 2.
    assert (done.table.files_before, done.table.files_after) == (6, 1)
    assert done.table.files_compacted == 6 and done.table.files_deleted == 0
    assert data_files(fg) == 1
    for v in versions:
        pd.testing.assert_frame_equal(rows(fg.read(as_of=v)), before[v])
    pd.testing.assert_frame_equal(rows(fg.read()), before[6])
    pd.testing.assert_frame_equal(feed(fg.read_changes(0, 6)), feed(changes))
    # Maintenance's commits change no rows: the feed from them on is empty.
    assert fg.read_changes(done.table.commits[0]).empty


def test_vacuum_keeps_what_training_datasets_pin(connect: Connect) -> None:
    fs = connect(retention="0s").feature_store
    flights = fs.create_feature_group("flights", primary_key=["id"], event_time="ts")
    weather = fs.create_feature_group("weather", primary_key=["id"], event_time="ts")
    for hour in range(3):
        flights.insert(hourly(hour))
        weather.insert(hourly(hour))
    own = fs.create_feature_view("own", query=flights.select_all())
    # A view whose root is another group pins flights too.
    joined = fs.create_feature_view(
        "joined", query=weather.select(["x"]).join(flights.select(["x"]), on=["id"], prefix="f_")
    )
    first = own.create_training_data()
    first_commit = 2
    flights.insert(hourly(3))
    unpinned = 3
    # An upsert rewrites the file of commit 3: only that commit still needs the old one.
    flights.insert(hourly(3, value=-1.0))
    second = joined.create_training_data()
    second_commit = 4
    flights.insert(hourly(5))
    as_of_first = rows(flights.read(as_of=first_commit))

    done = run(flights)

    assert done.pinned == (first_commit, second_commit)
    assert done.table is not None and done.table.files_deleted > 0
    assert own.verify_training_data(first).matches
    assert joined.verify_training_data(second).matches
    pd.testing.assert_frame_equal(rows(flights.read(as_of=first_commit)), as_of_first)
    # Neither pinned nor within the retention: its files are gone, and reading says why.
    with pytest.raises(NotFoundError, match=r"data files are gone.*time_travel_retention"):
        flights.read(as_of=unpinned)


def test_verify_says_why_when_pinned_files_were_vacuumed(connect: Connect) -> None:
    fs = connect(retention="0s").feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    fg.insert(hourly(0))
    fg.insert(hourly(1))
    view = fs.create_feature_view("v", query=fg.select_all())
    version = view.create_training_data()
    fg.insert(hourly(2))

    # The store keeps only what it is told to: here, no pinned version.
    fg._offline.maintain(fg._offline_table, (), dt.timedelta(0))

    check = view.verify_training_data(version)
    assert not check.matches
    assert "vacuum may have removed the files of the pinned Delta versions" in check.reason


def test_the_log_keeps_the_retention_and_what_pins_need(connect: Connect) -> None:
    fs = connect(retention="0s").feature_store
    unpinned = fs.create_feature_group("unpinned", primary_key=["id"], event_time="ts")
    pinned = fs.create_feature_group("pinned", primary_key=["id"], event_time="ts")
    for hour in range(4):
        unpinned.insert(hourly(hour))
        pinned.insert(hourly(hour))
    view = fs.create_feature_view("v", query=pinned.select_all())
    dataset = view.create_training_data()  # pins commit 3 of "pinned"

    free, held = run(unpinned), run(pinned)

    # Without pins, log entries older than the retention go, up to the new checkpoint.
    assert free.table is not None and free.table.log_retention == dt.timedelta(0)
    assert [c.id for c in unpinned.commits()] == [free.table.checkpoint]
    with pytest.raises(NotFoundError, match="has no version 1"):
        unpinned.read(as_of=1)
    # A pin keeps the log back to its commit (in whole days), so that commit still loads.
    assert held.table is not None and held.table.log_retention == dt.timedelta(days=1)
    assert [c.id for c in pinned.commits()][:4] == [0, 1, 2, 3]
    assert view.verify_training_data(dataset).matches
    for fg in (unpinned, pinned):
        fg.insert(hourly(4))
        assert len(fg.read()) == 5 * KEYS


def test_retention_keeps_every_version_readable_by_id_and_time(connect: Connect) -> None:
    fs = connect(retention="7d").feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    times = {}
    for hour in range(5):
        fg.insert(hourly(hour))
        times[hour] = dt.datetime.now(dt.UTC)  # after commit `hour`, before the next one
    before = {v: rows(fg.read(as_of=v)) for v in range(5)}

    done = run(fg)

    assert done.table is not None
    assert done.table.files_compacted == 5 and done.table.files_deleted == 0
    for v in range(5):
        pd.testing.assert_frame_equal(rows(fg.read(as_of=v)), before[v])
        pd.testing.assert_frame_equal(rows(fg.read(as_of=times[v])), before[v])


def test_a_retention_beyond_the_delta_defaults_is_set_on_the_table(connect: Connect) -> None:
    fs = connect(retention="45d").feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    for hour in range(3):
        fg.insert(hourly(hour))

    run(fg)
    fg.insert(hourly(3))

    # Checkpoints drop tombstones after deletedFileRetentionDuration and the log cleanup
    # entries after logRetentionDuration (a week, 30 days): both must cover the retention.
    configuration = fg._offline._open(fg._offline_table).metadata().configuration
    wanted = f"interval {45 * 86_400} seconds"
    assert configuration["delta.deletedFileRetentionDuration"] == wanted
    assert configuration["delta.logRetentionDuration"] == wanted
    assert configuration["delta.enableChangeDataFeed"] == "true"
    # delta-rs' automatic checkpoints would otherwise clean the log up by themselves.
    assert configuration["delta.enableExpiredLogCleanup"] == "false"
    latest = fg._offline.version(fg._offline_table)
    assert len(fg.read_changes(0, latest)) == 4 * KEYS
    assert fg._online.watermark(fg._online_table) == latest


def test_dry_run_changes_nothing(connect: Connect) -> None:
    fs = connect(retention="0s").feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    for hour in range(4):
        fg.insert(hourly(hour))

    planned = run(fg, dry_run=True)

    assert planned.table is not None and planned.table.dry_run
    assert (planned.table.files_before, planned.table.files_after) == (4, 1)
    assert planned.table.commits == () and planned.table.checkpoint is None
    assert len(fg.commits()) == 4 and data_files(fg) == 4
    assert not rows(fg.read(as_of=0)).empty


def test_online_watermark_follows_maintenance_commits(connect: Connect) -> None:
    fs = connect(retention="0s").feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    for hour in range(3):
        fg.insert(hourly(hour))

    done = run(fg)

    assert done.table is not None and done.table.commits
    latest = fg._offline.version(fg._offline_table)
    assert latest == done.table.commits[-1]
    # Otherwise promotion checks and verify_online would call the group not materialized.
    assert fg._online.watermark(fg._online_table) == latest
    assert fg.materialize() == []
    fg.insert(hourly(3, value=7.0))
    assert fg.read_online({"id": 1}, return_type="dict")["x"] == 7.0


@pytest.mark.parametrize(
    ("interval", "maintained"), [("3", True), ("0", False)], ids=["every-3", "off"]
)
def test_automatic_maintenance_after_every_interval_commits(
    connect: Connect, interval: str, maintained: bool
) -> None:
    fs = connect(interval=interval).feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    ids = [fg.insert(hourly(hour)).id for hour in range(8)]

    operations = {c.id: c.rows for c in fg.commits()}
    if maintained:
        # Commit 3 was due: maintenance committed right after it, so the ids skip.
        assert ids[:4] == [0, 1, 2, 3] and ids[4] > 4
        assert all(operations[v] == 0 for v in range(4, ids[4]))
        assert data_files(fg) < 8
    else:
        assert ids == list(range(8)) and data_files(fg) == 8
    assert len(fg.read()) == 8 * KEYS


def test_a_failing_automatic_maintenance_does_not_fail_the_insert(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    project = connect(interval="11")
    fs = project.feature_store
    fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
    for hour in range(11):
        fg.insert(hourly(hour))
    view = fs.create_feature_view("v", query=fg.select_all())
    view.create_training_data()  # pins commit 10, which maintenance loads from the whole log
    log = Path(project.settings.offline_url) / fg._offline_table / "_delta_log"
    (log / f"{1:020d}.json").write_text("not json\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="fti.feature_store.maintenance"):
        commit = fg.insert(hourly(11))

    assert commit is not None and commit.id == 11
    assert "maintenance of FeatureGroup(name='g', version=1) after commit 11 failed" in caplog.text
    assert fg._offline.version(fg._offline_table) == 11  # nothing was compacted
    assert len(fg.read()) == 12 * KEYS


def test_maintenance_is_skipped_while_another_process_holds_it(connect: Connect) -> None:
    project = connect()
    fg = project.feature_store.create_feature_group("g", primary_key=["id"], event_time="ts")
    fg.insert(hourly(0))
    fg.insert(hourly(1))
    project.metadata_store.lock(
        project.name, f"maintenance/{fg._offline_table}", "other", dt.timedelta(minutes=5)
    )

    done = run(fg)

    assert done.table is None and done.skipped == "another process is maintaining this group"
    assert data_files(fg) == 2


def test_concurrent_writers_lose_nothing(connect: Connect) -> None:
    maintainer = connect()
    writer = connect()
    fg = maintainer.feature_store.create_feature_group("g", primary_key=["id"], event_time="ts")
    fg.insert(hourly(0))
    batches = 12
    failures: list[BaseException] = []

    def write() -> None:
        group = writer.feature_store.get_feature_group("g")
        try:
            for hour in range(1, batches + 1):
                group.insert(hourly(hour))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    while thread.is_alive():
        run(fg)
    thread.join()
    run(fg)

    assert failures == []
    stored = rows(fg.read())
    expected = rows(pd.concat([hourly(h) for h in range(batches + 1)], ignore_index=True))
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False)
    assert data_files(fg) == 1


def test_maintenance_on_object_storage_keeps_pins_and_deletes_the_rest(
    tmp_path: Path, s3_url: str
) -> None:
    with fti.connect(
        tmp_path / "home", "p", offline_url=s3_url, time_travel_retention="0s"
    ) as project:
        fs = project.feature_store
        fg = fs.create_feature_group("g", primary_key=["id"], event_time="ts")
        for hour in range(3):
            fg.insert(hourly(hour))
        view = fs.create_feature_view("v", query=fg.select_all())
        pinned = view.create_training_data()
        fg.insert(hourly(2, value=-1.0))  # rewrites the file of hour 2: only commit 2 needs it
        fg.insert(hourly(3))

        done = run(fg)

        assert done.pinned == (2,) and done.table is not None
        assert (done.table.files_before, done.table.files_after) == (4, 1)
        assert done.table.files_deleted > 0
        assert view.verify_training_data(pinned).matches
        with pytest.raises(NotFoundError, match="data files are gone"):
            fg.read(as_of=3)
        assert len(fg.read()) == 4 * KEYS
