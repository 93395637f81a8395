"""Helpers of the artifact store tests: the stored objects of a root, reached directly."""

from __future__ import annotations

import os
from typing import Any

from fti.stores.locations import Location


class Raw:
    """The stored objects of a root, reached without the store: what a person or another
    program could do to them (change, remove, plant files)."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.fs: Any = location.filesystem()

    def read(self, path: str) -> bytes:
        with self.fs.open_input_stream(self.location.path(path)) as stream:
            data: bytes = stream.read()
        return data

    def write(self, path: str, data: bytes) -> None:
        if self.location.is_local:
            os.makedirs(os.path.dirname(self.location.path(path)), exist_ok=True)
        with self.fs.open_output_stream(self.location.path(path)) as out:
            out.write(data)

    def delete(self, path: str) -> None:
        self.fs.delete_file(self.location.path(path))

    def files(self, prefix: str = "") -> list[str]:
        """Paths of every stored object under ``prefix`` (relative to the root)."""
        import pyarrow.fs as pafs

        base = self.location.path(prefix)
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        root = self.location.path()
        return sorted(
            info.path[len(root) + 1 :]
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )
