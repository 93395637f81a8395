"""``fti verify VIEW``: compare online feature vectors with offline values (exit 1 on skew, or
when a feature had no value to compare)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from fti import clock
from fti.cli.context import console, open_project
from fti.errors import ConfigError


def verify(
    ctx: typer.Context,
    view: str,
    version: Annotated[int | None, typer.Option(help="View version (default: latest).")] = None,
    sample: Annotated[int, typer.Option(help="How many keys to compare.")] = 1000,
    training_dataset: Annotated[
        int | None, typer.Option(help="Training dataset whose transformation state to use.")
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="The time online and offline are compared at (ISO 8601; naive means UTC), "
            f"as ${clock.ENV} sets it; default: ${clock.ENV}, else the wall clock."
        ),
    ] = None,
    request_param: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=VALUE given to every sampled entry, for on-demand features (repeatable; "
            "VALUE is read as JSON, else kept as text)."
        ),
    ] = None,
) -> None:
    """Audit a view for training-serving skew (exit 1 on skew or on an uncompared feature).

    Exit code 1 when any value differs, or when a feature had no value on either side to
    compare (often the clock: pass --now with a time inside the data).
    """
    parameters = _parameters(request_param or [])
    with _clock(now), open_project(ctx) as project:
        fv = project.feature_store.get_feature_view(view, version)
        audit = fv.verify_online(sample, training_dataset, request_parameters=parameters)
        at = clock.now().isoformat()
        table = Table(title=f"Online vs offline as of {at}, {audit.checked} keys of {fv.name}")
        for column in ("feature", "compared", "null online", "null offline", "mismatches"):
            table.add_column(column, justify="left" if column == "feature" else "right")
        table.add_column("likely cause")
        causes = audit.causes()
        for feature, count in audit.by_feature().items():
            coverage = audit.coverage.get(feature)
            style = "red" if count else "green"
            compared = coverage.compared if coverage else 0
            table.add_row(
                feature,
                f"[{'yellow' if not compared else 'default'}]{compared}[/]",
                f"{coverage.null_online:.0%}" if coverage else "",
                f"{coverage.null_offline:.0%}" if coverage else "",
                f"[{style}]{count}[/]",
                causes.get(feature, ""),
            )
        console.print(table)
        uncompared = audit.uncompared()
        if uncompared:
            console.print(
                f"[yellow]Not compared: {', '.join(uncompared)} had no value online or offline "
                f"for any of the {audit.checked} keys (null on both sides as of {at}). If the "
                f"data is older than a join's ttl, pass --now with a time the data covers.[/]"
            )
        if not audit.ok:
            console.print(f"[red]Skew: {len(audit.mismatches)} value(s) differ.[/]")
        if uncompared or not audit.ok:
            raise typer.Exit(1)
        console.print("[green]No skew: every online value equals the offline value.[/]")


def _parameters(values: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` options as a mapping; VALUE is JSON (``10``, ``1.5``, ``"a"``) or text."""
    parameters: dict[str, Any] = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--request-param")
        try:
            parameters[name] = json.loads(text)
        except json.JSONDecodeError:
            parameters[name] = text
    return parameters


@contextmanager
def _clock(now: str | None) -> Iterator[None]:
    """Serving reads "now" from ``fti.clock``: ``$FTI_NOW`` is set for the command's duration."""
    if now is None:
        yield
        return
    previous = os.environ.get(clock.ENV)
    os.environ[clock.ENV] = now
    try:
        try:
            clock.now()
        except ConfigError as exc:
            raise typer.BadParameter(
                f"{now!r} is not an ISO 8601 time", param_hint="--now"
            ) from exc
        yield
    finally:
        if previous is None:
            os.environ.pop(clock.ENV, None)
        else:
            os.environ[clock.ENV] = previous
