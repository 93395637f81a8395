"""``/api/v1/me``: who the caller's key belongs to and what it may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from fti.server.platform.access import Access, Principal, requires
from fti.server.platform.deps import PlatformDep
from fti.server.platform.routes.schemas import Me, MemberOf, role_name

router = APIRouter(tags=["server"])


@router.get("/api/v1/me")
def me(
    platform: PlatformDep, principal: Annotated[Principal, Depends(requires(Access.AUTHENTICATED))]
) -> Me:
    """The caller's user, admin or not, the key's limits and the user's projects."""
    memberships = platform.accounts.memberships(principal.user)
    return Me(
        user=principal.user,
        admin=principal.is_admin,
        key_id=principal.key_id,
        key_project=principal.project,
        read_only=principal.read_only,
        projects=[MemberOf(project=m.project, role=role_name(m.role)) for m in memberships],
    )
