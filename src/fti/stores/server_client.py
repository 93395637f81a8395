"""The HTTP client the remote stores share: one keep-alive connection pool to an fti server,
the caller's API key sent as ``Authorization: Bearer <key>``, and the server's error answers
(``{"error", "code"}``) raised again as the fti error class of their code.

The key is never in a ``repr()``, an error message or a log line: errors name the server's URL
only. httpx is imported here, when a remote store is opened (``pip install 'fti[remote]'``).

:meth:`ServerClient.get` is the serving path's read (a feature vector's online rows): it goes
through httpcore, the connection pool under httpx, directly. httpx's own work per request
(merging the URL with the base, cookies, redirects and auth hooks) was about half of a remote
vector's client CPU, and such a read needs none of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fti.errors import (
    ConfigError,
    DataValidationError,
    FtiError,
    InvalidArgumentError,
    MissingDependencyError,
    StoreError,
)

if TYPE_CHECKING:
    import httpcore
    import httpx

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods a request may be repeated with (a PUT replaces, a DELETE of the absent is no error)."""
TIMEOUT = 300.0
"""Seconds a request may wait for the server (uploads of large tables take a while)."""


class ServerClient:
    """Requests to the fti server at ``url`` with ``api_key``."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        timeout: float = TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        """``http``: the httpx client to send requests with (tests pass an in-process one);
        by default one of its own, with a keep-alive connection pool."""
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"the server URL must start with http:// or https://, not {url!r}")
        try:
            import httpx
        except ImportError as exc:
            raise MissingDependencyError("httpx", "remote") from exc
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._reads: httpcore.ConnectionPool | None = None
        if http is None:
            import httpcore

            http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=10.0))
            # The same TLS trust as httpx's (certifi), for the reads that bypass it.
            self._reads = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context())
            self._read_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
            self._read_timeouts = {
                "connect": 10.0,
                "read": timeout,
                "write": timeout,
                "pool": timeout,
            }
        http.headers.update(headers)
        http.follow_redirects = False
        self._http = http

    def __repr__(self) -> str:
        return f"ServerClient({self.url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The answer to ``method path`` (read whole); an error answer raised as its FtiError,
        an unreachable server as StoreError."""
        import httpx

        attempts = (
            2 if method in IDEMPOTENT and not callable(getattr(content, "__next__", None)) else 1
        )
        for attempt in range(attempts):
            try:
                answer = self._http.request(
                    method,
                    path,
                    params=_query(params),
                    json=json_body,
                    content=content,
                    headers=headers,
                )
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                if attempt + 1 == attempts:
                    raise self._unreachable(exc) from None
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None
        if answer.status_code >= 400:
            raise error_from_answer(answer.status_code, answer.content)
        return answer

    def get(self, path: str, *, accept: str | None = None) -> bytes:
        """The body of the answer to ``GET path`` (``path`` holds its query, quoted), as
        :meth:`request` gives it: an error answer raised as its FtiError, an unreachable
        server as StoreError."""
        if self._reads is None:  # a client of the caller's (an in-process app in tests)
            return self.request("GET", path, headers={"Accept": accept} if accept else None).content
        import httpcore

        headers = (
            [*self._read_headers, (b"Accept", accept.encode())] if accept else self._read_headers
        )
        for attempt in range(2):
            try:
                answer = self._reads.request(
                    "GET",
                    self.url + path,
                    headers=headers,
                    extensions={"timeout": self._read_timeouts},
                )
                break
            except (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError) as exc:
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                if attempt == 1:
                    raise self._unreachable(exc) from None
            except (
                httpcore.TimeoutException,
                httpcore.NetworkError,
                httpcore.ProtocolError,
                httpcore.UnsupportedProtocol,
            ) as exc:
                raise self._unreachable(exc) from None
        if answer.status >= 400:
            raise error_from_answer(answer.status, answer.content)
        return answer.content

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer to ``method path`` (None when it has no body)."""
        answer = self.request(method, path, **kwargs)
        return answer.json() if answer.content else None

    @contextmanager
    def stream(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """The answer to ``method path``, its body not read yet (a download)."""
        import httpx

        try:
            with self._http.stream(method, path, params=_query(params)) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    raise error_from_answer(answer.status_code, answer.content)
                yield answer
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def chunks(self, answer: httpx.Response, size: int) -> Iterator[bytes]:
        """The body of a streamed answer in chunks; a connection lost midway is StoreError."""
        import httpx

        try:
            yield from answer.iter_bytes(size)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def close(self) -> None:
        """Close the connections (idempotent)."""
        self._http.close()
        if self._reads is not None:
            self._reads.close()

    def _unreachable(self, exc: Exception) -> StoreError:
        # The request (and its headers, the key among them) stays out of the message.
        return StoreError(f"cannot reach the fti server at {self.url}: {type(exc).__name__}: {exc}")


def error_from_answer(status: int, raw: bytes) -> FtiError:
    """The FtiError of an error answer: the class of its ``code``, with its message."""
    try:
        answer = json.loads(raw)
        message, code = str(answer["error"]), str(answer["code"])
    except (ValueError, KeyError, TypeError):
        return StoreError(f"the fti server answered {status}: {raw[:200]!r}")
    for kind in _subclasses(FtiError):
        if kind.code == code:
            try:
                return kind(message)
            except TypeError:  # a constructor taking more than a message: the message alone
                error = kind.__new__(kind)
                Exception.__init__(error, message)
                if isinstance(error, DataValidationError):
                    error.report = None  # the report stays on the server
                return error
    if code == "invalid_request":  # a parameter or body field the server's schema refused
        return InvalidArgumentError(message)
    if status == 413:
        return StoreError(message)
    return FtiError(message)


def _subclasses(kind: type[FtiError]) -> Iterator[type[FtiError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None}
