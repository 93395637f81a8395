"""Any Python object, pickled: only with ``unsafe_pickle=True``, to save and to load.

Unpickling runs code chosen by whoever wrote the file, so it is never chosen automatically, and
never from bytes that were not verified. The pickle is unpickled as it is read from the store's
verifying stream, so the bytes of a large value go once from the file into the object that
holds them (no copy of the whole file first); every way a pickle runs code passes through
``find_class`` (to fetch the callable it will call), so the first ``find_class`` reads and
verifies the rest of the file before it answers, and the object is returned only once the
whole file matched its manifest. A changed file raises ArtifactIntegrityError having run
nothing (the only objects built from it before are plain bytes, strings, numbers and
containers). ``copyreg`` extension codes already resolved in this process skip ``find_class``;
fti registers none.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from fti.errors import ArtifactIntegrityError, InvalidArgumentError
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
        with read.open(str(meta.get("file", self.file))) as stream:
            gate = _VerifyFirst(stream)
            try:
                obj = _GatedUnpickler(gate).load()
            except ArtifactIntegrityError:
                raise
            except Exception:
                gate.verify()  # a changed file is an integrity error, not a pickle error
                raise
            gate.verify()
        return obj


def unsafe_message(action: str) -> str:
    """Why a pickle needs ``unsafe_pickle=True`` to ``action`` it."""
    return (
        f"this model is (or would be) a Python pickle: unpickling runs any code the file holds. "
        f"Pass unsafe_pickle=True to {action}() only for files you trust, or save the model "
        "with a safe framework (sklearn, lightgbm, xgboost, onnx)"
    )


class _VerifyFirst:
    """The file an unpickler reads: the verifying stream, until :meth:`verify` has read (and
    verified) the rest of it into memory; then that rest."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._rest: io.BytesIO | None = None

    def _source(self) -> Any:  # a binary stream with readinto (BinaryIO does not declare it)
        return self._stream if self._rest is None else self._rest

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._source().read(size)
        return data

    def readinto(self, buffer: Any) -> int:
        n: int = self._source().readinto(buffer)
        return n

    def readline(self) -> bytes:
        line: bytes = self._source().readline()
        return line

    def verify(self) -> None:
        """Read the rest of the stream, which verifies the whole file."""
        if self._rest is None:
            self._rest = io.BytesIO(self._stream.read())


class _GatedUnpickler(pickle.Unpickler):
    """An unpickler that fetches no callable before its whole file is verified."""

    def __init__(self, file: _VerifyFirst) -> None:
        super().__init__(file)
        self._file = file

    def find_class(self, module: str, name: str) -> Any:
        self._file.verify()
        return super().find_class(module, name)
