"""The local cache of immutable remote files: copies appear whole or not at all, the files used
longest ago go first when it outgrows its bound, and deleting it is always safe."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from fti.errors import InvalidNameError
from fti.stores.offline.cache import CachedFile, FileCache


class Source:
    """Remote files by key, counting the copies made of each."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.copies: dict[str, int] = {}
        self.lock = threading.Lock()

    def download(self, key: str, target: Path) -> None:
        with self.lock:
            self.copies[key] = self.copies.get(key, 0) + 1
        target.write_bytes(self.files[key])


def age(path: str | Path, seconds: float) -> None:
    """Make a copy look unused for ``seconds``."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_file_is_copied_once_then_read_from_the_cache(tmp_path: Path) -> None:
    source = Source({"t/a.parquet": b"a" * 10, "t/b.parquet": b"b" * 20})
    cache = FileCache(tmp_path / "cache", max_bytes=1000)
    wanted = [CachedFile("t/a.parquet", 10), CachedFile("t/b.parquet", 20)]

    first = cache.paths(wanted, source.download)
    again = cache.paths(wanted, source.download)

    assert first == again == [str(tmp_path / "cache" / "t" / n) for n in ("a.parquet", "b.parquet")]
    assert [Path(p).read_bytes() for p in first] == [b"a" * 10, b"b" * 20]
    assert source.copies == {"t/a.parquet": 1, "t/b.parquet": 1}


def test_deleting_the_cache_is_safe(tmp_path: Path) -> None:
    source = Source({"t/a.parquet": b"a" * 10})
    cache = FileCache(tmp_path / "cache", max_bytes=1000)
    cache.paths([CachedFile("t/a.parquet", 10)], source.download)

    shutil.rmtree(tmp_path / "cache")
    (path,) = cache.paths([CachedFile("t/a.parquet", 10)], source.download)

    assert Path(path).read_bytes() == b"a" * 10
    assert source.copies == {"t/a.parquet": 2}


def test_a_copy_of_the_wrong_size_is_made_again(tmp_path: Path) -> None:
    source = Source({"t/a.parquet": b"a" * 10})
    cache = FileCache(tmp_path / "cache", max_bytes=1000)
    (path,) = cache.paths([CachedFile("t/a.parquet", 10)], source.download)
    Path(path).write_bytes(b"a" * 4)  # a damaged copy

    cache.paths([CachedFile("t/a.parquet", 10)], source.download)

    assert Path(path).read_bytes() == b"a" * 10
    assert source.copies == {"t/a.parquet": 2}


def test_a_copy_is_visible_only_when_whole(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=1000)
    target = tmp_path / "cache" / "t" / "a.parquet"
    seen: list[bool] = []

    def download(key: str, partial: Path) -> None:
        partial.write_bytes(b"half")
        seen.append(target.exists())
        partial.write_bytes(b"whole!")

    cache.paths([CachedFile("t/a.parquet", 6)], download)

    assert seen == [False]
    assert target.read_bytes() == b"whole!"


@pytest.mark.parametrize("failure", ["error", "short"], ids=["download-error", "short-copy"])
def test_a_failed_copy_leaves_nothing(tmp_path: Path, failure: str) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=1000)

    def download(key: str, partial: Path) -> None:
        partial.write_bytes(b"half")
        if failure == "error":
            raise OSError("connection reset")

    with pytest.raises(OSError, match=r"connection reset|not 10"):
        cache.paths([CachedFile("t/a.parquet", 10)], download)

    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_the_files_used_longest_ago_go_first(tmp_path: Path) -> None:
    source = Source({f"t/{n}.parquet": n.encode() * 100 for n in "abcd"})
    cache = FileCache(tmp_path / "cache", max_bytes=250)
    a, b = cache.paths([CachedFile("t/a.parquet"), CachedFile("t/b.parquet")], source.download)
    age(a, 3600)
    age(b, 7200)
    # A use makes a copy recent again.
    cache.paths([CachedFile("t/b.parquet")], source.download)

    (c,) = cache.paths([CachedFile("t/c.parquet")], source.download)

    assert not Path(a).exists() and Path(b).exists() and Path(c).exists()
    assert cache.size() == 200


def test_copies_in_use_are_kept_beyond_the_bound(tmp_path: Path) -> None:
    source = Source({f"t/{n}.parquet": n.encode() * 100 for n in "abc"})
    cache = FileCache(tmp_path / "cache", max_bytes=150)
    (a,) = cache.paths([CachedFile("t/a.parquet")], source.download)

    # b and c are needed together, a was just used (another process may be reading it).
    paths = cache.paths([CachedFile("t/b.parquet"), CachedFile("t/c.parquet")], source.download)

    assert all(Path(p).exists() for p in [a, *paths])
    age(a, 3600)
    cache.evict()
    assert not Path(a).exists()


def test_partial_copies_of_dead_processes_are_removed(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=1000)
    (tmp_path / "cache" / "t").mkdir(parents=True)
    stale = tmp_path / "cache" / "t" / ".a.parquet.123.partial"
    fresh = tmp_path / "cache" / "t" / ".b.parquet.456.partial"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    age(stale, 2 * 3600)

    cache.evict()

    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("key", ["", "../x", "/abs", "a//b", "t/.x.partial", "a\\b"], ids=str)
def test_keys_that_could_leave_the_cache_are_refused(tmp_path: Path, key: str) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=1000)

    with pytest.raises(InvalidNameError):
        cache.paths([CachedFile(key)], Source({}).download)
