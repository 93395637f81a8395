"""The web UI's apps and project sources: ``fti ui`` on the embedded stores, and the source of
``fti server``'s pages."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request

import fti
from fti.errors import ConfigError, UnauthenticatedError
from fti.server import errors
from fti.server.platform.access import Principal, bearer_token
from fti.server.platform.auth import OpenAuthenticator
from fti.settings import Settings
from fti.ui import routes
from fti.ui.session import SESSION_COOKIE

if TYPE_CHECKING:
    from fti.project import Project
    from fti.stores.metadata.accounts import AccountStore


class EmbeddedProjects:
    """The projects of an fti home, each opened once and kept (``fti ui``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._open: dict[str, Project] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EmbeddedProjects(home={str(self.settings.home)!r})"

    def open(self, request: Request, project: str) -> Project:
        """``project`` of the home; NotFoundError when it does not exist."""
        from fti.project import Project

        with self._lock:
            if project not in self._open:
                self._open[project] = Project(project, self.settings, create=False)
            return self._open[project]

    def names(self, request: Request, principal: Principal) -> list[str]:
        """Every project of the home."""
        from fti.stores.metadata import open_metadata_store

        store = open_metadata_store(self.settings.metadata_url)
        try:
            return store.projects()
        finally:
            store.close()

    def close(self) -> None:
        """Close the projects opened."""
        with self._lock:
            for project in self._open.values():
                project.close()
            self._open.clear()


class ServerProjects:
    """The projects of ``fti server``'s pages: the member's projects, each read through the
    server's own API with the session's key (ADR 0010, 0011), so a page shows what the key may
    read. A project is opened once per key and kept (a few dozen at most)."""

    MAX_OPEN = 32

    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts
        self._open: OrderedDict[tuple[bytes, str, str], Project] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServerProjects({self.accounts!r})"

    def open(self, request: Request, project: str) -> Project:
        """``project`` through this server, at the socket address the request came in on, with
        its session's key."""
        from fti.project import connect

        key = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
        if key is None:
            raise UnauthenticatedError("sign in first")
        url = own_url(request)
        ident = (hashlib.sha256(key.encode()).digest(), url, project)
        with self._lock:
            opened = self._open.get(ident)
            if opened is not None:
                self._open.move_to_end(ident)
                return opened
        opened = connect(url, project, api_key=key, create=False)
        with self._lock:
            self._open[ident] = opened
            while len(self._open) > self.MAX_OPEN:
                self._open.popitem(last=False)[1].close()
        return opened

    def names(self, request: Request, principal: Principal) -> list[str]:
        """The projects ``principal`` is a member of (an admin: every project)."""
        if principal.project is not None:
            return [principal.project]
        if principal.is_admin:
            return [p.name for p in self.accounts.projects()]
        return [m.project for m in self.accounts.memberships(principal.user)]

    def close(self) -> None:
        """Close the projects opened."""
        with self._lock:
            for opened in self._open.values():
                opened.close()
            self._open.clear()


def create_ui_app(settings: Settings) -> FastAPI:
    """The app of ``fti ui``: the pages of every project of ``settings``' home, for whoever
    reaches it (loopback only: no sign-in)."""
    projects = EmbeddedProjects(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        projects.close()

    app = FastAPI(
        title="fti ui",
        version=fti.__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.authenticator = OpenAuthenticator()
    app.state.ui_projects = projects
    app.state.ui_sign_in = False
    errors.install(app)
    app.include_router(routes.router)
    return app


def own_url(request: Request) -> str:
    """This server's URL as the connection reached it: the listening socket's address, never
    the Host header, which a client chooses (the pages would send the session's key to any
    host:port it named)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        raise ConfigError("fti server's pages need a TCP listener to reach its API")
    host, port = str(server[0]), int(server[1])
    if ":" in host:
        host = f"[{host}]"
    return f"{request.url.scheme}://{host}:{port}"
