"""Artifact stores: trees of files per key (model versions), sealed by sha256 manifests."""

from __future__ import annotations

from pathlib import Path

from fti.stores.artifacts.base import ArtifactStore, FileEntry, Manifest, Owner, RemovedTree
from fti.stores.artifacts.local import LocalArtifactStore
from fti.stores.artifacts.object_store import ObjectArtifactStore
from fti.stores.locations import open_location


def open_artifact_store(url: str | Path, *, staging: Path | None = None) -> ArtifactStore:
    """Open the artifact store at ``url``: a local path, ``file://`` URL, or an
    object-storage prefix (``s3://``, ``gs://``, ``az://``, ``abfss://``).

    ``staging``: where an object-storage store stages trees on this machine before it uploads
    them (default ``<tmp>/fti-staging-<user>``); a local store stages beside its trees.
    """
    location = open_location(url)
    if location.is_local:
        return LocalArtifactStore(location.root)
    return ObjectArtifactStore(location, staging)


__all__ = [
    "ArtifactStore",
    "FileEntry",
    "LocalArtifactStore",
    "Manifest",
    "ObjectArtifactStore",
    "Owner",
    "RemovedTree",
    "open_artifact_store",
]
