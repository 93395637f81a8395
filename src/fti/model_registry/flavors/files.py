"""Files saved as they are, without a framework: ``download()`` gives them back."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from fti.errors import InvalidArgumentError
from fti.model_registry.flavors.base import Flavor, LoadOptions, Reader


class FilesFlavor(Flavor):
    """A file or folder saved with ``model.save(path)`` and no framework."""

    name: ClassVar[str] = "files"
    extra: ClassVar[str] = "files"
    file: ClassVar[str] = ""

    def save(self, obj: Any, directory: Path) -> dict[str, Any]:
        """Files are saved from a path, never from an object."""
        raise InvalidArgumentError("framework='files' saves a path: model.save('path/to/files')")

    def load(self, read: Reader, meta: Mapping[str, Any], options: LoadOptions) -> Any:
        """There is no object to rebuild."""
        raise InvalidArgumentError(
            "this model version holds files saved without a framework: use "
            "model.download(dir) to get them"
        )
