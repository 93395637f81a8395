"""A self-contained HTML report of a monitor: it opens offline (plotly.js is inlined).

It says what the monitor watches and what each window is compared with (the reference), lists
every threshold with what its metric measures, then the windows (status, what crossed which
threshold, quality), and plots: per feature the reference beside the latest window (shares of
rows, so windows of any size compare) and the drift metric over time with its threshold; for
model monitors, quality over time with its thresholds.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fti.dependencies import import_optional
from fti.monitoring.drift import METRIC_DESCRIPTIONS, FeatureDrift, describe_threshold
from fti.monitoring.monitors import Monitor, MonitorResult, describe_duration
from fti.monitoring.quality import (
    HIGHER_IS_BETTER,
    QUALITY_METRIC_DESCRIPTIONS,
    describe_quality_threshold,
)
from fti.monitoring.statuses import ALERT_STATUSES

DRIFT_METRIC = {"numeric": "psi", "categorical": "js_distance"}
"""The drift metric plotted over time for each kind of feature."""

SUMMARY_WINDOWS = 30
"""The most recent windows the report's table lists."""

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
.alert{color:#b00} code{background:#f4f4f4;padding:0 3px} dt{font-weight:bold;margin-top:.5em}"""


def write_report(monitor: Monitor, path: str | Path) -> Path:
    """Write the report of ``monitor``'s history to ``path``; returns the path."""
    go = import_optional("plotly.graph_objects", "monitoring")
    history = monitor.history()
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
            figures.append(_quality_over_time(go, metric, history, monitor))
    sections = []
    include_js: Any = "inline"
    for figure in figures:
        sections.append(figure.to_html(full_html=False, include_plotlyjs=include_js))
        include_js = False  # plotly.js once, inlined in the first figure
    plots = "\n".join(f'<section class="plot">{s}</section>' for s in sections)
    title = f"fti monitor {monitor.name}"
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{_overview(monitor, history)}
<h2>Reference</h2>
<p class="reference">{html.escape(monitor.reference)}</p>
<h2>Thresholds</h2>
{_thresholds(monitor)}
<h2>Windows</h2>
{_summary(history, monitor.kind == "model") if history else "<p>No window yet.</p>"}
<h2>Latest window</h2>
{plots if plots else "<p>No data yet: run the monitor first.</p>"}
<h2>What the metrics mean</h2>
{_glossary(monitor, history)}
</body></html>"""
    target = Path(path)
    target.write_text(document, encoding="utf-8")
    return target


def _overview(monitor: Monitor, history: list[MonitorResult]) -> str:
    if monitor.kind == "feature":
        what = f"Feature drift of {monitor.watches}"
    else:
        what = f"Quality and score drift of {monitor.watches}"
    text = f"{what}, in windows of {describe_duration(monitor.window)}. "
    if history:
        last = history[-1]
        text += (
            f"{len(history)} window(s) run; the latest, to {last.window_end:%Y-%m-%d %H:%M} UTC, "
            f"is {last.status}."
        )
    else:
        text += "It has not run yet."
    return f'<p class="overview">{html.escape(text)}</p>'


def _thresholds(monitor: Monitor) -> str:
    subject = "a feature" if monitor.kind == "feature" else "the scores"
    items = [
        f"<li>Drift when <code>{html.escape(describe_threshold(m, v))}</code> for {subject}.</li>"
        for m, v in monitor.thresholds.items()
    ]
    if monitor.kind == "model":
        items += [
            f"<li>Degraded when <code>{html.escape(describe_quality_threshold(m, v))}</code>.</li>"
            for m, v in monitor.quality_thresholds.items()
        ]
        if not monitor.quality_thresholds:
            items.append(
                "<li>No quality thresholds: the status follows the drift of the scores only. "
                "Set them with <code>create_model_monitor(..., quality_thresholds="
                '{"roc_auc": 0.70, "accuracy": 0.80})</code>.</li>'
            )
    statuses = (
        "A window is <b>drift</b> when any drift threshold is crossed"
        + (
            ", <b>degraded</b> when a quality threshold is (degraded wins over drift)"
            if monitor.kind == "model"
            else ""
        )
        + ", <b>no_data</b> when it has no rows, else <b>ok</b>."
    )
    return f'<ul class="thresholds">{"".join(items)}</ul><p>{statuses}</p>'


def _summary(history: list[MonitorResult], quality: bool) -> str:
    rows = []
    for r in history[-SUMMARY_WINDOWS:]:
        crossed = "<br>".join(html.escape(line) for line in r.crossed) or "-"
        css = ' class="alert"' if r.status in ALERT_STATUSES else ""
        cells = [f"{r.window_end:%Y-%m-%d %H:%M}", r.status, f"{r.rows:,}", crossed]
        if quality:
            cells.append(
                ", ".join(
                    f"<b>{k} {v:.3f}</b>" if k in r.degraded else f"{k} {v:.3f}"
                    for k, v in r.quality.items()
                    if v is not None and k != "labelled_rows"
                )
                or "-"
            )
        rows.append(f"<tr{css}>{''.join(f'<td>{c}</td>' for c in cells)}</tr>")
    headers = ["window end (UTC)", "status", "rows", "thresholds crossed"]
    headers += ["quality"] if quality else []
    header = "".join(f"<th>{h}</th>" for h in headers)
    return f'<table class="windows"><tr>{header}</tr>{"".join(rows)}</table>'


def _glossary(monitor: Monitor, history: list[MonitorResult]) -> str:
    drift_metrics = dict.fromkeys(monitor.thresholds)
    shown = {d.kind for r in history for d in r.features.values()}
    drift_metrics.update(dict.fromkeys(DRIFT_METRIC[k] for k in sorted(shown)))
    quality_metrics = dict.fromkeys(monitor.quality_thresholds)
    quality_metrics.update(dict.fromkeys(k for r in history for k in r.quality))
    entries = [(m, METRIC_DESCRIPTIONS[m]) for m in drift_metrics if m in METRIC_DESCRIPTIONS]
    entries += [
        (m, QUALITY_METRIC_DESCRIPTIONS[m])
        for m in quality_metrics
        if m in QUALITY_METRIC_DESCRIPTIONS
    ]
    body = "".join(f"<dt>{html.escape(m)}</dt><dd>{html.escape(t)}</dd>" for m, t in entries)
    note = (
        "<p>Histograms show each window's shares of its non-null rows, so a window of a few "
        "thousand rows reads against a reference of a few hundred thousand.</p>"
    )
    return f'<dl class="glossary">{body}</dl>{note}'


def _histogram(go: Any, name: str, drift: FeatureDrift, result: MonitorResult) -> Any:
    histogram = drift.histogram
    assert histogram is not None
    figure = go.Figure()
    figure.add_bar(
        name=f"reference ({drift.reference_rows:,} rows)",
        x=histogram.labels,
        y=histogram.reference,
    )
    figure.add_bar(
        name=f"window to {result.window_end:%Y-%m-%d} ({drift.current_rows:,} rows)",
        x=histogram.labels,
        y=histogram.current,
    )
    figure.update_layout(
        title=f"{name}: reference vs latest window ({'drifted' if drift.drifted else 'ok'})",
        barmode="group",
        yaxis_title="share of non-null rows",
        yaxis_tickformat=".0%",
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
        figure.add_hline(y=threshold, line_dash="dash", annotation_text=f"threshold {threshold:g}")
    figure.update_layout(title=f"{name}: {metric} over time", height=280)
    return figure


def _quality_over_time(go: Any, metric: str, history: list[MonitorResult], monitor: Monitor) -> Any:
    points = [(r.window_end, r.quality.get(metric)) for r in history if metric in r.quality]
    figure = go.Figure()
    figure.add_scatter(
        x=[t for t, _ in points], y=[v for _, v in points], mode="lines+markers", name=metric
    )
    limit = monitor.quality_thresholds.get(metric)
    if limit is not None:
        bound = "minimum" if metric in HIGHER_IS_BETTER else "maximum"
        figure.add_hline(y=limit, line_dash="dash", annotation_text=f"{bound} {limit:g}")
    figure.update_layout(title=f"model quality: {metric} per window", height=280)
    return figure
