"""``/api/v1/keys``: the caller's API keys (an admin's: anyone's).

A key never makes a key with more power than its own: a read-only key makes and revokes none,
a key limited to a project makes, lists and revokes only keys limited to that project, and a
new key expires no later than the key that made it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fti.errors import NotFoundError, PermissionDeniedError
from fti.names import NAME_PATTERN
from fti.server.errors import error_responses
from fti.server.platform.access import Access, Principal, requires
from fti.server.platform.deps import KeyId, PlatformDep
from fti.server.platform.routes.schemas import KeyCreate, KeyCreated, KeyOut
from fti.stores.metadata.accounts import ApiKey

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])

Caller = Annotated[Principal, Depends(requires(Access.AUTHENTICATED))]


@router.get("", responses=error_responses(403))
def list_keys(
    platform: PlatformDep,
    principal: Caller,
    user: Annotated[
        str | None,
        Query(pattern=NAME_PATTERN.pattern, description="Whose keys (admins only; default: own)"),
    ] = None,
) -> list[KeyOut]:
    """The caller's keys (an admin may ask for anyone's), newest first, revoked ones too."""
    whose = user or principal.user
    if whose != principal.user and not principal.is_admin:
        raise PermissionDeniedError("only a server admin may list another user's keys")
    return [KeyOut.of(k) for k in platform.accounts.keys(whose) if _within(principal, k)]


@router.post("", status_code=201, responses=error_responses(403, 404))
def create_key(body: KeyCreate, platform: PlatformDep, principal: Caller) -> KeyCreated:
    """A new key; its secret is in this answer only."""
    whose = body.user or principal.user
    if whose != principal.user and not principal.is_admin:
        raise PermissionDeniedError("only a server admin may make keys for another user")
    if principal.read_only:
        raise PermissionDeniedError("a read-only API key cannot make keys")
    project = body.project or principal.project
    if principal.project is not None and project != principal.project:
        raise PermissionDeniedError(
            f"this API key is limited to project {principal.project!r}: so are the keys it makes"
        )
    expires_at = body.expires_at
    if principal.key_id is not None:
        limit = platform.accounts.get_key(principal.key_id).expires_at
        if limit is not None and (expires_at is None or expires_at > limit):
            expires_at = limit  # a key cannot outlive the key that made it
    key, secret = platform.accounts.create_key(
        whose, label=body.label, project=project, read_only=body.read_only, expires_at=expires_at
    )
    return KeyCreated(**KeyOut.of(key).model_dump(), key=secret)


@router.delete("/{key_id}", responses=error_responses(403, 404))
def revoke_key(key_id: KeyId, platform: PlatformDep, principal: Caller) -> KeyOut:
    """Revoke a key of the caller's (an admin: anyone's); it stops working on every worker
    within the key cache's time."""
    if principal.read_only:
        raise PermissionDeniedError("a read-only API key cannot revoke keys")
    key = platform.accounts.get_key(key_id)
    if (key.user != principal.user and not principal.is_admin) or not _within(principal, key):
        raise NotFoundError(f"no API key {key_id!r}")  # keys out of reach are not shown
    revoked = platform.accounts.revoke_key(key_id)
    platform.authenticator.forget()
    return KeyOut.of(revoked)


def _within(principal: Principal, key: ApiKey) -> bool:
    """Whether ``key`` is within the reach of the caller's key: a key limited to a project
    sees and revokes only keys limited to the same project."""
    return principal.project is None or key.project == principal.project
