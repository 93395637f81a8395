"""What every flavor does: recognize its objects, write them to files, read them back.

A flavor never trusts the stored metadata to name code to run: classes it rebuilds come from
a fixed list, and loaders read bytes that the artifact store has verified (or, for pickles,
run nothing from them before it has).
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol

from fti.dependencies import import_optional
from fti.errors import InvalidArgumentError


class Reader(Protocol):
    """The files of the stored model version, verified against its manifest."""

    def __call__(self, path: str) -> bytes:
        """The verified bytes of one file."""
        ...

    def open(self, path: str) -> BinaryIO:
        """A stream over one file; reading it to the end verifies it (ArtifactIntegrityError)."""
        ...


@dataclass(frozen=True)
class LoadOptions:
    """What the caller of ``model.load()`` allows."""

    unsafe_pickle: bool = False
    trusted_types: tuple[str, ...] = ()


class Flavor(ABC):
    """One framework's way to store and load a model."""

    name: ClassVar[str]
    extra: ClassVar[str]
    file: ClassVar[str]
    unsafe: ClassVar[bool] = False
    """True when loading can run arbitrary code (pickle): saving and loading need a flag."""

    def detects(self, obj: Any) -> bool:
        """Whether ``obj`` is a model of this framework (checked without importing it)."""
        return False

    @abstractmethod
    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """Write ``obj`` into ``directory``; returns JSON metadata (with ``file``)."""

    @abstractmethod
    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """Rebuild the object from the files written by :meth:`save`."""

    def refuse(self, obj: Any) -> InvalidArgumentError:
        """The error for an object this flavor cannot save."""
        return InvalidArgumentError(
            f"framework={self.name!r} cannot save a {qualified_name(type(obj))}"
        )


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def class_names(obj: Any) -> set[str]:
    """Qualified names of the classes ``obj`` is an instance of (its MRO)."""
    return {qualified_name(cls) for cls in type(obj).__mro__}


def versions(*distributions: str) -> dict[str, str]:
    """Installed versions of ``distributions`` (those present), for the record."""
    found = {}
    for name in distributions:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def require(module: str, extra: str) -> Any:
    """Import an optional framework module, or MissingDependencyError naming the extra."""
    return import_optional(module, extra)
