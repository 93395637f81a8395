"""The inference log: every prediction with its features, queued and written in batches.

Requests only append a record to a bounded buffer (never blocking: when it is full the record
is dropped and counted); a background thread writes batches to the offline-only feature group
``<model>_inference_log``, whose columns are the view's features plus the prediction, so
monitors can compare what was served with what the model was trained on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fti.errors import FtiError, NotFoundError
from fti.feature_store.feature_group import FeatureGroup
from fti.feature_store.feature_store import FeatureStore
from fti.types import Feature

logger = logging.getLogger(__name__)

LOG_COLUMNS = [
    Feature("log_id", "string"),
    Feature("logged_at", "timestamp"),
    Feature("model_version", "int64"),
    Feature("latency_ms", "float64"),
]


def log_group_name(model_name: str) -> str:
    """The name of a model's inference-log group."""
    return f"{model_name}_inference_log"[:63]


def log_group(
    fs: FeatureStore, model_name: str, features: Sequence[Feature], outputs: Sequence[Feature]
) -> FeatureGroup:
    """The model's inference-log group, created on first use (offline only)."""
    name = log_group_name(model_name)
    try:
        return fs.get_feature_group(name)
    except NotFoundError:
        return fs.get_or_create_feature_group(
            name,
            primary_key=["log_id"],
            event_time="logged_at",
            features=[*LOG_COLUMNS, *features, *outputs],
            online_enabled=False,
            statistics=False,
            description=f"Every prediction of model {model_name} with its feature vector.",
        )


class InferenceLog:
    """A bounded buffer of prediction records and the thread that writes them."""

    def __init__(
        self,
        group: FeatureGroup,
        *,
        max_queue: int = 50_000,
        batch_size: int = 10_000,
        flush_seconds: float = 5.0,
    ) -> None:
        self.group = group
        self.dropped = 0
        self.written = 0
        self.write_errors = 0
        self._columns = [f.name for f in group.features or []]
        # A deque, not a queue.Queue: appending wakes no thread. The writer wakes once per
        # flush_seconds, or when a batch is full; a wake-up per request took the GIL from the
        # request path (sequential p50 +0.3 ms). A commit every 5 s rather than every second:
        # requests that meet one (~20-40 ms on the two cores) stay under 1 %, out of the p99.
        self._records: deque[dict[str, Any]] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="fti-inference-log", daemon=True)
        self._thread.start()

    def log(
        self,
        model_version: int,
        features: Sequence[Mapping[str, Any]],
        outputs: Sequence[Mapping[str, Any]],
        latency_ms: float,
    ) -> None:
        """Queue one record per prediction; never blocks (drops and counts when full)."""
        now = dt.datetime.now(dt.UTC)
        for vector, output in zip(features, outputs, strict=True):
            if len(self._records) >= self._max_queue:
                self.dropped += 1
                continue
            self._records.append(
                {
                    "log_id": uuid.uuid4().hex,
                    "logged_at": now,
                    "model_version": model_version,
                    "latency_ms": latency_ms,
                    **vector,
                    **output,
                }
            )
        if len(self._records) >= self._batch_size:
            self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the thread."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            closing = self._closing
            # Only what is there now: records arriving meanwhile wait for the next wake-up
            # instead of trickling out as many small commits.
            pending = len(self._records)
            while pending:
                size = min(pending, self._batch_size)
                self._write([self._records.popleft() for _ in range(size)])
                pending -= size
            if closing:
                return

    def _write(self, batch: list[dict[str, Any]]) -> None:
        frame = pd.DataFrame(batch).reindex(columns=self._columns)
        try:
            # In this process whatever the connection's engine: the log's batches are small,
            # and a serving process must not wait on a cluster.
            self.group.insert(frame, engine="local")
            self.written += len(batch)
        except (FtiError, OSError) as exc:
            # The request path must never fail because the log could not be written.
            self.write_errors += len(batch)
            logger.warning("inference log: %d records not written: %s", len(batch), exc)
