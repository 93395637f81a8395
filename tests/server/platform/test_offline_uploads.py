"""Uploads to the offline routes are read while they arrive: a whole stream is stored, and a
stream that is malformed, cut off or over the upload limit gets a 4xx (or no answer, once the
client has gone) and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from platform_team import PROJECT, Team, make_team, settings_in

from fti.arrow_ipc import ARROW_STREAM
from fti.server.platform.app import create_platform_app
from fti.settings import Settings

OFFLINE = f"/api/v1/projects/{PROJECT}/offline"
TABLE = f"{PROJECT}/uploads_v1"
SNAPSHOT = f"{PROJECT}/_training_data/uploads_1/.staged-x.parquet"
ROWS = pa.table(
    {
        "id": np.arange(20_000, dtype=np.int64),
        "x": np.linspace(0.0, 1.0, 20_000),
        "s": [f"s{i % 7}" for i in range(20_000)],
    }
)


def stream(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC stream of several batches."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=4_096)
    return bytes(sink.getvalue())


def pieces(body: bytes, size: int = 10_000) -> Iterator[bytes]:
    """``body`` in chunks, sent without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def upsert(client: TestClient, headers: dict[str, str], content: Any) -> Any:
    return client.post(
        f"{OFFLINE}/upsert",
        params={"table": TABLE, "keys": "id"},
        content=content,
        headers={**headers, "Content-Type": ARROW_STREAM},
    )


def written(home: Path) -> list[Path]:
    """The files under the home's offline folder."""
    return sorted(p for p in (home / "offline").rglob("*") if p.is_file())


def test_an_upsert_sent_in_chunks_is_stored_whole(team: Team) -> None:
    answer = upsert(team.client, team.headers("editor"), pieces(stream(ROWS)))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"version": 0}
    stored = team.app.state.stores.offline.dataset(TABLE, 0).to_table().sort_by("id")
    assert stored.select(ROWS.column_names).cast(ROWS.schema).equals(ROWS)


def _garbage_after_one_batch() -> bytes:
    whole = stream(ROWS)
    first = stream(ROWS.slice(0, 4_096))[:-8]  # its end-of-stream marker dropped
    return first + bytes(range(256)) * 40 + whole[len(first) :]


MALFORMED = {
    "cut-mid-batch": stream(ROWS)[: len(stream(ROWS)) * 2 // 3],
    "garbage-after-a-batch": _garbage_after_one_batch(),
    "not-arrow": b"\x00" * 50_000,
}


@pytest.mark.parametrize(
    "body",
    [*MALFORMED.values(), stream(ROWS.drop_columns(["id"]))],
    ids=[*MALFORMED, "no-key-column"],
)
def test_a_bad_upsert_is_422_and_writes_nothing(team: Team, body: bytes) -> None:
    answer = upsert(team.client, team.headers("editor"), pieces(body))
    assert answer.status_code == 422, answer.text
    assert team.app.state.stores.offline.version(TABLE) is None
    assert not [p for p in written(team.home) if "uploads" in str(p)]
    # The server still takes a good upload afterwards.
    assert upsert(team.client, team.headers("editor"), stream(ROWS)).status_code == 200


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED)
def test_a_bad_snapshot_is_422_and_writes_nothing(team: Team, body: bytes) -> None:
    answer = team.client.put(
        f"{OFFLINE}/snapshot",
        params={"path": SNAPSHOT},
        content=pieces(body),
        headers={**team.headers("editor"), "Content-Type": ARROW_STREAM},
    )
    assert answer.status_code == 422, answer.text
    assert not (team.home / "offline" / PROJECT / "_training_data").exists()


def test_an_upload_over_the_limit_is_413_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    base = settings_in(home)
    limited = Settings.load(
        home,
        metadata_url=base.metadata_url,
        online_url=base.online_url,
        offline_url=base.offline_url,
        artifacts_url=base.artifacts_url,
        max_upload_bytes="64KiB",
    )
    app = create_platform_app(limited)
    keys = make_team(app, home)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {keys['editor']}"}
        answer = upsert(client, headers, pieces(stream(ROWS)))
        assert answer.status_code == 413, answer.text
        assert app.state.stores.offline.version(TABLE) is None
        assert upsert(client, headers, stream(ROWS.slice(0, 100))).status_code == 200


def test_a_client_gone_midway_leaves_nothing(team: Team) -> None:
    body = stream(ROWS)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{OFFLINE}/upsert",
        "raw_path": f"{OFFLINE}/upsert".encode(),
        "query_string": f"table={TABLE}&keys=id".encode(),
        "root_path": "",
        "headers": [
            (k.lower().encode(), v.encode())
            for k, v in {**team.headers("editor"), "Content-Type": ARROW_STREAM}.items()
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = iter(pieces(body[: len(body) // 2]))

    async def receive() -> dict[str, Any]:
        chunk = next(sent, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def call() -> None:
        try:
            await team.app(scope, receive, send)
        except Exception as exc:  # the app may raise the disconnect to the server
            assert type(exc).__name__ == "ClientDisconnect", repr(exc)

    anyio.run(call)
    assert team.app.state.stores.offline.version(TABLE) is None
