"""Framework flavors: round trips, safe loading, and no framework imported by `import fti`."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

import fti

RNG = np.random.default_rng(0)
X = pd.DataFrame(
    {
        "a": RNG.normal(size=200),
        "b": RNG.normal(size=200),
        "city": RNG.choice(["x", "y", "z"], 200),
    }
)
Y = (X["a"] + (X["city"] == "x") + RNG.normal(scale=0.5, size=200) > 0.5).astype(int)
XN = X[["a", "b"]]


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def round_trip(mr: fti.ModelRegistry, obj: Any, **create: Any) -> tuple[fti.Model, Any]:
    model = mr.create_model("m", **create).save(obj)
    return model, mr.get_model("m", version=model.version).load()


def test_sklearn_estimator_round_trip(mr: fti.ModelRegistry) -> None:
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(XN, Y)
    model, loaded = round_trip(mr, forest)

    assert model.framework == "sklearn"
    assert model.flavor["class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    np.testing.assert_array_equal(loaded.predict_proba(XN), forest.predict_proba(XN))


def test_sklearn_pipeline_with_lightgbm_loads_with_the_trusted_list(
    mr: fti.ModelRegistry,
) -> None:
    lgb = pytest.importorskip("lightgbm")
    encoder = ColumnTransformer(
        [("cat", OrdinalEncoder(), ["city"])], remainder="passthrough"
    ).set_output(transform="pandas")
    pipeline = Pipeline(
        [("enc", encoder), ("clf", lgb.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1))]
    ).fit(X, Y)
    model, loaded = round_trip(mr, pipeline)

    assert model.framework == "sklearn" and model.flavor["types_to_trust"] == []
    np.testing.assert_allclose(loaded.predict_proba(X), pipeline.predict_proba(X))


class Doubler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom transformer: its type is not trusted by default."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return x * 2


def test_untrusted_types_are_refused_unless_trusted_by_name(mr: fti.ModelRegistry) -> None:
    pipeline = Pipeline([("double", Doubler()), ("clf", LogisticRegression())]).fit(XN, Y)
    model = mr.create_model("m").save(pipeline)
    name = f"{Doubler.__module__}.Doubler"
    assert model.flavor["types_to_trust"] == [name]

    with pytest.raises(fti.InvalidArgumentError, match=f"not trusted: {name}"):
        model.load()
    loaded = model.load(trusted_types=[name])
    np.testing.assert_allclose(loaded.predict_proba(XN), pipeline.predict_proba(XN))


def test_lightgbm_booster_in_native_text(mr: fti.ModelRegistry, tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(XN, Y),
        num_boost_round=5,
    )
    model, loaded = round_trip(mr, booster)

    assert model.framework == "lightgbm" and model.flavor["file"] == "model.txt"
    np.testing.assert_allclose(loaded.predict(XN), booster.predict(XN))
    text = (model.download(tmp_path / "out") / "model.txt").read_text()
    assert text.startswith("tree")


def test_lightgbm_sklearn_estimator_is_whole_by_default_or_a_booster_on_request(
    mr: fti.ModelRegistry,
) -> None:
    lgb = pytest.importorskip("lightgbm")
    clf = lgb.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1).fit(XN, Y)
    whole, loaded = round_trip(mr, clf)
    assert whole.framework == "sklearn"
    np.testing.assert_allclose(loaded.predict_proba(XN), clf.predict_proba(XN))

    native, booster = round_trip(mr, clf, framework="lightgbm")
    assert native.framework == "lightgbm"
    np.testing.assert_allclose(booster.predict(XN), clf.predict_proba(XN)[:, 1])


@pytest.mark.skipif(
    not has("xgboost"), reason="xgboost is not installed (pip install 'fti[xgboost]')"
)
def test_xgboost_round_trips_in_native_json(mr: fti.ModelRegistry, tmp_path: Path) -> None:
    import xgboost

    clf = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(XN, Y)
    model, loaded = round_trip(mr, clf)

    assert model.framework == "xgboost" and model.flavor["class"] == "XGBClassifier"
    assert isinstance(loaded, xgboost.XGBClassifier)
    np.testing.assert_allclose(loaded.predict_proba(XN), clf.predict_proba(XN))
    json.loads((model.download(tmp_path / "out") / "model.json").read_text())

    booster = clf.get_booster()
    model, loaded = round_trip(mr, booster)
    assert isinstance(loaded, xgboost.Booster)
    matrix = xgboost.DMatrix(XN)
    np.testing.assert_allclose(loaded.predict(matrix), booster.predict(matrix))


def onnx_model() -> Any:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    bias = numpy_helper.from_array(np.array([1.0, 2.0], dtype=np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "bias"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by older onnxruntime releases too
    onnx.checker.check_model(model)
    return model


@pytest.mark.skipif(not has("onnx"), reason="onnx is not installed (pip install 'fti[onnx]')")
@pytest.mark.skipif(
    not has("onnxruntime"), reason="onnxruntime is not installed (pip install 'fti[onnx]')"
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["ModelProto", "bytes"])
def test_onnx_round_trips_to_an_inference_session(mr: fti.ModelRegistry, as_bytes: bool) -> None:
    proto = onnx_model()
    obj = proto.SerializeToString() if as_bytes else proto
    model, session = round_trip(mr, obj, framework="onnx" if as_bytes else None)

    assert model.framework == "onnx"
    (y,) = session.run(None, {"x": np.zeros((1, 2), dtype=np.float32)})
    np.testing.assert_allclose(y, [[1.0, 2.0]])


class Plain:
    """Not a model of any framework."""

    def __init__(self, value: int) -> None:
        self.value = value


def test_pickle_needs_the_unsafe_flag_to_save_and_to_load(mr: fti.ModelRegistry) -> None:
    with pytest.raises(fti.InvalidArgumentError, match="cannot tell the framework"):
        mr.create_model("m").save(Plain(1))
    with pytest.raises(fti.InvalidArgumentError, match="unsafe_pickle=True to save"):
        mr.create_model("m", framework="python").save(Plain(1))
    assert mr.get_models("m") == []

    model = mr.create_model("m", framework="python").save(Plain(1), unsafe_pickle=True)

    with pytest.raises(fti.InvalidArgumentError, match="unsafe_pickle=True to load"):
        mr.get_model("m").load()
    assert mr.get_model("m").load(unsafe_pickle=True).value == 1
    assert model.flavor["file"] == "model.pkl"


def test_an_unpicklable_object_is_refused_and_nothing_is_saved(
    mr: fti.ModelRegistry, local_project: fti.Project
) -> None:
    with pytest.raises(fti.InvalidArgumentError, match=r"cannot pickle builtins\.function"):
        mr.create_model("m", framework="python").save(lambda x: x, unsafe_pickle=True)

    assert mr.get_models("m") == []
    staging = Path(local_project.settings.artifacts_url) / ".staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_a_pickle_file_saved_by_path_needs_the_flag_too(
    mr: fti.ModelRegistry, tmp_path: Path
) -> None:
    file = tmp_path / "any.pkl"
    file.write_bytes(b"\x80\x05K\x07.")  # pickle of 7
    with pytest.raises(fti.InvalidArgumentError, match="unsafe_pickle"):
        mr.create_model("m", framework="python").save(file)
    model = mr.create_model("m", framework="python").save(file, unsafe_pickle=True)
    with pytest.raises(fti.InvalidArgumentError, match="unsafe_pickle"):
        model.load()
    assert model.load(unsafe_pickle=True) == 7


def test_a_tampered_or_missing_model_file_is_not_loaded(
    mr: fti.ModelRegistry, artifacts_root: Path
) -> None:
    clf = LogisticRegression().fit(XN, Y)
    model = mr.create_model("m").save(clf)
    file = artifacts_root / "models" / "m" / "1" / "model.skops"
    data = bytearray(file.read_bytes())
    data[-100] ^= 0xFF
    file.write_bytes(bytes(data))

    with pytest.raises(fti.ArtifactIntegrityError, match=r"model.skops does not match"):
        model.load()
    with pytest.raises(fti.ArtifactIntegrityError):
        model.download()
    file.unlink()
    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        mr.get_model("m").load()


class Mkdir:
    """A pickle that runs ``os.mkdir(path)`` when it is loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.path),)


def stored_pickle(artifacts_root: Path) -> Path:
    return artifacts_root / "models" / "m" / "1" / "model.pkl"


@pytest.mark.parametrize(
    "change",
    ["code-first", "data-first", "flipped-byte", "truncated", "appended"],
)
def test_a_changed_pickle_runs_nothing_and_is_refused(
    mr: fti.ModelRegistry, artifacts_root: Path, tmp_path: Path, change: str
) -> None:
    saved = {"weights": os.urandom(1 << 20), "plain": Plain(1)}
    model = mr.create_model("m", framework="python").save(saved, unsafe_pickle=True)
    file = stored_pickle(artifacts_root)
    marker = tmp_path / "ran"
    data = file.read_bytes()
    if change == "code-first":
        data = pickle.dumps(Mkdir(marker), protocol=5)
    elif change == "data-first":  # a large value read before the code it would run
        data = pickle.dumps((os.urandom(1 << 20), Mkdir(marker)), protocol=5)
    elif change == "flipped-byte":
        data = data[:-1000] + bytes([data[-1000] ^ 1]) + data[-999:]
    elif change == "truncated":
        data = data[: len(data) // 2]
    else:
        data = data + pickle.dumps(Mkdir(marker), protocol=5)
    file.write_bytes(data)

    with pytest.raises(fti.ArtifactIntegrityError, match=r"model\.pkl does not match"):
        model.load(unsafe_pickle=True)
    assert not marker.exists()


def test_a_pickle_of_values_and_classes_loads_whole(mr: fti.ModelRegistry) -> None:
    saved = {"head": os.urandom(3 << 20), "plain": Plain(1), "tail": [b"x" * 100, "y"]}
    model = mr.create_model("m", framework="python").save(saved, unsafe_pickle=True)

    loaded = model.load(unsafe_pickle=True)

    assert loaded["head"] == saved["head"] and loaded["tail"] == saved["tail"]
    assert loaded["plain"].value == 1


def test_import_fti_and_the_registry_load_no_framework(tmp_path: Path) -> None:
    code = (
        "import sys, json, fti\n"
        f"p = fti.connect({str(tmp_path)!r}, 'p')\n"
        "p.model_registry.list_models()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    heavy = {"sklearn", "lightgbm", "xgboost", "skops", "onnx", "onnxruntime", "scipy"}
    assert loaded & heavy == set()
