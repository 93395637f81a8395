"""scikit-learn estimators and pipelines, stored with skops and loaded with trusted types only.

skops rebuilds objects from a declarative description instead of running pickle's byte code;
at load time every type outside skops' own defaults (scikit-learn, numpy, scipy) must be on
:data:`TRUSTED_TYPES` or in the caller's ``trusted_types``, else loading is refused. Pipelines
that end in a LightGBM scikit-learn estimator work out of the box: skops stores its Booster as
LightGBM's native text model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from fti.errors import InvalidArgumentError
from fti.model_registry.flavors.base import (
    Flavor,
    LoadOptions,
    Reader,
    class_names,
    qualified_name,
    require,
    versions,
)

TRUSTED_TYPES: tuple[str, ...] = (
    # Values skops does not list in its defaults but that only hold data.
    "collections.OrderedDict",
    "numpy.dtype",
    # scikit-learn's fitted internals: trees, calibrators, neighbour indexes, optimizer state.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # A dict with attribute access: ensembles keep their named sub-estimators in one.
    "sklearn.utils._bunch.Bunch",
    # LightGBM's estimators: their state is the native text model and plain values.
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
)
"""Types trusted beyond skops' defaults: classes that hold fitted numbers, never callables.
Anything else (a custom transformer, a function) must be trusted by name by the caller of
``load``; ``model.flavor["types_to_trust"]`` lists them at save time."""


class SklearnFlavor(Flavor):
    """``model.skops``: any scikit-learn estimator, pipeline or LightGBM sklearn estimator."""

    name: ClassVar[str] = "sklearn"
    extra: ClassVar[str] = "sklearn"
    file: ClassVar[str] = "model.skops"

    def detects(self, obj: Any) -> bool:
        """Instances of ``sklearn.base.BaseEstimator`` (incl. LightGBM's sklearn API)."""
        return "sklearn.base.BaseEstimator" in class_names(obj)

    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """Dump with skops and record which types a loader will have to trust."""
        sio = require("skops.io", self.extra)
        if not self.detects(obj):
            raise self.refuse(obj)
        data: bytes = sio.dumps(obj)
        (directory / self.file).write_bytes(data)
        untrusted = sio.get_untrusted_types(data=data)
        return {
            "file": self.file,
            "class": qualified_name(type(obj)),
            "types_to_trust": sorted(t for t in untrusted if t not in TRUSTED_TYPES),
            "versions": versions("scikit-learn", "skops", "lightgbm"),
        }

    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """Load with skops, refusing types that are neither default, listed nor given."""
        sio = require("skops.io", self.extra)
        data = read(str(meta.get("file", self.file)))
        untrusted = sio.get_untrusted_types(data=data)
        allowed = set(TRUSTED_TYPES) | set(options.trusted_types)
        refused = sorted(t for t in untrusted if t not in allowed)
        if refused:
            raise InvalidArgumentError(
                "the model contains types that are not trusted: "
                f"{', '.join(refused)}. Loading them can run their code; if you trust them, "
                f"pass trusted_types={refused!r} to load()"
            )
        return sio.loads(data, trusted=untrusted)
