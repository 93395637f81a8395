"""``fti ui`` through the real command: it opens on the home's project, serves its pages on
loopback without sign-in, stops cleanly, and refuses a home or project that is not there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import fti

FTI = str(Path(sys.executable).with_name("fti"))


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FTI_")} | {"COLUMNS": "200"}


def test_fti_ui_serves_the_only_project_of_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with fti.connect(home, "shop") as project:
        project.feature_store.create_feature_group(
            "orders", primary_key=["id"], description="what customers bought"
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [FTI, "ui", "--home", str(home), "--port", str(port)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            url = f"http://127.0.0.1:{port}/projects/shop"
            assert line.startswith(f"fti ui: open {url} "), line
            page = httpx.get(url)
            assert page.status_code == 200 and "what customers bought" in page.text
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode == 0


@pytest.mark.parametrize("project", [None, "absent"])
def test_fti_ui_refuses_what_is_not_there(tmp_path: Path, project: str | None) -> None:
    home = tmp_path / "home"
    if project is not None:
        with fti.connect(home, "shop") as opened:
            opened.feature_store.create_feature_group("orders", primary_key=["id"])
    else:
        home = tmp_path / "nothing"
    done = subprocess.run(
        [FTI, "ui", "--home", str(home), *(["--project", project] if project else [])],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
    )
    assert done.returncode == 2, done
    assert done.stderr.startswith("error:")
    expected = (
        "project 'absent' does not exist; projects there: shop"
        if project
        else f"no fti metadata store at {home}"
    )
    assert expected in done.stderr, done.stderr
    assert not (tmp_path / "nothing").exists()
