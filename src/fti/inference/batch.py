"""Batch inference: features of a time range (or a spine) -> model -> a predictions group.

The range is cut into time chunks of about CHUNK_ROWS root rows each (or a given duration), or
a spine into CHUNK_ROWS-row parts; each is read with ``get_batch_data`` (only that chunk's rows
are read: the time range is pushed down), scored, and written before the next, so memory stays
bounded by one chunk while each chunk is large enough to amortize its fixed costs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fti import run_outputs
from fti.errors import InvalidArgumentError, NotFoundError
from fti.feature_store.training_data import to_utc
from fti.inference.predictor import lineage_of

if TYPE_CHECKING:
    from fti.feature_store.feature_group import FeatureGroup
    from fti.feature_store.feature_store import FeatureStore
    from fti.feature_store.feature_view import FeatureView

CHUNK_ROWS = 250_000


def predictions_group_name(model_name: str) -> str:
    """The default name of a model's predictions group."""
    return f"{model_name}_predictions"[:63]


def batch_predict(
    model: Any,
    start_time: dt.datetime | str | None = None,
    end_time: dt.datetime | str | None = None,
    spine: Any = None,
    output_feature_group: str | None = None,
    *,
    chunk: dt.timedelta | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str | None = None,
) -> pd.DataFrame:
    """Predict for every root row in [start_time, end_time) (or every spine row) and write
    keys, event time, prediction, class probabilities, model name/version and prediction time
    to the predictions group (``<model>_predictions`` by default, created on first use).

    ``chunk`` fixes the duration of a chunk (default: sized for about CHUNK_ROWS root rows).
    ``progress(done, total)`` is called after each chunk. On the ray engine (``engine``, or
    the project's) the rows are joined and scored on the cluster instead, the model sent once
    to each scoring worker, and the predictions written in one commit (no chunks).
    """
    _, _, dataset = lineage_of(model)
    view: FeatureView = model.feature_view()
    fs = view._store
    estimator = model.load()
    group_name = output_feature_group or predictions_group_name(model.name)
    if fs.engine(engine).name == "ray":
        out = _ray_predict(
            view, estimator, model, dataset, to_utc(start_time), to_utc(end_time), spine, engine
        )
        if out.empty:
            return out
        commit = _predictions_group(fs, group_name, view).insert(out)
        run_outputs.report(
            "predictions",
            model=model.name,
            model_version=model.version,
            group=group_name,
            commits=[] if commit is None else [commit.id],
            rows=len(out),
        )
        return out
    chunks = list(_chunks(view, to_utc(start_time), to_utc(end_time), spine, chunk))
    written: list[pd.DataFrame] = []
    commits: list[int] = []
    group: FeatureGroup | None = None
    for done, (low, high, part) in enumerate(chunks, start=1):
        frame = view.get_batch_data(
            low,
            high,
            spine=part,
            training_dataset_version=dataset,
            primary_key=True,
            event_time=True,
        )
        if len(frame):
            out = _score(view, estimator, frame, model.name, model.version)
            group = group or _predictions_group(fs, group_name, view)
            commit = group.insert(out)
            if commit is not None:
                commits.append(commit.id)
            written.append(out)
        if progress is not None:
            progress(done, len(chunks))
    if not written:
        return pd.DataFrame()
    run_outputs.report(
        "predictions",
        model=model.name,
        model_version=model.version,
        group=group_name,
        commits=commits,
        rows=sum(len(w) for w in written),
    )
    return pd.concat(written, ignore_index=True)


def _chunks(
    view: FeatureView,
    start: dt.datetime | None,
    end: dt.datetime | None,
    spine: Any,
    size: dt.timedelta | None,
) -> Iterator[tuple[dt.datetime | None, dt.datetime | None, Any]]:
    if spine is not None:
        frame = spine if isinstance(spine, pd.DataFrame) else pd.DataFrame(spine)
        for first in range(0, max(len(frame), 1), CHUNK_ROWS):
            yield start, end, frame.iloc[first : first + CHUNK_ROWS]
        return
    if size is not None and size <= dt.timedelta(0):
        raise InvalidArgumentError(f"chunk must be a positive duration, not {size!r}")
    root = view.query.root
    if root.event_time is None:
        yield start, end, None
        return
    low, high, rows = _time_range(root, start, end)
    if low is None or high is None:
        return
    start = start or low
    end = end or high + dt.timedelta(microseconds=1)
    if size is None:
        # Rows are assumed spread evenly over the range: chunks of about CHUNK_ROWS rows.
        parts = max(1, -(-rows // CHUNK_ROWS))
        size = max((end - start) / parts, dt.timedelta(microseconds=1))
    cursor = start
    while cursor < end:
        upper = min(cursor + size, end)
        yield cursor, upper, None
        cursor = upper


def _time_range(
    root: FeatureGroup, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None, int]:
    """The first and last root event times in [start, end), and how many rows lie there."""
    if root._offline.version(root._offline_table) is None:
        return None, None, 0
    event = root.event_time
    assert event is not None
    times = root._offline.dataset(root._offline_table).to_table(columns=[event]).column(event)
    if pa.types.is_date(times.type):
        times = times.cast(pa.timestamp("us", tz="UTC"))
    if start is not None:
        times = times.filter(pc.greater_equal(times, pa.scalar(start, times.type)))
    if end is not None:
        times = times.filter(pc.less(times, pa.scalar(end, times.type)))
    if len(times) == 0:
        return None, None, 0
    return to_utc(pc.min(times).as_py()), to_utc(pc.max(times).as_py()), len(times)


def _ray_predict(
    view: FeatureView,
    estimator: Any,
    model: Any,
    dataset: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    spine: Any,
    engine: str | None,
) -> pd.DataFrame:
    """Predictions scored on the Ray cluster: the view's batch data as a Ray Dataset, mapped
    by a pool of scoring actors that each receive the model once."""
    from fti.dependencies import import_optional

    ray = import_optional("ray", "ray")
    rows = view.get_batch_data(
        start,
        end,
        spine=spine,
        training_dataset_version=dataset,
        primary_key=True,
        event_time=True,
        return_type="ray",
        engine=engine,
    )
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    scored = rows.map_batches(
        _Scorer,
        fn_constructor_args=(
            ray.put(estimator),
            view.query.root.upsert_keys,
            view.feature_names,
            model.name,
            model.version,
        ),
        batch_format="pandas",
        # One CPU stays for the join and sort tasks feeding the scorers.
        concurrency=(1, max(1, cpus - 1)),
    )
    blocks = ray.get(scored.to_arrow_refs())
    if not blocks:
        return pd.DataFrame()
    # Without the pandas metadata of Ray's batches (Arrow-backed dtypes): plain dtypes, as the
    # local path gives.
    frame: pd.DataFrame = pa.concat_tables(blocks).replace_schema_metadata(None).to_pandas()
    return frame


class _Scorer:
    """A scoring actor of :func:`_ray_predict`: the model is deserialized once, here."""

    def __init__(
        self, estimator: Any, keys: list[str], names: list[str], name: str, version: int
    ) -> None:
        from fti.dependencies import import_optional

        ray = import_optional("ray", "ray")
        # Ray Data hands constructor arguments over as given: the model's object ref.
        self.estimator = ray.get(estimator) if isinstance(estimator, ray.ObjectRef) else estimator
        self.keys, self.names = keys, names
        self.name, self.version = name, version

    def __call__(self, frame: pd.DataFrame) -> pa.Table:
        out = _score_frame(self.keys, self.names, self.estimator, frame, self.name, self.version)
        # As Arrow: Ray Data would make the probabilities a tensor type fti cannot store.
        return pa.Table.from_pandas(out, preserve_index=False)


def _score(
    view: FeatureView, estimator: Any, frame: pd.DataFrame, name: str, version: int
) -> pd.DataFrame:
    root = view.query.root
    return _score_frame(root.upsert_keys, view.feature_names, estimator, frame, name, version)


def _score_frame(
    keys: list[str],
    names: list[str],
    estimator: Any,
    frame: pd.DataFrame,
    name: str,
    version: int,
) -> pd.DataFrame:
    """Keys, event time, model, prediction, probabilities and score of the rows of
    ``frame`` (keys, then the features ``names``)."""
    features = frame.drop(columns=[k for k in keys if k not in names])
    out = frame[keys].copy()
    out["model_name"] = name
    out["model_version"] = version
    out["prediction"] = np.asarray(estimator.predict(features))
    if hasattr(estimator, "predict_proba"):
        probabilities = np.asarray(estimator.predict_proba(features), dtype=float)
        out["probabilities"] = list(probabilities)
        if probabilities.shape[1] == 2:
            out["score"] = probabilities[:, 1]
    out["predicted_at"] = pd.Timestamp.now(tz="UTC").floor("us")
    return out


def _predictions_group(fs: FeatureStore, name: str, view: FeatureView) -> FeatureGroup:
    root = view.query.root
    try:
        return fs.get_feature_group(name)
    except NotFoundError:
        return fs.get_or_create_feature_group(
            name,
            primary_key=[*root.primary_key, "model_version"],
            event_time=root.event_time,
            online_enabled=False,
            description=f"Batch predictions of the models reading feature view {view.name}.",
        )
