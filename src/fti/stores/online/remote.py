"""The online store of an fti server: each method is a request to its online routes
(``/api/v1/projects/{project}/online/{table}``): rows written as Arrow IPC streams, keys read
as a JSON array, values answered as JSON for a few keys and as an Arrow stream for many.

The project of a table is the part of its name before ``__`` (the feature store names online
tables ``<project>__<group>__v<version>``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from urllib.parse import quote

from fti.arrow_ipc import ARROW_STREAM, ONLINE_ROWS, ONLINE_VALUES, read_stream, to_stream
from fti.errors import InvalidNameError, StoreError
from fti.names import check_name
from fti.stores.server_client import ServerClient

KEY_CHARS_PER_READ = 4096
"""The most characters of JSON keys one read sends (a single longer key goes alone): the
request line stays under the server's limits."""
ARROW_ANSWER_KEYS = 64
"""Reads of more keys ask for an Arrow stream (cheaper to decode in bulk), fewer for JSON."""


class RemoteOnlineStore:
    """The latest encoded row per key, kept by the server at ``client.url``."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"RemoteOnlineStore({self.client.url!r})"

    def write(
        self,
        table: str,
        keys: Sequence[str],
        event_times: Sequence[int],
        values: Sequence[str],
        commit_id: int,
    ) -> None:
        """Upsert one row per key and raise the table's watermark to ``commit_id``."""
        rows = to_stream(ONLINE_ROWS, {"key": keys, "event_time": event_times, "value": values})
        self.client.request(
            "POST",
            f"{_table(table)}/rows",
            params={"commit_id": commit_id},
            content=rows,
            headers={"Content-Type": ARROW_STREAM},
        )

    def read(self, table: str, keys: Sequence[str]) -> list[str | None]:
        """Return the stored value of each key, in order; None for a key not stored."""
        path = f"{_table(table)}/rows?keys="
        values: list[str | None] = []
        for batch, query in _batches(keys):
            # The query quoted here: httpx's merging of params costs more than the read.
            url = path + quote(query, safe="")
            if len(batch) > ARROW_ANSWER_KEYS:
                answer = self.client.get(url, accept=ARROW_STREAM)
                found = read_stream(answer, ONLINE_VALUES, "online values")
                values.extend(found.column("value").to_pylist())
                continue
            values.extend(_values(self.client.get(url), len(batch)))
        return values

    def watermark(self, table: str) -> int:
        """Return the highest commit id written to ``table``, or -1 when never written."""
        return int(self.client.json("GET", f"{_table(table)}/watermark")["watermark"])

    def drop(self, table: str) -> None:
        """Remove the table's rows and watermark."""
        self.client.request("DELETE", _table(table))

    def close(self) -> None:
        """Nothing to release: the project's metadata store closes the shared connections."""


def _table(table: str) -> str:
    check_name(table, "online table")
    project, separator, _ = table.partition("__")
    if not separator:
        raise InvalidNameError(f"online table {table!r} names no project (<project>__...)")
    return f"/api/v1/projects/{project}/online/{table}"


def _batches(keys: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """The keys in reads of at most KEY_CHARS_PER_READ characters, each with its JSON text."""
    batch: list[str] = []
    encoded: list[str] = []
    size = 1
    for key in keys:
        text = json.dumps(key)
        if batch and size + len(text) + 1 > KEY_CHARS_PER_READ:
            yield batch, f"[{','.join(encoded)}]"
            batch, encoded, size = [], [], 1
        batch.append(key)
        encoded.append(text)
        size += len(text) + 1
    if batch:
        yield batch, f"[{','.join(encoded)}]"


def _values(raw: bytes, count: int) -> list[str | None]:
    """The JSON answer of a read of ``count`` keys, checked."""
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise StoreError(
            f"the fti server answered an online read with invalid JSON: {exc}"
        ) from None
    if (
        not isinstance(values, list)
        or len(values) != count
        or not all(v is None or isinstance(v, str) for v in values)
    ):
        raise StoreError(
            f"the fti server answered an online read of {count} key(s) with something other "
            "than as many values"
        )
    return values
