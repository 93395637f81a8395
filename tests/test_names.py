"""The naming rule: ^[a-z][a-z0-9_]{0,62}$ for names, positive ints for versions."""

from __future__ import annotations

import pytest

from fti.errors import InvalidArgumentError, InvalidNameError
from fti.names import (
    MAX_COMMIT_ID,
    MAX_VERSION,
    check_commit_id,
    check_entity_name,
    check_name,
    check_project_name,
    check_version,
)


@pytest.mark.parametrize(
    "name",
    ["a", "flights", "weather_v2", "a_", "a1", "x" * 63, "a" + "_" * 62, "z9_8"],
    ids=[
        "one-letter",
        "word",
        "underscore-digit",
        "trailing-underscore",
        "digit",
        "63-chars",
        "underscores",
        "mixed",
    ],
)
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "x/y",
        "x\\y",
        "",
        "Upper",
        "upPer",
        "café",
        "ǆ",
        "\uff58",  # fullwidth x
        "a;drop table x",
        "a'b",
        'a"b',
        "a`b",
        "x" * 64,
        "1abc",
        "_abc",
        "a-b",
        "a.b",
        "a b",
        " a",
        "a\n",
        "a\x00",
        None,
        1,
        b"abc",
    ],
    ids=[
        "parent-dir",
        "slash",
        "backslash",
        "empty",
        "upper",
        "mixed-case",
        "accented",
        "unicode-lowercase",
        "fullwidth",
        "semicolon",
        "single-quote",
        "double-quote",
        "backtick",
        "64-chars",
        "leading-digit",
        "leading-underscore",
        "dash",
        "dot",
        "space",
        "leading-space",
        "trailing-newline",
        "nul",
        "none",
        "int",
        "bytes",
    ],
)
def test_check_name_refuses(name: object) -> None:
    with pytest.raises(InvalidNameError, match=r"use 1-63 characters, lowercase letters"):
        check_name(name)


def test_check_name_message_names_the_kind_and_value() -> None:
    with pytest.raises(InvalidNameError, match=r"^invalid feature group 'Bad': "):
        check_name("Bad", "feature group")


@pytest.mark.parametrize(
    "version", [1, 2, 10**9, MAX_VERSION], ids=["one", "two", "large", "largest"]
)
def test_check_version_accepts(version: int) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize(
    "version",
    [0, -1, True, False, "1", 1.0, None, [1], MAX_VERSION + 1, 2**70],
    ids=[
        "zero",
        "negative",
        "true",
        "false",
        "string",
        "float",
        "none",
        "list",
        "above-32-bits",
        "above-64-bits",
    ],
)
def test_check_version_refuses(version: object) -> None:
    with pytest.raises(InvalidNameError, match=r"use a positive integer"):
        check_version(version)


def test_check_version_message_names_the_kind_and_value() -> None:
    with pytest.raises(InvalidNameError, match=r"^invalid model version '1': "):
        check_version("1", "model version")


@pytest.mark.parametrize("commit", [0, 1, MAX_COMMIT_ID], ids=["first", "second", "largest"])
def test_check_commit_id_accepts(commit: int) -> None:
    assert check_commit_id(commit) == commit


@pytest.mark.parametrize(
    "commit",
    [-1, MAX_COMMIT_ID + 1, 2**70, True, "0", 0.0, None],
    ids=["negative", "above-64-bits", "huge", "bool", "string", "float", "none"],
)
def test_check_commit_id_refuses(commit: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^invalid as_of .*: use an integer from 0"):
        check_commit_id(commit, "as_of")


@pytest.mark.parametrize("name", ["a__b", "a_", "flights__x", "p___"])
def test_a_project_name_cannot_start_another_projects_table_names(name: str) -> None:
    # Store tables are "<project>__<group>__v<n>": project "a" would own "a__b"'s and "a_"'s.
    assert check_name(name) == name
    with pytest.raises(InvalidNameError, match="project name"):
        check_project_name(name)


@pytest.mark.parametrize("name", ["a", "a_b", "flights_2013"])
def test_project_names_with_single_inner_underscores_are_valid(name: str) -> None:
    assert check_project_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["flights", "flights_v3", "commit:flights:1:3", "daily simulated 2024-01-01T00:00:00+00:00"],
    ids=["name", "dataset", "index-key", "schedule-state"],
)
def test_entity_names_the_services_write_are_accepted(name: str) -> None:
    assert check_entity_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["a/b", "/a", "..", ".hidden", "a\\b", "a%2Fb", "", "n" * 256, "é", None],
    ids=[
        "slash",
        "absolute",
        "dot-dot",
        "dot",
        "backslash",
        "encoded",
        "empty",
        "long",
        "utf8",
        "none",
    ],
)
def test_entity_names_that_are_not_one_path_segment_are_refused(name: object) -> None:
    with pytest.raises(InvalidNameError, match="no '/'"):
        check_entity_name(name)
