"""The documentation site builds offline with ``mkdocs build --strict``, and the build's own code
(docs/hooks/) does what the pages rely on: every CLI command's help, the docstrings' reST as
Markdown."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def hook(name: str) -> ModuleType:
    """A module of docs/hooks/, imported from its file as mkdocs does."""
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", ROOT / "docs/hooks" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_site_builds_strict_without_warnings(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "WARNING" not in log, log
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in home  # the site opens offline too
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "Usage: fti monitor run [OPTIONS]" in cli and "fti-help:" not in cli
    reference = (site / "reference" / "feature-store" / "index.html").read_text(encoding="utf-8")
    assert "create_feature_group" in reference
    transformations = (site / "reference" / "transformations" / "index.html").read_text("utf-8")
    assert "<table>" in transformations and "====" not in transformations
    adrs = sorted(p.stem for p in (ROOT / "docs" / "adr").glob("*.md"))
    assert all((site / "adr" / stem / "index.html").is_file() for stem in adrs)


def test_cli_page_asks_for_every_command() -> None:
    cli_help = hook("cli_help.py")
    page = (ROOT / "docs" / cli_help.PAGE).read_text(encoding="utf-8")
    commands = cli_help.commands()
    assert ("monitor", "list") in commands and ("verify",) in commands
    assert sorted(cli_help.markers(page)) == sorted(commands)


def test_cli_help_is_plain_text() -> None:
    text = hook("cli_help.py").help_text(("predict", "batch"))
    assert text.lstrip().startswith("Usage: fti predict batch [OPTIONS]")
    assert "--model" in text and "\x1b[" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize(
    ("docstring", "markdown"),
    [
        ("An :class:`~fti.errors.SchemaError`.", "An `SchemaError`."),
        ("See :func:`fti.connect` and :py:data:`X`.", "See `fti.connect` and `X`."),
        ("A tree::\n\n    a\n    b", "A tree:\n\n    a\n    b"),
        ("Before\n\n::\n\n    code", "Before\n\n\n\n    code"),
        (
            "T:\n\n=====  ====\nname   what\n=====  ====\na      one\n       more\nb|c    two\n"
            "=====  ====\nafter",
            "T:\n\n\n| name | what |\n| --- | --- |\n| a | one more |\n| b\\|c | two |\n\nafter",
        ),
        ("No reST here: a ``literal``.", "No reST here: a ``literal``."),
    ],
    ids=["role-tilde", "roles-full", "literal-marker", "bare-marker", "simple-table", "plain"],
)
def test_docstrings_become_markdown(docstring: str, markdown: str) -> None:
    assert hook("griffe_rest.py").to_markdown(docstring) == markdown
