"""Remote stores of the contract suites: the platform app (authentication off) over stores in a
folder, called in-process through Starlette's TestClient, which is an httpx client: the remote
backends send exactly the requests they send over a socket, without one."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from fti.server.platform.app import create_platform_app
from fti.settings import Settings
from fti.stores.server_client import ServerClient

SERVER = "server+"
"""The prefix of a contract suite's store URL meaning: that store behind the platform app."""


def server_settings(home: Path, **urls: str) -> Settings:
    """Settings of an app over ``home``; ``urls`` override the store URLs (embedded ones by
    default), so FTI_* variables of the environment cannot redirect it."""
    defaults = {
        "metadata_url": f"sqlite:///{home / 'metadata.db'}",
        "online_url": f"sqlite:///{home / 'online.db'}",
        "offline_url": str(home / "offline"),
        "artifacts_url": str(home / "artifacts"),
    }
    return Settings.load(home, **{**defaults, **urls})


def in_process_client(settings: Settings) -> ServerClient:
    """A client of the platform app over ``settings``, with authentication off. A SQLite
    metadata database not made yet starts as a copy of a migrated one (half the app's start)."""
    prefix = "sqlite:///"
    if settings.metadata_url.startswith(prefix):
        database = Path(settings.metadata_url[len(prefix) :])
        if not database.exists():
            database.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_migrated_database(), database)
    app = create_platform_app(settings, auth=False)
    return ServerClient(
        "http://testserver", None, http=TestClient(app, raise_server_exceptions=False)
    )


@functools.cache
def _migrated_database() -> Path:
    """An empty metadata database at the schema's head, made once per session."""
    from fti.stores.metadata.sql import SqlMetadataStore

    database = Path(tempfile.mkdtemp(prefix="fti-migrated-")) / "metadata.db"
    store = SqlMetadataStore(f"sqlite:///{database}")
    store.close()
    assert not database.with_name("metadata.db-wal").exists()  # all of it in the one file
    return database


class LiveServer:
    """The platform app of ``settings`` served by uvicorn on a free loopback port (a thread of
    this process) until :meth:`stop`."""

    def __init__(self, settings: Settings, *, auth: bool = False) -> None:
        import socket
        import threading
        import time

        import uvicorn

        self.settings = settings
        self.app = create_platform_app(settings, auth=auth)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the fti server did not start")

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
