"""Artifact stores: trees of files per key (model versions), sealed by sha256 manifests."""

from __future__ import annotations

from pathlib import Path

from fti.errors import ConfigError
from fti.stores.artifacts.base import ArtifactStore, FileEntry, Manifest, Owner, RemovedTree
from fti.stores.artifacts.local import LocalArtifactStore


def open_artifact_store(url: str | Path) -> ArtifactStore:
    """Open the artifact store at ``url``: a local path or ``file://`` URL."""
    text = str(url)
    if text.startswith("file://"):
        return LocalArtifactStore(text.removeprefix("file://"))
    if "://" in text:
        raise ConfigError(
            f"unsupported artifacts URL {text!r}: use a local folder path or file:///path "
            "(object storage is not supported yet)"
        )
    return LocalArtifactStore(text)


__all__ = [
    "ArtifactStore",
    "FileEntry",
    "LocalArtifactStore",
    "Manifest",
    "Owner",
    "RemovedTree",
    "open_artifact_store",
]
