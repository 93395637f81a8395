"""A middleware refusing request bodies over a size limit with 413, before they are parsed.

The body is read here, up to the limit, and handed on whole: a limit raised while a route
reads the body would reach FastAPI as a failure to read it (400). A declared
``Content-Length`` over the limit is refused without reading anything; a streamed (chunked)
body is refused once it passes the limit. Paths matching ``streamed`` (uploads, which their
routes spool to disk under a limit of their own) pass through unread; paths matching the
pattern of ``larger`` get its limit instead.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: 413 for a declared or streamed body over ``limit`` bytes."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        streamed: re.Pattern[str] | None = None,
        larger: tuple[re.Pattern[str], int] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.streamed is not None and self.streamed.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        if self.larger is not None and self.larger[0].fullmatch(scope["path"]):
            limit = self.larger[1]
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            # The common case: the whole body (or a disconnect) in one message.
            if len(message.get("body", b"")) > limit:
                await _too_large(send, limit)
                return
            await self.app(scope, _replay(message, receive), send)
            return
        parts = [message.get("body", b"")]
        size = len(parts[0])
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the app sees the disconnect
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > limit:
                parts.clear()
                # Read the rest without keeping it, so the client, still sending, reads the
                # answer instead of a reset connection.
                while message["type"] == "http.request" and message.get("more_body", False):
                    message = await receive()
                await _too_large(send, limit)
                return
        whole: Message = {"type": "http.request", "body": b"".join(parts), "more_body": False}
        await self.app(scope, _replay(whole, receive), send)


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive that gives ``first``, then what the server sends next (a disconnect)."""
    pending: list[Message] = [first]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": f"request body over {limit} bytes", "code": "body_too_large"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
