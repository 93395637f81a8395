"""The offline routes reach only what their call is for: a table route a group's table, a
snapshot route a training-dataset file (written staged, then moved into place). An editor
cannot reach a table's files or log through them, nor a project reach another's tables."""

from __future__ import annotations

import pyarrow as pa
import pytest
from platform_team import PROJECT, Team

from fti.arrow_ipc import ARROW_STREAM, table_to_stream
from fti.project import Project

ROWS = pa.table({"id": [1, 2], "x": [1.0, 2.0]})
FILES = f"/api/v1/projects/{PROJECT}/offline"
DATASET = f"{PROJECT}/_training_data/v_1"


def kept_table(team: Team) -> str:
    with Project(PROJECT, team.platform.settings) as project:
        group = project.feature_store.get_feature_group("kept")
        group.insert(ROWS.to_pandas())
        return str(group._offline_table)


@pytest.mark.parametrize(
    ("method", "route", "params"),
    [
        ("delete", "snapshot", {"path": "{table}/_delta_log/00000000000000000000.json"}),
        ("delete", "snapshot", {"path": "{table}"}),
        ("put", "snapshot", {"path": "{table}/_delta_log/00000000000000000002.json"}),
        ("put", "snapshot", {"path": "{table}/part-0.parquet"}),
        ("post", "snapshot/move", {"source": "{table}", "target": f"{PROJECT}/zz_v1"}),
        ("get", "snapshot", {"path": "{table}/_delta_log/00000000000000000000.json"}),
        ("get", "version", {"table": "{table}/_delta_log"}),
        ("post", "upsert", {"table": f"{DATASET}/1.parquet", "keys": "id"}),
    ],
    ids=[
        "delete-log",
        "delete-table",
        "overwrite-log",
        "write-in-table",
        "move-table",
        "read-log",
        "version-of-log",
        "table-in-datasets",
    ],
)
def test_an_editor_cannot_reach_a_tables_files_through_other_routes(
    team: Team, method: str, route: str, params: dict[str, str]
) -> None:
    table = kept_table(team)
    version_before = team.client.get(
        f"{FILES}/version", params={"table": table}, headers=team.headers("editor")
    ).json()
    filled = {k: v.format(table=table) for k, v in params.items()}
    body = table_to_stream(ROWS) if method in ("put", "post") else None
    answer = team.client.request(
        method.upper(),
        f"{FILES}/{route}",
        params=filled,
        content=body,
        headers={**team.headers("editor"), "content-type": ARROW_STREAM},
    )

    assert answer.status_code == 422, answer.text
    after = team.client.get(
        f"{FILES}/version", params={"table": table}, headers=team.headers("editor")
    )
    assert after.json() == version_before


def test_snapshots_are_written_staged_then_moved_into_place(team: Team) -> None:
    editor = {**team.headers("editor"), "content-type": ARROW_STREAM}
    staged, placed = f"{DATASET}/.staged-abc.parquet", f"{DATASET}/1.parquet"

    refused = team.client.put(
        f"{FILES}/snapshot", params={"path": placed}, content=table_to_stream(ROWS), headers=editor
    )
    assert refused.status_code == 422  # in place at once: it would overwrite a dataset's file
    written = team.client.put(
        f"{FILES}/snapshot", params={"path": staged}, content=table_to_stream(ROWS), headers=editor
    )
    assert written.status_code == 204, written.text
    backwards = team.client.post(
        f"{FILES}/snapshot/move", params={"source": staged, "target": staged}, headers=editor
    )
    assert backwards.status_code == 422
    moved = team.client.post(
        f"{FILES}/snapshot/move", params={"source": staged, "target": placed}, headers=editor
    )
    assert moved.status_code == 204, moved.text
    read = team.client.get(f"{FILES}/snapshot", params={"path": placed}, headers=editor)
    assert read.status_code == 200
    assert pa.ipc.open_stream(read.content).read_all().equals(ROWS)


def test_an_upsert_on_keys_the_rows_lack_is_refused(team: Team) -> None:
    table = kept_table(team)
    editor = team.headers("editor")
    before = team.client.get(f"{FILES}/version", params={"table": table}, headers=editor).json()

    answer = team.client.post(
        f"{FILES}/upsert",
        params={"table": table, "keys": "nope"},
        content=table_to_stream(ROWS),
        headers={**editor, "content-type": ARROW_STREAM},
    )

    assert answer.status_code == 422, answer.text
    assert "nope" in answer.json()["error"]
    assert team.client.get(f"{FILES}/version", params={"table": table}, headers=editor).json() == (
        before
    )


def test_an_upsert_whose_types_conflict_with_the_table_is_refused(team: Team) -> None:
    table = kept_table(team)
    editor = team.headers("editor")
    before = team.client.get(f"{FILES}/version", params={"table": table}, headers=editor).json()

    answer = team.client.post(
        f"{FILES}/upsert",
        params={"table": table, "keys": "id"},
        content=table_to_stream(pa.table({"id": [3], "x": ["a"]})),
        headers={**editor, "content-type": ARROW_STREAM},
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "schema_error"
    assert "'x' has type string" in answer.json()["error"]
    assert team.client.get(f"{FILES}/version", params={"table": table}, headers=editor).json() == (
        before
    )
