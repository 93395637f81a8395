"""What the platform's routes share: the server's state, and path parameters checked against
fti's naming rules before any route code sees them (a bad one is a 422)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from fti.names import NAME_PATTERN
from fti.server.platform.auth import KeyAuthenticator, OpenAuthenticator
from fti.settings import Settings
from fti.stores.metadata.accounts import KEY_ID, AccountStore
from fti.stores.metadata.sql import SqlMetadataStore


@dataclass(frozen=True)
class Platform:
    """The server's settings and open stores, shared by every request (``app.state.platform``)."""

    settings: Settings
    metadata: SqlMetadataStore
    accounts: AccountStore
    authenticator: KeyAuthenticator | OpenAuthenticator


async def platform(request: Request) -> Platform:
    """The platform of the app serving ``request``."""
    state: Platform = request.app.state.platform
    return state


PlatformDep = Annotated[Platform, Depends(platform)]
ProjectName = Annotated[
    str, Path(pattern=NAME_PATTERN.pattern, description="A project (fti's naming rule)")
]
UserName = Annotated[
    str, Path(pattern=NAME_PATTERN.pattern, description="A user or service account")
]
KeyId = Annotated[str, Path(pattern=KEY_ID.pattern, description="An API key's public id")]
