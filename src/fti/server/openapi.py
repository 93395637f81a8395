"""The server's OpenAPI document: FastAPI's, made to say what the server does.

FastAPI documents a 422 with its own error shape for every route with parameters, and knows
nothing of the bodies the routes read themselves. Here: the request bodies of those routes
are added, the /v2 routes lose the 422 they never answer (their bad requests are 400), and
the ``name`` of a model is one of the served models (any other is a 404).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from fti.server.errors import V2_PREFIX

_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def document(
    app: FastAPI, bodies: Sequence[type[BaseModel]], models: Collection[str]
) -> dict[str, Any]:
    """The OpenAPI document of ``app`` serving ``models``, with the request ``bodies``."""
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
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            if path == V2_PREFIX or path.startswith(V2_PREFIX + "/"):
                operation["responses"].pop("422", None)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "name":
                    parameter["schema"] = {"type": "string", "enum": sorted(models)}
                    parameter["description"] = "A served model (any other name is a 404)"
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    return doc
