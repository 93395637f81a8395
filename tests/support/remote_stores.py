"""Remote stores of the contract suites: the platform app (authentication off) over stores in a
folder, called in-process through Starlette's TestClient, which is an httpx client: the remote
backends send exactly the requests they send over a socket, without one."""

from __future__ import annotations

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
    """A client of the platform app over ``settings``, with authentication off."""
    app = create_platform_app(settings, auth=False)
    return ServerClient(
        "http://testserver", None, http=TestClient(app, raise_server_exceptions=False)
    )
