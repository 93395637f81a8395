"""Prometheus metrics of a prediction server, in a registry of its own per app.

Label values are bounded: a model label is the name of a served model (or ``-``), a feature
label a feature of a served model's view, never a value taken from a request as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass
class ServerMetrics:
    """Requests, errors, stage latencies, missing and expired features, inference-log drops."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "fti_requests", "Prediction requests", ["model", "endpoint"], registry=self.registry
        )
        self.errors = Counter(
            "fti_errors",
            "Requests answered with an error",
            ["model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fti_latency_seconds",
            "Latency per stage: lookup (features), transform, model, total",
            ["model", "stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.log_dropped = Gauge(
            "fti_inference_log_dropped",
            "Inference-log records dropped (queue full)",
            ["model"],
            registry=self.registry,
        )
        self.log_written = Gauge(
            "fti_inference_log_written",
            "Inference-log records written",
            ["model"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "fti_model_version", "Version being served", ["model"], registry=self.registry
        )
        self.features_missing = Counter(
            "fti_features_missing",
            "Features served as null: no online row for the entry (or a null key)",
            ["model", "feature"],
            registry=self.registry,
        )
        self.features_expired = Counter(
            "fti_features_expired",
            "Features served as null: the online row is older than the join's ttl",
            ["model", "feature"],
            registry=self.registry,
        )
