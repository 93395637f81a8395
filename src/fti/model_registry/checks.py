"""Checks of the metrics, params and tags users hand to the registry, before anything is written."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from fti.errors import InvalidArgumentError

MAX_KEY_LENGTH = 255


def check_metrics(metrics: object) -> dict[str, float]:
    """``{name: finite number}``; InvalidArgumentError naming the bad metric otherwise."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidArgumentError("metrics must be a dict of metric name -> number")
    checked: dict[str, float] = {}
    for name, value in metrics.items():
        _check_key(name, "metric name")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidArgumentError(
                f"metric {name!r} is {value!r} ({type(value).__name__}): metrics must be numbers"
            )
        number = float(value)
        if not math.isfinite(number):
            raise InvalidArgumentError(
                f"metric {name!r} is {number}: metrics must be finite numbers (a NaN usually "
                "means the evaluation set was empty or held a single class)"
            )
        checked[name] = number
    return checked


def check_tags(tags: object) -> dict[str, Any]:
    """``{key: JSON value}`` with non-empty string keys."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgumentError("tags must be a dict of key -> JSON value")
    for key in tags:
        _check_key(key, "tag key")
    return {str(k): to_json(v, f"tag {k!r}") for k, v in tags.items()}


def check_tag_key(key: object) -> str:
    """A tag key: a non-empty string of at most 255 characters."""
    return _check_key(key, "tag key")


def to_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON (numpy scalars become Python numbers); no NaN, no objects."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidArgumentError(f"{where} is {number}: use finite numbers (or None)")
        return number
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise InvalidArgumentError(f"{where} has a key {key!r} that is not a string")
        return {k: to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return to_json(value.item(), where)
    raise InvalidArgumentError(
        f"{where} is a {type(value).__name__}: use JSON values (str, numbers, bool, None, "
        "lists and dicts of them)"
    )


def check_params(params: object) -> dict[str, Any]:
    """``{name: JSON value}``: hyper-parameters and other facts about training."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("params must be a dict of name -> JSON value")
    for key in params:
        _check_key(key, "param name")
    return {str(k): to_json(v, f"param {k!r}") for k, v in params.items()}


def _check_key(key: object, kind: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"invalid {kind} {key!r}: use a non-empty string of at most {MAX_KEY_LENGTH} characters"
        )
    return key
