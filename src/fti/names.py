"""The naming rule for projects, groups, views, models and features, the names of the metadata
store's entities, and the range of version numbers and commit ids, checked at the API edge."""

from __future__ import annotations

import re

from fti.errors import InvalidArgumentError, InvalidNameError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_name(name: object, kind: str = "name") -> str:
    """Return ``name`` when it matches ``^[a-z][a-z0-9_]{0,62}$``, else raise InvalidNameError."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise InvalidNameError(
            f"invalid {kind} {name!r}: use 1-63 characters, lowercase letters, digits and "
            "underscores, starting with a letter (e.g. 'flights' or 'weather_v2')"
        )
    return name


def check_project_name(name: object) -> str:
    """Return ``name`` when it is a valid name (:func:`check_name`) without ``__`` and not
    ending in ``_``, else raise InvalidNameError: store tables are named
    ``<project>__<group>__v<version>``, so such a project's tables would start like another's."""
    checked = check_name(name, "project name")
    if "__" in checked or checked.endswith("_"):
        raise InvalidNameError(
            f"invalid project name {checked!r}: a project name has no '__' and does not end "
            "in '_' (they separate the project from the group in table names)"
        )
    return checked


ENTITY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:.+# @-]{0,254}$")
"""An entity name of the metadata store: what the services write (a group's name,
``commit:group:1:3``, ``pipeline simulated <ISO time> <ISO time>``). No ``/``: a name is one
segment of a URL path on fti server."""


def check_entity_name(name: object) -> str:
    """Return ``name`` when it matches :data:`ENTITY_NAME_PATTERN`, else raise
    InvalidNameError."""
    if not isinstance(name, str) or ENTITY_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidNameError(
            f"invalid entity name {name!r}: use 1-255 ASCII letters, digits and '_:.+# @-', "
            "not starting with one of ':.+# @-' (no '/')"
        )
    return name


MAX_VERSION = 2**31 - 1
"""The highest version of a group, view, model or dataset: the metadata store keeps versions
as 32-bit integers (PostgreSQL ``INTEGER``)."""

MAX_COMMIT_ID = 2**63 - 1
"""The highest commit id: Delta versions are 64-bit integers."""


def check_version(version: object, kind: str = "version") -> int:
    """Return ``version`` when it is an int from 1 to :data:`MAX_VERSION`, else raise
    InvalidNameError."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidNameError(
            f"invalid {kind} {version!r}: use a positive integer up to {MAX_VERSION:,}"
        )
    return version


def check_commit_id(commit: object, kind: str = "commit id") -> int:
    """Return ``commit`` when it is an int from 0 to :data:`MAX_COMMIT_ID`, else raise
    InvalidArgumentError."""
    if isinstance(commit, bool) or not isinstance(commit, int) or not 0 <= commit <= MAX_COMMIT_ID:
        raise InvalidArgumentError(
            f"invalid {kind} {commit!r}: use an integer from 0 (the first commit) up to "
            f"{MAX_COMMIT_ID:,}"
        )
    return commit
