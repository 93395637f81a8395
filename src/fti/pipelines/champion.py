"""Champion/challenger: a candidate takes an alias only when it beats the model holding it.

Both are scored on the same held-out rows (by default the candidate's training dataset's test
split, or its validation split when the test split is empty) with one quality metric; the alias
moves, through the promotion checks of ``set_alias``, only when the candidate is better by
``margin``. Each decision keeps both scores and the reason: it is returned, reported to the
active run (``fti runs show``) and kept on the candidate as the tag ``challenge_<alias>``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from fti import run_outputs
from fti.errors import InvalidArgumentError, NotFoundError, PromotionError

if TYPE_CHECKING:
    import pandas as pd

    from fti.model_registry.model import Model


@dataclass(frozen=True)
class Decision:
    """The outcome of a challenge, with both scores."""

    model: str
    alias: str
    candidate: int
    champion: int | None
    """The version that held the alias (None: nobody did)."""
    metric: str
    higher_is_better: bool
    margin: float
    candidate_score: float | None
    champion_score: float | None
    rows: int
    promoted: bool
    reason: str

    @property
    def summary(self) -> str:
        """The decision in a line."""
        verdict = "promoted" if self.promoted else "refused"
        return f"{self.model} v{self.candidate} {verdict} as {self.alias!r}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (with ``summary``)."""
        return {**asdict(self), "summary": self.summary}


def challenge(
    candidate: Model,
    alias: str,
    x: pd.DataFrame | None = None,
    y: Any = None,
    *,
    metric: str = "roc_auc",
    margin: float = 0.0,
    unsafe_pickle: bool = False,
) -> Decision:
    """Score ``candidate`` and the model holding ``alias`` on the same rows (``x``, ``y``; by
    default the candidate's held-out rows) and give it the alias when it is better by
    ``margin`` (in the metric's units) and passes the promotion checks.

    ``metric`` is ``roc_auc``, ``accuracy`` or ``log_loss`` for binary classifiers, ``mae`` or
    ``rmse`` for regressions.
    """
    from fti.monitoring.quality import HIGHER_IS_BETTER, QUALITY_METRICS

    if metric not in QUALITY_METRICS:
        raise InvalidArgumentError(
            f"metric must be one of {', '.join(sorted(QUALITY_METRICS))}, not {metric!r}"
        )
    if margin < 0:
        raise InvalidArgumentError(f"margin must be >= 0, not {margin!r}")
    if candidate.version is None:
        raise InvalidArgumentError(f"{candidate!r} is not saved yet: save it before a challenge")
    if (x is None) != (y is None):
        raise InvalidArgumentError("pass both x and y, or neither (the held-out rows)")
    if x is None:
        x, y = held_out(candidate)
    higher = metric in HIGHER_IS_BETTER
    registry = candidate._registry
    try:
        champion: Model | None = registry.get_model(candidate.name, alias=alias)
    except NotFoundError:
        champion = None
    mine = score(candidate, x, y, metric, unsafe_pickle)
    decision = {
        "model": candidate.name,
        "alias": alias,
        "candidate": candidate.version,
        "champion": None if champion is None else champion.version,
        "metric": metric,
        "higher_is_better": higher,
        "margin": float(margin),
        "candidate_score": mine,
        "champion_score": None,
        "rows": len(x),
    }
    if champion is not None and champion.version == candidate.version:
        return _decide(candidate, decision, False, f"v{candidate.version} holds {alias!r} already")
    if mine is None:
        return _decide(candidate, decision, False, f"{metric} cannot be computed on these rows")
    if champion is not None:
        try:
            theirs = score(champion, x, y, metric, unsafe_pickle)
        except Exception as exc:  # e.g. a champion reading other features: keep it, say why
            reason = f"champion v{champion.version} could not score the same rows ({exc})"
            return _decide(candidate, decision, False, reason)
        decision["champion_score"] = theirs
        gain = None if theirs is None else (mine - theirs if higher else theirs - mine)
        if gain is not None and gain < margin:
            reason = (
                f"{metric} {mine:.4f} vs champion v{champion.version} {theirs:.4f}: not better "
                f"by the margin {margin:g}"
            )
            return _decide(candidate, decision, False, reason)
        beaten = (
            f"{metric} {mine:.4f} vs champion v{champion.version} {theirs:.4f}"
            if theirs is not None
            else f"champion v{champion.version} has no {metric} on these rows"
        )
    else:
        beaten = f"{metric} {mine:.4f}; no model held {alias!r}"
    try:
        candidate.set_alias(alias)
    except PromotionError as exc:
        reason = f"{beaten}, but the promotion checks refused it: {'; '.join(exc.problems)}"
        return _decide(candidate, decision, False, reason)
    return _decide(candidate, decision, True, beaten)


def held_out(model: Model) -> tuple[pd.DataFrame, Any]:
    """X and y of the model's training dataset's test split, else its validation split."""
    lineage = model.lineage
    if lineage is None or lineage.training_dataset_version is None:
        raise InvalidArgumentError(
            f"{model!r} has no training dataset in its lineage: pass the rows (x, y) to score"
        )
    view = model.feature_view()
    version = lineage.training_dataset_version
    parts = view.training_dataset(version).split.parts
    if "validation" in parts:
        _, x_val, x_test, _, y_val, y_test = view.get_train_validation_test_split(version)
    elif "test" in parts:
        _, x_test, _, y_test = view.get_train_test_split(version)
        x_val = y_val = None
    else:
        raise InvalidArgumentError(f"training dataset {version} of {view!r} has no held-out split")
    if len(x_test) or x_val is None:
        return x_test, y_test
    return x_val, y_val


def score(
    model: Model, x: pd.DataFrame, y: Any, metric: str, unsafe_pickle: bool = False
) -> float | None:
    """``metric`` of ``model`` on (``x``, ``y``); None when it cannot be computed (one class)."""
    import numpy as np
    import pandas as pd

    from fti.monitoring.quality import compute_quality

    estimator = model.load(unsafe_pickle=unsafe_pickle)
    labels = y.iloc[:, 0] if isinstance(y, pd.DataFrame) else pd.Series(np.asarray(y))
    frame = pd.DataFrame(
        {"label": labels.to_numpy(), "prediction": np.asarray(estimator.predict(x))}
    )
    if hasattr(estimator, "predict_proba"):
        probabilities = np.asarray(estimator.predict_proba(x), dtype=float)
        if probabilities.ndim == 2 and probabilities.shape[1] == 2:
            frame["score"] = probabilities[:, 1]
    value = compute_quality(frame, "label").get(metric)
    return None if value is None else float(value)


def _decide(candidate: Model, decision: dict[str, Any], promoted: bool, reason: str) -> Decision:
    made = Decision(**decision, promoted=promoted, reason=reason)
    candidate.set_tag(f"challenge_{made.alias}", made.to_dict())
    run_outputs.report("decision", **made.to_dict())
    return made
