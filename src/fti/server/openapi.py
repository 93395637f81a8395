"""The server's OpenAPI document: FastAPI's, made to say what the server does.

FastAPI documents a 422 with its own error shape for every route with parameters, and knows
nothing of the bodies the routes read themselves. Here: the request bodies of those routes
are added, the /v2 routes lose the 422 they never answer (their bad requests are 400), the
``name`` of a model is one of the served models (any other is a 404), and with API keys on,
every route but the health checks carries the bearer scheme and its 401 and 403.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from fti.server.errors import V2_PREFIX, ErrorBody, error_description

FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
"""FastAPI's own error schemas, which fti's answers never use."""
SCHEME = "apiKey"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An fti API key (`fti keys create`), as `Authorization: Bearer <key>`",
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def document(
    app: FastAPI,
    bodies: Sequence[type[BaseModel]],
    models: Collection[str],
    *,
    public: Collection[str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document of ``app`` serving ``models``, with the request ``bodies``.

    With ``public`` (authentication on), every other path needs a bearer key and may answer
    401 and 403.
    """
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in bodies:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    if public is not None:
        doc["components"]["securitySchemes"] = {SCHEME: BEARER}
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            if path == V2_PREFIX or path.startswith(V2_PREFIX + "/"):
                operation["responses"].pop("422", None)
            if public is not None and path not in public:
                operation["security"] = [{SCHEME: []}]
                for status in (401, 403):
                    operation["responses"][str(status)] = error_response(status)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "name":
                    parameter["schema"] = {"type": "string", "enum": sorted(models)}
                    parameter["description"] = "A served model (any other name is a 404)"
    for name in FASTAPI_ERRORS:
        schemas.pop(name, None)
    if public is not None:
        add_error_schema(schemas)
    return doc


def error_response(status: int) -> dict[str, Any]:
    """The OpenAPI response of an error ``status``: the error body."""
    return {
        "description": error_description(status),
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def add_error_schema(schemas: dict[str, Any]) -> None:
    """Put the error body's schema (and those it uses) into a document's ``schemas``."""
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas["ErrorBody"] = schema
