"""The Redis online store: one string key per row, replaced only by a newer row, inside Redis.

Each row lives at ``fti:{table}:{key}`` as one string: a 16-byte header (the event time shifted
to be non-negative, then the commit id, each as a big-endian unsigned 64-bit integer) followed
by the UTF-8 value. A Lua script compares headers to decide whether a row replaces the stored
one, and a read returns the values with one MGET. A table's watermark, the highest commit id
written, lives at ``fti:{table}`` as 20 zero-padded digits.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fti.dependencies import import_optional
from fti.errors import ConfigError, StoreError
from fti.settings import redact_url

if TYPE_CHECKING:
    from redis import Redis

_NAMESPACE = "fti"
_HEADER = struct.Struct(">QQ")
_HEADER_LEN = _HEADER.size
# Event times are signed 64-bit; shifting them by 2**63 makes them unsigned, in the same order.
_EVENT_SHIFT = 1 << 63
_INT64_LIMIT = 1 << 63
# Rows per script call: each call blocks Redis while it runs, so keep it to a few milliseconds.
_WRITE_CHUNK = 2000
# Script calls sent per round trip, bounding the memory of a pipeline for large writes.
_CHUNKS_PER_ROUND_TRIP = 16
_DROP_BATCH = 1000

_UPSERT_LUA = """
-- KEYS[1]: the watermark key; KEYS[2..]: the row keys.
-- ARGV[1]: the new watermark (20 digits), or "" to leave it; ARGV[2..]: the rows, each a
-- 16-byte header (event time, commit id) followed by the value.
local function row_newer_or_same(a, b)
  -- Four 32-bit parts per header: exact in Lua's doubles, and unpacked without copying.
  local a1, a2, a3, a4 = struct.unpack('>I4I4I4I4', a)
  local b1, b2, b3, b4 = struct.unpack('>I4I4I4I4', b)
  if a1 ~= b1 then return a1 > b1 end
  if a2 ~= b2 then return a2 > b2 end
  if a3 ~= b3 then return a3 > b3 end
  return a4 >= b4
end

local function watermark_newer(a, b)
  -- 20-digit strings, compared 10 digits at a time so the numbers stay exact.
  local a1, b1 = tonumber(string.sub(a, 1, 10)), tonumber(string.sub(b, 1, 10))
  if a1 ~= b1 then return a1 > b1 end
  return tonumber(string.sub(a, 11)) > tonumber(string.sub(b, 11))
end

for i = 2, #KEYS do
  local row = ARGV[i]
  local stored = redis.call('GETRANGE', KEYS[i], 0, 15)
  if stored == '' or row_newer_or_same(row, stored) then
    redis.call('SET', KEYS[i], row)
  end
end
if ARGV[1] ~= '' then
  local stored = redis.call('GET', KEYS[1])
  if not stored or watermark_newer(ARGV[1], stored) then
    redis.call('SET', KEYS[1], ARGV[1])
  end
end
return 0
"""


def _escape_glob(text: str) -> str:
    """``text`` matched literally in a Redis SCAN pattern."""
    for char in "\\*?[]^":
        text = text.replace(char, "\\" + char)
    return text


class RedisOnlineStore:
    """An :class:`~fti.stores.online.base.OnlineStore` on a Redis server (not Redis Cluster)."""

    def __init__(self, url: str) -> None:
        redis = import_optional("redis", "redis")
        self._url = redact_url(url)
        errors = redis.exceptions
        self._unreachable: tuple[type[Exception], ...] = (
            errors.ConnectionError,
            errors.TimeoutError,
        )
        self._redis_error: type[Exception] = errors.RedisError
        try:
            # Options in the URL's query string (e.g. socket_timeout) override these.
            self._client: Redis = redis.Redis.from_url(url, socket_connect_timeout=5.0)
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL {self._url}: {exc}") from exc
        # register_script sends EVALSHA and loads the script again when the server lost it.
        self._upsert: Any = self._client.register_script(_UPSERT_LUA)
        self._prefixes: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self._url!r})"

    def write(
        self,
        table: str,
        keys: Sequence[str],
        event_times: Sequence[int],
        values: Sequence[str],
        commit_id: int,
    ) -> None:
        """Upsert one row per key and raise the table's watermark to at least ``commit_id``."""
        n = len(keys)
        if not n == len(event_times) == len(values):
            raise ValueError(
                f"keys, event_times and values differ in length: "
                f"{n}, {len(event_times)}, {len(values)}"
            )
        # Out-of-range numbers would break the fixed-width header that the script compares.
        if not 0 <= commit_id < _INT64_LIMIT:
            raise ValueError(f"commit_id {commit_id} is not in [0, 2**63)")
        if n and not (min(event_times) >= -_INT64_LIMIT and max(event_times) < _INT64_LIMIT):
            raise ValueError("event_times must be 64-bit integers (microseconds since epoch)")
        prefix = self._prefix(table)
        watermark_key = prefix[:-1]
        commit = f"{commit_id:020d}"
        pack = _HEADER.pack
        # At least one call, so an empty write still sets the watermark.
        starts = range(0, n, _WRITE_CHUNK) if n else range(1)
        last = starts[-1]
        try:
            with self._client.pipeline(transaction=False) as pipe:
                queued = 0
                for start in starts:
                    stop = start + _WRITE_CHUNK
                    if start == last and queued:
                        # The watermark moves with the last chunk, and only once every earlier
                        # chunk has been applied: a failure leaves the old watermark.
                        pipe.execute()
                        queued = 0
                    self._upsert(
                        keys=[watermark_key, *[prefix + k for k in keys[start:stop]]],
                        args=[
                            commit if start == last else "",
                            *[
                                pack(e + _EVENT_SHIFT, commit_id) + v.encode()
                                for e, v in zip(
                                    event_times[start:stop], values[start:stop], strict=True
                                )
                            ],
                        ],
                        client=pipe,
                    )
                    queued += 1
                    if queued == _CHUNKS_PER_ROUND_TRIP or start == last:
                        pipe.execute()
                        queued = 0
        except self._redis_error as exc:
            raise self._error(f"write to table {table!r}", exc) from exc

    def read(self, table: str, keys: Sequence[str]) -> list[str | None]:
        """Return the stored value of each key in order, None where there is none."""
        prefix = self._prefixes.get(table) or self._prefix(table)
        try:
            if len(keys) == 1:
                raw: list[bytes | None] = [self._client.get(prefix + keys[0])]  # type: ignore[list-item]
            elif len(keys) > 0:
                raw = self._client.mget([prefix + k for k in keys])  # type: ignore[assignment]
            else:
                return []
        except self._redis_error as exc:
            raise self._error(f"read from table {table!r}", exc) from exc
        return [None if r is None else r[_HEADER_LEN:].decode() for r in raw]

    def watermark(self, table: str) -> int:
        """Return the highest commit id written to ``table``, or -1."""
        try:
            raw: bytes | None = self._client.get(self._prefix(table)[:-1])  # type: ignore[assignment]
        except self._redis_error as exc:
            raise self._error(f"read the watermark of table {table!r}", exc) from exc
        return -1 if raw is None else int(raw)

    def drop(self, table: str) -> None:
        """Remove the table's rows and watermark."""
        prefix = self._prefix(table)
        try:
            # The watermark goes first: a drop cut short leaves rows that read as never written,
            # so whoever rebuilds the table writes them again.
            self._client.delete(prefix[:-1])
            batch: list[bytes] = []
            for name in self._client.scan_iter(match=_escape_glob(prefix) + "*", count=1000):
                batch.append(name)
                if len(batch) == _DROP_BATCH:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except self._redis_error as exc:
            raise self._error(f"drop table {table!r}", exc) from exc

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def _prefix(self, table: str) -> str:
        prefix = self._prefixes.get(table)
        if prefix is None:
            # A colon would let one table's keys (or watermark) fall inside another's keyspace.
            if not table or ":" in table:
                raise ValueError(f"invalid online table name {table!r}")
            prefix = self._prefixes[table] = f"{_NAMESPACE}:{table}:"
        return prefix

    def _error(self, action: str, exc: Exception) -> StoreError:
        if isinstance(exc, self._unreachable):
            return StoreError(f"cannot reach Redis at {self._url} to {action}: {exc}")
        return StoreError(f"Redis at {self._url} failed to {action}: {exc}")
