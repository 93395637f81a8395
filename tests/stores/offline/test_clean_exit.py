"""A process that reads a table and uses the Arrow result exits 0, every time.

Arrow's I/O threads once read Delta files through a Python filesystem and were killed inside
C++ frames at interpreter exit (exit 134 in about 5 % of runs): only fresh processes, many of
them, show it.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import fti

RUNS = 30
SCRIPT = """
import sys
import pyarrow.compute as pc
import fti

with fti.connect(sys.argv[1], "p") as project:
    table = project.feature_store.get_feature_group("history").read(return_type="pyarrow")
    print(pc.max(table.column("delay")).as_py(), table.num_rows)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A group of many small commits (many Parquet files), like the demo's aircraft history."""
    home = tmp_path_factory.mktemp("home")
    t0 = dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
    with fti.connect(home, "p") as project:
        group = project.feature_store.create_feature_group(
            "history", primary_key=["tail"], event_time="t", statistics=False
        )
        for day in range(40):
            group.insert(
                pd.DataFrame(
                    {
                        "tail": [f"N{i}" for i in range(50)],
                        "t": [t0 + dt.timedelta(days=day, minutes=i) for i in range(50)],
                        "delay": [float(day * 50 + i) for i in range(50)],
                    }
                )
            )
    return home


@pytest.mark.slow
def test_reading_a_table_in_fresh_processes_always_exits_zero(home: Path) -> None:
    def run(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", SCRIPT, str(home)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, range(RUNS)))

    failed = [(r.returncode, r.stderr[-300:]) for r in results if r.returncode != 0]
    assert not failed, f"{len(failed)} of {RUNS} runs failed: {failed[:3]}"
    assert all(r.stdout.split() == ["1999.0", "2000"] for r in results)
