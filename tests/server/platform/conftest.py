"""Fixtures of the platform tests: an app on a fresh metadata database with a team in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from platform_team import Team, make_team, settings_in

from fti.server.platform.app import create_platform_app
from fti.ui.app import EmbeddedProjects


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """The platform app (auth on) over a fresh SQLite metadata database, with the team."""
    home = tmp_path / "home"
    # The UI's pages read projects through the server's URL, which an in-process client has
    # not: here they read the home's stores (the matrix checks who is admitted, not the data).
    app = create_platform_app(settings_in(home), ui_projects=EmbeddedProjects(settings_in(home)))
    keys = make_team(app, home)
    with TestClient(app) as client:
        yield Team(app, client, keys, home)
