"""The metadata store interface: versioned JSON documents and records attached to them.

Every concept (feature group, feature view, training dataset, model version...) is an
*entity* of a ``kind``, named and versioned inside a project, with a JSON body. Facts that
accumulate on an entity (statistics per commit, validation reports, monitor results) are
*records*. Keeping the interface this small lets one SQL implementation serve SQLite and
PostgreSQL, and lets new concepts arrive without new store methods.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Entity:
    """One version of a named object and its JSON body."""

    kind: str
    project: str
    name: str
    version: int
    body: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Record:
    """A fact attached to an entity version, e.g. the statistics of one commit."""

    kind: str
    key: str
    body: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Lock:
    """Who holds a named lock, and until when (a holder that stops renewing loses it then)."""

    name: str
    owner: str
    expires_at: datetime


@runtime_checkable
class MetadataStore(Protocol):
    """Versioned entities and their records, transactional."""

    def create(
        self, kind: str, project: str, name: str, version: int | None, body: Mapping[str, Any]
    ) -> Entity:
        """Store a new entity version; ``None`` takes the next free version atomically.

        Raises AlreadyExistsError when the version exists.
        """
        ...

    def get(self, kind: str, project: str, name: str, version: int | None = None) -> Entity:
        """One version, the latest when ``version`` is None; NotFoundError when absent."""
        ...

    def list(self, kind: str, project: str, name: str | None = None) -> list[Entity]:
        """All versions of ``name`` (or of every name), ordered by name then version."""
        ...

    def update(
        self, kind: str, project: str, name: str, version: int, body: Mapping[str, Any]
    ) -> Entity:
        """Replace an entity's body; NotFoundError when absent."""
        ...

    def delete(self, kind: str, project: str, name: str, version: int) -> None:
        """Remove an entity version and its records; NotFoundError when absent."""
        ...

    def add_record(
        self,
        kind: str,
        project: str,
        name: str,
        version: int,
        record_kind: str,
        key: str,
        body: Mapping[str, Any],
    ) -> None:
        """Attach a record to an entity version (replacing one with the same kind and key)."""
        ...

    def records(
        self,
        kind: str,
        project: str,
        name: str,
        version: int,
        record_kind: str,
        key: str | None = None,
    ) -> builtins.list[Record]:
        """Records of one kind attached to an entity version, oldest first."""
        ...

    def projects(self) -> builtins.list[str]:
        """The projects that hold at least one entity, sorted."""
        ...

    def lock(
        self, project: str, name: str, owner: str, ttl: timedelta, *, take_from: str | None = None
    ) -> Lock:
        """Take or renew lock ``name`` for ``owner`` until now + ``ttl``, atomically.

        It is taken when free, expired, held by ``owner`` already or by ``take_from`` (a holder
        known to be dead). Returns the holder after the attempt: ``owner`` when it succeeded.
        """
        ...

    def unlock(self, project: str, name: str, owner: str) -> bool:
        """Release lock ``name`` if ``owner`` holds it; whether it did."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
