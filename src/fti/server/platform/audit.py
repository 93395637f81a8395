"""The audit log middleware: every state-changing request of an authenticated caller is
recorded (who, key, project, method, route, path, status, from where, when), whichever router
the route belongs to, so a route added later is audited without code of its own.

"State-changing" is every method but GET, HEAD and OPTIONS, recorded whether it succeeded or
was refused (a 403 is worth knowing about). A request without a valid key (401) is not
recorded: anyone could fill the log with them. The event is written when the answer starts,
before the client reads it; a write that fails is logged and does not change the answer (the
change it describes has happened).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fti.names import NAME_PATTERN
from fti.server.platform.access import Principal
from fti.stores.metadata.accounts import AccountStore

logger = logging.getLogger(__name__)

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditLog:
    """ASGI middleware recording the writes of authenticated callers in ``accounts``."""

    def __init__(self, app: ASGIApp, accounts: AccountStore) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        recorded = False

        async def audited(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                await self._record(scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, audited)
        except BaseException:
            if not recorded:  # answered 500 by the outermost error handler
                recorded = True
                await self._record(scope, 500)
            raise

    async def _record(self, scope: Scope, status: int) -> None:
        principal = scope.get("state", {}).get("principal")
        if not isinstance(principal, Principal):
            return
        project = scope.get("path_params", {}).get("project")
        route = scope.get("route")
        client = scope.get("client")
        event: dict[str, Any] = {
            "user": principal.user,
            "key_id": principal.key_id,
            "project": project
            if isinstance(project, str) and NAME_PATTERN.fullmatch(project)
            else None,
            "method": scope["method"],
            "route": getattr(route, "path", scope["path"]),
            "path": scope["path"],
            "status": status,
            "remote": client[0] if client else None,
        }
        try:
            await anyio.to_thread.run_sync(lambda: self.accounts.record(**event))
        except Exception:
            logger.exception("could not write the audit event %s", event)
