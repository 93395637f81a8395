"""Prometheus metrics of a prediction server, in a registry of its own per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass
class ServerMetrics:
    """Requests, errors, stage latencies and inference-log drops."""

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
