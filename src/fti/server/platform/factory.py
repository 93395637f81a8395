"""The platform app from the environment, for ``uvicorn --workers`` (``fti server --workers``)."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI

from fti.server.platform.app import create_platform_app
from fti.settings import Settings

ENV = "FTI_SERVER_CONFIG"


def from_environment() -> FastAPI:
    """The app described by ``$FTI_SERVER_CONFIG`` (JSON written by ``fti server``)."""
    config = json.loads(os.environ[ENV])
    return create_platform_app(
        Settings.load(config["home"]),
        auth=config["auth"],
        key_cache_seconds=config["key_cache_seconds"],
    )
