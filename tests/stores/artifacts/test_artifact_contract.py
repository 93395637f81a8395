"""What every artifact store does, on local disk and on S3 alike: manifests written last and
verified on every read, trees replaced whole, staging folders and leftovers cleaned up, and keys
and paths that cannot leave the root."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from artifact_helpers import Raw

import fti
from fti.stores.artifacts import ArtifactStore, Owner

KEY = "p/models/m/1"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    (folder / "nested").mkdir(parents=True)
    (folder / "model.bin").write_bytes(os.urandom((8 << 20) + 17))  # spans chunks and parts
    (folder / "nested" / "config.json").write_text('{"a": 1}')
    (folder / "empty").write_bytes(b"")
    return folder


def test_put_writes_a_manifest_of_every_file(
    store: ArtifactStore, raw: Raw, source: Path, tmp_path: Path
) -> None:
    manifest = store.put(KEY, source)

    stored = raw.read(f"{KEY}/MANIFEST.json")
    on_disk = json.loads(stored)
    assert sorted(on_disk["files"]) == ["empty", "model.bin", "nested/config.json"]
    for rel, entry in on_disk["files"].items():
        data = (source / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        assert raw.read(f"{KEY}/{rel}") == data
    assert manifest.digest == hashlib.sha256(stored).hexdigest()
    assert store.manifest(KEY, manifest.digest) == manifest
    assert store.exists(KEY) and not store.exists("p/models/m/2")
    assert not any(store.staging_dir().parent.glob("*/*")), "staging left behind"


def test_a_single_file_is_stored_under_its_name(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    digest = store.put(KEY, source / "nested" / "config.json").digest

    assert sorted(store.manifest(KEY, digest).files) == ["config.json"]
    assert store.read(KEY, "config.json", digest) == b'{"a": 1}'


def test_reads_streams_and_copies_are_verified(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    digest = store.put(KEY, source).digest

    assert store.read(KEY, "model.bin", digest) == (source / "model.bin").read_bytes()
    with store.open(KEY, "nested/config.json", digest) as stream:
        assert stream.read() == b'{"a": 1}'
    with store.open(KEY, "model.bin", digest) as stream:
        assert stream.read() == (source / "model.bin").read_bytes()
    out = store.get(KEY, tmp_path / "out", digest)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "MANIFEST.json",
        "empty",
        "model.bin",
        "nested/config.json",
    ]
    assert (out / "model.bin").read_bytes() == (source / "model.bin").read_bytes()
    assert (out / "empty").read_bytes() == b""


def test_commit_stores_a_staged_tree_and_consumes_it(store: ArtifactStore) -> None:
    staged = store.staging_dir()
    assert staged.is_dir() and not any(staged.iterdir())
    assert staged.name.startswith(f"{os.getpid()}@")
    (staged / "sub").mkdir()
    (staged / "sub" / "weights.npy").write_bytes(b"\x93NUMPY")

    manifest = store.commit(KEY, staged)

    assert not staged.exists()
    assert store.read(KEY, "sub/weights.npy", manifest.digest) == b"\x93NUMPY"


def test_discard_removes_a_staged_tree_and_stores_nothing(store: ArtifactStore) -> None:
    staged = store.staging_dir()
    (staged / "model.bin").write_bytes(b"x")

    store.discard(staged)

    assert not staged.exists() and not store.exists(KEY)


def test_only_the_stores_own_staging_folders_are_committed(
    store: ArtifactStore, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.bin").write_bytes(b"x")

    with pytest.raises(fti.InvalidArgumentError, match="not a staging directory"):
        store.commit(KEY, elsewhere)
    assert (elsewhere / "model.bin").exists() and not store.exists(KEY)


def tamper(raw: Raw, path: str) -> None:
    data = bytearray(raw.read(f"{KEY}/{path}"))
    data[len(data) // 2] ^= 1
    raw.write(f"{KEY}/{path}", bytes(data))


@pytest.mark.parametrize("path", ["model.bin", "nested/config.json"], ids=["large", "nested"])
def test_a_changed_file_is_refused(
    store: ArtifactStore, raw: Raw, source: Path, tmp_path: Path, path: str
) -> None:
    digest = store.put(KEY, source).digest
    tamper(raw, path)

    with pytest.raises(fti.ArtifactIntegrityError, match=f"{path} does not match"):
        store.read(KEY, path, digest)
    with pytest.raises(fti.ArtifactIntegrityError, match="does not match"):
        store.get(KEY, tmp_path / "out", digest)
    assert not (tmp_path / "out" / path).exists()
    with pytest.raises(fti.ArtifactIntegrityError), store.open(KEY, path, digest) as stream:
        stream.read()


def test_a_missing_file_is_refused(
    store: ArtifactStore, raw: Raw, source: Path, tmp_path: Path
) -> None:
    digest = store.put(KEY, source).digest
    raw.delete(f"{KEY}/nested/config.json")

    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        store.read(KEY, "nested/config.json", digest)
    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        store.open(KEY, "nested/config.json", digest)
    with pytest.raises(fti.ArtifactIntegrityError, match=r"missing: nested/config\.json"):
        store.get(KEY, tmp_path / "out", digest)
    assert not (tmp_path / "out" / "model.bin").exists()


def test_an_added_file_is_refused(
    store: ArtifactStore, raw: Raw, source: Path, tmp_path: Path
) -> None:
    digest = store.put(KEY, source).digest
    raw.write(f"{KEY}/planted.pkl", b"x")

    with pytest.raises(fti.ArtifactIntegrityError, match=r"not in the manifest: planted\.pkl"):
        store.get(KEY, tmp_path / "out", digest)
    with pytest.raises(fti.ArtifactIntegrityError, match="not listed in the manifest"):
        store.read(KEY, "planted.pkl", digest)


def test_a_grown_file_is_refused(store: ArtifactStore, raw: Raw, source: Path) -> None:
    digest = store.put(KEY, source).digest
    raw.write(f"{KEY}/model.bin", raw.read(f"{KEY}/model.bin") + b"!")

    with pytest.raises(fti.ArtifactIntegrityError, match="does not match"):
        store.read(KEY, "model.bin", digest)
    with pytest.raises(fti.ArtifactIntegrityError), store.open(KEY, "model.bin", digest) as s:
        s.read()


def test_a_rewritten_manifest_is_refused_by_its_digest(
    store: ArtifactStore, raw: Raw, source: Path
) -> None:
    digest = store.put(KEY, source).digest
    tamper(raw, "model.bin")
    body = json.loads(raw.read(f"{KEY}/MANIFEST.json"))
    data = raw.read(f"{KEY}/model.bin")
    body["files"]["model.bin"]["sha256"] = hashlib.sha256(data).hexdigest()
    raw.write(f"{KEY}/MANIFEST.json", json.dumps(body).encode())

    with pytest.raises(fti.ArtifactIntegrityError, match=r"MANIFEST\.json was changed"):
        store.read(KEY, "model.bin", digest)
    raw.delete(f"{KEY}/MANIFEST.json")
    with pytest.raises(fti.ArtifactIntegrityError, match=r"MANIFEST\.json is missing"):
        store.read(KEY, "model.bin", digest)
    assert not store.exists(KEY)


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"format": 2, "files": {}}', b'{"format": 1, "files": {"../x": {}}}'],
    ids=["not-json", "unknown-format", "escaping-path"],
)
def test_a_manifest_that_is_not_one_is_refused(
    store: ArtifactStore, raw: Raw, source: Path, content: bytes
) -> None:
    store.put(KEY, source)
    raw.write(f"{KEY}/MANIFEST.json", content)

    with pytest.raises(fti.ArtifactIntegrityError, match=r"MANIFEST\.json is not valid"):
        store.read(KEY, "model.bin")


# Traversal payloads: absolute, climbing, empty parts, hidden or dash-led parts, separators
# and encodings other layers could decode, control characters, and what is not a string.
BAD_KEYS = [
    "",
    "/",
    "/abs",
    ".",
    "..",
    "../x",
    "a/../../x",
    "a/./b",
    "a//b",
    "a/",
    ".staging/x",
    "a/.hidden",
    "a\\b",
    "..\\x",
    "a/-x",
    "a\x00b",
    "a\nb",
    "%2e%2e/x",
    "a/..%2fb",
    "~/x",
    "C:\\x",
    "a/b c",
    "a" * 256,
    None,
    1,
    b"a",
]
BAD_KEY_IDS = [
    "empty",
    "slash",
    "absolute",
    "dot",
    "dot-dot",
    "climb",
    "climb-deep",
    "inner-dot",
    "empty-part",
    "trailing-slash",
    "staging",
    "hidden",
    "backslash",
    "backslash-climb",
    "dash",
    "nul",
    "newline",
    "percent-encoded",
    "percent-slash",
    "tilde",
    "drive",
    "space",
    "too-long",
    "none",
    "int",
    "bytes",
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=BAD_KEY_IDS)
def test_keys_cannot_leave_the_root(
    store: ArtifactStore, raw: Raw, source: Path, tmp_path: Path, key: object
) -> None:
    calls = {
        "put": lambda: store.put(key, source),  # type: ignore[arg-type]
        "commit": lambda: store.commit(key, store.staging_dir()),  # type: ignore[arg-type]
        "manifest": lambda: store.manifest(key),  # type: ignore[arg-type]
        "read": lambda: store.read(key, "model.bin"),  # type: ignore[arg-type]
        "open": lambda: store.open(key, "model.bin"),  # type: ignore[arg-type]
        "get": lambda: store.get(key, tmp_path / "out"),  # type: ignore[arg-type]
        "exists": lambda: store.exists(key),  # type: ignore[arg-type]
        "delete": lambda: store.delete(key),  # type: ignore[arg-type]
        "cleanup": lambda: store.cleanup(timedelta(days=1), [key]),  # type: ignore[list-item]
    }
    for name, call in calls.items():
        with pytest.raises(fti.InvalidNameError):
            call()
            pytest.fail(f"{name} accepted {key!r}")
    assert raw.files() == []


BAD_PATHS = [
    "",
    "/etc/passwd",
    "../x",
    "a/../../b",
    "./a",
    "a/.",
    "a//b",
    "a/",
    "a\\b",
    "..\\..\\x",
    "a\x00b",
    "MANIFEST.json",
    "a" * 256,
    "x/" + "é" * 128,
    None,
]
BAD_PATH_IDS = [
    "empty",
    "absolute",
    "climb",
    "climb-deep",
    "leading-dot",
    "trailing-dot",
    "empty-part",
    "trailing-slash",
    "backslash",
    "backslash-climb",
    "nul",
    "manifest",
    "name-over-255-bytes",
    "utf8-name-over-255-bytes",
    "none",
]


@pytest.mark.parametrize("path", BAD_PATHS, ids=BAD_PATH_IDS)
def test_file_paths_cannot_leave_the_tree(store: ArtifactStore, source: Path, path: object) -> None:
    digest = store.put(KEY, source).digest
    with pytest.raises(fti.InvalidNameError):
        store.read(KEY, path, digest)  # type: ignore[arg-type]
    with pytest.raises(fti.InvalidNameError):
        store.open(KEY, path, digest)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["MANIFEST.json", "a\\b"], ids=["own-manifest", "backslash-in-name"]
)
def test_source_files_that_cannot_be_stored_are_refused(
    store: ArtifactStore, raw: Raw, source: Path, name: str
) -> None:
    (source / name).write_text("{}")
    with pytest.raises(fti.InvalidArgumentError, match=r"writes its own|cannot store"):
        store.put(KEY, source)
    staged = store.staging_dir()
    (staged / name).write_text("{}")
    with pytest.raises(fti.InvalidArgumentError):
        store.commit(KEY, staged)
    assert not staged.exists()
    assert raw.files() == []


def test_a_missing_source_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(fti.NotFoundError, match="neither a file nor a directory"):
        store.put(KEY, tmp_path / "absent")


def test_a_symlink_in_the_source_is_refused(store: ArtifactStore, source: Path) -> None:
    (source / "link").symlink_to(source / "model.bin")
    with pytest.raises(fti.InvalidArgumentError, match="symbolic link"):
        store.put(KEY, source)
    assert not store.exists(KEY)


def test_a_tree_is_replaced_whole_and_deleted(
    store: ArtifactStore, raw: Raw, source: Path, tmp_path: Path
) -> None:
    store.put(KEY, source)
    single = tmp_path / "one.txt"
    single.write_text("one")

    manifest = store.put(KEY, single)  # a leftover tree is replaced whole

    assert sorted(manifest.files) == ["one.txt"]
    assert raw.files(KEY) == [f"{KEY}/MANIFEST.json", f"{KEY}/one.txt"]
    assert store.get(KEY, tmp_path / "out", manifest.digest) == tmp_path / "out"

    store.delete(KEY)
    store.delete(KEY)
    assert not store.exists(KEY) and raw.files(KEY) == []
    with pytest.raises(fti.ArtifactIntegrityError, match="missing"):
        store.manifest(KEY)


def test_deleting_a_key_leaves_keys_it_prefixes(store: ArtifactStore, source: Path) -> None:
    store.put("p/models/m/1", source / "empty")
    store.put("p/models/m/10", source / "empty")

    store.delete("p/models/m/1")

    assert store.exists("p/models/m/10") and not store.exists("p/models/m/1")


def test_cleanup_removes_dead_or_old_staging_folders_only(store: ArtifactStore) -> None:
    fresh, old = store.staging_dir(), store.staging_dir()
    (old / "model.bin").write_bytes(b"x" * 10)
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    gone = Owner(Owner.current().host, 2**22 + 1)  # above Linux's largest pid
    dead = fresh.parent / f"{gone.pid}@{gone.host}_abc"
    (dead / "d").mkdir(parents=True)
    (dead / "d" / "w").write_bytes(b"y" * 3)
    elsewhere = fresh.parent / "1@elsewhere.example_abc"  # liveness unknowable from here
    elsewhere.mkdir()

    removed = store.cleanup(timedelta(days=1))

    assert sorted((Path(r.path), r.bytes, r.reason) for r in removed) == sorted(
        [(old, 10, "older than 1 day, 0:00:00"), (dead, 3, f"left by {gone}, which is gone")]
    )
    assert fresh.exists() and elsewhere.exists()
    assert not old.exists() and not dead.exists()


def test_cleanup_removes_the_trees_of_leftover_keys(
    store: ArtifactStore, raw: Raw, source: Path
) -> None:
    store.put("p/models/m/1", source)
    raw.write("p/models/m/2/model.bin", b"partial")  # a save that died before its manifest
    store.put("p/models/m/3", source / "empty")

    removed = store.cleanup(timedelta(days=1), ["p/models/m/2", "p/models/m/4", "p/models/m/1"])

    assert [(r.path.endswith("p/models/m/2"), r.bytes) for r in removed[:1]] == [(True, 7)]
    assert removed[0].reason == "left by a save that did not finish"
    assert raw.files("p/models/m/2") == [] and raw.files("p/models/m/1") == []
    assert store.exists("p/models/m/3")
    assert store.cleanup(timedelta(days=1), ["p/models/m/2"]) == []
