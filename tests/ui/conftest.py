"""Fixtures of the UI tests: one lean flights project per session, served by ``fti ui``'s app
and by the platform app (sign-in, roles) on free loopback ports, and one Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from flights_project import PASSWORDS, PROJECT, Served, build

from fti.settings import Settings
from fti.stores.metadata.accounts import AccountStore
from fti.stores.metadata.sql import SqlMetadataStore

pytest.importorskip("lightgbm")
CHROMIUM = "/usr/bin/chromium"


def settings_of(home: Path) -> Settings:
    """The settings of ``home`` with every store URL explicit (FTI_* cannot redirect them)."""
    return Settings.load(
        home,
        project=PROJECT,
        metadata_url=f"sqlite:///{home / 'metadata.db'}",
        online_url=f"sqlite:///{home / 'online.db'}",
        offline_url=str(home / "offline"),
        artifacts_url=str(home / "artifacts"),
    )


@pytest.fixture(scope="session")
def flights_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lean flights project, built once per session; tests copy it."""
    home = tmp_path_factory.mktemp("ui-flights") / "home"
    build(home)
    return home


def fresh_home(template: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A copy of the flights home that one server may change."""
    home = tmp_path_factory.mktemp(name) / "home"
    shutil.copytree(template, home)
    return home


def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def local_ui(flights_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``fti ui``'s app on a copy of the flights project."""
    from fti.ui.app import create_ui_app

    home = fresh_home(flights_template, tmp_path_factory, "ui-local")
    for url in serve(create_ui_app(settings_of(home))):
        yield Served(url, home)


@pytest.fixture(scope="session")
def team_ui(flights_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``fti server``'s app (sign-in, roles) over a copy of the flights project; its pages read
    the project through the server's own API with the session's key."""
    from fti.server.platform.app import create_platform_app

    home = fresh_home(flights_template, tmp_path_factory, "ui-team")
    settings = settings_of(home)
    metadata = SqlMetadataStore(settings.metadata_url)
    accounts = AccountStore(metadata)
    accounts.create_user("root", admin=True)
    for user, password in PASSWORDS.items():
        accounts.create_user(user, password=password)
    accounts.create_project(PROJECT, owner="root")
    accounts.set_member(PROJECT, "ed", "editor")
    accounts.set_member(PROJECT, "vic", "viewer")
    accounts.create_project("other", owner="otto")
    metadata.close()
    app = create_platform_app(settings)
    for url in serve(app):
        yield Served(url, home)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for a test module. Not for the session: Playwright's sync
    API keeps an event loop running in this thread while it is open, and libraries that run
    loops of their own (Dagster's materialize) then leave theirs unfinished in later tests."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: `make browser` installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()
