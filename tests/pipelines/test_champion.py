"""Champion/challenger: the alias moves only to a better candidate, every decision is kept with
both scores, and an alias rolls back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import fti
from fti.cli.main import app
from fti.errors import InvalidArgumentError, NotFoundError
from fti.pipelines import Runs, run_pipeline
from fti.pipelines.champion import challenge

START = dt.datetime(2013, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def view(project: fti.Project) -> fti.FeatureView:
    """A view whose label follows x, with a time split: train, then test."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    group = project.feature_store.create_feature_group("rows", primary_key=["k"], event_time="t")
    group.insert(
        pd.DataFrame(
            {
                "k": range(400),
                "t": START + pd.to_timedelta(np.arange(400), unit="h"),
                "x": x,
                "y": (x + rng.normal(scale=0.5, size=400)) > 0,
            }
        )
    )
    fv = project.feature_store.create_feature_view(
        "rows", query=group.select(["x", "y"]), labels=["y"]
    )
    fv.train_test_split(test_start=START + dt.timedelta(hours=300))
    return fv


def _save(project: fti.Project, view: fti.FeatureView, estimator: object) -> fti.Model:
    x, _, y, _ = view.get_train_test_split(1)
    model = project.model_registry.create_model("m", feature_view=view, training_dataset_version=1)
    return model.save(estimator.fit(x, y))  # type: ignore[attr-defined]


def test_a_better_candidate_takes_the_alias_and_a_worse_one_is_refused(
    project: fti.Project, view: fti.FeatureView
) -> None:
    weak = _save(project, view, DummyClassifier(strategy="prior"))
    first = challenge(weak, "production")
    assert first.promoted and first.champion is None
    assert first.reason == f"roc_auc {first.candidate_score:.4f}; no model held 'production'"

    strong = _save(project, view, LogisticRegression())
    second = challenge(strong, "production", margin=0.05)
    assert second.promoted and (second.champion, second.candidate) == (1, 2)
    assert second.candidate_score is not None and second.champion_score == pytest.approx(0.5)
    assert second.candidate_score > 0.8
    assert project.model_registry.get_model("m", alias="production").version == 2

    third = challenge(_save(project, view, DummyClassifier(strategy="prior")), "production")
    assert not third.promoted
    assert third.reason.endswith("not better by the margin 0")
    assert project.model_registry.get_model("m", alias="production").version == 2
    # Each decision is kept on its candidate, with both scores.
    kept = project.model_registry.get_model("m", 3).tags["challenge_production"]
    assert (kept["champion"], kept["promoted"], kept["rows"]) == (2, False, 100)


def test_a_decision_inside_a_run_is_shown_by_fti_runs_show(
    project: fti.Project, view: fti.FeatureView
) -> None:
    _save(project, view, LogisticRegression()).set_alias("production")

    @fti.pipeline(kind="training")
    def train(project: fti.Project) -> None:
        candidate = _save(project, view, DummyClassifier(strategy="prior"))
        challenge(candidate, "production", metric="log_loss", margin=0.01)

    run = run_pipeline(project, train)
    [decision] = [
        o for o in Runs(project.name, project.metadata_store).outputs(run) if o.kind == "decision"
    ]
    assert decision.fields["metric"] == "log_loss" and not decision.fields["higher_is_better"]
    assert decision.fields["promoted"] is False

    home = str(project.settings.home)
    shown = CliRunner().invoke(
        app, ["--home", home, "--project", project.name, "runs", "show", run.id]
    )
    assert shown.exit_code == 0, shown.output
    assert "m v2 refused as 'production'" in shown.output
    assert "log_loss on 100 held-out rows: candidate v2" in shown.output


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "f1"}, "metric must be one of"),
        ({"margin": -0.1}, "margin must be >= 0"),
        ({"x": pd.DataFrame({"x": [1.0]})}, "pass both x and y"),
    ],
    ids=["metric", "margin", "x-without-y"],
)
def test_bad_challenges_are_refused(
    project: fti.Project, view: fti.FeatureView, kwargs: dict[str, object], message: str
) -> None:
    model = _save(project, view, LogisticRegression())
    with pytest.raises(InvalidArgumentError, match=message):
        challenge(model, "production", **kwargs)  # type: ignore[arg-type]


def test_rollback_moves_an_alias_back_one_version_at_a_time(
    project: fti.Project, view: fti.FeatureView
) -> None:
    registry = project.model_registry
    for _ in range(3):
        _save(project, view, LogisticRegression()).set_alias("production")
    home = str(project.settings.home)

    result = CliRunner().invoke(
        app, ["--home", home, "--project", project.name, "models", "rollback", "m@production"]
    )
    assert result.exit_code == 0, result.output
    assert "m@production: v3 -> v2" in result.output
    assert registry.rollback("m", "production").version == 1
    with pytest.raises(NotFoundError, match="nothing to roll back to"):
        registry.rollback("m", "production")
    with pytest.raises(NotFoundError, match="has no alias 'staging'"):
        registry.rollback("m", "staging")
    bad = CliRunner().invoke(app, ["--home", home, "models", "rollback", "m"])
    assert bad.exit_code == 2 and "is not NAME@ALIAS" in bad.output
