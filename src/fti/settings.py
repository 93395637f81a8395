"""Settings: where fti keeps its data and which backend serves each store.

Each value comes from, in order: an explicit argument, an ``FTI_*`` environment variable,
``<home>/fti.toml``, then the embedded default (no configuration needed)::

    # <home>/fti.toml
    online_url = "redis://127.0.0.1:6379/0"
    metadata_url = "postgresql://postgres@127.0.0.1:5432/fti"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fti.errors import ConfigError

_ENV_PREFIX = "FTI_"


@dataclass(frozen=True)
class Settings:
    """Resolved locations of the home folder and of every store."""

    home: Path
    offline_url: str
    online_url: str
    metadata_url: str
    artifacts_url: str

    @classmethod
    def load(cls, home: str | Path | None = None, **overrides: str | None) -> Settings:
        """Resolve settings from arguments, environment, ``<home>/fti.toml`` and defaults."""
        root = Path(home or os.environ.get("FTI_HOME") or ".fti").expanduser().resolve()
        file_values = _read_toml(root / "fti.toml")
        defaults = {
            "offline_url": str(root / "offline"),
            "online_url": f"sqlite:///{root / 'online.db'}",
            "metadata_url": f"sqlite:///{root / 'metadata.db'}",
            "artifacts_url": str(root / "artifacts"),
        }
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {"home": root}
        for name, default in defaults.items():
            values[name] = (
                overrides.get(name)
                or os.environ.get(_ENV_PREFIX + name.upper())
                or file_values.get(name)
                or default
            )
        return cls(**values)


def _read_toml(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    allowed = {"offline_url", "online_url", "metadata_url", "artifacts_url"}
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{path}: {', '.join(bad)} must be string URL(s)")
    return dict(data)
