"""The model registry: versions, look-ups, names, metrics, tags, deletes and downloads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import fti


def small_model(seed: int = 0) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(50, 3))
    return LogisticRegression().fit(x, x[:, 0] + rng.normal(size=50) > 0)


def test_save_assigns_versions_and_lookups_find_them(mr: fti.ModelRegistry) -> None:
    first = mr.create_model("churn", metrics={"auc": 0.7}).save(small_model())
    second = mr.create_model("churn", metrics={"auc": 0.9}).save(small_model(1))
    third = mr.create_model("churn", metrics={"auc": 0.8}).save(small_model(2))

    assert (first.version, second.version, third.version) == (1, 2, 3)
    assert first.framework == "sklearn" and first.state == "ready"
    assert mr.get_model("churn").version == 3
    assert mr.get_model("churn", version=2).metrics == {"auc": 0.9}
    assert [m.version for m in mr.get_models("churn")] == [1, 2, 3]
    assert mr.get_best_model("churn", "auc").version == 2
    assert mr.get_best_model("churn", "auc", direction="min").version == 1
    assert [(m.name, m.version) for m in mr.list_models()] == [("churn", 3)]
    assert mr.get_models("other") == []


def test_unsaved_model_has_no_version_and_save_again_makes_another(
    mr: fti.ModelRegistry,
) -> None:
    model = mr.create_model("churn", params={"c": np.float64(1.0), "layers": (3, 2)})
    assert model.version is None and model.state is None

    model.save(small_model())
    assert model.version == 1 and model.params == {"c": 1.0, "layers": [3, 2]}
    model.save(small_model())
    assert model.version == 2


def test_unknown_models_versions_and_aliases_raise_not_found(mr: fti.ModelRegistry) -> None:
    mr.create_model("churn").save(small_model())

    with pytest.raises(fti.NotFoundError, match="version 7"):
        mr.get_model("churn", version=7)
    with pytest.raises(fti.NotFoundError):
        mr.get_model("nope")
    with pytest.raises(fti.NotFoundError, match="alias 'production'"):
        mr.get_model("churn", alias="production")
    with pytest.raises(fti.NotFoundError, match="metric 'f1'"):
        mr.get_best_model("churn", "f1")
    with pytest.raises(fti.InvalidArgumentError, match="not both"):
        mr.get_model("churn", version=1, alias="production")


@pytest.mark.parametrize(
    "name", ["", "..", "../x", "a/b", "/etc", "A", "a.b", "a b", "1a", "a" * 64, None, 5]
)
def test_bad_model_names_are_refused(mr: fti.ModelRegistry, name: object) -> None:
    with pytest.raises(fti.InvalidNameError):
        mr.create_model(name)
    with pytest.raises(fti.InvalidNameError):
        mr.get_model(name)


@pytest.mark.parametrize("version", [0, -1, True, 1.5, "1", "../1", 2**31, 2**70])
def test_bad_versions_are_refused(mr: fti.ModelRegistry, version: object) -> None:
    with pytest.raises(fti.InvalidNameError):
        mr.get_model("churn", version=version)


@pytest.mark.parametrize("alias", ["", "..", "a/b", "Production"])
def test_bad_aliases_are_refused(mr: fti.ModelRegistry, alias: str) -> None:
    model = mr.create_model("churn").save(small_model())
    with pytest.raises(fti.InvalidNameError):
        model.set_alias(alias)
    with pytest.raises(fti.InvalidNameError):
        mr.get_model("churn", alias=alias)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, r"metric 'auc' is nan: metrics must be finite"),
        (np.float32("nan"), r"metric 'auc' is nan"),
        (math.inf, r"metric 'auc' is inf"),
        (-math.inf, r"metric 'auc' is -inf"),
        ("0.9", "metrics must be numbers"),
        (True, "metrics must be numbers"),
        (None, "metrics must be numbers"),
    ],
)
def test_bad_metrics_are_refused_with_a_clear_message(
    mr: fti.ModelRegistry, value: object, message: str
) -> None:
    with pytest.raises(fti.InvalidArgumentError, match=message):
        mr.create_model("churn", metrics={"auc": value})
    assert mr.get_models("churn") == []


def test_numpy_metrics_and_params_become_plain_json(mr: fti.ModelRegistry) -> None:
    model = mr.create_model(
        "churn", metrics={"auc": np.float32(0.5), "n": np.int64(3)}, params={"k": np.int32(2)}
    ).save(small_model())

    again = mr.get_model("churn", version=model.version)
    assert again.metrics == {"auc": 0.5, "n": 3.0}
    assert again.params == {"k": 2}


@pytest.mark.parametrize(
    "params", [{"x": object()}, {"x": math.nan}, {1: "a"}, {"x": {2: 3}}, "not a dict"]
)
def test_params_must_be_json(mr: fti.ModelRegistry, params: object) -> None:
    with pytest.raises(fti.InvalidArgumentError):
        mr.create_model("churn", params=params)


def test_framework_must_be_known_and_fit_the_object(mr: fti.ModelRegistry) -> None:
    with pytest.raises(fti.InvalidArgumentError, match="unknown framework 'torch'"):
        mr.create_model("churn", framework="torch")
    with pytest.raises(fti.InvalidArgumentError, match="framework='xgboost' cannot save"):
        mr.create_model("churn", framework="xgboost").save(small_model())
    with pytest.raises(fti.InvalidArgumentError, match="cannot tell the framework"):
        mr.create_model("churn").save({"weights": [1, 2]})
    assert mr.get_models("churn") == []


def test_tags_are_set_on_saved_versions(mr: fti.ModelRegistry) -> None:
    model = mr.create_model("churn", tags={"team": "risk"})
    with pytest.raises(fti.InvalidArgumentError, match="not saved yet"):
        model.set_tag("owner", "ana")
    model.save(small_model())
    model.set_tag("owner", "ana")
    model.set_tag("team", {"name": "risk", "size": 3})

    assert mr.get_model("churn").tags == {"owner": "ana", "team": {"name": "risk", "size": 3}}
    with pytest.raises(fti.InvalidArgumentError):
        model.set_tag("", "x")


def test_delete_removes_files_and_never_reuses_the_number(
    mr: fti.ModelRegistry, artifacts_root: Path
) -> None:
    first = mr.create_model("churn").save(small_model())
    second = mr.create_model("churn").save(small_model())
    second.set_alias("production")
    folder = artifacts_root / "models" / "churn" / "2"
    assert folder.is_dir()

    second.delete()

    assert not folder.exists()
    assert mr.get_model("churn").version == 1
    assert mr.aliases("churn") == {}
    with pytest.raises(fti.NotFoundError, match="deleted"):
        mr.get_model("churn", version=2)
    with pytest.raises(fti.NotFoundError):
        second.load()
    assert mr.create_model("churn").save(small_model()).version == 3
    assert first.load() is not None


def test_download_gives_the_files_and_their_manifest(mr: fti.ModelRegistry, tmp_path: Path) -> None:
    model = mr.create_model("churn").save(small_model())

    target = model.download(tmp_path / "out")

    assert sorted(p.name for p in target.iterdir()) == ["MANIFEST.json", "model.skops"]
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(fti.InvalidArgumentError, match="not an empty folder"):
        model.download(tmp_path / "busy")
    assert model.download().is_dir()


def test_a_path_is_saved_as_it_is(mr: fti.ModelRegistry, tmp_path: Path) -> None:
    source = tmp_path / "bundle"
    (source / "sub").mkdir(parents=True)
    (source / "weights.bin").write_bytes(b"\x00" * 1000)
    (source / "sub" / "vocab.txt").write_text("a\nb\n")

    model = mr.create_model("bundle").save(source)

    assert model.framework == "files"
    assert model.artifact["files"] == 2 and model.artifact["bytes"] == 1004
    with pytest.raises(fti.InvalidArgumentError, match="download"):
        model.load()
    out = model.download(tmp_path / "out")
    assert (out / "sub" / "vocab.txt").read_text() == "a\nb\n"
    with pytest.raises(fti.NotFoundError, match="does not exist"):
        mr.create_model("bundle").save(tmp_path / "missing")
    with pytest.raises(fti.InvalidArgumentError, match="one model file"):
        mr.create_model("bundle", framework="onnx").save(source)


def test_a_failed_save_leaves_nothing(
    mr: fti.ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(key: str, staged: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mr._artifacts, "commit", broken)
    with pytest.raises(OSError, match="disk full"):
        mr.create_model("churn").save(small_model())

    assert mr.get_models("churn") == []
    assert mr._metadata.list("model", "p", "churn") == []


def test_input_example_gives_the_signature_without_a_view(mr: fti.ModelRegistry) -> None:
    example = pd.DataFrame(
        {"a": [1, 2], "b": [0.5, None], "c": ["x", "y"], "t": pd.to_datetime(["2024-01-01"] * 2)}
    )
    model = mr.create_model("churn", input_example=example).save(small_model())

    again = mr.get_model("churn")
    assert again.signature is not None
    assert [(c.name, c.type) for c in again.signature.inputs] == [
        ("a", "int64"),
        ("b", "float64"),
        ("c", "string"),
        ("t", "timestamp"),
    ]
    assert again.signature.source == "input_example"
    assert again.input_example is not None
    assert again.input_example["a"].tolist() == [1, 2]
    assert again.input_example["c"].tolist() == ["x", "y"]
    assert model.lineage is None
    with pytest.raises(fti.InvalidArgumentError, match="must be a table"):
        mr.create_model("churn", input_example=42)
