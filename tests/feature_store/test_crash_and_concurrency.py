"""Processes: concurrent inserts into one group, and a process killed in the middle of one."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import fti


@pytest.fixture
def fg(project: fti.Project) -> fti.FeatureGroup:
    return project.feature_store.create_feature_group(
        "events",
        primary_key=["id"],
        features=[fti.Feature("id", "int64"), fti.Feature("x", "float64")],
    )


def _insert_batches(home: str, project: str, online_url: str, worker: int, batches: int) -> None:
    with fti.connect(home, project, online_url=online_url) as p:
        fg = p.feature_store.get_feature_group("events")
        for b in range(batches):
            ids = [worker * 10_000 + b * 100 + i for i in range(100)]
            fg.insert(pd.DataFrame({"id": ids, "x": [float(worker)] * 100}))


def test_two_processes_insert_concurrently_without_losing_rows(
    tmp_path: Path, online_url: str, project: fti.Project, fg: fti.FeatureGroup
) -> None:
    home = str(project.settings.home)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_insert_batches, args=(home, project.name, online_url, w, 5))
        for w in (1, 2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=180)
        assert w.exitcode == 0
    rows = fg.read()
    assert len(rows) == 1000 and rows["id"].is_unique
    assert len(fg.commits()) == 10
    online = fg.read_online(rows["id"].tolist(), return_type="list")
    assert all(row is not None for row in online)


def _first_insert(
    home: str, project: str, online_url: str, worker: int, start: Any, results: Any
) -> None:
    with fti.connect(home, project, online_url=online_url) as p:
        fg = p.feature_store.get_feature_group("events")
        # Key 0 in every batch: the racing writes must still upsert it to one row.
        data = pd.DataFrame({"id": [0, 100 + worker], "x": [float(worker)] * 2})
        start.wait(timeout=120)
        commit = fg.insert(data)
        results.put((worker, commit.id if commit else None))


def test_racing_first_inserts_return_the_versions_holding_their_rows(
    tmp_path: Path, online_url: str, project: fti.Project, fg: fti.FeatureGroup
) -> None:
    writers = 4
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(writers), context.Queue()
    home = str(project.settings.home)
    processes = [
        context.Process(
            target=_first_insert, args=(home, project.name, online_url, w, start, results)
        )
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
        assert process.exitcode == 0
    returned = dict(results.get(timeout=10) for _ in range(writers))

    assert sorted(returned.values()) == list(range(writers))
    for worker, commit_id in returned.items():
        changes = fg.read_changes(commit_id, commit_id)
        assert sorted(changes["id"]) == [0, 100 + worker], worker
        assert fg.statistics(commit_id)["id"].count == 2
    rows = fg.read()
    assert sorted(rows["id"]) == [0, *range(100, 100 + writers)]
    last = max(returned, key=lambda w: returned[w])
    assert rows.set_index("id").loc[0, "x"] == float(last)
    assert fg.read_online(0, return_type="dict") == {"id": 0, "x": float(last)}


KILLED_INSERT = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    import fti
    from fti.feature_store import ingest

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # after the offline commit, before the online write

    home, project, online_url = sys.argv[1:4]
    with fti.connect(home, project, online_url=online_url) as p:
        fg = p.feature_store.get_feature_group("events")
        ingest.write_online = die
        fg.insert(pd.DataFrame({"id": [1, 2], "x": [10.0, 20.0]}))
    """
)


def test_sigkill_between_offline_and_online_is_repaired(
    tmp_path: Path, online_url: str, project: fti.Project, fg: fti.FeatureGroup
) -> None:
    fg.insert(pd.DataFrame({"id": [1], "x": [1.0]}))
    script = tmp_path / "killed.py"
    script.write_text(KILLED_INSERT)
    home = str(project.settings.home)
    done = subprocess.run(
        [sys.executable, str(script), home, project.name, online_url], check=False, timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    assert len(fg.read()) == 2  # the offline commit landed and the table is readable
    assert fg.read_online(2, return_type="dict") is None
    fg.insert(pd.DataFrame({"id": [3], "x": [30.0]}))
    assert fg.read_online(2, return_type="dict") == {"id": 2, "x": 20.0}
    assert fg.read_online(1, return_type="dict") == {"id": 1, "x": 10.0}


KILLED_MIDWAY = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pandas as pd
    import fti

    home, project, online_url, ready = sys.argv[1:5]
    with fti.connect(home, project, online_url=online_url) as p:
        fg = p.feature_store.get_feature_group("events")
        data = pd.DataFrame({"id": np.arange(2_000_000), "x": np.ones(2_000_000)})
        open(ready, "w").close()
        fg.insert(data)
    """
)


@pytest.mark.slow
def test_sigkill_at_a_random_moment_leaves_a_readable_group(
    tmp_path: Path, online_url: str, project: fti.Project, fg: fti.FeatureGroup
) -> None:
    fg.insert(pd.DataFrame({"id": [1], "x": [1.0]}))
    script = tmp_path / "midway.py"
    script.write_text(KILLED_MIDWAY)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(project.settings.home),
            project.name,
            online_url,
            str(ready),
        ]
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    rows = len(fg.read())
    assert rows in (1, 2_000_000)  # the commit is atomic
    fg.insert(pd.DataFrame({"id": [5], "x": [5.0]}))
    assert fg.read_online(5, return_type="dict") == {"id": 5, "x": 5.0}
    if rows > 1:
        assert fg.read_online(1_999_999, return_type="dict") == {"id": 1_999_999, "x": 1.0}


def _damage(entry: Path, how: str) -> None:
    text = entry.read_bytes()
    entry.write_bytes(text[: len(text) // 2] if how == "truncated" else b"\x00" * len(text))


@pytest.mark.parametrize("how", ["truncated", "zeroed"])
def test_a_damaged_newest_log_entry_is_a_store_error_naming_it(
    project: fti.Project, fg: fti.FeatureGroup, how: str
) -> None:
    for i in range(3):
        fg.insert(pd.DataFrame({"id": [i], "x": [float(i)]}))
    log = Path(project.settings.offline_url) / project.name / "events_v1" / "_delta_log"
    newest = log / f"{2:020d}.json"
    _damage(newest, how)
    # A new process: no handle of the table is cached yet.
    with fti.connect(
        project.settings.home, project.name, online_url=project.settings.online_url
    ) as again:
        group = again.feature_store.get_feature_group("events")
        for action in (group.read, group.commits, lambda: group.read_changes(0)):
            with pytest.raises(
                fti.StoreError, match=rf"{project.name}/events_v1.*{newest.name}"
            ) as info:
                action()
            assert "\n" not in str(info.value)  # no Rust backtrace
        with pytest.raises(fti.StoreError, match=newest.name):
            group.insert(pd.DataFrame({"id": [9], "x": [9.0]}))
        assert sorted(log.glob("*.json")) == [log / f"{v:020d}.json" for v in range(3)]
        assert sorted(group.read(as_of=0)["id"]) == [0]
        assert sorted(group.read(as_of=1)["id"]) == [0, 1]
