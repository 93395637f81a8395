"""Model references as written on the command line: ``NAME``, ``NAME@ALIAS``, ``NAME:VERSION``."""

from __future__ import annotations

from dataclasses import dataclass

from fti.errors import InvalidArgumentError
from fti.names import check_name


@dataclass(frozen=True)
class ModelRef:
    """A model name with an optional alias or version (latest version when neither)."""

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``."""
        if "@" in text:
            name, alias = text.split("@", 1)
            return cls(check_name(name, "model name"), alias=check_name(alias, "alias"))
        if ":" in text:
            name, version = text.split(":", 1)
            if not version.isdigit() or int(version) < 1:
                raise InvalidArgumentError(f"model version in {text!r} must be a positive integer")
            return cls(check_name(name, "model name"), version=int(version))
        return cls(check_name(text, "model name"))

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.version:
            return f"{self.name}:{self.version}"
        return self.name
