"""What only the object-storage artifact store has: URLs of each provider, credentials that stay
in the environment, and a store that can become unreachable."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from artifact_helpers import Raw

import fti
from fti.stores.artifacts import (
    ArtifactStore,
    ObjectArtifactStore,
    object_store,
    open_artifact_store,
)
from fti.stores.locations import open_location
from support.tcp_proxy import proxied

FAKE_SECRET = "fti-FAKE-artifact-secret-7f3a9c"
KEY = "p/models/m/1"


@pytest.mark.parametrize(
    ("url", "display"),
    [
        ("s3://bucket/team/artifacts", "s3://bucket/team/artifacts"),
        ("gs://bucket/artifacts", "gs://bucket/artifacts"),
        ("az://container/artifacts", "az://container/artifacts"),
        (
            "abfss://container@acct.dfs.core.windows.net/artifacts",
            "abfss://container@acct.dfs.core.windows.net/artifacts",
        ),
    ],
    ids=["s3", "gs", "az", "abfss"],
)
def test_object_storage_urls_open_an_object_store_without_connecting(
    url: str, display: str
) -> None:
    store = open_artifact_store(url)

    assert isinstance(store, ObjectArtifactStore)
    assert repr(store) == f"ObjectArtifactStore({display!r})"
    assert "_fs" not in vars(store)  # no client (and no credential) until first used


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/artifacts", "unsupported storage URL scheme ftp://"),
        ("s3://key:secret@bucket/p", "must not hold credentials"),
        ("s3:///p", "names no bucket"),
    ],
    ids=["scheme", "credentials-in-url", "no-bucket"],
)
def test_unusable_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(fti.ConfigError, match=message) as caught:
        open_artifact_store(url)
    assert "secret" not in str(caught.value)


def test_trees_are_staged_on_this_machine_until_uploaded(s3_url: str, tmp_path: Path) -> None:
    store = open_artifact_store(s3_url, staging=tmp_path / "staging")
    staged = store.staging_dir()
    (staged / "model.bin").write_bytes(b"weights")

    store.commit(KEY, staged)

    assert staged.parent == tmp_path / "staging" and not staged.exists()
    assert store.read(KEY, "model.bin") == b"weights"


def test_files_larger_than_one_get_are_streamed_in_ranges_and_verified(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(object_store, "DOWNLOAD_CHUNK", 1 << 20)  # 256 MiB files, scaled down
    source = tmp_path / "model.bin"
    data = os.urandom((3 << 20) + 5)
    source.write_bytes(data)
    store = open_artifact_store(s3_url, staging=tmp_path / "staging")
    digest = store.put(KEY, source).digest

    with store.open(KEY, "model.bin", digest) as stream:
        assert stream.read(10) == data[:10] and stream.read() == data[10:]
    assert (store.get(KEY, tmp_path / "out", digest) / "model.bin").read_bytes() == data

    raw = Raw(open_location(s3_url))
    raw.write(f"{KEY}/model.bin", data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(fti.ArtifactIntegrityError), store.open(KEY, "model.bin", digest) as s:
        s.read()
    with pytest.raises(fti.ArtifactIntegrityError, match="does not match"):
        store.get(KEY, tmp_path / "again", digest)


def test_an_unreachable_store_is_a_store_error_and_leaves_no_tree(
    s3_url: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    with proxied(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        store = open_artifact_store(s3_url, staging=tmp_path / "staging")
        digest = store.put("p/models/m/0", source).digest
        proxy.cut()

        calls: dict[str, Callable[[], object]] = {
            "put": lambda: store.put(KEY, source),
            "read": lambda: store.read("p/models/m/0", "model.bin", digest),
            "get": lambda: store.get("p/models/m/0", tmp_path / "out", digest),
            "exists": lambda: store.exists("p/models/m/0"),
            "delete": lambda: store.delete("p/models/m/0"),
            "cleanup": lambda: store.cleanup(timedelta(days=1), [KEY]),
        }
        for name, call in calls.items():
            with pytest.raises(fti.StoreError, match=s3_url) as caught:
                call()
            assert "artifacts" in str(caught.value), name
        assert not any((tmp_path / "out").rglob("*"))

        proxy.restore()
        assert not store.exists(KEY)
        assert store.read("p/models/m/0", "model.bin", digest) == b"weights"
        store.put(KEY, source)
        assert store.exists(KEY)


# Credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["secret", "key-id"], ids=["wrong-secret", "unknown-key-id"])
def test_refused_credentials_are_a_config_error_naming_them_and_never_shown(
    authenticating_s3: tuple[str, str, str, str],
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wrong: str,
) -> None:
    url, bucket, key_id, secret = authenticating_s3
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id if wrong == "secret" else "AKIAFTIUNKNOWN000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    store = open_artifact_store(f"s3://{bucket}/artifacts", staging=tmp_path / "staging")
    calls: dict[str, Callable[[ArtifactStore], object]] = {
        "put": lambda s: s.put(KEY, source),
        "exists": lambda s: s.exists(KEY),
        "read": lambda s: s.read(KEY, "model.bin"),
        "cleanup": lambda s: s.cleanup(timedelta(days=1), [KEY]),
    }

    for name, call in calls.items():
        with pytest.raises(fti.ConfigError, match="AWS_SECRET_ACCESS_KEY") as caught:
            call(store)
        assert "refused the credentials" in str(caught.value), name
        chain: BaseException | None = caught.value
        while chain is not None:
            assert FAKE_SECRET not in str(chain) and FAKE_SECRET not in repr(chain), name
            chain = chain.__cause__ or chain.__context__
    assert FAKE_SECRET not in repr(store) and FAKE_SECRET not in repr(vars(store))

    # The same calls with the right secret: the server checks, and the mapping is not a guess.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    store = open_artifact_store(f"s3://{bucket}/artifacts", staging=tmp_path / "staging")
    digest = store.put(KEY, source).digest
    assert store.read(KEY, "model.bin", digest) == b"weights"
    store.delete(KEY)


def test_a_save_with_refused_credentials_stores_and_logs_no_secret(
    authenticating_s3: tuple[str, str, str, str],
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, bucket, key_id, _ = authenticating_s3
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    with fti.connect(home, "p", artifacts_url=f"s3://{bucket}/artifacts") as project:
        mr = project.model_registry
        with pytest.raises(fti.ConfigError, match="refused the credentials") as caught:
            mr.create_model("m", framework="python").save(b"weights", unsafe_pickle=True)

        (failed,) = mr.unfinished("m")  # its files could not be removed: kept as failed
        assert "refused the credentials" in failed.note
        assert FAKE_SECRET not in failed.note and FAKE_SECRET not in str(caught.value)
        assert FAKE_SECRET not in repr(project) and FAKE_SECRET not in repr(mr._artifacts)
    stored = [f.read_bytes() for f in home.glob("metadata.db*")]  # with its journal or WAL
    assert stored and not any(FAKE_SECRET.encode() in data for data in stored)
    assert FAKE_SECRET not in caplog.text
