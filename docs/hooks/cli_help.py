"""MkDocs hook: the command-line page shows each command's ``--help`` as this fti prints it.

A line ``<!-- fti-help: monitor run -->`` is replaced, when the site is built, by a text block
holding the output of ``fti monitor run --help`` (``<!-- fti-help: -->`` is ``fti --help``).
The page cannot go stale: the help is rendered from the code at every build, a marker naming
no command fails the build, and so does a command of the CLI that ``cli.md`` has no marker for
(mkdocs counts the warning under ``--strict``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

PAGE = "cli.md"
MARKER = re.compile(r"^<!-- fti-help:(?P<command>[a-z0-9 -]*)-->[ \t]*$", re.MULTILINE)
WIDTH = 80
"""Columns of the rendered help: what fits the site's code blocks (and a classic terminal)."""
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

log = logging.getLogger("mkdocs.hooks.cli_help")


def commands() -> list[tuple[str, ...]]:
    """Every command of the fti CLI as its words: ``()`` (fti itself), ``("models",)``,
    ``("models", "list")``..., groups before their commands."""
    import typer

    from fti.cli.main import app

    found: list[tuple[str, ...]] = []

    # Typer ships its own copy of click: its commands are not click's classes, hence the
    # duck typing (a group is a command that lists commands).
    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        if hasattr(command, "list_commands"):
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def help_text(path: tuple[str, ...]) -> str:
    """What ``fti <path> --help`` prints, without colours or trailing spaces."""
    from typer.testing import CliRunner

    from fti.cli.main import app

    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"fti {' '.join(path)} --help failed: {result.output}")
    lines = [line.rstrip() for line in _ANSI.sub("", result.output).splitlines()]
    return "\n".join(lines).strip("\n")


def markers(markdown: str) -> list[tuple[str, ...]]:
    """The commands whose help a page asks for, in page order."""
    return [tuple(m["command"].split()) for m in MARKER.finditer(markdown)]


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Replace each marker by the help of its command (only on the command-line page)."""
    if page.file.src_uri != PAGE:
        return markdown
    from mkdocs.exceptions import PluginError

    known = commands()
    unknown = [" ".join(c) for c in markers(markdown) if c not in known]
    if unknown:
        raise PluginError(f"{PAGE} asks for the help of unknown command(s): {', '.join(unknown)}")
    absent = [" ".join(("fti", *c)) for c in known if c not in markers(markdown)]
    if absent:
        log.warning("%s has no <!-- fti-help: ... --> line for: %s", PAGE, ", ".join(absent))

    def render(match: re.Match[str]) -> str:
        return f"```text\n{help_text(tuple(match['command'].split()))}\n```"

    return MARKER.sub(render, markdown)
