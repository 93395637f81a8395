"""The online store interface: the latest row per primary key, for low-latency serving.

The store knows nothing about features. The concept layer encodes each row's primary key and
values to strings; the store keeps, per table and key, the row with the highest
``(event_time, commit_id)`` and answers reads by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class OnlineStore(Protocol):
    """A key-value store of the latest encoded row per primary key, one keyspace per table.

    Table names are validated names (lowercase letters, digits and underscores). Event times are
    integer microseconds since the epoch (negative before 1970); commit ids are integers >= 0.
    All methods raise :class:`fti.errors.StoreError` when the backend fails or is unreachable.
    """

    def write(
        self,
        table: str,
        keys: Sequence[str],
        event_times: Sequence[int],
        values: Sequence[str],
        commit_id: int,
    ) -> None:
        """Upsert one row per key (keys are unique within a call) and raise the watermark.

        A row replaces the stored row for its key only when its event time is later, or when
        the event times are equal and its commit id is the same or later; an older row that
        arrives late never replaces a newer one. Writes are therefore idempotent and may be
        replayed. The table's watermark becomes ``max(watermark, commit_id)``, also when
        ``keys`` is empty.
        """
        ...

    def read(self, table: str, keys: Sequence[str]) -> list[str | None]:
        """Return the stored value of each key, in order; None for a key (or table) not stored."""
        ...

    def watermark(self, table: str) -> int:
        """Return the highest commit id written to ``table``, or -1 when it was never written."""
        ...

    def drop(self, table: str) -> None:
        """Remove the table's rows and watermark; nothing happens when it does not exist."""
        ...

    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        ...
