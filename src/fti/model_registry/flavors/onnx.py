"""ONNX models (``model.onnx``), loaded as an ``onnxruntime.InferenceSession``."""

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


class OnnxFlavor(Flavor):
    """``model.onnx``: an ``onnx.ModelProto`` or its serialized bytes."""

    name: ClassVar[str] = "onnx"
    extra: ClassVar[str] = "onnx"
    file: ClassVar[str] = "model.onnx"

    def detects(self, obj: Any) -> bool:
        """Instances of ``onnx.ModelProto``."""
        return any(n.startswith("onnx.") and n.endswith(".ModelProto") for n in class_names(obj))

    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """The protobuf bytes, as they are."""
        if self.detects(obj):
            data = obj.SerializeToString()
        elif isinstance(obj, bytes | bytearray | memoryview):
            data = bytes(obj)
        else:
            raise self.refuse(obj)
        (directory / self.file).write_bytes(data)
        return {"file": self.file, "versions": versions("onnx", "onnxruntime")}

    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """An ``onnxruntime.InferenceSession`` on the CPU."""
        ort = require("onnxruntime", self.extra)
        data = read(str(meta.get("file", self.file)))
        return ort.InferenceSession(data, providers=["CPUExecutionProvider"])
