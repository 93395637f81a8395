"""Feature groups and views with their offline store on S3 (a real S3 API on loopback) behave as
on local disk: inserts, reads, time travel, point-in-time training data read through the local
cache, verification and batch data; an insert cut off from S3 leaves nothing visible."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fti
from support.tcp_proxy import proxied

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture(params=["local", "s3"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[fti.Project]:
    """A project whose offline store is a local folder, then a prefix on S3."""
    offline = (
        str(tmp_path / "offline") if request.param == "local" else request.getfixturevalue("s3_url")
    )
    with fti.connect(
        tmp_path / "home",
        "p",
        offline_url=offline,
        online_url=f"sqlite:///{tmp_path / 'online.db'}",
        cache_dir=str(tmp_path / "cache"),
    ) as opened:
        yield opened


def test_groups_and_views_work_alike_on_local_disk_and_s3(
    project: fti.Project, tmp_path: Path
) -> None:
    fs = project.feature_store
    flights = fs.create_feature_group("flights", primary_key=["fid"], event_time="p")
    flights.insert(
        pd.DataFrame(
            {
                "fid": list(range(1, 9)),
                "p": [at(h) for h in range(1, 9)],
                "origin": ["EWR", "JFK", "EWR", "LGA", "JFK", "EWR", "JFK", "EWR"],
                "late": [True, False, True, False, True, False, True, False],
            }
        )
    )
    weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="t")
    weather.insert(
        pd.DataFrame(
            {
                "origin": ["EWR", "JFK", "EWR", "JFK", "LGA"],
                "t": [at(0), at(0.5), at(4), at(6), at(3.5)],
                "temp": [1.0, 2.0, 3.0, 4.0, 5.0],
            }
        )
    )
    weather.insert(pd.DataFrame({"origin": ["LGA"], "t": [at(3.5)], "temp": [50.0]}))

    # Reads, time travel, changes and commits come from the Delta log on either store.
    assert sorted(weather.read()["temp"]) == [1.0, 2.0, 3.0, 4.0, 50.0]
    assert sorted(weather.read(as_of=0)["temp"]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert sorted(weather.read(as_of=weather.commits()[0].time)["temp"]) == [1, 2, 3, 4, 5]
    assert weather.read_changes(1)["temp"].tolist() == [50.0]
    assert [c.id for c in weather.commits()] == [0, 1]

    view = fs.create_feature_view(
        "delays",
        query=flights.select(["origin", "late"]).join(weather.select(["temp"]), on=["origin"]),
        labels=["late"],
    )
    version = view.create_training_data()
    x, y = view.get_training_data(version, primary_key=True)
    as_of = dict(zip(x["fid"], x["temp"], strict=True))
    assert as_of == {1: 1.0, 2: 2.0, 3: 1.0, 4: 50.0, 5: 2.0, 6: 3.0, 7: 4.0, 8: 3.0}
    assert y.tolist() == [True, False, True, False, True, False, True, False]

    # A later insert changes new training data, not the pinned dataset.
    weather.insert(pd.DataFrame({"origin": ["EWR"], "t": [at(7.5)], "temp": [9.0]}))
    assert view.verify_training_data(version).matches
    x2, _ = view.get_training_data(view.create_training_data(), primary_key=True)
    assert dict(zip(x2["fid"], x2["temp"], strict=True))[8] == 9.0

    batch = view.get_batch_data(start_time=at(5), end_time=at(9), primary_key=True)
    assert sorted(zip(batch["fid"], batch["temp"], strict=True)) == [
        (5, 2.0),
        (6, 3.0),
        (7, 4.0),
        (8, 9.0),
    ]
    spine = pd.DataFrame({"fid": [6, 1, 8], "p": [at(7), at(1), at(8)]})
    assert view.get_batch_data(spine=spine)["temp"].tolist() == [3.0, 1.0, 9.0]

    # DuckDB read local copies of the remote files only.
    copies = [p for p in (tmp_path / "cache").rglob("*.parquet")]
    remote = not project.offline_store.location.is_local
    assert bool(copies) == remote

    weather.delete()
    assert project.offline_store.version("p/weather_v1") is None


@pytest.mark.slow
def test_an_insert_cut_off_from_s3_leaves_nothing_visible_and_the_next_try_succeeds(
    s3_endpoint: str, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 300_000
    batch = pd.DataFrame(
        {
            "id": np.arange(rows),
            "t": pd.Timestamp(at(1)),
            "x": np.ones(rows),
            "s": np.where(np.arange(rows) % 2 == 0, "even", "odd"),
        }
    )
    with proxied(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with fti.connect(
            tmp_path / "home",
            "p",
            offline_url=s3_url,
            online_url=f"sqlite:///{tmp_path / 'online.db'}",
            cache_dir=str(tmp_path / "cache"),
        ) as project:
            fs = project.feature_store
            reference = fs.create_feature_group("reference", primary_key=["id"], event_time="t")
            start = time.perf_counter()
            reference.insert(batch)
            seconds = time.perf_counter() - start

            failed, unchanged = [], []
            # Cut at several moments of an insert: each fails with a StoreError or commits, and
            # leaves every store either as it was or with the whole batch, never a part of it.
            for share in (0.2, 0.5, 0.8):
                name = f"events_{int(share * 10)}"
                group = fs.create_feature_group(name, primary_key=["id"], event_time="t")
                group.insert(pd.DataFrame({"id": [0], "t": [at(0)], "x": [0.0], "s": ["z"]}))
                timer = threading.Timer(seconds * share, proxy.cut)
                timer.start()
                try:
                    group.insert(batch)
                except fti.StoreError as exc:
                    failed.append(share)
                    assert "cannot be reached" in str(exc)
                finally:
                    timer.join()
                    proxy.restore()
                committed = len(group.read())
                assert committed in (1, rows + 1)
                if failed and failed[-1] == share and committed == 1:
                    unchanged.append(share)
                assert [c.id for c in group.commits()] == ([0] if committed == 1 else [0, 1])
                first, last = (group.read_online(k, return_type="dict") for k in (0, rows - 1))
                if committed == 1:
                    assert first["x"] == 0.0 and last is None
                else:
                    # The online rows of a commit whose insert failed after it are replayed by
                    # the next insert; they are never half written.
                    assert (first["x"], last) == (0.0, None) or (first["x"], last["x"]) == (1, 1)
                if failed and failed[-1] == share:
                    group.insert(batch)  # the store is back: the same insert goes through
                assert len(group.read()) == rows + 1
                assert group.read_online(0, return_type="dict")["x"] == 1.0
                assert group.read_online(rows - 1, return_type="dict")["s"] == "odd"
            assert unchanged, f"no cut fell before a commit: {failed} of {seconds:.2f} s failed"
