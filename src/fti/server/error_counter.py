"""A middleware counting responses with an error status in the server's metrics."""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fti.server.metrics import ServerMetrics


class ErrorCounter:
    """ASGI middleware: counts 4xx/5xx responses by served model (else ``-``) and status.

    A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``, which runs the rest of the
    app in a task of its own and cost more than a whole prediction.
    """

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, models: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.models = frozenset(models)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                # The router has put the matched route's parameters into the shared scope. Only
                # a served model is a label value: any other name would add a series per name.
                name = (scope.get("path_params") or {}).get("name")
                if name not in self.models:
                    name = "-"
                self.metrics.errors.labels(name, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting)
