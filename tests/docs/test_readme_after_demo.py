"""The README's "After the demo" commands run as written against the demo's project.

The project is made by the flights pipelines on the real data (as `make demo` makes it, minus
the day-by-day replay and the monitors), then the README's shell block runs in bash from the
repository's folder with the venv's `fti` on PATH, a free port instead of 8000, and
``FTI_HOME`` pointing at the project's home.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import fti

pytest.importorskip("lightgbm")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "flights"))
MARKER = "<!-- tested: after the demo -->"


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split(MARKER, 1)[1]
    match = re.match(r"\s*```bash\n(.*?)```", after, re.DOTALL)
    assert match, f"README.md: a ```bash block must follow {MARKER}"
    return match.group(1)


def test_the_block_activates_the_venv_and_chooses_the_demo_project() -> None:
    lines = readme_block().splitlines()
    assert lines[0] == "source .venv/bin/activate"
    assert "export FTI_PROJECT=flights" in lines


@pytest.mark.slow
# Whole pipelines in subprocesses: their own timeouts bound it, not the suite's 300 s
# (under a load of 18 the team project took 300 s).
@pytest.mark.timeout(900)
def test_readme_commands_work_after_the_demo(tmp_path: Path) -> None:
    import feature_pipeline
    import features as ff
    import training_pipeline

    home = tmp_path / "home"
    frames = ff.build_all()
    with fti.connect(home, "flights") as project:
        feature_pipeline.run(project, *ff.BACKFILL_DAYS, frames, progress=False)
        training_pipeline.main(project)
        last = dt.date(2013, 12, 31)
        feature_pipeline.run(project, last - dt.timedelta(days=1), last, frames, progress=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The block as written, but for where the venv is and which port is free.
    script = readme_block().replace("8000", str(port))
    script = script.replace(
        "source .venv/bin/activate", f'export PATH="{Path(sys.executable).parent}:$PATH"'
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FTI_")}
    environment |= {"FTI_HOME": str(home), "COLUMNS": "200"}

    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "production -> v1" in out  # models list
    assert "training dataset 1" in out  # models show: the lineage tree
    assert "predictions of flight_delays v1 -> flight_delays_predictions" in out
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["model"] == "flight_delays" and len(answer["predictions"]) == 1
    assert answer["errors"] is None
    assert "temp" in answer["expired_features"][0]  # the weather ends on Dec 30
