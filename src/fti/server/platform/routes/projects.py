"""``/api/v1/projects``: projects (made and deleted by admins) and their members (managed by
owners)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from fti.server.errors import error_responses
from fti.server.platform.access import Access, Principal, requires
from fti.server.platform.deps import PlatformDep, ProjectName, UserName
from fti.server.platform.routes.schemas import (
    MemberOut,
    MemberSet,
    ProjectCreate,
    ProjectOut,
    role_name,
)

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.get("")
def list_projects(
    platform: PlatformDep,
    principal: Annotated[Principal, Depends(requires(Access.AUTHENTICATED))],
) -> list[ProjectOut]:
    """The projects the caller may use: all of them for an admin, those no one registered but
    holding data too (an admin, or every caller of a server without keys, makes a project by
    writing to it), else the user's; only the key's project when the key is limited to one."""
    roles = {m.project: m.role for m in platform.accounts.memberships(principal.user)}
    registered = platform.accounts.projects()
    listed = [
        ProjectOut(
            name=p.name,
            created_by=p.created_by,
            created_at=p.created_at,
            role=role_name(roles.get(p.name)),
        )
        for p in registered
        if (principal.is_admin or p.name in roles) and principal.project in (None, p.name)
    ]
    if principal.is_admin:
        known = {p.name for p in registered}
        listed += [
            ProjectOut(name=name, created_by=None, created_at=None)
            for name in platform.metadata.projects()
            if name not in known and principal.project in (None, name)
        ]
    return sorted(listed, key=lambda p: p.name)


@router.post("", status_code=201, responses=error_responses(404, 409))
def create_project(
    body: ProjectCreate,
    platform: PlatformDep,
    principal: Annotated[Principal, Depends(requires(Access.ADMIN))],
) -> ProjectOut:
    """Make a project with its first owner (404: no such user; 409: the name is taken)."""
    made = platform.accounts.create_project(body.name, body.owner, created_by=principal.user)
    platform.authenticator.forget()
    return ProjectOut(
        name=made.name, created_by=made.created_by, created_at=made.created_at, role=None
    )


@router.get("/{project}", responses=error_responses(404))
def get_project(
    project: ProjectName,
    platform: PlatformDep,
    principal: Annotated[Principal, Depends(requires(Access.READ))],
) -> ProjectOut:
    """One project, with the caller's role in it."""
    found = platform.accounts.get_project(project)
    return ProjectOut(
        name=found.name,
        created_by=found.created_by,
        created_at=found.created_at,
        role=role_name(platform.accounts.role(principal.user, project)),
    )


@router.delete(
    "/{project}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.ADMIN))],
    responses=error_responses(404),
)
def delete_project(project: ProjectName, platform: PlatformDep) -> Response:
    """Remove a project that holds no data, with its members and the keys limited to it."""
    platform.accounts.delete_project(project)
    platform.authenticator.forget()
    return Response(status_code=204)


@router.get(
    "/{project}/members",
    dependencies=[Depends(requires(Access.READ))],
    responses=error_responses(404),
)
def list_members(project: ProjectName, platform: PlatformDep) -> list[MemberOut]:
    """The members of a project and their roles."""
    return [
        MemberOut(user=m.user, role=role_name(m.role)) for m in platform.accounts.members(project)
    ]


@router.put(
    "/{project}/members/{user}",
    dependencies=[Depends(requires(Access.OWNER))],
    responses=error_responses(404),
)
def set_member(
    project: ProjectName, user: UserName, body: MemberSet, platform: PlatformDep
) -> MemberOut:
    """Add a member or change its role (a project keeps at least one owner)."""
    membership = platform.accounts.set_member(project, user, body.role)
    platform.authenticator.forget()
    return MemberOut(user=membership.user, role=body.role)


@router.delete(
    "/{project}/members/{user}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(requires(Access.OWNER))],
    responses=error_responses(404),
)
def remove_member(project: ProjectName, user: UserName, platform: PlatformDep) -> Response:
    """Take a member out of a project (not its last owner)."""
    platform.accounts.remove_member(project, user)
    platform.authenticator.forget()
    return Response(status_code=204)
