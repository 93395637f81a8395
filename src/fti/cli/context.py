"""State shared by the CLI commands: where to connect, and how errors are shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from fti.errors import FtiError

if TYPE_CHECKING:
    from fti.project import Project

console = Console()
errors = Console(stderr=True, soft_wrap=True)


@dataclass
class CliState:
    """Options given before the sub-command."""

    home: Path | None
    project: str | None


@contextmanager
def open_project(ctx: typer.Context, *, create: bool = False) -> Iterator[Project]:
    """Connect with the global options; an FtiError becomes a message and exit code 2.

    Only a command that makes a project (``fti demo``) passes ``create=True``: the others
    never leave a home behind where there was none.
    """
    from fti.project import connect

    state: CliState = ctx.obj
    try:
        with connect(state.home, state.project, create=create) as project:
            yield project
    except FtiError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
