"""The offline store through an fti server: not served yet.

The server does not expose the offline tables yet (ADR 0010 plans ``tables/{table}/...``), so
a project opened through a server has an offline store whose every method raises ConfigError
saying so. Everything that does not read or write offline tables works through the server:
the registry, monitors' results, feature groups' and views' definitions, and online reads
(``get_feature_vector``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import NoReturn

import pyarrow as pa
import pyarrow.dataset as pds

from fti.errors import ConfigError
from fti.stores.offline.base import DataFile, TableCommit, TableMaintenance
from fti.stores.server_client import ServerClient


class RemoteOfflineStore:
    """The offline store of the server at ``client.url``: every call raises ConfigError."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"RemoteOfflineStore({self.client.url!r})"

    def _unavailable(self, what: str) -> NoReturn:
        raise ConfigError(
            f"{what} needs the offline store, which fti server at {self.client.url} does not "
            "serve yet: run this where the offline store is reachable (fti.connect() with "
            "FTI_OFFLINE_URL and the other store URLs of the team)"
        )

    def upsert(
        self, table: str, data: pa.Table, keys: Sequence[str], properties: Mapping[str, str]
    ) -> int:
        """Unavailable through a server."""
        self._unavailable(f"writing offline table {table}")

    def version(self, table: str) -> int | None:
        """Unavailable through a server."""
        self._unavailable(f"reading offline table {table}")

    def dataset(self, table: str, version: int | datetime | None = None) -> pds.Dataset:
        """Unavailable through a server."""
        self._unavailable(f"reading offline table {table}")

    def files(self, table: str, version: int, time_column: str | None = None) -> list[DataFile]:
        """Unavailable through a server."""
        self._unavailable(f"reading offline table {table}")

    def local_paths(self, table: str, files: Sequence[DataFile]) -> list[str]:
        """Unavailable through a server."""
        self._unavailable(f"reading offline table {table}")

    def history(self, table: str, limit: int | None = None) -> list[TableCommit]:
        """Unavailable through a server."""
        self._unavailable(f"reading offline table {table}")

    def changes(self, table: str, start: int, end: int | None = None) -> pa.Table:
        """Unavailable through a server."""
        self._unavailable(f"reading offline table {table}")

    def drop(self, table: str) -> None:
        """Unavailable through a server."""
        self._unavailable(f"dropping offline table {table}")

    def write_file(self, path: str, data: pa.Table) -> None:
        """Unavailable through a server."""
        self._unavailable(f"writing {path}")

    def read_file(self, path: str) -> pa.Table:
        """Unavailable through a server."""
        self._unavailable(f"reading {path}")

    def delete_file(self, path: str) -> None:
        """Unavailable through a server."""
        self._unavailable(f"deleting {path}")

    def move_file(self, source: str, target: str) -> None:
        """Unavailable through a server."""
        self._unavailable(f"moving {source}")

    def maintain(
        self,
        table: str,
        keep_versions: Collection[int],
        retention: timedelta,
        *,
        dry_run: bool = False,
    ) -> TableMaintenance:
        """Unavailable through a server."""
        self._unavailable(f"maintaining offline table {table}")
