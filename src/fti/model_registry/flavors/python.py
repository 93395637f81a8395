"""Any Python object, pickled: only with ``unsafe_pickle=True``, to save and to load.

Unpickling runs code chosen by whoever wrote the file, so it is never chosen automatically.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from fti.errors import InvalidArgumentError
from fti.model_registry.flavors.base import Flavor, LoadOptions, Reader, qualified_name


class PythonFlavor(Flavor):
    """``model.pkl``: a pickle (protocol 5)."""

    name: ClassVar[str] = "python"
    extra: ClassVar[str] = "python"
    file: ClassVar[str] = "model.pkl"
    unsafe: ClassVar[bool] = True

    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """Pickle ``obj`` (the caller has checked ``unsafe_pickle``)."""
        try:
            with (directory / self.file).open("wb") as handle:
                pickle.dump(obj, handle, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidArgumentError(
                f"cannot pickle {qualified_name(type(obj))}: {exc} (a lambda, an open file or "
                "a local class cannot be pickled)"
            ) from exc
        return {"file": self.file, "class": qualified_name(type(obj))}

    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """Unpickle, only when the caller passed ``unsafe_pickle=True``."""
        if not options.unsafe_pickle:
            raise InvalidArgumentError(unsafe_message("load"))
        # The caller opted in: this is the one place fti unpickles.
        return pickle.loads(read(str(meta.get("file", self.file))))


def unsafe_message(action: str) -> str:
    """Why a pickle needs ``unsafe_pickle=True`` to ``action`` it."""
    return (
        f"this model is (or would be) a Python pickle: unpickling runs any code the file holds. "
        f"Pass unsafe_pickle=True to {action}() only for files you trust, or save the model "
        "with a safe framework (sklearn, lightgbm, xgboost, onnx)"
    )
