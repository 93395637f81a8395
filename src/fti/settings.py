"""Settings: where fti keeps its data, which backend serves each store, and the project.

Each value comes from, in order: an explicit argument, an ``FTI_*`` environment variable
(``FTI_ONLINE_URL`` for ``online_url``...), ``<home>/fti.toml``, then the embedded default (no
configuration needed)::

    # <home>/fti.toml
    project = "flights"
    online_url = "redis://127.0.0.1:6379/0"
    metadata_url = "postgresql://postgres@127.0.0.1:5432/fti"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fti.errors import ConfigError

_ENV_PREFIX = "FTI_"
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Settings:
    """Resolved locations of the home folder and of every store, and the project to open."""

    home: Path
    offline_url: str
    online_url: str
    metadata_url: str
    artifacts_url: str
    project: str = DEFAULT_PROJECT

    @classmethod
    def names(cls) -> list[str]:
        """The settings that arguments, ``FTI_*`` variables and fti.toml can give."""
        return [f.name for f in fields(cls) if f.name != "home"]

    @classmethod
    def load(cls, home: str | Path | None = None, **overrides: str | None) -> Settings:
        """Resolve settings from arguments, environment, ``<home>/fti.toml`` and defaults."""
        root = Path(home or os.environ.get("FTI_HOME") or ".fti").expanduser().resolve()
        unknown = set(overrides) - set(cls.names())
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        file_values = _read_toml(root / "fti.toml", cls.names())
        defaults = {
            "offline_url": str(root / "offline"),
            "online_url": f"sqlite:///{root / 'online.db'}",
            "metadata_url": f"sqlite:///{root / 'metadata.db'}",
            "artifacts_url": str(root / "artifacts"),
            "project": DEFAULT_PROJECT,
        }
        values: dict[str, Any] = {"home": root}
        for name in cls.names():
            values[name] = (
                overrides.get(name)
                or os.environ.get(_ENV_PREFIX + name.upper())
                or file_values.get(name)
                or defaults[name]
            )
        return cls(**values)


def _read_toml(path: Path, allowed: list[str]) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    unknown = set(data) - set(allowed)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{path}: {', '.join(bad)} must be string(s)")
    return dict(data)
