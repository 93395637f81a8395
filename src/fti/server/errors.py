"""One translation of errors to HTTP answers: FtiError by its status, bad bodies as 422."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fti.errors import FtiError


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(FtiError)
    async def fti_error(request: Request, exc: FtiError) -> JSONResponse:
        status = exc.http_status if exc.http_status < 500 else 503
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "detail": problems}, status_code=422)
