"""The inference log: bounded, never blocking, written in batches by its own thread."""

from __future__ import annotations

import time

import fti
from fti.inference.inference_log import InferenceLog, log_group
from fti.types import Feature

FEATURES = [Feature("distance", "float64")]
OUTPUTS = [Feature("prediction", "int64")]


def records(n: int) -> tuple[list[dict[str, float]], list[dict[str, int]]]:
    return [{"distance": float(i)} for i in range(n)], [{"prediction": i % 2} for i in range(n)]


def test_full_buffer_drops_and_counts_and_close_writes_the_rest(project: fti.Project) -> None:
    group = log_group(project.feature_store, "m", FEATURES, OUTPUTS)
    # Neither a full batch nor the flush interval wakes the writer before close().
    log = InferenceLog(group, max_queue=5, batch_size=100, flush_seconds=3600)
    log.log(1, *records(8), latency_ms=0.5)
    assert log.dropped == 3 and log.written == 0
    log.close()
    assert log.written == 5
    stored = group.read()
    assert sorted(stored["distance"]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert (stored["model_version"] == 1).all()


def test_full_batches_are_written_without_waiting_for_the_interval(
    project: fti.Project,
) -> None:
    group = log_group(project.feature_store, "m", FEATURES, OUTPUTS)
    log = InferenceLog(group, batch_size=10, flush_seconds=3600)
    log.log(2, *records(25), latency_ms=1.0)
    deadline = time.monotonic() + 30
    while log.written < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.written in (20, 25)  # two full batches at least, the rest maybe with them
    log.close()
    assert log.written == 25 and len(group.read()) == 25
    assert len(group.commits()) >= 3  # batches of at most 10 rows
