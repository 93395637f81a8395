"""``fti feature-views``: list views and show one's query, transformations and datasets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from fti.cli.context import console, open_project

app = typer.Typer(help="Feature views: features and labels for models.", no_args_is_help=True)


@app.command("list")
def list_views(ctx: typer.Context) -> None:
    """List every feature view version."""
    with open_project(ctx) as project:
        views = project.feature_store.list_feature_views()
        table = Table(title=f"Feature views of project {project.name!r}")
        for column in ("name", "version", "root", "groups", "features", "labels", "datasets"):
            table.add_column(column)
        for view in views:
            table.add_row(
                view.name,
                str(view.version),
                view.query.root.name,
                str(len(view.query.steps)),
                str(len(view.feature_names)),
                ", ".join(view.labels),
                str(len(view.training_datasets())),
            )
        console.print(table if views else "No feature views yet.")


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
) -> None:
    """Show a view's joins, columns, transformations and training datasets."""
    with open_project(ctx) as project:
        view = project.feature_store.get_feature_view(name, version)
        console.print(f"[bold]{view.name}[/] v{view.version}  {view.description}")
        tree = Tree(f"root: {view.query.root.name} v{view.query.root.version}")
        for step in view.query.steps[1:]:
            kind = "as of" if step.as_of else "key"
            ttl = f", ttl {step.ttl}" if step.ttl else ""
            tree.add(
                f"{step.join_type} {kind} join {step.group.name} v{step.group.version} on "
                f"{', '.join(step.left_on)}{ttl}: {', '.join(step.columns)}"
            )
        console.print(tree)
        columns = Table(title="Columns")
        for column in ("column", "type", "role", "transformation"):
            columns.add_column(column)
        transforms = view.transformations.to_dict()
        for c in view.query.outputs:
            role = "label" if c.name in view.labels else "feature"
            columns.add_row(c.name, c.type, role, transforms.get(c.name, {}).get("name", ""))
        for label in view.spine_labels:
            columns.add_row(label, "(the spine's)", "label, carried by the spine", "")
        console.print(columns)
        datasets = Table(title="Training datasets")
        for column in ("version", "created (UTC)", "rows", "split", "description"):
            datasets.add_column(column)
        for d in view.training_datasets():
            datasets.add_row(
                str(d.version),
                d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                f"{d.rows:,}",
                d.split.kind,
                d.description,
            )
        console.print(datasets)
