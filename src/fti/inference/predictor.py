"""The predictor: a registered model with its feature view, for requests by entity key.

It uses the model's lineage to find the feature view and the training dataset version, so
online vectors get the transformation state the model was trained with. The model gets the
frame ``get_batch_data`` would give, or for a plain scikit-learn estimator the same values as
an array (ADR 0006), so HTTP and batch predictions agree.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti.errors import FtiError, InvalidArgumentError, NotFoundError
from fti.inference.model_ref import ModelRef

if TYPE_CHECKING:
    from fti.feature_store.feature_view import FeatureView
    from fti.feature_store.serving import ServingPlan
    from fti.project import Project

logger = logging.getLogger(__name__)


@dataclass
class Timings:
    """Seconds spent in each stage of one prediction call."""

    lookup: float = 0.0
    transform: float = 0.0
    model: float = 0.0


@dataclass
class Prediction:
    """Predictions of one call, one per entry, with what produced them.

    An entry that failed (``errors``) has None as its prediction and probabilities; the
    others have the features the model was given (``features``, in entry order).
    """

    model: str
    version: int
    predictions: list[Any]
    probabilities: list[list[float] | None] | None
    classes: list[Any] | None
    features: list[dict[str, Any]] = field(repr=False)
    timings: Timings = field(default_factory=Timings)
    missing_features: list[tuple[str, ...]] = field(default_factory=list)
    """Per entry: features null because their group has no online row for the entry."""
    expired_features: list[tuple[str, ...]] = field(default_factory=list)
    """Per entry: features null because their row is older than the join's ttl."""
    errors: list[FtiError | None] | None = None
    """Per entry, when some entries failed: the error of each failed one."""


@dataclass(frozen=True)
class _Loaded:
    """One model version ready to serve; swapped whole when an alias moves."""

    version: int
    estimator: Any
    view: FeatureView
    training_dataset_version: int | None
    # The columns of the view's frame and their dtypes, or None when the view's
    # transformations cannot say (they do not take an empty frame).
    inputs: dict[str, Any] | None = None
    # The estimator fed a NumPy array instead of a DataFrame (see _ArrayPath), or None.
    array_path: _ArrayPath | None = None


class Predictor:
    """Serves one model reference (``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``)."""

    def __init__(self, project: Project, ref: ModelRef | str, *, allow_missing: bool = False):
        self.project = project
        self.ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        self.allow_missing = allow_missing
        self._lock = threading.Lock()
        self._loaded = self._load(self._resolve())

    @property
    def name(self) -> str:
        """The model name."""
        return self.ref.name

    @property
    def version(self) -> int:
        """The model version being served."""
        return self._loaded.version

    @property
    def view(self) -> FeatureView:
        """The feature view the model reads."""
        return self._loaded.view

    @property
    def estimator(self) -> Any:
        """The model object being served."""
        return self._loaded.estimator

    @property
    def inputs(self) -> dict[str, Any]:
        """The model's inputs: the columns of the view's (transformed) frame and their dtypes."""
        inputs = self._loaded.inputs
        if inputs is None:
            raise InvalidArgumentError(
                f"model {self.name}: the transformations of view {self.view.name!r} cannot "
                "describe their columns (they do not take an empty frame); predict by key"
            )
        return inputs

    def refresh(self) -> bool:
        """Follow the alias: load the version it points to now; True when it changed."""
        if self.ref.alias is None:
            return False
        model = self._resolve()
        if model.version == self._loaded.version:
            return False
        loaded = self._load(model)
        with self._lock:
            self._loaded = loaded
        return True

    def predict(
        self,
        entries: Sequence[Mapping[str, Any]],
        passed_features: Sequence[Mapping[str, Any]] | None = None,
        request_parameters: Sequence[Mapping[str, Any]] | None = None,
    ) -> Prediction:
        """Look up the features of ``entries`` online, transform them and predict.

        Entries that fail (a bad key, no online row) are reported in ``errors`` while the
        others are predicted; when every entry fails, the first entry's error is raised.
        """
        loaded = self._loaded  # one consistent version for the whole call
        timings = Timings()
        started = time.perf_counter()
        plan = loaded.view._serving_plan()
        found = plan.lookup(
            list(entries), passed_features, request_parameters, self.allow_missing, per_entry=True
        )
        timings.lookup = time.perf_counter() - started
        if found.failed and len(found.failed) == len(entries):
            raise found.failed[0]
        result = self._predict_found(loaded, plan, found.values, timings)
        result.missing_features, result.expired_features = found.missing, found.expired
        if found.failed:
            _spread(result, found.failed, len(entries))
        return result

    def _predict_found(
        self, loaded: _Loaded, plan: ServingPlan, values: list[dict[str, Any]], timings: Timings
    ) -> Prediction:
        started = time.perf_counter()
        path = loaded.array_path
        if path is not None and not path.failed:
            rows = plan.finish(values, "list")
            if path.accepts(rows):
                array = np.array(rows, dtype=np.float64).reshape(len(rows), len(path.kinds))
                timings.transform = time.perf_counter() - started
                try:
                    return self._predict(loaded, path.estimator, array, values, timings)
                except (InvalidArgumentError, AttributeError) as exc:
                    # The frame decides: if it fails too, the input was bad; if it works,
                    # the array does not suit this model and is not tried again.
                    result = self._predict(
                        loaded, loaded.estimator, plan.frame(values), values, timings
                    )
                    path.failed = True
                    logger.warning("%s v%s: array input failed: %s", self.name, loaded.version, exc)
                    return result
        frame = plan.frame(values)
        timings.transform = time.perf_counter() - started
        return self._predict(loaded, loaded.estimator, frame, values, timings)

    def predict_features(self, frame: pd.DataFrame) -> Prediction:
        """Predict on feature vectors given directly (already transformed, view column order)."""
        loaded = self._loaded
        expected = list(self.inputs)
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            raise InvalidArgumentError(f"missing input feature(s): {', '.join(missing)}")
        frame = frame[expected]
        return self._predict(loaded, loaded.estimator, frame, frame.to_dict("records"), Timings())

    def _predict(
        self,
        loaded: _Loaded,
        estimator: Any,
        features: pd.DataFrame | np.ndarray[Any, Any],
        values: list[Any],
        timings: Timings,
    ) -> Prediction:
        started = time.perf_counter()
        try:
            labels = estimator.predict(features)
            probabilities = None
            classes = None
            if hasattr(estimator, "predict_proba"):
                scores = np.asarray(estimator.predict_proba(features), dtype=float)
                probabilities = scores.tolist()
                if not np.isfinite(scores).all():  # JSON has no NaN
                    probabilities = [[_plain(v) for v in row] for row in probabilities]
                classes = [_plain(c) for c in getattr(estimator, "classes_", [])]
        except (ValueError, TypeError) as exc:
            # What a model refuses (NaN for a model without missing-value support, a string
            # where it wants numbers) is the request's fault, not the server's.
            raise InvalidArgumentError(
                f"model {self.name} v{loaded.version} cannot predict on this input: {exc}"
            ) from exc
        timings.model = time.perf_counter() - started
        return Prediction(
            model=self.name,
            version=loaded.version,
            predictions=[_plain(v) for v in np.asarray(labels).tolist()],
            probabilities=probabilities,
            classes=classes,
            features=[{str(k): _plain(v) for k, v in row.items()} for row in values],
            timings=timings,
        )

    def _resolve(self) -> Any:
        registry = self.project.model_registry
        return registry.get_model(self.ref.name, version=self.ref.version, alias=self.ref.alias)

    def _load(self, model: Any) -> _Loaded:
        view_name, view_version, dataset = lineage_of(model)
        view = self.project.feature_store.get_feature_view(view_name, view_version)
        view.init_serving(dataset)
        estimator = model.load()
        inputs = _inputs(view)
        return _Loaded(
            model.version, estimator, view, dataset, inputs, _array_path(estimator, inputs)
        )


_INTS = (int, np.int64, np.int32)
_FLOATS = (float, np.float64, np.float32, *_INTS, type(None))
_BOOLS = (bool, np.bool_)


@dataclass
class _ArrayPath:
    """A copy of a plain scikit-learn estimator that takes the feature vectors as an array.

    scikit-learn checks a DataFrame's names and dtypes on every call, which cost more than the
    rest of a one-entry request. The array holds the values sklearn would have taken from the
    frame: it is used only when every column of the view's frame is float64, int64/int32 or
    bool, in the estimator's order, and every value is of its column's kind (no None but in a
    float column, where the frame has NaN too). The copy forgets the feature names only so
    that sklearn does not warn about their absence.
    """

    estimator: Any
    kinds: tuple[tuple[type, ...], ...]
    failed: bool = False

    def accepts(self, rows: list[list[Any]]) -> bool:
        """True when every value of ``rows`` is of its column's kind."""
        kinds = self.kinds
        for row in rows:
            for value, kind in zip(row, kinds, strict=True):
                # bool is an int: it belongs in bool columns only.
                if not isinstance(value, kind) or (isinstance(value, bool) and kind is not _BOOLS):
                    return False
        return True


def _inputs(view: FeatureView) -> dict[str, Any] | None:
    """The columns of the view's transformed frame and their dtypes, if it can tell."""
    try:
        frame = view._serving_plan().frame([])
    except (FtiError, ValueError, TypeError, KeyError):
        return None  # a transformation that cannot take an empty frame
    return {str(column): dtype for column, dtype in frame.dtypes.items()}


def _array_path(estimator: Any, inputs: dict[str, Any] | None) -> _ArrayPath | None:
    """The array path for ``estimator``, or None when it needs the DataFrame."""
    names = vars(estimator).get("feature_names_in_")
    if names is None or inputs is None or not type(estimator).__module__.startswith("sklearn."):
        return None
    if not hasattr(estimator, "get_params") or _wraps_estimators(estimator):
        return None
    if [str(n) for n in names] != list(inputs):
        return None
    by_dtype = {"float64": _FLOATS, "int64": _INTS, "int32": _INTS, "bool": _BOOLS}
    kinds = [by_dtype.get(str(dtype)) for dtype in inputs.values()]
    if any(kind is None for kind in kinds):
        return None
    array_estimator = copy.copy(estimator)
    del array_estimator.feature_names_in_
    return _ArrayPath(array_estimator, tuple(k for k in kinds if k is not None))


def _wraps_estimators(estimator: Any) -> bool:
    """True for meta-estimators (pipelines, searches, ensembles...), which may select
    columns by name inside."""

    def is_estimator(value: Any) -> bool:
        if isinstance(value, list | tuple):
            return any(is_estimator(v) for v in value)
        return hasattr(value, "fit") and hasattr(value, "get_params")

    return any(is_estimator(v) for v in estimator.get_params(deep=False).values())


def _spread(result: Prediction, failed: dict[int, FtiError], count: int) -> None:
    """Spread ``result`` (of the entries that did not fail) over all ``count`` entries."""
    predictions: list[Any] = []
    probabilities: list[list[float] | None] = []
    errors: list[FtiError | None] = []
    done = 0
    for n in range(count):
        error = failed.get(n)
        errors.append(error)
        if error is not None:
            predictions.append(None)
            probabilities.append(None)
            continue
        predictions.append(result.predictions[done])
        if result.probabilities is not None:
            probabilities.append(result.probabilities[done])
        done += 1
    result.predictions = predictions
    if result.probabilities is not None:
        result.probabilities = probabilities
    result.errors = errors


def lineage_of(model: Any) -> tuple[str, int, int | None]:
    """The feature view name, version and training dataset version a model was trained on."""
    lineage = model.lineage
    if lineage is None or getattr(lineage, "feature_view", None) is None:
        raise NotFoundError(
            f"model {model.name} v{model.version} has no feature view lineage: register it with "
            "feature_view= and training_dataset_version= to serve it by entity key"
        )
    return (
        lineage.feature_view,
        int(lineage.feature_view_version),
        lineage.training_dataset_version,
    )


def _plain(value: Any) -> Any:
    """A NumPy scalar as a Python value; NaN and infinities (which JSON lacks) as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
