"""A live fti server of the CLI tests, and how to call fti against it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner, Result

from fti.cli.main import app


@dataclass(frozen=True)
class LiveServer:
    """An fti server at ``url`` over the metadata database of ``home``."""

    url: str
    home: Path


def fti(*args: str, stdin: str | None = None) -> Result:
    """``fti ARGS`` in-process, with standard output and error apart."""
    return CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})


def bootstrap(server: LiveServer, name: str = "root") -> str:
    """The key of the first admin ``name``."""
    result = fti("--home", str(server.home), "admin", "bootstrap", name)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def remote(server: LiveServer, key: str, *args: str, stdin: str | None = None) -> Result:
    """``fti ARGS`` against ``server`` with ``key``."""
    return fti(*args, "--url", server.url, "--api-key", key, stdin=stdin)
