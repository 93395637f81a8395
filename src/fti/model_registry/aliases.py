"""Aliases: named pointers (``production``, ``staging``) to one version of a model each.

Each model name has an append-only log of alias events in the metadata store (kind
``model_alias``, the model's name, one entity version per event): ``{alias, version}`` to move
an alias, ``{alias, version: None}`` to remove it. The metadata store allocates event numbers
atomically, so concurrent moves are ordered and the latest event wins: an alias always points
to exactly one version (or none), and the log is the history of every promotion, forced ones
included.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Sequence
from typing import Any

from fti.errors import NotFoundError
from fti.stores.metadata.base import Entity, MetadataStore

KIND = "model_alias"


class Aliases:
    """The alias logs of one project's models."""

    def __init__(self, project: str, metadata: MetadataStore) -> None:
        self._project = project
        self._metadata = metadata

    def current(self, model: str) -> dict[str, int]:
        """``{alias: version}`` of ``model`` now."""
        return _replay(self._metadata.list(KIND, self._project, model))

    def version(self, model: str, alias: str) -> int:
        """The version ``alias`` points to; NotFoundError when it points nowhere."""
        version = self.current(model).get(alias)
        if version is None:
            raise NotFoundError(
                f"model {model!r} has no alias {alias!r} in project {self._project!r}"
            )
        return version

    def move(
        self, model: str, alias: str, version: int, problems: Sequence[str], forced: bool
    ) -> Entity:
        """Point ``alias`` at ``version`` (one atomic event); returns the event."""
        return self._event(
            model, {"alias": alias, "version": version, "forced": forced, "problems": problems}
        )

    def remove(self, model: str, alias: str) -> None:
        """Make ``alias`` point nowhere."""
        self._event(model, {"alias": alias, "version": None, "forced": False, "problems": []})

    def previous(self, model: str, alias: str) -> int:
        """The version ``alias`` pointed to before its current one, undoing moves in turn: a
        move back to the version before the current one (a rollback) pops the current one, so
        v1, v2, v3 rolled back twice gives v1. NotFoundError when there is none."""
        stack: list[int] = []
        for event in sorted(
            self._metadata.list(KIND, self._project, model), key=lambda e: e.version
        ):
            if event.body["alias"] != alias:
                continue
            version = event.body.get("version")
            if version is None:
                stack = []
            elif len(stack) > 1 and stack[-2] == version:
                stack.pop()
            elif not stack or stack[-1] != version:
                stack.append(int(version))
        if not stack:
            raise NotFoundError(
                f"model {model!r} has no alias {alias!r} in project {self._project!r}"
            )
        if len(stack) == 1:
            raise NotFoundError(
                f"alias {alias!r} of model {model!r} has pointed only to v{stack[0]}: nothing to "
                "roll back to"
            )
        return stack[-2]

    def history(self, model: str) -> list[dict[str, Any]]:
        """Every alias event of ``model``, oldest first."""
        return [
            {**e.body, "event": e.version, "at": e.created_at}
            for e in self._metadata.list(KIND, self._project, model)
        ]

    def _event(self, model: str, body: dict[str, Any]) -> Entity:
        body = {**body, "by": _user(), "at": dt.datetime.now(dt.UTC).isoformat()}
        return self._metadata.create(KIND, self._project, model, None, body)


def _replay(events: Sequence[Entity]) -> dict[str, int]:
    state: dict[str, int | None] = {}
    for event in sorted(events, key=lambda e: e.version):
        state[str(event.body["alias"])] = event.body.get("version")
    return {alias: version for alias, version in sorted(state.items()) if version is not None}


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown"
