"""``/api/v1/health``: whether the server and its metadata database answer (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

import fti
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep

router = APIRouter(tags=["server"])


class Health(BaseModel):
    """The server answers and reaches its metadata database."""

    status: str
    version: str


@router.get("/api/v1/health", dependencies=[Depends(requires(Access.PUBLIC))])
def health(platform: PlatformDep) -> Health:
    """Ready: the metadata database answers (503 when it does not)."""
    platform.accounts.projects()
    return Health(status="ok", version=fti.__version__)
