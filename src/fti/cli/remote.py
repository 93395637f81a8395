"""How ``fti admin`` and ``fti keys`` talk to an fti server: its URL and the caller's API key
(options, else ``$FTI_URL`` and ``$FTI_API_KEY``), JSON over HTTP with the standard library,
and the server's ``{"error", "code"}`` answers raised again as the same fti errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import typer

from fti.cli.context import errors
from fti.errors import ConfigError, FtiError, StoreError
from fti.stores.server_client import error_from_answer

DEFAULT_URL = "http://127.0.0.1:8080"

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="FTI_URL",
        help="The fti server (default: $FTI_URL, else http://127.0.0.1:8080).",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="FTI_API_KEY",
        help="Your API key (default: $FTI_API_KEY).",
        show_default=False,
    ),
]


class Server:
    """An fti server at ``url``, called with ``api_key``."""

    def __init__(self, url: str, api_key: str | None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"the server URL must start with http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self.api_key = api_key

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The JSON answer of ``method path`` (None when it has no body); the server's error
        as the FtiError of its code."""
        import urllib.error  # here: `fti --help` need not load the HTTP client
        import urllib.request

        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise error_from_answer(exc.code, exc.read()) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(f"cannot reach the fti server at {self.url}: {reason}") from exc
        return json.loads(raw) if raw else None


def segment(value: str) -> str:
    """``value`` as one path segment (a name with a ``/`` stays inside it)."""
    return quote(value, safe="")


@contextmanager
def server(url: str, api_key: str | None) -> Iterator[Server]:
    """The server of the options; an FtiError becomes ``error: ...`` and exit code 2."""
    try:
        yield Server(url, api_key)
    except FtiError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def when(text: str | None) -> str:
    """An ISO time of an answer as ``YYYY-MM-DD HH:MM UTC`` ("" for none)."""
    if not text:
        return ""
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")
