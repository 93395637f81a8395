"""The training pipeline of the flights demo: feature view -> LightGBM -> model registry.

    python examples/flights/training_pipeline.py [--home DIR] [--project flights]

Reads the time split of the flights feature view (train Jan-Aug, validation Sep-Oct, test
Nov-Dec), trains a LightGBM classifier with early stopping on the validation split, and scores
ROC AUC, PR AUC and log loss on the test split beside a naive baseline that always predicts the
training base rate. Until Nov-Dec have arrived the test split is empty: the model is then scored
on the validation split, which early stopping has also seen (slightly optimistic), and the
metric names and the printed table say so.

The model is an sklearn Pipeline: an OrdinalEncoder for carrier/origin/dest (categories fixed
from the training rows; unseen or missing values become -1, which LightGBM treats as missing)
and the classifier, which reads the three codes as categorical features. So batch and online
inference call ``model.predict_proba(X)`` on the view's output as it is, string columns
included. It is registered with its metrics, lineage (view and training dataset version) and an
input example, and takes the alias ``production`` when it beats the current production model
on the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.compose import ColumnTransformer
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feature_view as flight_view

import fti
from fti.pipelines.champion import challenge

console = Console()

MODEL_NAME = "flight_delays"
ALIAS = "production"
LEAKAGE_ROC_AUC = 0.78
"""An honest model scores 0.72-0.76 (docs/how-to/flights-demo.md); above this, future data
leaked into training."""
EARLY_STOPPING_ROUNDS = 50
PARAMS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    # More threads were 10x slower on the 2 shared cores the demo was developed on.
    "n_jobs": 1,
    "random_state": 0,
    "verbose": -1,
}
SPLIT_DESCRIPTION = "train Jan-Aug, validation Sep-Oct, test Nov-Dec"


@dataclass(frozen=True)
class Evaluation:
    """Scores of the model and of the base-rate baseline on one split."""

    split: str
    rows: int
    note: str
    model: dict[str, float]
    baseline: dict[str, float]

    def metrics(self) -> dict[str, float]:
        """Metric names carry the split they were measured on."""
        named = {f"{self.split}_{k}": v for k, v in self.model.items()}
        named |= {f"{self.split}_baseline_{k}": v for k, v in self.baseline.items()}
        return named


def main(
    project: fti.Project,
    *,
    validation_start: dt.datetime = flight_view.VALIDATION_START,
    test_start: dt.datetime = flight_view.TEST_START,
    end_time: dt.datetime | None = None,
    margin: float | None = None,
) -> fti.Model:
    """Train, evaluate, register and maybe promote the flights model; returns the new version.

    The split is train before ``validation_start``, validation, then test from ``test_start``
    (to ``end_time``). With ``margin``, the model takes the alias through champion/challenger
    (``fti.pipelines.champion.challenge``: better by ``margin`` on the same held-out rows).
    """
    fv = flight_view.feature_view(project.feature_store)
    version = training_dataset_version(fv, validation_start, test_start, end_time)
    x_train, x_val, x_test, y_train, y_val, y_test = fv.get_train_validation_test_split(version)
    console.print(
        f"Training dataset {version} of {fv.name!r} v{fv.version}: train {len(x_train):,}, "
        f"validation {len(x_val):,}, test {len(x_test):,} rows"
    )
    pipeline, best_iteration = train(x_train, y_train, x_val, y_val)
    base_rate = float(np.mean(y_train))
    if len(x_test):
        split, x_eval, y_eval = "test", x_test, y_test
        note = f"test split: from {test_start:%Y-%m-%d %H:%M} UTC"
    else:
        split, x_eval, y_eval = "validation", x_val, y_val
        note = (
            "validation split (Sep-Oct): the test split is empty until Nov-Dec arrive, and "
            "early stopping also used these rows, so the score is slightly optimistic"
        )
    evaluation = evaluate(pipeline, x_eval, y_eval, base_rate, split, note)
    console.print(_metrics_table(evaluation))
    model = project.model_registry.create_model(
        MODEL_NAME,
        framework="sklearn",
        metrics=evaluation.metrics(),
        params={
            **PARAMS,
            "best_iteration": best_iteration,
            "evaluation_split": evaluation.split,
            "evaluation_note": evaluation.note,
            "train_base_rate": base_rate,
        },
        description="LightGBM: is a departure from New York delayed by 15 minutes or more? "
        "Scored 2 h before the scheduled departure.",
        feature_view=fv,
        training_dataset_version=version,
        input_example=x_train.head(5),
    ).save(pipeline)
    console.print(f"Registered {model.name!r} version {model.version}")
    if margin is None:
        promote(project, model, fv, evaluation, x_eval, y_eval)
    else:
        decision = challenge(model, ALIAS, x_eval, y_eval, metric="roc_auc", margin=margin)
        console.print(decision.summary)
    return model


def training_dataset_version(
    fv: fti.FeatureView,
    validation_start: dt.datetime = flight_view.VALIDATION_START,
    test_start: dt.datetime = flight_view.TEST_START,
    end_time: dt.datetime | None = None,
) -> int:
    """The latest training dataset with this time split over the groups' latest commits;
    a new one when the data has moved on since (e.g. Nov-Dec arrived: the test split fills)."""
    latest = {f"{s.group.name}_v{s.group.version}": _last_commit(s.group) for s in fv.query.steps}
    for dataset in reversed(fv.training_datasets()):
        rule = dataset.split
        if (
            dataset.end_time == end_time
            and dataset.versions == latest
            and (
                rule.kind,
                rule.validation_start,
                rule.test_start,
            )
            == (
                "time",
                validation_start,
                test_start,
            )
        ):
            return int(dataset.version)
    standard = (validation_start, test_start, end_time) == (
        flight_view.VALIDATION_START,
        flight_view.TEST_START,
        None,
    )
    fv.train_validation_test_split(
        validation_start=validation_start,
        test_start=test_start,
        end_time=end_time,
        description=SPLIT_DESCRIPTION
        if standard
        else f"train to {validation_start:%Y-%m-%d}, validation to {test_start:%Y-%m-%d}, "
        f"test to {end_time or 'the latest rows'}",
    )
    return int(fv.training_dataset().version)


def _last_commit(group: fti.FeatureGroup) -> int | None:
    commits = group.commits()
    return commits[-1].id if commits else None


def train(
    x_train: pd.DataFrame, y_train: pd.Series, x_val: pd.DataFrame, y_val: pd.Series
) -> tuple[Pipeline, int]:
    """The encoder + classifier pipeline, early-stopped on the validation rows."""
    encoder = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=-1,
                    encoded_missing_value=-1,
                ),
                flight_view.CATEGORICAL,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    train_x = encoder.fit_transform(x_train)
    val_x = encoder.transform(x_val)
    classifier = lgb.LGBMClassifier(**PARAMS)
    classifier.fit(
        train_x,
        y_train,
        categorical_feature=flight_view.CATEGORICAL,
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        **_eval_data(val_x, y_val),
    )
    pipeline = Pipeline([("encode", encoder), ("classify", classifier)])
    return pipeline, int(classifier.best_iteration_ or PARAMS["n_estimators"])


def _eval_data(x: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    # LightGBM 4.7 deprecates eval_set= (a warning) in favour of eval_X=/eval_y=.
    if "eval_X" in inspect.signature(lgb.LGBMClassifier.fit).parameters:
        return {"eval_X": (x,), "eval_y": (y,)}
    return {"eval_set": [(x, y)]}


def evaluate(
    pipeline: Any, x: pd.DataFrame, y: pd.Series, base_rate: float, split: str, note: str
) -> Evaluation:
    """ROC AUC, PR AUC and log loss of the model and of the base-rate predictor."""
    labels = np.asarray(y, dtype=int)
    scores = pipeline.predict_proba(x)[:, 1]
    constant = np.full(len(labels), base_rate)
    return Evaluation(split, len(labels), note, _scores(labels, scores), _scores(labels, constant))


def _scores(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
    }


def promote(
    project: fti.Project,
    model: fti.Model,
    fv: fti.FeatureView,
    ev: Evaluation,
    x: pd.DataFrame,
    y: pd.Series,
) -> None:
    """Give ``model`` the production alias if it beats the current one on the same rows."""
    metric = f"{ev.split}_roc_auc"
    score = ev.model["roc_auc"]
    if score > LEAKAGE_ROC_AUC:
        model.set_tag("suspected_leakage", True)
        console.print(
            f"[bold red]ROC AUC {score:.3f} > {LEAKAGE_ROC_AUC}: future data leaked into "
            "training somewhere; not promoting this model.[/]"
        )
        return
    try:
        champion = project.model_registry.get_model(MODEL_NAME, alias=ALIAS)
    except fti.NotFoundError:
        champion = None
    if champion is not None:
        rival = _champion_score(champion, fv, x, y, metric)
        if rival is None:
            console.print(
                f"Production model v{champion.version} has no {metric} to compare with: "
                "keeping it; promote by hand with `fti models alias`."
            )
            return
        if score <= rival:
            console.print(
                f"Keeping production model v{champion.version}: {metric} {rival:.4f} >= "
                f"{score:.4f} of v{model.version}"
            )
            return
        console.print(
            f"v{model.version} beats production v{champion.version} on the same rows: "
            f"{score:.4f} > {rival:.4f}"
        )
    try:
        model.set_alias(ALIAS)
    except fti.PromotionError as exc:
        console.print(f"[bold yellow]Not promoted:[/] {exc}")
        return
    console.print(f"[bold green]{model.name} v{model.version} is now {ALIAS!r}[/]")


def _champion_score(
    champion: fti.Model, fv: fti.FeatureView, x: pd.DataFrame, y: pd.Series, metric: str
) -> float | None:
    """The champion's ROC AUC on the same rows when it reads the same view, else its record."""
    lineage = champion.lineage
    same_view = lineage is not None and (lineage.feature_view, lineage.feature_view_version) == (
        fv.name,
        fv.version,
    )
    if same_view and champion.framework == "sklearn":
        scores = champion.load().predict_proba(x)[:, 1]
        return float(roc_auc_score(np.asarray(y, dtype=int), scores))
    recorded = champion.metrics.get(metric)
    return None if recorded is None else float(recorded)


def _metrics_table(ev: Evaluation) -> Table:
    table = Table(
        title=f"Evaluation on the {ev.split} split ({ev.rows:,} flights)", caption=ev.note
    )
    table.add_column("metric")
    table.add_column("LightGBM", justify="right")
    table.add_column("baseline (base rate)", justify="right")
    for name in ("roc_auc", "pr_auc", "log_loss"):
        table.add_row(f"{ev.split}_{name}", f"{ev.model[name]:.4f}", f"{ev.baseline[name]:.4f}")
    return table


def cli(argv: list[str] | None = None) -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--home", help="fti home (default: $FTI_HOME or ./.fti)")
    parser.add_argument("--project", default="flights", help="project name (default: flights)")
    utc = _utc_time
    parser.add_argument("--validation-start", type=utc, default=flight_view.VALIDATION_START)
    parser.add_argument("--test-start", type=utc, default=flight_view.TEST_START)
    parser.add_argument("--end", type=utc, default=None, help="end of the data to train on")
    args = parser.parse_args(argv)
    with fti.connect(args.home, args.project) as project:
        main(
            project,
            validation_start=args.validation_start,
            test_start=args.test_start,
            end_time=args.end,
        )


def _utc_time(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


if __name__ == "__main__":
    cli()
