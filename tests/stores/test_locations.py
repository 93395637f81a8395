"""Store locations by URL: local folders and object-storage prefixes, never credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from fti.errors import ConfigError, InvalidNameError
from fti.stores.locations import open_location


@pytest.mark.parametrize(
    ("url", "scheme", "root", "uri"),
    [
        ("s3://bucket-a/team/offline", "s3", "bucket-a/team/offline", "s3://bucket-a/team/offline"),
        ("s3://bucket-a", "s3", "bucket-a", "s3://bucket-a"),
        ("gs://b/p/", "gs", "b/p", "gs://b/p"),
        ("az://container/p", "az", "container/p", "az://container/p"),
        (
            "abfss://container@acct.dfs.core.windows.net/p/q",
            "az",
            "container/p/q",
            "az://container/p/q",
        ),
    ],
    ids=["s3", "s3-bucket-only", "gs", "az", "abfss"],
)
def test_object_storage_urls(url: str, scheme: str, root: str, uri: str) -> None:
    location = open_location(url)

    assert (location.scheme, location.root, location.uri()) == (scheme, root, uri)
    assert location.uri("g_v1/x.parquet") == f"{uri}/g_v1/x.parquet"
    assert not location.is_local


def test_local_paths_resolve_against_home(tmp_path: Path) -> None:
    assert open_location("offline", home=tmp_path).root == str((tmp_path / "offline").resolve())
    assert open_location(f"file://{tmp_path}").root == str(tmp_path.resolve())
    assert open_location(tmp_path).uri("a/b") == f"{tmp_path.resolve()}/a/b"


def test_s3_commits_are_conditional_by_default() -> None:
    assert open_location("s3://bucket/p").storage_options == {"conditional_put": "etag"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://key:secret@bucket/p", "must not hold credentials"),
        ("s3:///p", "names no bucket"),
        ("s3://bucket/../p", "must not contain"),
        ("ftp://host/p", "unsupported storage URL scheme ftp://"),
        ("s3://bucket/p?x=1", "query or fragment"),
        ("abfss://acct.dfs.core.windows.net/p", "abfss://container@account"),
    ],
    ids=["credentials", "no-bucket", "dot-dot", "scheme", "query", "abfss-no-container"],
)
def test_bad_urls_are_config_errors_without_secrets(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        open_location(url)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("relative", ["../x", "/abs", "a/../b", "a\\b", "a\x00b", "a//b"])
def test_paths_inside_a_root_cannot_leave_it(relative: str) -> None:
    with pytest.raises(InvalidNameError):
        open_location("s3://bucket/p").path(relative)


def test_plain_http_endpoints_need_an_explicit_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ALLOW_HTTP", raising=False)
    location = open_location("s3://bucket/p")

    with pytest.raises(ConfigError, match="AWS_ALLOW_HTTP=true"):
        location.filesystem()
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    assert type(location.filesystem()).__name__ == "S3FileSystem"


def test_an_s3_location_reaches_the_test_server(s3_url: str) -> None:
    import pyarrow.fs as pafs

    location = open_location(s3_url)
    filesystem = location.filesystem()
    with filesystem.open_output_stream(location.path("a/b.txt")) as out:
        out.write(b"hello")

    with filesystem.open_input_stream(location.path("a/b.txt")) as stream:
        assert stream.read() == b"hello"
    listed = filesystem.get_file_info(pafs.FileSelector(location.path(), recursive=True))
    assert [info.path for info in listed if info.is_file] == [location.path("a/b.txt")]
