"""One translation of errors to HTTP answers, all with the body ``{"error", "code"}``.

``error`` is the human message (what a KServe client such as tritonclient shows), ``code``
the FtiError's code or a short code of the status; invalid request fields add ``details``.
Bad requests are 422 on the v1 routes and 400 on the Open Inference Protocol (/v2) routes,
which is what that protocol asks; an unknown model or entity is 404 on both.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from fti.errors import FtiError

logger = logging.getLogger(__name__)

V2_PREFIX = "/v2"


class FieldProblem(BaseModel):
    """One invalid field of a request body."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    code: str
    details: list[FieldProblem] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, all with :class:`ErrorBody`."""
    return {
        status: {"model": ErrorBody, "description": error_description(status)}
        for status in statuses
    }


_DESCRIPTIONS = {
    400: "Bad request: a body that is not UTF-8, or any invalid request on the Open Inference "
    "Protocol (/v2), whose status this is",
    401: "No valid API key: missing, unknown, expired or revoked",
    403: "The key's user lacks the role, project or write access this needs",
    404: "No such route or object (model, version, entity, user, project, key...)",
    405: "Method not allowed",
    409: "Conflicts with what exists (e.g. the name is taken)",
    413: "Request body over the server's limit",
    422: "Invalid request: a field, an entry or a value the model cannot take",
    503: "A store is unreachable",
}


def error_description(status: int) -> str:
    """What an error status means on fti's servers, for their OpenAPI documents."""
    return _DESCRIPTIONS.get(status, "Error")


def error_body(message: str, code: str, details: Sequence[FieldProblem] = ()) -> dict[str, Any]:
    """The JSON error body."""
    body: dict[str, Any] = {"error": message, "code": code}
    if details:
        body["details"] = [d.model_dump() for d in details]
    return body


def bad_request_status(request: Request) -> int:
    """422, or 400 on the /v2 routes."""
    path: str = request.scope.get("path", "")
    return 400 if path == V2_PREFIX or path.startswith(V2_PREFIX + "/") else 422


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(FtiError)
    async def fti_error(request: Request, exc: FtiError) -> JSONResponse:
        status = exc.http_status if exc.http_status < 500 else 503
        if status == 422:
            status = bad_request_status(request)
        # RFC 9110: a 401 names the scheme that would work.
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(str(exc), exc.code), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(e) for e in exc.errors()]
        first = problems[0] if problems else FieldProblem(field="body", message="invalid")
        where = f" ({first.field})" if first.field else ""
        message = f"invalid request{where}: {first.message}"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem(s))"
        return JSONResponse(
            error_body(message, "invalid_request", problems),
            status_code=bad_request_status(request),
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        phrase = _phrase(status)
        message = str(exc.detail) if exc.detail else phrase
        if status == 404 and message == phrase:
            message = f"no route {request.method} {request.scope.get('path', '')}"
        code = phrase.lower().replace(" ", "_").replace("-", "_") or "http_error"
        headers = exc.headers
        if status == 405:
            # Starlette names the methods of the first route of the path only; a path served
            # by several routes (GET and POST /api/v1/keys) allows all of theirs.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return JSONResponse(error_body(message, code), status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback; the client gets the fti error body, not a stack.
        logger.error("unexpected error on %s", request.scope.get("path"), exc_info=exc)
        return JSONResponse(
            error_body(f"internal server error: {type(exc).__name__}", "internal_error"),
            status_code=500,
        )


def _allowed_methods(request: Request) -> list[str]:
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _problem(error: Any) -> FieldProblem:
    location = [str(p) for p in error.get("loc", ())]
    if location[:1] == ["body"]:
        location = location[1:]
    message = str(error.get("msg", ""))
    context = error.get("ctx") or {}
    if error.get("type") == "json_invalid" and "error" in context:
        message = f"{message}: {context['error']}"
    return FieldProblem(field=".".join(location), message=message)
