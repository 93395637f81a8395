"""The local artifact store: manifests, verification, and keys that cannot escape the root."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import fti
from fti.stores.artifacts import LocalArtifactStore, open_artifact_store


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    (folder / "nested").mkdir(parents=True)
    (folder / "model.bin").write_bytes(os.urandom((8 << 20) + 17))  # two chunks
    (folder / "nested" / "config.json").write_text('{"a": 1}')
    (folder / "empty").write_bytes(b"")
    return folder


def test_put_writes_a_manifest_of_every_file(
    store: LocalArtifactStore, source: Path, tmp_path: Path
) -> None:
    manifest = store.put("p/models/m/1", source)

    stored = tmp_path / "artifacts" / "p" / "models" / "m" / "1"
    on_disk = json.loads((stored / "MANIFEST.json").read_bytes())
    assert sorted(on_disk["files"]) == ["empty", "model.bin", "nested/config.json"]
    for rel, entry in on_disk["files"].items():
        data = (source / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert manifest.digest == hashlib.sha256((stored / "MANIFEST.json").read_bytes()).hexdigest()
    assert store.exists("p/models/m/1") and not store.exists("p/models/m/2")
    assert not any((tmp_path / "artifacts" / ".staging").iterdir())


def test_reads_and_copies_are_verified(
    store: LocalArtifactStore, source: Path, tmp_path: Path
) -> None:
    digest = store.put("k", source).digest

    assert store.read("k", "model.bin", digest) == (source / "model.bin").read_bytes()
    with store.open("k", "nested/config.json", digest) as stream:
        assert stream.read() == b'{"a": 1}'
    out = store.get("k", tmp_path / "out", digest)
    assert (out / "model.bin").read_bytes() == (source / "model.bin").read_bytes()
    assert (out / "empty").read_bytes() == b""


def tamper(store: LocalArtifactStore, path: str) -> None:
    file = store.root / "k" / path
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 1
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("path", ["model.bin", "nested/config.json"])
def test_a_changed_file_is_refused(
    store: LocalArtifactStore, source: Path, tmp_path: Path, path: str
) -> None:
    digest = store.put("k", source).digest
    tamper(store, path)

    with pytest.raises(fti.ArtifactIntegrityError, match=f"{path} does not match"):
        store.read("k", path, digest)
    with pytest.raises(fti.ArtifactIntegrityError, match="does not match"):
        store.get("k", tmp_path / "out", digest)
    assert not (tmp_path / "out" / path).exists()
    with pytest.raises(fti.ArtifactIntegrityError), store.open("k", path, digest) as stream:
        stream.read()


def test_missing_extra_and_grown_files_are_refused(
    store: LocalArtifactStore, source: Path, tmp_path: Path
) -> None:
    digest = store.put("k", source).digest
    (store.root / "k" / "nested" / "config.json").unlink()
    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        store.read("k", "nested/config.json", digest)
    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        store.get("k", tmp_path / "a", digest)

    digest = store.put("k", source).digest
    (store.root / "k" / "planted.pkl").write_bytes(b"x")
    with pytest.raises(fti.ArtifactIntegrityError, match=r"not in the manifest: planted\.pkl"):
        store.get("k", tmp_path / "b", digest)

    digest = store.put("k", source).digest
    with (store.root / "k" / "model.bin").open("ab") as handle:
        handle.write(b"!")
    with pytest.raises(fti.ArtifactIntegrityError, match="does not match"):
        store.read("k", "model.bin", digest)


def test_a_rewritten_manifest_is_refused_by_its_digest(
    store: LocalArtifactStore, source: Path
) -> None:
    digest = store.put("k", source).digest
    tamper(store, "model.bin")
    manifest_file = store.root / "k" / "MANIFEST.json"
    body = json.loads(manifest_file.read_bytes())
    data = (store.root / "k" / "model.bin").read_bytes()
    body["files"]["model.bin"]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest_file.write_text(json.dumps(body))

    with pytest.raises(fti.ArtifactIntegrityError, match=r"MANIFEST\.json was changed"):
        store.read("k", "model.bin", digest)
    manifest_file.unlink()
    with pytest.raises(fti.ArtifactIntegrityError, match=r"MANIFEST\.json is missing"):
        store.read("k", "model.bin", digest)


@pytest.mark.parametrize(
    "key", ["", "/abs", "../x", "a/../../x", "a//b", ".staging/x", "a/.hidden", "a\\b", "a/-x"]
)
def test_keys_cannot_leave_the_root(store: LocalArtifactStore, source: Path, key: str) -> None:
    with pytest.raises(fti.InvalidNameError):
        store.put(key, source)
    with pytest.raises(fti.InvalidNameError):
        store.read(key, "model.bin")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "", "MANIFEST.json"])
def test_file_paths_cannot_leave_the_tree(
    store: LocalArtifactStore, source: Path, path: str
) -> None:
    store.put("k", source)
    with pytest.raises(fti.InvalidNameError):
        store.read("k", path)


def test_a_symlink_in_the_tree_is_caught(
    store: LocalArtifactStore, source: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "p").mkdir(parents=True)
    (store.root / "p" / "models").symlink_to(outside)
    with pytest.raises(fti.InvalidNameError, match="outside"):
        store.put("p/models/m/1", source)

    (source / "link").symlink_to(source / "model.bin")
    with pytest.raises(fti.InvalidArgumentError, match="symbolic link"):
        store.put("k", source)


def test_a_source_manifest_is_refused(store: LocalArtifactStore, source: Path) -> None:
    (source / "MANIFEST.json").write_text("{}")
    with pytest.raises(fti.InvalidArgumentError, match="writes its own"):
        store.put("k", source)


def test_delete_and_replace(store: LocalArtifactStore, source: Path, tmp_path: Path) -> None:
    store.put("k", source)
    single = tmp_path / "one.txt"
    single.write_text("one")
    manifest = store.put("k", single)  # a leftover tree is replaced whole
    assert sorted(manifest.files) == ["one.txt"]
    assert sorted(p.name for p in (store.root / "k").iterdir()) == ["MANIFEST.json", "one.txt"]

    store.delete("k")
    store.delete("k")
    assert not store.exists("k")
    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        store.manifest("k")


def test_open_artifact_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store(tmp_path), LocalArtifactStore)
    assert open_artifact_store(f"file://{tmp_path}").root == tmp_path.resolve()
    with pytest.raises(fti.ConfigError, match="unsupported artifacts URL"):
        open_artifact_store("s3://bucket/models")
