"""``fti models``: list models, show one version's metrics, lineage and signature, move aliases,
clean up after interrupted saves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from fti.cli.context import console, open_project

if TYPE_CHECKING:
    from fti.model_registry import Model
    from fti.model_registry.registry import UnfinishedVersion

app = typer.Typer(help="Models: versions, metrics, lineage and aliases.", no_args_is_help=True)


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """List every model with its latest version and aliases."""
    with open_project(ctx) as project:
        registry = project.model_registry
        models = registry.list_models()
        table = Table(title=f"Models of project {project.name!r}")
        for column in ("name", "latest", "versions", "aliases", "framework", "feature view"):
            table.add_column(column)
        for model in models:
            aliases = registry.aliases(model.name)
            lineage = model.lineage
            table.add_row(
                model.name,
                str(model.version),
                str(len(registry.get_models(model.name))),
                ", ".join(f"{a} -> v{v}" for a, v in aliases.items()),
                model.framework or "",
                f"{lineage.feature_view} v{lineage.feature_view_version}" if lineage else "",
            )
        console.print(table if models else "No models yet.")
        _print_unfinished(registry.unfinished())


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    alias: Annotated[str | None, typer.Option(help="Alias, e.g. production.")] = None,
) -> None:
    """Show a model version: metrics, lineage as a tree, signature."""
    with open_project(ctx) as project:
        model = project.model_registry.get_model(name, version, alias)
        created = model.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if model.created_at else ""
        state = "" if model.state == "ready" else f"  [red]{model.state}[/]"
        console.print(
            f"[bold]{model.name}[/] v{model.version}{state}  {model.framework}  {created}  "
            f"aliases: {', '.join(model.aliases) or '-'}"
        )
        if model.description:
            console.print(model.description)
        console.print(_metrics(model))
        console.print(_lineage(model))
        if model.signature is not None:
            console.print(_signature(model))
        _print_extras(model)
        _print_unfinished(project.model_registry.unfinished(name))


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: str,
    version: int,
    alias: str,
    force: Annotated[
        bool, typer.Option(help="Move the alias despite failed checks (recorded).")
    ] = False,
) -> None:
    """Point ALIAS at VERSION of NAME, after the promotion checks."""
    with open_project(ctx) as project:
        model = project.model_registry.get_model(name, version)
        overridden = model.set_alias(alias, force=force)
        console.print(f"{name} v{version} is now {alias!r}")
        for problem in overridden:
            console.print(f"[yellow]overridden:[/] {problem}")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS, e.g. flight_delays@production.")],
    force: Annotated[
        bool, typer.Option(help="Move the alias despite failed checks (recorded).")
    ] = False,
) -> None:
    """Move an alias back to the version it pointed to before its current one."""
    name, sep, alias_name = ref.partition("@")
    if not sep or not name or not alias_name:
        raise typer.BadParameter(f"{ref!r} is not NAME@ALIAS", param_hint="REF")
    with open_project(ctx) as project:
        current = project.model_registry.get_model(name, alias=alias_name)
        model = project.model_registry.rollback(name, alias_name, force=force)
        console.print(f"{name}@{alias_name}: v{current.version} -> v{model.version}")


@app.command("cleanup")
def cleanup(ctx: typer.Context) -> None:
    """Mark stuck saves failed; remove their files and the staging folders of interrupted saves."""
    with open_project(ctx) as project:
        done = project.model_registry.cleanup()
        # soft_wrap: paths stay whole, to copy.
        for version in done.failed:
            console.print(
                f"{version.name} v{version.version}: marked failed ({version.note})",
                soft_wrap=True,
            )
        for tree in done.removed:
            console.print(
                f"removed {tree.path} ({tree.bytes:,} bytes): {tree.reason}", soft_wrap=True
            )
        if not done.failed and not done.removed:
            console.print("Nothing to clean up.")


def _print_unfinished(versions: list[UnfinishedVersion]) -> None:
    if not versions:
        return
    table = Table(title="Unfinished saves")
    for column in ("name", "version", "state", "started (UTC)", "note"):
        table.add_column(column)
    for v in versions:
        state = f"{v.state} (stuck)" if v.stuck else v.state
        started = v.started.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(v.name, str(v.version), state, started, v.note)
    console.print(table)
    if any(v.stuck for v in versions):
        console.print("`fti models cleanup` marks the stuck ones failed and removes their files.")


def _metrics(model: Model) -> Table:
    table = Table(title="Metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for metric, value in sorted(model.metrics.items()):
        table.add_row(metric, f"{value:.6g}")
    return table


def _lineage(model: Model) -> Tree:
    lineage = model.lineage
    if lineage is None:
        return Tree("[bold]Lineage[/]: none (registered without a feature view)")
    tree = Tree("[bold]Lineage[/]")
    view = tree.add(f"feature view {lineage.feature_view} v{lineage.feature_view_version}")
    dataset = view.add(
        f"training dataset {lineage.training_dataset_version}"
        f"  digest {lineage.training_dataset_digest[:12]}"
    )
    for group in lineage.groups:
        commit = "no data" if group.commit is None else f"Delta commit {group.commit}"
        dataset.add(f"feature group {group.name} v{group.version}: {commit}")
    return tree


def _signature(model: Model) -> Table:
    signature = model.signature
    assert signature is not None
    table = Table(title=f"Signature (from the {signature.source.replace('_', ' ')})")
    for header in ("#", "column", "type", "role"):
        table.add_column(header)
    for i, column in enumerate(signature.inputs):
        table.add_row(str(i), column.name, column.type, "input")
    for column in signature.outputs:
        table.add_row("", column.name, column.type, "output")
    return table


def _print_extras(model: Model) -> None:
    artifact = model.artifact
    if artifact:
        console.print(
            f"Artifacts: {artifact.get('files')} file(s), {artifact.get('bytes', 0):,} bytes, "
            f"manifest sha256 {str(artifact.get('manifest_sha256', ''))[:16]}..."
        )
    if model.tags:
        console.print(f"Tags: {model.tags}")
    for promotion in model.promotions:
        forced = " [red](forced)[/]" if promotion.get("forced") else ""
        console.print(
            f"Promoted to {promotion['alias']!r} at {promotion['at']} by {promotion['by']}{forced}"
        )
        for problem in promotion.get("problems", []):
            console.print(f"  overridden: {problem}")
