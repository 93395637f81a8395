"""The models a server serves: predictors, their inference logs, and alias following."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fti.errors import NotFoundError
from fti.inference.inference_log import InferenceLog, log_group
from fti.inference.model_ref import ModelRef
from fti.inference.predictor import Predictor
from fti.types import Feature

if TYPE_CHECKING:
    from fti.project import Project
    from fti.server.metrics import ServerMetrics


@dataclass
class Deployment:
    """One served model."""

    predictor: Predictor
    log: InferenceLog | None


class Deployments:
    """Every served model by name, with a thread that follows aliases."""

    def __init__(
        self,
        project: Project,
        models: Sequence[str | ModelRef],
        metrics: ServerMetrics,
        *,
        log: bool = True,
        allow_missing: bool = False,
        refresh_seconds: float = 2.0,
    ) -> None:
        self.metrics = metrics
        self.by_name: dict[str, Deployment] = {}
        for model in models:
            ref = ModelRef.parse(model) if isinstance(model, str) else model
            predictor = Predictor(project, ref, allow_missing=allow_missing)
            inference_log = None
            if log:
                group = log_group(
                    project.feature_store, ref.name, _raw_features(predictor), _outputs()
                )
                inference_log = InferenceLog(group)
            self.by_name[ref.name] = Deployment(predictor, inference_log)
            metrics.model_version.labels(ref.name).set(predictor.version)
        self._stop = threading.Event()
        self._refresh_seconds = refresh_seconds
        self._thread = threading.Thread(target=self._follow, name="fti-aliases", daemon=True)
        if any(d.predictor.ref.alias for d in self.by_name.values()):
            self._thread.start()

    def get(self, name: str) -> Deployment:
        """The deployment of ``name``; NotFoundError when the server does not serve it."""
        deployment = self.by_name.get(name)
        if deployment is None:
            raise NotFoundError(
                f"model {name!r} is not served here; served: {', '.join(sorted(self.by_name))}"
            )
        return deployment

    def close(self) -> None:
        """Stop following aliases and flush the inference logs."""
        self._stop.set()
        for deployment in self.by_name.values():
            if deployment.log is not None:
                deployment.log.close()

    def _follow(self) -> None:
        while not self._stop.wait(self._refresh_seconds):
            for name, deployment in self.by_name.items():
                try:
                    if deployment.predictor.refresh():
                        self.metrics.model_version.labels(name).set(deployment.predictor.version)
                except Exception:
                    continue


def _raw_features(predictor: Predictor) -> list[Feature]:
    view = predictor.view
    types = {c.name: c.type for c in view.query.outputs}
    return [Feature(name, types[name]) for name in view.feature_names]


def _outputs() -> list[Feature]:
    return [Feature("prediction", "string"), Feature("score", "float64")]


def log_outputs(prediction: Any, probabilities: Any) -> dict[str, Any]:
    """The logged outputs of one prediction: the label as text, the positive-class score."""
    score = None
    if probabilities is not None and len(probabilities) == 2:
        score = float(probabilities[1])
    return {"prediction": None if prediction is None else str(prediction), "score": score}
