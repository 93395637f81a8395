"""The online read route: its keys as a JSON array, its values as JSON or an Arrow stream."""

from __future__ import annotations

import json

import pytest
from platform_team import PROJECT, Team

from fti.arrow_ipc import ARROW_STREAM, ONLINE_VALUES, read_stream

TABLE = f"{PROJECT}__g__v1"
ROWS = f"/api/v1/projects/{PROJECT}/online/{TABLE}/rows"


@pytest.fixture
def stored(team: Team) -> Team:
    """The team with two rows in ``TABLE``."""
    team.app.state.stores.online.write(TABLE, ["a", 'é"\\'], [1, 1], ['{"x": 1}', "v2"], 1)
    return team


def test_a_viewer_reads_values_in_order_as_json_or_arrow(stored: Team) -> None:
    keys = json.dumps(['é"\\', "absent", "a"])
    answer = stored.client.get(ROWS, params={"keys": keys}, headers=stored.headers("viewer"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == ["v2", None, '{"x": 1}']

    headers = stored.headers("viewer") | {"Accept": ARROW_STREAM}
    answer = stored.client.get(ROWS, params={"keys": keys}, headers=headers)
    assert answer.headers["content-type"] == ARROW_STREAM
    values = read_stream(answer.content, ONLINE_VALUES, "values").column("value").to_pylist()
    assert values == ["v2", None, '{"x": 1}']


@pytest.mark.parametrize(
    "keys",
    [
        "not json",
        "[1]",
        '["a", null]',
        '{"a": "b"}',
        '"a"',
        "[" * 4000,  # nested past the decoder's recursion limit
        json.dumps(["k" * 9000]),  # over MAX_KEYS_LENGTH
    ],
)
def test_keys_that_are_not_a_json_array_of_strings_get_422(stored: Team, keys: str) -> None:
    answer = stored.client.get(ROWS, params={"keys": keys}, headers=stored.headers("viewer"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] in {"invalid_argument", "invalid_request"}


def test_a_read_needs_a_role_in_the_project_even_with_its_key_cached(stored: Team) -> None:
    keys = json.dumps(["a"])
    # The viewer's key and role are cached now: the check runs on the event loop.
    assert stored.client.get(ROWS, params={"keys": keys}, headers=stored.headers("viewer")).json()
    for who, status in (("outsider", 403), ("none", 401), ("bad_key", 401)):
        answer = stored.client.get(ROWS, params={"keys": keys}, headers=stored.headers(who))
        assert answer.status_code == status, who
        answer = stored.client.get(ROWS, params={"keys": keys}, headers=stored.headers(who))
        assert answer.status_code == status, f"{who}, asked again"
