"""Metadata stores: versioned entities and their records."""

from fti.stores.metadata.base import Entity, MetadataStore, Record
from fti.stores.metadata.sql import SqlMetadataStore


def open_metadata_store(url: str) -> MetadataStore:
    """Open the metadata store at ``url`` (``sqlite:///...`` or ``postgresql://...``)."""
    return SqlMetadataStore(url)


__all__ = ["Entity", "MetadataStore", "Record", "SqlMetadataStore", "open_metadata_store"]
