"""Metadata stores: versioned entities and their records."""

from fti.stores.metadata.base import Entity, Lock, MetadataStore, Record
from fti.stores.metadata.sql import SqlMetadataStore


def open_metadata_store(url: str, *, create: bool = True) -> MetadataStore:
    """Open the metadata store at ``url`` (``sqlite:///...`` or ``postgresql://...``).

    With ``create=False`` nothing is created: NotFoundError when no store is there.
    """
    return SqlMetadataStore(url, create=create)


__all__ = ["Entity", "Lock", "MetadataStore", "Record", "SqlMetadataStore", "open_metadata_store"]
