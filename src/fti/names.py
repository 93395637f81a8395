"""The naming rule for projects, groups, views, models and features, checked at the API edge."""

from __future__ import annotations

import re

from fti.errors import InvalidNameError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_name(name: object, kind: str = "name") -> str:
    """Return ``name`` when it matches ``^[a-z][a-z0-9_]{0,62}$``, else raise InvalidNameError."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise InvalidNameError(
            f"invalid {kind} {name!r}: use 1-63 characters, lowercase letters, digits and "
            "underscores, starting with a letter (e.g. 'flights' or 'weather_v2')"
        )
    return name


def check_version(version: object, kind: str = "version") -> int:
    """Return ``version`` when it is a positive int, else raise InvalidNameError."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidNameError(f"invalid {kind} {version!r}: use a positive integer")
    return version
