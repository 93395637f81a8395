"""LightGBM Boosters in LightGBM's native text format (``model.txt``).

A scikit-learn-API estimator (``LGBMClassifier``...) is detected as ``sklearn`` and kept whole
with skops; saved with ``framework="lightgbm"`` only its booster is kept, and ``load()``
returns a ``lightgbm.Booster``.
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


class LightgbmFlavor(Flavor):
    """``model.txt``: a LightGBM model in its own text format."""

    name: ClassVar[str] = "lightgbm"
    extra: ClassVar[str] = "lightgbm"
    file: ClassVar[str] = "model.txt"

    def detects(self, obj: Any) -> bool:
        """Instances of ``lightgbm.Booster``."""
        return "lightgbm.basic.Booster" in class_names(obj)

    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """Write the booster (of a Booster or a fitted LightGBM sklearn estimator) as text."""
        names = class_names(obj)
        if "lightgbm.sklearn.LGBMModel" in names:
            obj = obj.booster_
        elif not self.detects(obj):
            raise self.refuse(obj)
        (directory / self.file).write_text(obj.model_to_string(), encoding="utf-8")
        return {"file": self.file, "class": "lightgbm.Booster", "versions": versions("lightgbm")}

    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """A ``lightgbm.Booster``."""
        lightgbm = require("lightgbm", self.extra)
        text = read(str(meta.get("file", self.file))).decode("utf-8")
        return lightgbm.Booster(model_str=text)
