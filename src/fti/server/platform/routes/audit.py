"""The audit log: a project's for its owners, the whole server's for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fti.names import NAME_PATTERN
from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, ProjectName
from fti.server.platform.routes.schemas import AuditEventOut

router = APIRouter(tags=["audit"])

Limit = Annotated[int, Query(ge=1, le=10_000, description="At most this many events")]
Before = Annotated[
    int | None,
    Query(ge=1, le=2**63 - 1, description="Only events older than this id (the next page)"),
]


@router.get(
    "/api/v1/projects/{project}/audit",
    dependencies=[Depends(requires(Access.OWNER))],
    responses=error_responses(404),
)
def project_audit(
    project: ProjectName, platform: PlatformDep, limit: Limit = 100, before: Before = None
) -> list[AuditEventOut]:
    """The newest writes in a project, newest first."""
    platform.accounts.get_project(project)
    events = platform.accounts.audit(project, limit=limit, before=before)
    return [AuditEventOut.of(e) for e in events]


@router.get("/api/v1/audit", dependencies=[Depends(requires(Access.ADMIN))])
def server_audit(
    platform: PlatformDep,
    limit: Limit = 100,
    before: Before = None,
    project: Annotated[
        str | None, Query(pattern=NAME_PATTERN.pattern, description="Only this project's")
    ] = None,
) -> list[AuditEventOut]:
    """The newest writes on the server (of one project, if asked), newest first."""
    events = platform.accounts.audit(project, limit=limit, before=before)
    return [AuditEventOut.of(e) for e in events]
