"""XGBoost models in XGBoost's native JSON format (``model.json``).

Boosters and scikit-learn-API estimators are both saved with ``save_model``; the estimator's
class is rebuilt only from a fixed list, never from a name read back from storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from fti.model_registry.flavors.base import (
    Flavor,
    LoadOptions,
    Reader,
    class_names,
    require,
    versions,
)

CLASSES = (
    "Booster",
    "XGBClassifier",
    "XGBRegressor",
    "XGBRanker",
    "XGBRFClassifier",
    "XGBRFRegressor",
)
"""The XGBoost classes a stored model can come back as."""


class XgboostFlavor(Flavor):
    """``model.json``: an XGBoost Booster or scikit-learn-API estimator."""

    name: ClassVar[str] = "xgboost"
    extra: ClassVar[str] = "xgboost"
    file: ClassVar[str] = "model.json"

    def detects(self, obj: Any) -> bool:
        """Instances of ``xgboost.Booster`` or ``xgboost.XGBModel``."""
        names = class_names(obj)
        return "xgboost.core.Booster" in names or "xgboost.sklearn.XGBModel" in names

    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """``save_model`` in JSON, with the class to rebuild."""
        if not self.detects(obj):
            raise self.refuse(obj)
        cls = type(obj).__name__ if type(obj).__name__ in CLASSES else "Booster"
        if cls == "Booster" and "xgboost.sklearn.XGBModel" in class_names(obj):
            obj = obj.get_booster()  # a subclass of ours: keep its booster only
        obj.save_model(str(directory / self.file))
        return {"file": self.file, "class": cls, "versions": versions("xgboost", "xgboost-cpu")}

    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """The saved class (a Booster when unknown), loaded from the native JSON."""
        xgboost = require("xgboost", self.extra)
        name = str(meta.get("class", "Booster"))
        model = getattr(xgboost, name if name in CLASSES else "Booster")()
        model.load_model(bytearray(read(str(meta.get("file", self.file)))))
        return model
