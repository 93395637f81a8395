"""HTTP interfaces: the prediction server (FastAPI)."""

from fti.server.app import create_app

__all__ = ["create_app"]
