"""Online stores: the latest feature row per primary key, chosen by URL.

``sqlite:///abs/path/online.db``
    One SQLite file (parent directories are created); fine for one machine.
``redis://host:port/db`` or ``rediss://...``
    A Redis server (needs ``pip install 'fti[redis]'``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from fti.errors import ConfigError
from fti.stores.online.base import OnlineStore

__all__ = ["OnlineStore", "open_online_store"]

_SUPPORTED = "sqlite:///absolute/path/online.db, redis://host:port/db, rediss://host:port/db"


def open_online_store(url: str) -> OnlineStore:
    """Open the online store at ``url``; the scheme chooses the backend."""
    # Backends are imported here so that `import fti` loads neither sqlite3 nor redis.
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from fti.stores.online.sqlite import SQLiteOnlineStore

        return SQLiteOnlineStore(_sqlite_path(url))
    if scheme in ("redis", "rediss"):
        from fti.stores.online.redis import RedisOnlineStore

        return RedisOnlineStore(url)
    # The URL itself is left out: it may hold a password.
    raise ConfigError(
        f"unsupported online store URL scheme {scheme + '://' if scheme else '(none)'}; "
        f"use one of: {_SUPPORTED}"
    )


def _sqlite_path(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.path)
    # SQLAlchemy spells absolute paths with four slashes; accept that spelling too.
    name = path.lstrip("/")
    if parts.netloc or parts.query or parts.fragment or not path.startswith("/") or not name:
        raise ConfigError(
            f"invalid SQLite online store URL {url!r}: use sqlite:///absolute/path/online.db"
        )
    file = Path("/" + name)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the directory of the online store {file}: {exc}") from exc
    return file
