"""What each page of the UI shows, gathered from a :class:`fti.Project`'s services.

Functions here return plain dictionaries for the templates and plotly figures as dictionaries
(``{"data", "layout"}``) for ``plotly.min.js``. They read metadata and at most a few rows, never
a whole table: every page must answer within 300 ms on the demo project.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fti.errors import ConfigError, FtiError, NotFoundError
from fti.monitoring.monitors import describe_duration
from fti.ui.graph import Graph, Node

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.feature_view import FeatureView
    from fti.model_registry.model import Model
    from fti.project import Project

SAMPLE_ROWS = 10
MAX_RESULTS = 50


def overview(project: Project, query: str = "") -> dict[str, Any]:
    """Every group, view, model and monitor of the project, and what ``query`` finds."""
    fs = project.feature_store
    groups = fs.list_feature_groups()
    views = fs.list_feature_views()
    models = project.model_registry.list_models()
    monitors = project.monitoring.list_monitors()
    return {
        "groups": [
            {
                "name": g.name,
                "version": g.version,
                "description": g.description,
                "features": len(g.features or []),
                "online": g.online_enabled,
            }
            for g in groups
        ],
        "views": [
            {"name": v.name, "version": v.version, "description": v.description} for v in views
        ],
        "models": [
            {
                "name": m.name,
                "version": m.version,
                "framework": m.framework,
                "aliases": m.aliases,
                "description": m.description,
            }
            for m in models
        ],
        "monitors": [{"name": m.name, "kind": m.kind, "watches": m.watches} for m in monitors],
        "query": query,
        "results": search(groups, views, models, query) if query.strip() else None,
    }


def search(
    groups: Iterable[FeatureGroup],
    views: Iterable[FeatureView],
    models: Iterable[Model],
    query: str,
) -> list[dict[str, str]]:
    """Groups, features (by name or description), views and models matching every word of
    ``query`` (case-insensitive), at most :data:`MAX_RESULTS`."""
    words = query.lower().split()

    def matches(*texts: str | None) -> bool:
        text = " ".join(t or "" for t in texts).lower()
        return all(word in text for word in words)

    found: list[dict[str, str]] = []
    for g in groups:
        where = f"groups/{g.name}/{g.version}"
        if matches(g.name, g.description):
            found.append({"kind": "feature group", "name": f"{g.name} v{g.version}", "href": where})
        for f in g.features or []:
            if matches(f.name, f.description):
                found.append(
                    {
                        "kind": "feature",
                        "name": f"{f.name} ({g.name} v{g.version})",
                        "detail": f.description,
                        "href": f"{where}#feature-{f.name}",
                    }
                )
    for v in views:
        if matches(v.name, v.description, " ".join(v.feature_names)):
            found.append(
                {
                    "kind": "feature view",
                    "name": f"{v.name} v{v.version}",
                    "href": f"views/{v.name}/{v.version}",
                }
            )
    for m in models:
        if matches(m.name, m.description, m.framework):
            found.append({"kind": "model", "name": m.name, "href": f"models/{m.name}"})
    return found[:MAX_RESULTS]


def feature_group(project: Project, name: str, version: int, commit: int | None) -> dict[str, Any]:
    """A group's schema, commits, statistics of one commit, validation reports, a sample of
    rows and the views that use it."""
    fg = project.feature_store.get_feature_group(name, version)
    offline_error = None
    try:
        commits, sample = fg.commits(), fg.head(SAMPLE_ROWS)
    except ConfigError as exc:  # an offline store this process cannot reach
        import pandas as pd

        commits, sample, offline_error = [], pd.DataFrame(), str(exc)
    reports = dict(fg.validation_reports())
    try:
        statistics = fg.statistics(commit)
    except NotFoundError:
        statistics = {}
    shown = commit if commit is not None else (commits[-1].id if commits else None)
    using = [
        {"name": v.name, "version": v.version}
        for v in project.feature_store.list_feature_views()
        if any(s.group.name == name and s.group.version == version for s in v.query.steps)
    ]
    return {
        "group": fg,
        "features": fg.features or [],
        "commits": [
            {
                "id": c.id,
                "time": c.time,
                "rows": c.rows,
                "inserted": c.rows_inserted,
                "updated": c.rows_updated,
                "validation": c.validation,
                "report": reports.get(c.id),
            }
            for c in reversed(commits)
        ],
        "commits_chart": _commits_chart(commits),
        "statistics_commit": shown,
        "statistics": [s.to_dict() for s in statistics.values()],
        "histograms": {
            s.name: _histogram_chart(s.name, s.histogram, s.top_values)
            for s in statistics.values()
            if s.histogram or s.top_values
        },
        "sample_columns": list(sample.columns),
        "sample_rows": [[_cell(v) for v in row] for row in sample.itertuples(index=False)],
        "views": using,
        "offline_error": offline_error,
    }


def feature_view(project: Project, name: str, version: int) -> dict[str, Any]:
    """A view's query as a graph, its transformations, training datasets, last checks and
    models."""
    fv = project.feature_store.get_feature_view(name, version)
    steps = []
    graph = Graph(f"Query of feature view {name} v{version}")
    graph.add(Node("view", 1, (f"view {name}", f"v{version}"), kind="view"))
    for index, step in enumerate(fv.query.steps):
        g = step.group
        lines = (f"{g.name} v{g.version}", _join_line(index, step))
        graph.add(Node(f"g{index}", 0, lines, f"../../groups/{g.name}/{g.version}", "group"))
        graph.edges.append((f"g{index}", "view", "root" if index == 0 else step.join_type))
        steps.append(
            {
                "group": g.name,
                "group_version": g.version,
                "columns": list(step.columns),
                "left_on": list(step.left_on),
                "right_on": list(step.right_on),
                "join_type": "root" if index == 0 else step.join_type,
                "prefix": step.prefix,
                "ttl": step.ttl,
                "as_of": step.as_of,
            }
        )
    where = fv.query.where
    checks = fv.checks()
    datasets = fv.training_datasets()
    return {
        "view": fv,
        "graph": graph.svg(),
        "steps": steps,
        "filter": where.to_sql(lambda column: column) if where is not None else None,
        "transformations": fv.transformations.to_dict(),
        "datasets": [
            {
                "version": d.version,
                "created_at": d.created_at,
                "description": d.description,
                "rows": d.rows,
                "split": d.split.kind,
                "parts": d.split.parts,
                "digest": d.digest,
                "versions": d.versions,
                "check": checks["training_data"].get(d.version),
            }
            for d in reversed(datasets)
        ],
        "skew_audit": checks["skew_audit"],
        "models": [
            {"name": m.name, "version": m.version, "metrics": m.metrics} for m in fv.models()
        ],
    }


def model(project: Project, name: str, version: int | None) -> dict[str, Any]:
    """A model's versions and metrics, a metric across versions, aliases and their history, and
    one version's lineage, signature and files."""
    registry = project.model_registry
    versions = registry.get_models(name)
    if not versions:
        raise NotFoundError(f"model {name!r} has no saved version")
    chosen = (
        versions[-1]
        if version is None
        else next((m for m in versions if m.version == version), None)
    )
    if chosen is None:
        raise NotFoundError(f"model {name!r} has no saved version {version}")
    metric_names = sorted({k for m in versions for k in m.metrics})
    aliases = registry.aliases(name)
    lineage = chosen.lineage
    files: list[dict[str, Any]] = []
    try:
        files = [
            {"path": path, "sha256": entry.sha256, "size": entry.size}
            for path, entry in sorted(chosen.files().items())
        ]
    except FtiError:
        files = []
    return {
        "name": name,
        "model": chosen,
        "versions": [
            {
                "version": m.version,
                "created_at": m.created_at,
                "metrics": m.metrics,
                "aliases": [a for a, v in aliases.items() if v == m.version],
                "training_dataset": m.training_dataset_version,
            }
            for m in reversed(versions)
        ],
        "metric_names": metric_names,
        "metrics_chart": _metrics_chart(versions, metric_names),
        "aliases": aliases,
        "alias_history": list(reversed(registry.alias_history(name))),
        "promotions": chosen.promotions,
        "lineage": lineage,
        "lineage_graph": _lineage_graph(chosen) if lineage is not None else None,
        "signature": chosen.signature,
        "files": files,
        "tags": chosen.tags,
    }


def monitor(project: Project, name: str) -> dict[str, Any]:
    """A monitor's windows over time with its thresholds, each window's details, alerts."""
    m = project.monitoring.get_monitor(name)
    history = m.history()
    return {
        "monitor": m,
        "windows": [r.to_dict() | {"crossed": r.crossed} for r in reversed(history)],
        "alerts": [
            {"window_end": r.window_end, "alert": r.alert} for r in reversed(history) if r.alert
        ],
        "charts": _monitor_charts(history),
    }


def runs(project: Project, limit: int = 50) -> dict[str, Any]:
    """The latest pipeline runs with their status, duration and outputs."""
    from fti.pipelines.runs import Runs

    records = Runs(project.name, project.metadata_store)
    listed = records.list(limit=limit)
    return {
        "runs": [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "trigger": r.trigger.get("type", ""),
                "scheduled": r.scheduled_time,
                "started": r.started_at,
                "duration": r.duration,
                "outputs": [o.describe() for o in records.outputs(r)],
                "error": (r.error or {}).get("message"),
            }
            for r in listed
        ],
        "limit": limit,
    }


# Figures ---------------------------------------------------------------------------------


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "height": 280,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        **extra,
    }


def _commits_chart(commits: list[Any]) -> dict[str, Any]:
    colors = {"passed": "#2e7d32", "failed": "#c62828"}
    return {
        "data": [
            {
                "type": "bar",
                "x": [c.time.isoformat() for c in commits],
                "y": [c.rows for c in commits],
                "text": [f"commit {c.id}: {c.validation}" for c in commits],
                "marker": {"color": [colors.get(c.validation, "#1565c0") for c in commits]},
                "name": "rows",
            }
        ],
        "layout": _layout("Rows per commit", yaxis={"title": {"text": "rows"}}),
    }


def _histogram_chart(
    name: str, histogram: list[dict[str, Any]] | None, top: list[dict[str, Any]] | None
) -> dict[str, Any]:
    if histogram:
        data = {
            "type": "bar",
            "x": [(b["lower"] + b["upper"]) / 2 for b in histogram],
            "width": [b["upper"] - b["lower"] or 1 for b in histogram],
            "y": [b["count"] for b in histogram],
        }
    else:
        data = {
            "type": "bar",
            "x": [str(t["value"]) for t in top or []],
            "y": [t["count"] for t in top or []],
        }
    return {"data": [data], "layout": _layout(name, height=220)}


def _metrics_chart(versions: list[Model], metric_names: list[str]) -> dict[str, Any]:
    # Shown first: a model's own ROC AUC if it has one, else its first metric not a baseline's.
    own = [m for m in metric_names if "baseline" not in m] or metric_names
    shown = next((m for m in own if "roc_auc" in m), own[0] if own else None)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": metric,
                "x": [f"v{m.version}" for m in versions],
                "y": [m.metrics.get(metric) for m in versions],
                "visible": True if metric == shown else "legendonly",
            }
            for metric in metric_names
        ],
        "layout": _layout("Metrics across versions", xaxis={"type": "category"}),
    }


def _monitor_charts(history: list[Any]) -> list[dict[str, Any]]:
    if not history:
        return []
    ends = [r.window_end.isoformat() for r in history]
    series: dict[tuple[str, str], list[float | None]] = {}
    thresholds: dict[tuple[str, str], float] = {}
    for index, result in enumerate(history):
        for feature, drift in result.features.items():
            for metric, value in drift.metrics.items():
                if metric in drift.thresholds:
                    key = ("drift", f"{feature}: {metric}")
                    series.setdefault(key, [None] * len(history))[index] = value
                    thresholds[key] = drift.thresholds[metric]
        for metric, value in result.quality.items():
            if metric.endswith("rows"):  # a count, in the window's details: not on a 0-1 scale
                continue
            key = ("quality", metric)
            series.setdefault(key, [None] * len(history))[index] = value
            if metric in result.quality_thresholds:
                thresholds[key] = result.quality_thresholds[metric]
    charts = []
    for group in ("quality", "drift"):
        keys = [k for k in series if k[0] == group]
        if not keys:
            continue
        data: list[dict[str, Any]] = []
        for key in keys:
            data.append(
                {"type": "scatter", "mode": "lines+markers", "name": key[1], "x": ends}
                | {"y": series[key]}
            )
            if key in thresholds:
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": f"{key[1]} threshold",
                        "x": [ends[0], ends[-1]],
                        "y": [thresholds[key]] * 2,
                        "line": {"dash": "dash"},
                    }
                )
        title = "Quality per window" if group == "quality" else "Drift per window"
        charts.append({"data": data, "layout": _layout(title, height=320)})
    return charts


# Graphs ----------------------------------------------------------------------------------


def _join_line(index: int, step: Any) -> str:
    if index == 0:
        return "root"
    keys = ", ".join(
        left if left == right else f"{left}={right}"
        for left, right in zip(step.left_on, step.right_on, strict=True)
    )
    ttl = f" ttl {describe_duration(step.ttl)}" if step.ttl else ""
    prefix = f" {step.prefix}*" if step.prefix else ""
    return f"on {keys}{ttl}{prefix}"


def _lineage_graph(m: Model) -> str:
    """model -> training dataset -> view -> groups -> the Delta commits read."""
    lineage = m.lineage
    assert lineage is not None
    view, view_version = lineage.feature_view, lineage.feature_view_version
    graph = Graph(f"Lineage of model {m.name} v{m.version}")
    graph.add(Node("model", 0, (f"model {m.name}", f"v{m.version}"), kind="model"))
    dataset = f"training dataset {lineage.training_dataset_version}"
    digest = lineage.training_dataset_digest[:12]
    graph.add(
        Node(
            "dataset",
            1,
            (dataset, f"digest {digest}" if digest else f"of {view} v{view_version}"),
            f"../views/{view}/{view_version}#dataset-{lineage.training_dataset_version}",
            "dataset",
        )
    )
    graph.add(
        Node(
            "view",
            2,
            (f"view {view}", f"v{view_version}"),
            f"../views/{view}/{view_version}",
            "view",
        )
    )
    graph.edges += [("model", "dataset", "trained on"), ("dataset", "view", "of")]
    for g in lineage.groups:
        group_id, commit_id = f"group-{g.name}-{g.version}", f"commit-{g.name}-{g.version}"
        graph.add(
            Node(
                group_id,
                3,
                (f"{g.name}", f"v{g.version}"),
                f"../groups/{g.name}/{g.version}",
                "group",
            )
        )
        graph.edges.append(("view", group_id, ""))
        commit = "no data yet" if g.commit is None else f"Delta commit {g.commit}"
        href = (
            None
            if g.commit is None
            else f"../groups/{g.name}/{g.version}?commit={g.commit}#commit-{g.commit}"
        )
        graph.add(Node(commit_id, 4, (commit, g.name), href, "commit"))
        graph.edges.append((group_id, commit_id, "read"))
    return graph.svg()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
