"""MkDocs hook: the "Decisions (ADRs)" section of the navigation lists every ``docs/adr/*.md``.

ADRs are added by whoever makes a decision; listing them here by file name keeps each one on
the site without an edit of ``mkdocs.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SECTION = "Decisions (ADRs)"


def on_config(config: Any, **kwargs: Any) -> Any:
    """Fill the ADR section of ``nav`` with the ADR files, in number order."""
    folder = Path(config["docs_dir"]) / "adr"
    pages = [f"adr/{path.name}" for path in sorted(folder.glob("*.md"))]
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and SECTION in entry:
            entry[SECTION] = pages
    return config
