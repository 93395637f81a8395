"""Settings: where fti keeps its data, which backend serves each store, the project, limits.

Each value comes from, in order: an explicit argument, an ``FTI_*`` environment variable
(``FTI_ONLINE_URL`` for ``online_url``...), ``<home>/fti.toml``, then the embedded default (no
configuration needed)::

    # <home>/fti.toml
    project = "flights"
    pipelines = "pipelines.py"     # the @fti.pipeline's that `fti run` and `fti scheduler` run
    online_url = "redis://127.0.0.1:6379/0"
    metadata_url = "postgresql://postgres@127.0.0.1:5432/fti"
    max_event_time_ahead = "2d"    # event times may lie this far past the wall clock
    max_value_bytes = "4MiB"       # largest string or list value an insert accepts
    offline_url = "s3://team-bucket/fti/offline"
    cache_dir = "/var/cache/fti"   # local copies of remote data files DuckDB reads
    max_cache_bytes = "50GiB"
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from fti.errors import ConfigError

_ENV_PREFIX = "FTI_"
DEFAULT_PROJECT = "default"
DEFAULT_MAX_EVENT_TIME_AHEAD = "1d"
DEFAULT_MAX_VALUE_BYTES = "1MiB"
DEFAULT_TIME_TRAVEL_RETENTION = "7d"
DEFAULT_OFFLINE_MAINTENANCE_INTERVAL = "20"
DEFAULT_MAX_CACHE_BYTES = "10GiB"
DEFAULT_MAX_UPLOAD_BYTES = "2GiB"
DEFAULT_ENGINE = "local"
ENGINES = ("local", "ray")
_DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*[wdhms])+\s*")
_SIZE = re.compile(r"\s*(\d+)\s*([kmg]i?b|b)?\s*", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "kib": 2**10,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}


@dataclass(frozen=True)
class Settings:
    """Resolved locations of the home folder and of every store, the project to open, and the
    limits of inserted data (as given, and parsed: :attr:`event_time_horizon`,
    :attr:`value_size_limit`)."""

    home: Path
    offline_url: str
    online_url: str
    metadata_url: str
    artifacts_url: str
    project: str = DEFAULT_PROJECT
    pipelines: str = ""
    """The module declaring the project's pipelines: a file path or a module name."""
    max_event_time_ahead: str = DEFAULT_MAX_EVENT_TIME_AHEAD
    max_value_bytes: str = DEFAULT_MAX_VALUE_BYTES
    time_travel_retention: str = DEFAULT_TIME_TRAVEL_RETENTION
    """How long every version of a feature group stays readable (``read(as_of=...)``):
    maintenance deletes no file a version of this period needs."""
    offline_maintenance_interval: str = DEFAULT_OFFLINE_MAINTENANCE_INTERVAL
    """Maintenance of a group's offline table runs after each commit whose id is a multiple
    of this (``"0"``: only ``fti maintenance``)."""
    cache_dir: str = ""
    """Where local copies of files on object storage go (deleting it is always safe)."""
    max_cache_bytes: str = DEFAULT_MAX_CACHE_BYTES
    allow_unsafe_s3_commits: str = "false"
    """``"true"`` lets writes go ahead when the environment turns S3's conditional commits off
    (``AWS_S3_ALLOW_UNSAFE_RENAME``): two writers could then lose each other's commits."""
    url: str = ""
    """An fti server (``http://host:8080``): when set, every store is reached through it and
    the store URLs above are the server's business."""
    api_key: str = field(default="", repr=False)
    """The API key sent to :attr:`url` (kept out of ``repr()``)."""
    max_upload_bytes: str = DEFAULT_MAX_UPLOAD_BYTES
    """The largest upload (rows, a model's files) ``fti server`` accepts in one request."""
    engine: str = DEFAULT_ENGINE
    """Where inserts, training and batch data are computed: ``"local"`` (this process, DuckDB)
    or ``"ray"`` (a Ray cluster; the extra ``fti[ray]``)."""
    ray_address: str = ""
    """The Ray cluster of the ray engine (``ray://head:10001``, ``auto``); empty: the one this
    process is connected to, else ``$RAY_ADDRESS``, else a new one on this machine."""
    ray_partitions: str = "0"
    """Key partitions of a job on the ray engine (``"0"``: from the cluster's CPUs and the
    size of the tables)."""
    event_time_horizon: timedelta = field(init=False, repr=False, compare=False)
    """``max_event_time_ahead`` parsed: how far past the wall clock an inserted event time may
    lie (a row dated years ahead would stay the online row of its key for years)."""
    value_size_limit: int = field(init=False, repr=False, compare=False)
    """``max_value_bytes`` parsed: the most UTF-8 bytes of a string value, or bytes of a list
    value, an insert accepts."""
    cache_size_limit: int = field(init=False, repr=False, compare=False)
    """``max_cache_bytes`` parsed: about the most bytes the local cache holds."""
    unsafe_s3_commits_allowed: bool = field(init=False, repr=False, compare=False)
    """``allow_unsafe_s3_commits`` parsed."""
    retention_period: timedelta = field(init=False, repr=False, compare=False)
    """``time_travel_retention`` parsed."""
    maintenance_every: int = field(init=False, repr=False, compare=False)
    """``offline_maintenance_interval`` parsed (0: never automatically)."""
    upload_size_limit: int = field(init=False, repr=False, compare=False)
    """``max_upload_bytes`` parsed."""
    partitions: int = field(init=False, repr=False, compare=False)
    """``ray_partitions`` parsed (0: automatic)."""

    def __post_init__(self) -> None:
        # Parsed once, when the settings are made, so a bad value fails before any store opens.
        horizon = parse_duration(self.max_event_time_ahead, "max_event_time_ahead")
        object.__setattr__(self, "event_time_horizon", horizon)
        object.__setattr__(self, "value_size_limit", parse_size(self.max_value_bytes))
        retention = parse_duration(self.time_travel_retention, "time_travel_retention")
        object.__setattr__(self, "retention_period", retention)
        interval = parse_count(self.offline_maintenance_interval, "offline_maintenance_interval")
        object.__setattr__(self, "maintenance_every", interval)
        limit = parse_size(self.max_cache_bytes, "max_cache_bytes")
        object.__setattr__(self, "cache_size_limit", limit)
        allowed = parse_bool(self.allow_unsafe_s3_commits, "allow_unsafe_s3_commits")
        object.__setattr__(self, "unsafe_s3_commits_allowed", allowed)
        uploads = parse_size(self.max_upload_bytes, "max_upload_bytes")
        object.__setattr__(self, "upload_size_limit", uploads)
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"url = {self.url!r}: an fti server URL starts with http(s)://")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine = {self.engine!r} is not one of {', '.join(ENGINES)}")
        object.__setattr__(self, "partitions", parse_count(self.ray_partitions, "ray_partitions"))

    @property
    def cache_path(self) -> Path:
        """``cache_dir`` as a folder (a relative one is inside the home)."""
        return self.home / Path(self.cache_dir or "cache").expanduser()

    @classmethod
    def names(cls) -> list[str]:
        """The settings that arguments, ``FTI_*`` variables and fti.toml can give."""
        return [f.name for f in fields(cls) if f.init and f.name != "home"]

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
            "pipelines": "",
            "max_event_time_ahead": DEFAULT_MAX_EVENT_TIME_AHEAD,
            "max_value_bytes": DEFAULT_MAX_VALUE_BYTES,
            "time_travel_retention": DEFAULT_TIME_TRAVEL_RETENTION,
            "offline_maintenance_interval": DEFAULT_OFFLINE_MAINTENANCE_INTERVAL,
            "cache_dir": str(root / "cache"),
            "max_cache_bytes": DEFAULT_MAX_CACHE_BYTES,
            "allow_unsafe_s3_commits": "false",
            "url": "",
            "api_key": "",
            "max_upload_bytes": DEFAULT_MAX_UPLOAD_BYTES,
            "engine": DEFAULT_ENGINE,
            "ray_address": "",
            "ray_partitions": "0",
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


def parse_duration(text: str, name: str) -> timedelta:
    """A duration such as ``"1d"``, ``"12h"`` or ``"1d12h"`` (units w, d, h, m, s);
    ConfigError naming the setting ``name`` otherwise."""
    if not isinstance(text, str) or _DURATION.fullmatch(text) is None:
        raise ConfigError(
            f"{name} = {text!r} is not a duration: write a number and a unit (w, d, h, m or "
            "s), such as '1d', '12h' or '1d12h'"
        )
    seconds = sum(
        float(number) * _DURATION_UNITS[unit]
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([wdhms])", text)
    )
    try:
        return timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ConfigError(f"{name} = {text!r} is longer than any date fti can store") from exc


def parse_size(text: str, name: str = "max_value_bytes") -> int:
    """A number of bytes such as ``"1048576"``, ``"512KiB"`` or ``"1MiB"``; ConfigError
    naming the setting ``name`` otherwise (and for 0)."""
    match = _SIZE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(
            f"{name} = {text!r} is not a size: write a positive number of bytes, optionally "
            "with a unit (KiB, MiB, GiB, KB, MB, GB), such as '1MiB'"
        )
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def parse_bool(text: str, name: str) -> bool:
    """``"true"`` or ``"false"`` (any case); ConfigError naming the setting ``name`` otherwise."""
    value = text.strip().lower() if isinstance(text, str) else ""
    if value not in ("true", "false"):
        raise ConfigError(f"{name} = {text!r} is not a boolean: write 'true' or 'false'")
    return value == "true"


def parse_count(text: str, name: str) -> int:
    """A whole number >= 0 such as ``"20"``; ConfigError naming the setting ``name`` otherwise."""
    value = text.strip() if isinstance(text, str) else ""
    if not value.isascii() or not value.isdigit():
        raise ConfigError(f"{name} = {text!r} is not a count: write a whole number, such as '20'")
    return int(value)


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


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for messages, logs, ``repr()``)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
