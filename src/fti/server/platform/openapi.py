"""The platform's OpenAPI document: what each route can answer, derived from its declared access.

Every operation gets, beside its own responses: 401 unless public, 403 when it needs a role or
admin, 422 when it takes parameters or a body, 400 and 413 when it takes a body, 503 (a store is
unreachable); all with the error body ``{"error", "code"}`` (FastAPI's own 422 shape is
replaced). Operations that need a key carry the bearer security scheme. Routes added later get
the same, from the same declaration.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from fti.server.openapi import (
    BEARER,
    ERROR_REF,
    FASTAPI_ERRORS,
    SCHEME,
    add_error_schema,
    error_response,
)
from fti.server.platform.access import Access, declared_access

_ROLE_OR_ADMIN = frozenset({Access.READ, Access.WRITE, Access.OWNER, Access.ADMIN})


def error_statuses(access: Access | None, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation with ``access`` can answer whatever its code does."""
    statuses = [503]
    if access is not Access.PUBLIC:
        statuses.append(401)
    if access in _ROLE_OR_ADMIN:
        statuses.append(403)
    if "requestBody" in operation:
        statuses += [400, 413]  # a body that is not UTF-8 (FastAPI's answer); over the limit
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append(422)
    return sorted(statuses)


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of the platform ``app``."""
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in FASTAPI_ERRORS:
        schemas.pop(name, None)
    add_error_schema(schemas)
    components["securitySchemes"] = {SCHEME: BEARER}
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        access = declared_access(route)
        for method in route.methods or ():
            operation = doc["paths"][route.path_format][method.lower()]
            responses = operation["responses"]
            for status in error_statuses(access, operation):
                described = responses.get(str(status), {})
                schema = described.get("content", {}).get("application/json", {}).get("schema")
                if schema != ERROR_REF:  # absent, or FastAPI's own 422
                    responses[str(status)] = error_response(status)
            if access is not Access.PUBLIC:
                operation["security"] = [{SCHEME: []}]
    return doc
