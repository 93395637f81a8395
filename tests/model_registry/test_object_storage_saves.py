"""Model saves to S3 (a real S3 API on loopback): all-or-nothing without an atomic rename.

A save killed midway, or cut off from the store midway, leaves no version that lists or loads;
the files it left are removed by the next save or by ``fti models cleanup``; the next save
succeeds once the store is back; four processes saving at once lose nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fti
from fti.cli.main import app
from fti.stores.locations import open_location
from support.tcp_proxy import proxied

# The child stalls inside the upload, once its pickle reached S3 (before the manifest), and waits
# to be killed there.
KILLED_SAVE = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import fti
    from fti.stores.artifacts.object_store import ObjectArtifactStore

    home, url, ready = sys.argv[1:4]
    send = ObjectArtifactStore._send

    def send_then_stall(self, file, path):
        entry = send(self, file, path)
        Path(ready).write_text(str(file.parent))
        time.sleep(600)

    ObjectArtifactStore._send = send_then_stall
    with fti.connect(home, "p", artifacts_url=url) as project:
        model = project.model_registry.create_model("churn", framework="python")
        model.save(os.urandom(1 << 20), unsafe_pickle=True)
    """
)


class Objects:
    """The objects under an S3 prefix, listed without fti (and without any proxy)."""

    def __init__(self, url: str) -> None:
        self.location = open_location(url)
        self.fs = self.location.filesystem()

    def files(self, prefix: str) -> list[str]:
        import pyarrow.fs as pafs

        base = self.location.path(prefix)
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        return sorted(
            info.path[len(base) + 1 :]
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )


@pytest.fixture
def local_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own temporary folder, for this process and its children: object stores
    stage there, so cleanups see no other test's staging folders."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A model saved as files: a small one first, then one large enough for a multipart upload."""
    folder = tmp_path / "source"
    folder.mkdir()
    (folder / "a_config.json").write_text('{"layers": 3}')
    (folder / "b_weights.bin").write_bytes(os.urandom(12 << 20))
    return folder


@pytest.fixture
def home(tmp_path: Path, s3_url: str, source: Path, local_tmp: Path) -> Path:
    """A home whose model ``churn`` has version 1 on S3."""
    home = tmp_path / "home"
    with fti.connect(home, "p", artifacts_url=s3_url) as project:
        project.model_registry.create_model("churn").save(source)
    return home


def kill_a_save(tmp_path: Path, home: Path, url: str) -> tuple[int, Path]:
    """Run a save to S3 in a new process and SIGKILL it midway; returns its pid and staging
    folder."""
    script, ready = tmp_path / "killed_save.py", tmp_path / "ready"
    script.write_text(KILLED_SAVE)
    child = subprocess.Popen([sys.executable, str(script), str(home), url, str(ready)])
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert ready.exists(), "the save never reached its stall"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    staged = Path(ready.read_text())
    assert staged.is_dir() and staged.name.startswith(f"{child.pid}@")
    return child.pid, staged


def models(home: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--home", str(home), "--project", "p", "models", *args], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_a_killed_save_lists_nothing_and_the_next_save_removes_its_files(
    tmp_path: Path, home: Path, s3_url: str, source: Path, local_tmp: Path
) -> None:
    objects = Objects(s3_url)
    pid, staged = kill_a_save(tmp_path, home, s3_url)
    assert objects.files("p/models/churn/2") == ["model.pkl"]  # no manifest: no tree
    assert staged.is_relative_to(local_tmp)

    with fti.connect(home, "p", artifacts_url=s3_url) as project:
        mr = project.model_registry
        assert [m.version for m in mr.get_models("churn")] == [1]
        assert mr.get_model("churn").version == 1
        (stuck,) = mr.unfinished("churn")
        assert (stuck.version, stuck.state, stuck.stuck) == (2, "saving", True)
        assert f"process {pid}" in stuck.note
        with pytest.raises(fti.NotFoundError, match="has no artifacts"):
            mr.get_model("churn", version=2).load(unsafe_pickle=True)

        again = mr.create_model("churn").save(source)

        assert again.version == 3
        assert objects.files("p/models/churn/2") == []
        assert not staged.exists()
        failed = mr.get_model("churn", version=2)
        assert failed.state == "failed" and failed._body["files_removed"] is True
        assert mr.cleanup().removed == []  # nothing is removed twice
        out = again.download(tmp_path / "out")
        assert (out / "b_weights.bin").read_bytes() == (source / "b_weights.bin").read_bytes()


@pytest.mark.slow
def test_cleanup_removes_the_files_of_a_killed_save_once(
    tmp_path: Path, home: Path, s3_url: str, local_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = Objects(s3_url)
    _, staged = kill_a_save(tmp_path, home, s3_url)
    pickle_bytes = sum(f.stat().st_size for f in staged.rglob("*") if f.is_file())
    monkeypatch.setenv("FTI_ARTIFACTS_URL", s3_url)

    output = models(home, "cleanup")

    assert "churn v2: marked failed" in output and "is gone" in output
    assert f"removed {staged} ({pickle_bytes:,} bytes)" in output
    assert (
        f"removed {s3_url}/p/models/churn/2 ({pickle_bytes:,} bytes): left by a save that did "
        "not finish"
    ) in output
    assert objects.files("p/models/churn/2") == [] and not staged.exists()
    assert "Nothing to clean up." in models(home, "cleanup")
    assert objects.files("p/models/churn/1") == ["MANIFEST.json", "a_config.json", "b_weights.bin"]


def save_in_thread(save: Callable[[], fti.Model]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(save())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.slow
def test_storage_cut_off_mid_save_is_a_store_error_and_the_next_save_succeeds(
    tmp_path: Path,
    s3_url: str,
    s3_endpoint: str,
    source: Path,
    local_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = Objects(s3_url)  # straight to the server, past the proxy
    with proxied(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with fti.connect(tmp_path / "home", "p", artifacts_url=s3_url) as project:
            mr = project.model_registry
            thread, outcome = save_in_thread(lambda: mr.create_model("churn").save(source))
            deadline = time.monotonic() + 60
            while not objects.files("p/models/churn/1") and time.monotonic() < deadline:
                time.sleep(0.005)
            proxy.cut()  # the first file is stored, the large one is on its way
            thread.join(timeout=120)

            (error,) = outcome
            assert isinstance(error, fti.StoreError), error
            assert s3_url in str(error)
            assert mr.get_models("churn") == []
            with pytest.raises(fti.NotFoundError):
                mr.get_model("churn")
            (failed,) = mr.unfinished("churn")
            assert (failed.version, failed.state) == (1, "failed")
            assert "left files to remove" in failed.note
            assert "MANIFEST.json" not in objects.files("p/models/churn/1")
            with pytest.raises(fti.StoreError):  # still cut: the save fails before it begins
                mr.create_model("churn").save(source)

            proxy.restore()
            model = mr.create_model("churn").save(source)

            assert model.version == 2 and model.state == "ready"
            assert objects.files("p/models/churn/1") == []
            assert [m.version for m in mr.get_models("churn")] == [2]
            out = model.download(tmp_path / "out")
            assert (out / "b_weights.bin").read_bytes() == (source / "b_weights.bin").read_bytes()


WORKERS, SAVES = 4, 3


def _save_versions(home: str, url: str, worker: int) -> None:
    with fti.connect(home, "p", artifacts_url=url) as project:
        for i in range(SAVES):
            weights = os.urandom(64 << 10)
            model = project.model_registry.create_model(
                "shared", framework="python", metrics={"worker": worker, "i": i}
            )
            model.save({"worker": worker, "i": i, "weights": weights}, unsafe_pickle=True)


@pytest.mark.slow
def test_four_processes_save_versions_of_one_model_to_s3(
    tmp_path: Path, s3_url: str, local_tmp: Path
) -> None:
    home = str(tmp_path / "home")
    with fti.connect(home, "p", artifacts_url=s3_url):
        pass  # the metadata store exists before the workers race to open it
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_save_versions, args=(home, s3_url, w)) for w in range(WORKERS)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
        assert w.exitcode == 0

    objects = Objects(s3_url)
    with fti.connect(home, "p", artifacts_url=s3_url) as project:
        models = project.model_registry.get_models("shared")
        assert [m.version for m in models] == list(range(1, WORKERS * SAVES + 1))
        assert project.model_registry.unfinished() == []
        saved = sorted((int(m.metrics["worker"]), int(m.metrics["i"])) for m in models)
        assert saved == sorted((w, i) for w in range(WORKERS) for i in range(SAVES))
        for model in models:
            loaded = model.load(unsafe_pickle=True)
            assert (loaded["worker"], loaded["i"]) == (model.metrics["worker"], model.metrics["i"])
            assert objects.files(f"p/models/shared/{model.version}") == [
                "MANIFEST.json",
                "model.pkl",
            ]
    assert len(objects.files("p/models/shared")) == 2 * WORKERS * SAVES
