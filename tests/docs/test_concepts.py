"""Docs are code: the Python blocks of README.md and docs/concepts.md run, asserts included.

The blocks of one document run in order in one namespace, as a reader would type them, in a
fresh fti home (``FTI_HOME`` and the working directory under ``tmp_path``, no other ``FTI_*``
variable). Each block is compiled with its line number in the Markdown file, so a traceback
points at the line of the document that failed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

import fti

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "docs/concepts.md"]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown file, each with the line its code starts on."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in FENCE.finditer(text)
    ]


def test_blocks_are_found() -> None:
    blocks = python_blocks(ROOT / "docs" / "concepts.md")
    assert len(blocks) >= 5
    first_line, code = blocks[0]
    lines = (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8").splitlines()
    assert lines[first_line - 1] == code.splitlines()[0]


@pytest.mark.parametrize("document", DOCUMENTS, ids=DOCUMENTS)
def test_python_blocks_run(document: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FTI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FTI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = ROOT / document
    blocks = python_blocks(path)
    assert blocks, f"{document} has no python block"
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    try:
        for line, code in blocks:
            # Leading newlines put the code at its own line numbers in tracebacks.
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    finally:
        for value in namespace.values():
            if isinstance(value, fti.Project):
                value.close()
