"""An app factory reading its configuration from the environment, for ``uvicorn --workers``."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI

from fti.project import connect
from fti.server.app import create_app

ENV = "FTI_SERVE_CONFIG"


def from_environment() -> FastAPI:
    """The app described by ``$FTI_SERVE_CONFIG`` (JSON written by ``fti serve``)."""
    config = json.loads(os.environ[ENV])
    project = connect(config["home"], config["project"] or None)
    return create_app(
        project,
        config["models"],
        allow_missing=config.get("allow_missing", False),
        auth=config.get("auth", False),
    )
