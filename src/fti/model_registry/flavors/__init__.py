"""Framework flavors: how each kind of model is written to files and read back safely.

==========  ==================  ====================================================
framework   file                loaded as
==========  ==================  ====================================================
sklearn     ``model.skops``     the estimator (skops, trusted types only)
lightgbm    ``model.txt``       ``lightgbm.Booster`` (native text format)
xgboost     ``model.json``      the saved XGBoost class (native JSON format)
onnx        ``model.onnx``      ``onnxruntime.InferenceSession``
python      ``model.pkl``       the object (pickle: only with ``unsafe_pickle=True``)
files       as saved            nothing: use ``download()``
==========  ==================  ====================================================

Detection looks at class names only, so it imports no framework: XGBoost, then a LightGBM
Booster, then ONNX, then scikit-learn (which includes LightGBM's sklearn estimators). Pickle
is never chosen by detection.
"""

from __future__ import annotations

from typing import Any

from fti.errors import InvalidArgumentError
from fti.model_registry.flavors.base import Flavor, LoadOptions, Reader, qualified_name
from fti.model_registry.flavors.files import FilesFlavor
from fti.model_registry.flavors.lightgbm import LightgbmFlavor
from fti.model_registry.flavors.onnx import OnnxFlavor
from fti.model_registry.flavors.python import PythonFlavor, unsafe_message
from fti.model_registry.flavors.sklearn import TRUSTED_TYPES, SklearnFlavor
from fti.model_registry.flavors.xgboost import XgboostFlavor

FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (
        SklearnFlavor(),
        LightgbmFlavor(),
        XgboostFlavor(),
        OnnxFlavor(),
        PythonFlavor(),
        FilesFlavor(),
    )
}
FRAMEWORKS = tuple(FLAVORS)
_DETECTION_ORDER = ("xgboost", "lightgbm", "onnx", "sklearn")


def check_framework(framework: object) -> str | None:
    """``framework`` when it is None or a known name; else InvalidArgumentError."""
    if framework is None or (isinstance(framework, str) and framework in FLAVORS):
        return framework
    raise InvalidArgumentError(
        f"unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)} or None to detect it"
    )


def get_flavor(framework: str) -> Flavor:
    """The flavor of a known framework name."""
    return FLAVORS[str(check_framework(framework))]


def detect(obj: Any) -> Flavor:
    """The flavor for ``obj``; InvalidArgumentError when no safe flavor recognizes it."""
    for name in _DETECTION_ORDER:
        if FLAVORS[name].detects(obj):
            return FLAVORS[name]
    raise InvalidArgumentError(
        f"cannot tell the framework of a {qualified_name(type(obj))}: pass framework= one of "
        f"{', '.join(FRAMEWORKS)} to create_model (framework='python' pickles it and needs "
        "unsafe_pickle=True)"
    )


__all__ = [
    "FLAVORS",
    "FRAMEWORKS",
    "TRUSTED_TYPES",
    "Flavor",
    "LoadOptions",
    "Reader",
    "check_framework",
    "detect",
    "get_flavor",
    "unsafe_message",
]
