"""Docs are code: every Python block of README.md and of each page under docs/ runs, asserts
included.

The blocks of one page run in order in one namespace, as a reader would type them, in a fresh
fti home: ``FTI_HOME`` under ``tmp_path``, no other ``FTI_*`` variable, and ``tmp_path`` as the
working directory with a link to the repository's ``examples/`` (a reader runs the demo from a
checkout). Each block is compiled with its line number in the Markdown file, so a traceback
points at the line of the page that failed. What a page changes in the environment,
``sys.path`` and ``sys.modules`` is undone afterwards.

A block fenced as ```` ```python {.no-run} ```` is shown but not run: for code that needs
what a test cannot provide (docs/writing-docs.md says when). Any other ```` ```python ````
fence must be exactly that, so that no block is skipped by accident.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fti

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(
    r"^```python(?P<attributes>[ \t]*\{[^}\n]*\})?[ \t]*\n(?P<code>.*?)^```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
NO_RUN = ".no-run"
PYTHON_OPENER = re.compile(r"^[ \t]*```[ \t]*(py|python)\b.*$", re.MULTILINE)
"""Any line opening a Python fence, whatever follows: each must be one FENCE understands."""


def documents() -> list[str]:
    """README.md and every Markdown page under docs/, as paths relative to the repository."""
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))
    return ["README.md", *pages]


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """The ```python blocks of a Markdown file: the line the code starts on, the code, and
    whether it runs (not marked ``{.no-run}``)."""
    text = path.read_text(encoding="utf-8")
    return [
        (
            text.count("\n", 0, match.start("code")) + 1,
            match["code"],
            NO_RUN not in (match["attributes"] or "").strip(" \t{}").split(),
        )
        for match in FENCE.finditer(text)
    ]


def runnable(document: str) -> list[tuple[int, str]]:
    """The blocks of ``document`` that run, in page order."""
    return [(line, code) for line, code, runs in python_blocks(ROOT / document) if runs]


RUNNABLE = [d for d in documents() if runnable(d)]


def test_blocks_are_found() -> None:
    blocks = python_blocks(ROOT / "docs" / "concepts.md")
    assert len(blocks) >= 5
    first_line, code, runs = blocks[0]
    lines = (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8").splitlines()
    assert lines[first_line - 1] == code.splitlines()[0]
    assert runs


@pytest.mark.parametrize(
    ("fence", "runs"),
    [
        ("```python\n", True),
        ("```python {.no-run}\n", False),
        ("```python { .no-run }\n", False),
        ("```python {.other}\n", True),
    ],
    ids=["plain", "no-run", "no-run-spaced", "other-class"],
)
def test_no_run_marks_a_block(tmp_path: Path, fence: str, runs: bool) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"Text\n\n{fence}x = 1\n```\n", encoding="utf-8")
    assert python_blocks(page) == [(4, "x = 1\n", runs)]


@pytest.mark.parametrize("document", documents(), ids=documents())
def test_every_python_fence_is_understood(document: str) -> None:
    """A fence the runner does not read (```py, ```python title=..., an indented fence) would
    silently never run: each must be ```python or ```python {.no-run} at the margin."""
    text = (ROOT / document).read_text(encoding="utf-8")
    openers = [m.start() for m in PYTHON_OPENER.finditer(text)]
    understood = {m.start() for m in FENCE.finditer(text)}
    unread = [text.count("\n", 0, at) + 1 for at in openers if at not in understood]
    assert not unread, f"{document}: Python fences at lines {unread} are not run nor no-run"


def test_pages_run_more_than_they_skip() -> None:
    """{.no-run} is for single blocks: every page with Python runs at least one block."""
    skipping = [d for d in documents() if python_blocks(ROOT / d) and not runnable(d)]
    assert not skipping


@pytest.fixture
def reader_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh home and working folder; the environment, sys.path and sys.modules restored."""
    environ, path, modules = dict(os.environ), list(sys.path), set(sys.modules)
    for name in [n for n in os.environ if n.startswith("FTI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FTI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    try:
        yield tmp_path
    finally:
        # A page may set variables itself (os.environ["FTI_NOW"] = ...): monkeypatch only
        # restores what it set, so every variable is put back as it was.
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        for name, value in environ.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if str(getattr(sys.modules[name], "__file__", "")).startswith(str(ROOT / "examples")):
                del sys.modules[name]


@pytest.mark.parametrize("document", RUNNABLE, ids=RUNNABLE)
def test_python_blocks_run(document: str, reader_session: Path) -> None:
    path = ROOT / document
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    try:
        for line, code in runnable(document):
            # Leading newlines put the code at its own line numbers in tracebacks.
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    finally:
        for value in namespace.values():
            if isinstance(value, fti.Project):
                value.close()
