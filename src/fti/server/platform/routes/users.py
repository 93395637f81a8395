"""``/api/v1/users``: users and service accounts (server admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from fti.server.errors import error_responses
from fti.server.platform.access import Access, requires
from fti.server.platform.deps import PlatformDep, UserName
from fti.server.platform.routes.schemas import UserCreate, UserOut, UserUpdate

router = APIRouter(
    prefix="/api/v1/users", tags=["users"], dependencies=[Depends(requires(Access.ADMIN))]
)


@router.get("")
def list_users(platform: PlatformDep) -> list[UserOut]:
    """Every user and service account."""
    return [UserOut.of(u) for u in platform.accounts.users()]


@router.post("", status_code=201, responses=error_responses(409))
def create_user(body: UserCreate, platform: PlatformDep) -> UserOut:
    """Add a user or service account (409 when the name is taken)."""
    user = platform.accounts.create_user(
        body.name, admin=body.admin, service=body.service, password=body.password
    )
    return UserOut.of(user)


@router.get("/{user}", responses=error_responses(404))
def get_user(user: UserName, platform: PlatformDep) -> UserOut:
    """One user."""
    return UserOut.of(platform.accounts.get_user(user))


@router.patch("/{user}", responses=error_responses(404))
def update_user(user: UserName, body: UserUpdate, platform: PlatformDep) -> UserOut:
    """Make a user an admin or not, set or remove its password (the last admin stays one)."""
    accounts = platform.accounts
    found = accounts.get_user(user)
    if "password" in body.model_fields_set:
        found = accounts.set_password(user, body.password)
    if body.admin is not None:
        found = accounts.set_admin(user, body.admin)
        platform.authenticator.forget()
    return UserOut.of(found)


@router.delete("/{user}", status_code=204, response_class=Response, responses=error_responses(404))
def delete_user(user: UserName, platform: PlatformDep) -> Response:
    """Remove a user with its keys and memberships (not the last admin, nor a project's last
    owner)."""
    platform.accounts.delete_user(user)
    platform.authenticator.forget()
    return Response(status_code=204)
