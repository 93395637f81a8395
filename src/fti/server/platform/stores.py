"""The data stores the store routes serve, opened from the server's settings once per worker,
and the checks that keep each request inside its project.

The metadata store is the platform's own (projects are namespaces in it). The online,
artifact and offline stores serve every project: online tables are named
``<project>__...``, artifact keys and offline tables start with ``<project>/``, so a name
that does not begin with the route's project is refused before it reaches a store.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import AsyncIterator
from functools import cached_property
from typing import IO, TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request

from fti.errors import InvalidNameError
from fti.names import check_name
from fti.settings import Settings

if TYPE_CHECKING:
    from fti.stores.artifacts import ArtifactStore
    from fti.stores.offline import OfflineStore
    from fti.stores.online import OnlineStore

UPLOADS = re.compile(
    r"/api/v1/projects/[^/]+/(online/[^/]+/rows|artifacts/tree|offline/(upsert|snapshot))"
)
"""The paths of uploads: their routes read the body under ``max_upload_bytes`` (spooled, or as
it arrives), so the JSON body limit does not apply to them."""
DOCUMENTS = re.compile(r"/api/v1/projects/[^/]+/entities/[^/]+(/[^/]+/[^/]+(/records)?)?")
"""The paths that write entity bodies and records: statistics of a wide group pass 1 MiB."""
MAX_DOCUMENT_BYTES = 64 * 2**20
"""The largest JSON body of those paths (read whole, in memory, before it is parsed)."""
SPOOL_IN_MEMORY = 8 * 2**20
"""Upload bytes kept in memory before the spool moves to a temporary file."""


class Stores:
    """The online, artifact and offline stores of ``settings``, each opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Stores(home={str(self.settings.home)!r})"

    @cached_property
    def online(self) -> OnlineStore:
        """The online store of every project."""
        from fti.stores.online import open_online_store

        with self._lock:
            return open_online_store(self.settings.online_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store of every project."""
        from fti.stores.artifacts import open_artifact_store

        with self._lock:
            return open_artifact_store(self.settings.artifacts_url)

    @cached_property
    def offline(self) -> OfflineStore:
        """The offline store of every project."""
        from fti.stores.offline import open_offline_store

        settings = self.settings
        with self._lock:
            return open_offline_store(
                settings.offline_url,
                home=settings.home,
                cache_dir=settings.cache_path,
                max_cache_bytes=settings.cache_size_limit,
                allow_unsafe_s3_commits=settings.unsafe_s3_commits_allowed,
            )

    def close(self) -> None:
        """Release the connections of the stores opened."""
        if "online" in self.__dict__:
            self.online.close()


async def stores(request: Request) -> Stores:
    """The stores of the app serving ``request``."""
    found: Stores = request.app.state.stores
    return found


StoresDep = Annotated[Stores, Depends(stores)]


def online_table(project: str, table: str) -> str:
    """``table`` when it is a valid name of an online table of ``project``."""
    check_name(table, "online table")
    if not table.startswith(f"{project}__"):
        raise InvalidNameError(
            f"online table {table!r} is not in project {project!r} (its name starts with "
            f"'{project}__')"
        )
    return table


def artifact_key(project: str, key: str) -> str:
    """``key`` when it is a valid artifact key inside ``project``."""
    from fti.stores.artifacts.base import check_key

    check_key(key)
    if not key.startswith(f"{project}/"):
        raise InvalidNameError(f"artifact key {key!r} is not in project {project!r}")
    return key


_OFFLINE_PART = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}")


def offline_path(project: str, path: str) -> str:
    """``path`` when it names an offline table or snapshot inside ``project``: ``/``-separated
    parts of letters, digits, ``_``, ``.`` and ``-``, none ``.`` or ``..``."""
    parts = path.split("/") if isinstance(path, str) else []
    if (
        len(parts) < 2
        or parts[0] != project
        or not all(_OFFLINE_PART.fullmatch(p) and p not in (".", "..") for p in parts)
    ):
        raise InvalidNameError(
            f"invalid offline path {path!r}: use '<project>/...' with parts of letters, "
            f"digits, '_', '.' and '-' inside project {project!r}"
        )
    return path


_TABLE_PART = re.compile(r"[a-z][a-z0-9_]{0,62}_v[0-9]{1,10}")
TRAINING_DATA = "_training_data"
"""The folder of a project's training-dataset files (snapshots), apart from its tables."""
STAGED = ".staged-"
"""How a snapshot's name starts while it is written, before it is moved into place."""


def offline_table(project: str, table: str) -> str:
    """``table`` when it names a feature group's table of ``project``:
    ``<project>/<group>_v<version>``, never a path inside a table or a dataset folder."""
    parts = offline_path(project, table).split("/")
    if len(parts) != 2 or not _TABLE_PART.fullmatch(parts[1]):
        raise InvalidNameError(
            f"invalid offline table {table!r}: use '{project}/<group>_v<version>'"
        )
    return table


def snapshot_path(project: str, path: str, *, staged: bool | None = None) -> str:
    """``path`` when it names a training-dataset file of ``project``:
    ``<project>/_training_data/<dataset>/<file>.parquet``, so that no snapshot call reaches a
    table's files or log. ``staged`` True: a file being written (its name starts with
    ``.staged-``); False: a file in place; None: either."""
    parts = offline_path(project, path).split("/")
    name = parts[-1]
    if (
        len(parts) != 4
        or parts[1] != TRAINING_DATA
        or not name.endswith(".parquet")
        or (staged is not None and name.startswith(STAGED) != staged)
    ):
        state = {True: "a staged ", False: "a placed ", None: "a "}[staged]
        raise InvalidNameError(
            f"invalid snapshot path {path!r}: use {state}training-dataset file, "
            f"'{project}/{TRAINING_DATA}/<dataset>/<file>.parquet'"
            + (
                ""
                if staged is None
                else f" whose name {'starts' if staged else 'does not start'} with {STAGED!r}"
            )
        )
    return path


async def spool(request: Request, limit: int) -> IO[bytes]:
    """The request's body in a temporary file (in memory while small), rewound; 413 once it
    passes ``limit`` bytes, before the rest is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload over {limit} bytes (max_upload_bytes)")
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        async for chunk in _chunks(request):
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"upload over {limit} bytes (max_upload_bytes)")
            file.write(chunk)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return file


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
