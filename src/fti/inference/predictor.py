"""The predictor: a registered model with its feature view, for requests by entity key.

It uses the model's lineage to find the feature view and the training dataset version, so
online vectors get the transformation state the model was trained with. Predictions go
through the same frame path as ``get_batch_data``, so HTTP and batch predictions agree.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti.errors import InvalidArgumentError, NotFoundError
from fti.inference.model_ref import ModelRef

if TYPE_CHECKING:
    from fti.feature_store.feature_view import FeatureView
    from fti.project import Project


@dataclass
class Timings:
    """Seconds spent in each stage of one prediction call."""

    lookup: float = 0.0
    transform: float = 0.0
    model: float = 0.0


@dataclass
class Prediction:
    """Predictions of one call, with what produced them."""

    model: str
    version: int
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    features: list[dict[str, Any]] = field(repr=False)
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class _Loaded:
    """One model version ready to serve; swapped whole when an alias moves."""

    version: int
    estimator: Any
    view: FeatureView
    training_dataset_version: int | None
    # The estimator fed a NumPy array instead of a one-row DataFrame (see _array_estimator).
    array_estimator: Any | None = None


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
        """Look up the features of ``entries`` online, transform them and predict."""
        loaded = self._loaded  # one consistent version for the whole call
        timings = Timings()
        started = time.perf_counter()
        plan = loaded.view._serving_plan()
        values = plan.lookup(list(entries), passed_features, request_parameters, self.allow_missing)
        timings.lookup = time.perf_counter() - started
        started = time.perf_counter()
        if loaded.array_estimator is not None:
            rows = plan.finish(values, "list")
            if all(type(v) in _NUMBERS for row in rows for v in row):
                # None becomes NaN, as in the DataFrame sklearn would have converted.
                array = np.array(rows, dtype=np.float64)
                timings.transform = time.perf_counter() - started
                return self._predict(loaded, loaded.array_estimator, array, values, timings)
        frame = plan.frame(values)
        timings.transform = time.perf_counter() - started
        return self._predict(loaded, loaded.estimator, frame, values, timings)

    def predict_features(self, frame: pd.DataFrame) -> Prediction:
        """Predict on feature vectors given directly (already transformed, view column order)."""
        loaded = self._loaded
        expected = list(loaded.view._serving_plan().frame([]).columns)
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
        labels = estimator.predict(features)
        probabilities = None
        classes = None
        if hasattr(estimator, "predict_proba"):
            probabilities = np.asarray(estimator.predict_proba(features), dtype=float).tolist()
            classes = [_plain(c) for c in getattr(estimator, "classes_", [])]
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
        return _Loaded(
            model.version, estimator, view, dataset, _array_estimator(estimator, view.feature_names)
        )


_NUMBERS = frozenset({float, int, bool, type(None), np.float64, np.float32, np.int64, np.int32})


def _array_estimator(estimator: Any, feature_names: Sequence[str]) -> Any | None:
    """A copy of a plain scikit-learn estimator that takes the feature vectors as an array.

    scikit-learn checks a DataFrame's names and dtypes on every call, which costs more than
    the rest of a one-entry request. When the estimator was fitted on exactly the view's
    columns, in order, the array holds the same values sklearn would have taken from the
    frame; the copy forgets the names only so that sklearn does not warn about their absence.
    None for anything else (pipelines, other frameworks): those get the DataFrame.
    """
    module = type(estimator).__module__
    names = getattr(estimator, "feature_names_in_", None)
    if not module.startswith("sklearn.") or hasattr(estimator, "steps") or names is None:
        return None
    if [str(n) for n in names] != list(feature_names):
        return None
    array_estimator = copy.copy(estimator)
    del array_estimator.feature_names_in_
    return array_estimator


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
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
