"""``fti info``: each store of the configuration, reachable or not, secrets hidden."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import fti
from fti.cli.main import app


def invoke(home: Path, monkeypatch: pytest.MonkeyPatch, **urls: str) -> tuple[int, str]:
    for name, url in urls.items():
        monkeypatch.setenv(f"FTI_{name.upper()}", url)
    monkeypatch.setenv("COLUMNS", "400")  # whole URLs in the table
    result = CliRunner().invoke(app, ["--home", str(home), "info"])
    return result.exit_code, result.output


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rows(output: str) -> dict[str, list[str]]:
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells and cells[0] in ("metadata", "online", "offline", "artifacts"):
            found[cells[0]] = cells
    return found


def test_an_embedded_project_is_reachable_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fti.connect(tmp_path, "p") as project:
        project.feature_store.create_feature_group("g", primary_key=["k"]).insert(
            pd.DataFrame({"k": [1]})
        )

    code, output = invoke(tmp_path, monkeypatch)

    assert code == 0, output
    table = rows(output)
    assert set(table) == {"metadata", "online", "offline", "artifacts"}
    assert all(cells[2] == "yes" for cells in table.values())
    assert table["metadata"][3].startswith("SQLite")
    assert "deltalake" in output and "pyarrow" in output


def test_an_unreachable_store_exits_1_and_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"redis://:s3cr3t-pw@127.0.0.1:{closed_port()}/0"

    code, output = invoke(tmp_path, monkeypatch, online_url=url)

    assert code == 1
    assert rows(output)["online"][2] == "no"
    assert "s3cr3t-pw" not in output and "***" in output
    assert not tmp_path.joinpath("metadata.db").exists()  # nothing created


def test_object_storage_is_listed_and_a_missing_bucket_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_url: str
) -> None:
    code, output = invoke(tmp_path, monkeypatch, offline_url=s3_url, artifacts_url=s3_url)

    assert code == 0, output
    assert rows(output)["offline"][1] == s3_url and rows(output)["offline"][2] == "yes"

    code, output = invoke(tmp_path, monkeypatch, offline_url="s3://no-such-bucket-fti/x")

    assert code == 1
    assert rows(output)["offline"][2] == "no"
