"""What only the local artifact store has: a folder on this machine, where a symlink planted in
the tree must not lead a key outside the root."""

from __future__ import annotations

from pathlib import Path

import pytest

import fti
from fti.stores.artifacts import LocalArtifactStore, open_artifact_store


def test_a_symlink_planted_in_the_root_is_caught(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "p").mkdir(parents=True)
    (store.root / "p" / "models").symlink_to(outside)

    with pytest.raises(fti.InvalidNameError, match="outside"):
        store.put("p/models/m/1", source)
    with pytest.raises(fti.InvalidNameError, match="outside"):
        store.read("p/models/m/1", "model.bin")
    assert not any(outside.iterdir())


@pytest.mark.parametrize("form", ["path", "relative", "file-url"])
def test_local_urls_open_a_local_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.chdir(tmp_path)
    url = {"path": str(tmp_path / "a"), "relative": "a", "file-url": f"file://{tmp_path}/a"}[form]

    store = open_artifact_store(url)

    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "a").resolve()
    # A local store stages beside its trees, so that a commit is one rename.
    assert store.staging_dir().parent == store.root / ".staging"
