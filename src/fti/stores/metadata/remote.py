"""The metadata store of an fti server: each method is one request to its entity, record and
lock routes (``/api/v1/projects/{project}/...``), so the services run unchanged against it.

:meth:`RemoteMetadataStore.projects` lists the projects the caller may use (the server's
projects), where an embedded store lists those holding entities.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fti.names import check_entity_name, check_name, check_project_name
from fti.stores.metadata.base import Entity, Lock, Record
from fti.stores.server_client import ServerClient


class RemoteMetadataStore:
    """Versioned entities, records and locks kept by the server at ``client.url``."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"RemoteMetadataStore({self.client.url!r})"

    def create(
        self, kind: str, project: str, name: str, version: int | None, body: Mapping[str, Any]
    ) -> Entity:
        """Store a new entity version; ``None`` takes the next free version atomically."""
        answer = self.client.json(
            "POST",
            _entities(project, kind),
            json_body={"name": check_entity_name(name), "version": version, "body": dict(body)},
        )
        return _entity(answer)

    def get(self, kind: str, project: str, name: str, version: int | None = None) -> Entity:
        """One version, the latest when ``version`` is None; NotFoundError when absent."""
        path = f"{_entities(project, kind)}/{_part(name)}"
        return _entity(self.client.json("GET", path, params={"version": version}))

    def list(self, kind: str, project: str, name: str | None = None) -> builtins.list[Entity]:
        """All versions of ``name`` (or of every name), ordered by name then version."""
        answer = self.client.json("GET", _entities(project, kind), params={"name": name})
        return [_entity(e) for e in answer]

    def update(
        self, kind: str, project: str, name: str, version: int, body: Mapping[str, Any]
    ) -> Entity:
        """Replace an entity's body; NotFoundError when absent."""
        path = f"{_entities(project, kind)}/{_part(name)}/{version}"
        return _entity(self.client.json("PUT", path, json_body={"body": dict(body)}))

    def delete(self, kind: str, project: str, name: str, version: int) -> None:
        """Remove an entity version and its records; NotFoundError when absent."""
        self.client.request("DELETE", f"{_entities(project, kind)}/{_part(name)}/{version}")

    def add_record(
        self,
        kind: str,
        project: str,
        name: str,
        version: int,
        record_kind: str,
        key: str,
        body: Mapping[str, Any],
    ) -> None:
        """Attach a record to an entity version (replacing one with the same kind and key)."""
        self.client.request(
            "PUT",
            f"{_entities(project, kind)}/{_part(name)}/{version}/records",
            json_body={"record_kind": record_kind, "key": key, "body": dict(body)},
        )

    def records(
        self,
        kind: str,
        project: str,
        name: str,
        version: int,
        record_kind: str,
        key: str | None = None,
    ) -> builtins.list[Record]:
        """Records of one kind attached to an entity version, oldest first."""
        answer = self.client.json(
            "GET",
            f"{_entities(project, kind)}/{_part(name)}/{version}/records",
            params={"record_kind": record_kind, "key": key},
        )
        return [
            Record(r["kind"], r["key"], r["body"], datetime.fromisoformat(r["created_at"]))
            for r in answer
        ]

    def projects(self) -> builtins.list[str]:
        """The projects the caller may use on the server, sorted."""
        return sorted(p["name"] for p in self.client.json("GET", "/api/v1/projects"))

    def lock(
        self, project: str, name: str, owner: str, ttl: timedelta, *, take_from: str | None = None
    ) -> Lock:
        """Take or renew lock ``name`` for ``owner`` until now + ``ttl``, atomically."""
        answer = self.client.json(
            "PUT",
            f"{_project(project)}/locks/{quote(name, safe='/')}",
            json_body={"owner": owner, "ttl_seconds": ttl.total_seconds(), "take_from": take_from},
        )
        return Lock(answer["name"], answer["owner"], datetime.fromisoformat(answer["expires_at"]))

    def unlock(self, project: str, name: str, owner: str) -> bool:
        """Release lock ``name`` if ``owner`` holds it; whether it did."""
        answer = self.client.json(
            "DELETE",
            f"{_project(project)}/locks/{quote(name, safe='/')}",
            params={"owner": owner},
        )
        return bool(answer["released"])

    def close(self) -> None:
        """Close the connections to the server (shared with the project's other stores)."""
        self.client.close()


def _project(project: str) -> str:
    return f"/api/v1/projects/{check_project_name(project)}"


def _entities(project: str, kind: str) -> str:
    return f"{_project(project)}/entities/{check_name(kind, 'entity kind')}"


def _part(name: str) -> str:
    return quote(name, safe="")


def _entity(answer: dict[str, Any]) -> Entity:
    return Entity(
        answer["kind"],
        answer["project"],
        answer["name"],
        answer["version"],
        answer["body"],
        datetime.fromisoformat(answer["created_at"]),
    )
