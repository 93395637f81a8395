"""Request bodies read by the routes themselves: strict JSON, then a pydantic model.

The routes read their bodies instead of letting FastAPI do it so that a JSON object with a
key given twice is refused (json keeps the last one silently), a body without a
``Content-Type`` is taken as JSON (KServe clients send none), and the Open Inference
Protocol's binary tensors can follow the JSON header. Every problem is a
RequestValidationError, answered 422 (v1) or 400 (v2) by ``errors.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        counts = Counter(k for k, _ in pairs)
        twice = sorted(k for k, n in counts.items() if n > 1)
        raise _DuplicateKeyError(f"key(s) given twice in one object: {', '.join(twice)}")
    return result


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; duplicate keys, bad UTF-8 and bad JSON are refused."""
    if not body:
        raise _invalid("body", "a JSON body is required", "missing")
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError as exc:
        raise _invalid("body", str(exc), "json_invalid") from exc
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is a body
        # nested deeper than the parser goes.
        raise _invalid("body", f"not valid JSON: {exc}", "json_invalid") from exc


def validate(model: type[Model], data: Any) -> Model:
    """``data`` as ``model``; RequestValidationError naming each invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc


def _invalid(field: str, message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": (field,), "msg": message, "type": kind}])


def request_body(
    model: type[BaseModel], media_types: tuple[str, ...] = ("application/json",)
) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads a ``model`` body itself.

    The schema is a reference: ``openapi.py`` adds the models of these bodies to the
    document's components.
    """
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": schema} for media in media_types},
        }
    }
