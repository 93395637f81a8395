"""The UI's session and CSRF token (ADR 0011).

A session is an API key held in an HttpOnly, SameSite=Lax cookie, so a person's pages are
authorized exactly like their API calls. :class:`UiRequirement` is the access declaration of a
UI route: an ``Access`` as in :mod:`fti.server.platform.access`, read by the same route-table
test, that takes the key from the ``Authorization`` header or else from the cookie, and sends a
browser without a session to the sign-in page.

Every form carries a CSRF token equal to a random value in a second cookie (double submit): a
page of another site can make the browser send the cookies, but can neither read nor set them,
so it cannot put the value in the form. A caller that authenticates by header needs none (a
browser never adds that header by itself).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import HTTPException, Request, Response

from fti.errors import PermissionDeniedError, UnauthenticatedError
from fti.hosts import is_loopback
from fti.server.platform.access import (
    Access,
    Authenticator,
    Principal,
    Requirement,
    bearer_token,
    check,
)

SESSION_COOKIE = "fti_session"
CSRF_COOKIE = "fti_csrf"
CSRF_FIELD = "csrf"
SESSION_HOURS = 12


class UiRequirement(Requirement):
    """The access a UI route needs; the key comes from the header or the session cookie."""

    def authorize(self, request: Request) -> Principal | None:
        if self.access is Access.PUBLIC:
            return None
        authenticator: Authenticator = request.app.state.authenticator
        token = bearer_token(request)
        from_cookie = token is None
        if from_cookie:
            token = request.cookies.get(SESSION_COOKIE)
        browser = from_cookie and wants_html(request) and needs_sign_in(request)
        if token is None and browser:
            raise sign_in_first(request)
        try:
            principal = authenticator.authenticate(token)
        except UnauthenticatedError:
            if browser:  # the session expired or was revoked: sign in again
                raise sign_in_first(request) from None
            raise
        request.state.principal = principal
        check(authenticator, principal, self.access, request.path_params.get("project"))
        return principal


def sign_in_first(request: Request) -> HTTPException:
    """A redirect of a browser to the sign-in page, back here after."""
    return HTTPException(303, headers={"Location": f"/signin?next={quote(request.url.path)}"})


def ui_requires(access: Access) -> Callable[[Request], Awaitable[Principal | None]]:
    """The FastAPI dependency of a UI route needing ``access``."""
    return UiRequirement(access)


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser asking for a page."""
    return "text/html" in request.headers.get("accept", "")


def needs_sign_in(request: Request) -> bool:
    """Whether this app asks people to sign in (``fti ui``, and a server without keys, do not)."""
    return bool(getattr(request.app.state, "ui_sign_in", True))


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (a new one if it has none; :func:`keep_csrf` stores it)."""
    token = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token or len(token) != 43:
        token = secrets.token_urlsafe(32)
    request.state.csrf = token
    return str(token)


def keep_csrf(request: Request, response: Response) -> None:
    """Store the request's CSRF token in its cookie, if the browser does not have it yet."""
    token = getattr(request.state, "csrf", None)
    if token and request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/",
        )


def check_csrf(request: Request, submitted: str) -> None:
    """PermissionDeniedError unless a cookie-authenticated form carries this browser's token."""
    if bearer_token(request) is not None:
        return
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise PermissionDeniedError(
            "the form's CSRF token is missing or stale: reload the page and submit it again"
        )


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure unless the server is reached on loopback (plain HTTP there)."""
    host = request.url.hostname or ""
    return request.url.scheme == "https" or not is_loopback(host)


def set_session(request: Request, response: Response, key: str) -> None:
    """Put the session's API key in its cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        key,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )
