"""Whether each store of a configuration can be reached, and what answers there (``fti info``).

Each check is cheap, reads only, and creates nothing: a store that does not exist yet (an
embedded file never written) is reported as such, not created. Secrets in URLs are hidden.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fti.errors import FtiError
from fti.settings import Settings, redact_url
from fti.stores.locations import open_location

NOT_CREATED = "not created yet (the first write makes it)"


@dataclass(frozen=True)
class StoreStatus:
    """One store of a configuration."""

    store: str
    """``metadata``, ``online``, ``offline`` or ``artifacts``."""
    url: str
    """The URL with any password hidden."""
    reachable: bool
    detail: str
    """What answered (a server version), or why it could not be reached."""


def check_all(settings: Settings) -> list[StoreStatus]:
    """The status of every store of ``settings``."""
    return [
        metadata_status(settings.metadata_url),
        online_status(settings.online_url),
        location_status("offline", settings.offline_url, settings.home),
        location_status("artifacts", settings.artifacts_url, settings.home),
    ]


def metadata_status(url: str) -> StoreStatus:
    """Connect to the metadata database and ask its version (SQLite: only if the file exists)."""
    shown = redact_url(url)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            return StoreStatus("metadata", shown, True, NOT_CREATED)
    try:
        import sqlalchemy as sa

        from fti.stores.metadata.sql import engine_for

        engine = engine_for(url)
        try:
            with engine.connect() as connection:
                if engine.dialect.name == "sqlite":
                    version = connection.exec_driver_sql("select sqlite_version()").scalar()
                    detail = f"SQLite {version}"
                else:
                    detail = str(connection.exec_driver_sql("show server_version").scalar())
                    detail = f"PostgreSQL {detail}"
        finally:
            engine.dispose()
    except (FtiError, sa.exc.SQLAlchemyError, OSError) as exc:
        return StoreStatus("metadata", shown, False, _reason(exc, url))
    return StoreStatus("metadata", shown, True, detail)


def online_status(url: str) -> StoreStatus:
    """Ping the online store (Redis: its version; SQLite: the file)."""
    shown = redact_url(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        path = Path(urlsplit(url).path)
        if not path.is_file():
            return StoreStatus("online", shown, True, NOT_CREATED)
        import sqlite3

        return StoreStatus("online", shown, True, f"SQLite {sqlite3.sqlite_version}")
    if scheme in ("redis", "rediss"):
        try:
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
            try:
                info = client.info("server")
            finally:
                client.close()
        except ImportError:
            return StoreStatus("online", shown, False, "pip install 'fti[redis]' to reach Redis")
        except (redis.RedisError, OSError, ValueError) as exc:
            return StoreStatus("online", shown, False, _reason(exc, url))
        return StoreStatus("online", shown, True, f"Redis {info.get('redis_version', '?')}")
    return StoreStatus("online", shown, False, f"unsupported online store URL scheme {scheme!r}")


def location_status(store: str, url: str, home: Path | None = None) -> StoreStatus:
    """List the root of a local folder or object-storage prefix."""
    try:
        location = open_location(url, home=home)
    except FtiError as exc:
        return StoreStatus(store, redact_url(url), False, str(exc))
    shown = location.display
    if location.is_local:
        if not Path(location.root).exists():
            return StoreStatus(store, shown, True, NOT_CREATED)
        return StoreStatus(store, shown, True, "local folder")
    try:
        import pyarrow.fs as pafs

        filesystem = location.filesystem()
        # An empty prefix is normal (the first write makes it); a missing bucket is not.
        bucket = location.root.split("/", 1)[0]
        if filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
            return StoreStatus(store, shown, False, f"bucket or container {bucket!r} not found")
        filesystem.get_file_info(location.root)
    except (FtiError, OSError) as exc:
        return StoreStatus(store, shown, False, _reason(exc, url))
    return StoreStatus(store, shown, True, f"{location.scheme} via pyarrow {_version('pyarrow')}")


def package_versions() -> dict[str, str]:
    """Versions of fti and the libraries its stores run on."""
    names = ["fti", "deltalake", "duckdb", "pyarrow", "pandas", "sqlalchemy", "redis", "psycopg"]
    return {name: _version(name) for name in names}


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _reason(exc: BaseException, url: str) -> str:
    """The error's first line, with the URL's secrets hidden."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    parts = urlsplit(url)
    if parts.password:
        text = text.replace(parts.password, "***")
    return text[:300]
