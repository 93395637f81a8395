"""The online store of an fti server: each method is a request to its online routes
(``/api/v1/projects/{project}/online/{table}``), rows and keys as Arrow IPC streams.

The project of a table is the part of its name before ``__`` (the feature store names online
tables ``<project>__<group>__v<version>``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fti.arrow_ipc import (
    ARROW_STREAM,
    ONLINE_KEYS,
    ONLINE_ROWS,
    ONLINE_VALUES,
    read_stream,
    to_query,
    to_stream,
)
from fti.errors import InvalidNameError
from fti.names import check_name
from fti.stores.server_client import ServerClient

KEY_BYTES_PER_READ = 4096
"""About the most bytes of keys one read sends (the request line stays under server limits)."""


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
        path = f"{_table(table)}/rows"
        values: list[str | None] = []
        for batch in _batches(keys):
            query = to_query(ONLINE_KEYS, {"key": batch})
            answer = self.client.request("GET", path, params={"keys": query})
            found = read_stream(answer.content, ONLINE_VALUES, "online values")
            values.extend(found.column("value").to_pylist())
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


def _batches(keys: Sequence[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for key in keys:
        if batch and size + len(key) > KEY_BYTES_PER_READ:
            yield batch
            batch, size = [], 0
        batch.append(key)
        size += len(key) + 8
    if batch:
        yield batch
