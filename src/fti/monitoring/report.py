"""A self-contained HTML report of a monitor: it opens offline (plotly.js is inlined).

Per feature: the reference beside the latest window (histogram), and the drift metric over
time with its threshold; for model monitors, quality over time.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fti.dependencies import import_optional
from fti.monitoring.monitors import Monitor, MonitorResult

DRIFT_METRIC = {"numeric": "psi", "categorical": "js_distance"}


def write_report(monitor: Monitor, path: str | Path) -> Path:
    """Write the report of ``monitor``'s history to ``path``; returns the path."""
    go = import_optional("plotly.graph_objects", "monitoring")
    history = monitor.history()
    sections: list[str] = []
    include_js: Any = "inline"
    figures: list[Any] = []
    latest = next((r for r in reversed(history) if r.features or r.quality), None)
    if latest is not None:
        for name, drift in latest.features.items():
            if drift.histogram is not None:
                figures.append(_histogram(go, name, drift, latest))
            metric = DRIFT_METRIC.get(drift.kind)
            if metric:
                figures.append(_metric_over_time(go, name, metric, history))
        quality_names = sorted({k for r in history for k in r.quality if k != "labelled_rows"})
        for metric in quality_names:
            figures.append(_quality_over_time(go, metric, history))
    for figure in figures:
        sections.append(figure.to_html(full_html=False, include_plotlyjs=include_js))
        include_js = False  # plotly.js once, inlined in the first figure
    title = f"fti monitor {monitor.name}"
    body = "\n".join(f'<section class="plot">{s}</section>' for s in sections)
    summary = _summary(history)
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}} .drift{{color:#b00}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(history)} window(s); kind: {html.escape(monitor.kind)}.</p>
{summary}
{body if body else "<p>No data yet: run the monitor first.</p>"}
</body></html>"""
    target = Path(path)
    target.write_text(document, encoding="utf-8")
    return target


def _summary(history: list[MonitorResult]) -> str:
    rows = []
    for r in history[-30:]:
        drifted = ", ".join(r.drifted) or "-"
        quality = ", ".join(
            f"{k} {v:.3f}" for k, v in r.quality.items() if v is not None and k != "labelled_rows"
        )
        css = ' class="drift"' if r.status == "drift" else ""
        rows.append(
            f"<tr{css}><td>{r.window_end:%Y-%m-%d %H:%M}</td><td>{r.status}</td><td>{r.rows}</td>"
            f"<td>{html.escape(drifted)}</td><td>{html.escape(quality) or '-'}</td></tr>"
        )
    return (
        "<table><tr><th>window end (UTC)</th><th>status</th><th>rows</th><th>drifted</th>"
        f"<th>quality</th></tr>{''.join(rows)}</table>"
    )


def _histogram(go: Any, name: str, drift: Any, result: MonitorResult) -> Any:
    histogram = drift.histogram
    figure = go.Figure()
    figure.add_bar(name="reference", x=histogram.labels, y=histogram.reference)
    figure.add_bar(
        name=f"window to {result.window_end:%Y-%m-%d}", x=histogram.labels, y=histogram.current
    )
    figure.update_layout(
        title=f"{name}: reference vs latest window ({'drifted' if drift.drifted else 'ok'})",
        barmode="group",
        yaxis_title="share of non-null rows",
        height=320,
    )
    return figure


def _metric_over_time(go: Any, name: str, metric: str, history: list[MonitorResult]) -> Any:
    points = [(r.window_end, r.features[name]) for r in history if name in r.features]
    figure = go.Figure()
    figure.add_scatter(
        x=[t for t, _ in points],
        y=[d.metrics.get(metric) for _, d in points],
        mode="lines+markers",
        name=metric,
    )
    threshold = next((d.thresholds.get(metric) for _, d in points if metric in d.thresholds), None)
    if threshold is not None:
        figure.add_hline(y=threshold, line_dash="dash", annotation_text="threshold")
    figure.update_layout(title=f"{name}: {metric} over time", height=280)
    return figure


def _quality_over_time(go: Any, metric: str, history: list[MonitorResult]) -> Any:
    points = [(r.window_end, r.quality.get(metric)) for r in history if metric in r.quality]
    figure = go.Figure()
    figure.add_scatter(
        x=[t for t, _ in points], y=[v for _, v in points], mode="lines+markers", name=metric
    )
    figure.update_layout(title=f"model quality: {metric} per window", height=280)
    return figure
