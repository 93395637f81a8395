"""The team of the platform tests: users in every role, and a key for every kind of caller the
access matrix knows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fti.project import Project
from fti.server.platform.deps import Platform
from fti.settings import Settings
from fti.stores.metadata.accounts import api_keys

PROJECT = "p"
"""The project the callers' roles are in."""
OTHER = "q"
BAD_KEY = "fti_0123456789abcdef_" + "A" * 43


def settings_in(home: Path) -> Settings:
    """Settings of a home with every store URL explicit, so FTI_* variables cannot redirect it."""
    return Settings.load(
        home,
        metadata_url=f"sqlite:///{home / 'metadata.db'}",
        online_url=f"sqlite:///{home / 'online.db'}",
        offline_url=str(home / "offline"),
        artifacts_url=str(home / "artifacts"),
    )


@dataclass
class Team:
    """An app, its client, and the key (None: no key) of each kind of caller."""

    app: FastAPI
    client: TestClient
    keys: dict[str, str | None]
    home: Path

    @property
    def platform(self) -> Platform:
        platform: Platform = self.app.state.platform
        return platform

    def headers(self, who: str) -> dict[str, str]:
        """The headers of caller ``who``."""
        key = self.keys[who]
        return {} if key is None else {"Authorization": f"Bearer {key}"}


def make_team(app: FastAPI, home: Path) -> dict[str, str | None]:
    """The users and keys of the access matrix, in ``app``'s database.

    root: admin; olga, eddie, vera: owner, editor, viewer of p; otto: owner of q. Project p
    holds a feature group, so that no request of the tests deletes it.
    """
    platform: Platform = app.state.platform
    accounts = platform.accounts
    _, _, root = accounts.bootstrap("root")
    for name in ("olga", "eddie", "vera", "otto"):
        accounts.create_user(name)
    accounts.create_project(PROJECT, "olga", created_by="root")
    accounts.create_project(OTHER, "otto", created_by="root")
    accounts.set_member(PROJECT, "eddie", "editor")
    accounts.set_member(PROJECT, "vera", "viewer")
    with Project(PROJECT, platform.settings) as project:  # a real group, as the UI reads it
        project.feature_store.create_feature_group("kept", primary_key=["id"])
    expired, expired_secret = accounts.create_key(
        "olga", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    with platform.metadata._engine.begin() as conn:
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == expired.id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    revoked, revoked_secret = accounts.create_key("olga")
    accounts.revoke_key(revoked.id)
    return {
        "none": None,
        "bad_key": BAD_KEY,
        "expired": expired_secret,
        "revoked": revoked_secret,
        "outsider": accounts.create_key("otto")[1],
        "viewer": accounts.create_key("vera")[1],
        "editor": accounts.create_key("eddie")[1],
        "owner": accounts.create_key("olga")[1],
        "read_only_key": accounts.create_key("olga", read_only=True)[1],
        "key_for_other_project": accounts.create_key("olga", project=OTHER)[1],
        "admin": root,
        "admin_key_for_project": accounts.create_key("root", project=PROJECT)[1],
    }
