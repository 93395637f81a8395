"""``fti feature-groups show``: statistics with estimated distinct counts marked."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import fti
from fti.cli.main import app
from fti.feature_store.statistics import EXACT_DISTINCT_ROWS


def show(home: Path) -> str:
    result = CliRunner().invoke(
        app,
        ["--home", str(home), "--project", "p", "feature-groups", "show", "g"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    return result.output


def statistics_row(output: str, feature: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0] == feature and len(cells) == 8:
            return cells
    raise AssertionError(f"no statistics row for {feature!r} in:\n{output}")


def insert(home: Path, rows: int) -> None:
    with fti.connect(home, "p") as project:
        fg = project.feature_store.create_feature_group("g", primary_key=["id"])
        fg.insert(pd.DataFrame({"id": np.arange(rows), "label": (np.arange(rows) % 3).astype(str)}))


def test_exact_distinct_counts_are_shown_plain(tmp_path: Path) -> None:
    insert(tmp_path, 1_800)

    output = show(tmp_path)

    assert statistics_row(output, "id")[-1] == "1,800"
    assert statistics_row(output, "label")[-1] == "3"
    assert "~" not in output


def test_estimated_distinct_counts_are_marked(tmp_path: Path) -> None:
    rows = EXACT_DISTINCT_ROWS + 1
    insert(tmp_path, rows)

    output = show(tmp_path)

    distinct = statistics_row(output, "id")[-1]
    assert distinct.startswith("~")
    assert int(distinct[1:].replace(",", "")) <= rows
    assert statistics_row(output, "label")[-1] == "3"  # strings stay exact
    assert "~ an estimate" in output
