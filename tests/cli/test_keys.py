"""``fti keys``: create (printed once), list, revoke, through a live server."""

from __future__ import annotations

import re

from platform_server import LiveServer, bootstrap, fti, remote
from typer.testing import CliRunner

from fti.cli.main import app


def test_a_key_is_printed_once_listed_without_its_secret_and_revoked(
    live_server: LiveServer,
) -> None:
    root = bootstrap(live_server)
    made = remote(live_server, root, "keys", "create", "--label", "ci", "--read-only")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    key_id = key.split("_")[1]
    assert f"API key {key_id} of 'root' (any project, read-only, no expiry)" in made.stderr

    listed = remote(live_server, key, "keys", "list").stdout
    assert re.search(rf"{key_id}\s*│\s*root\s*│\s*ci\s*│\s*any\s*│\s*read\s*│", listed)
    assert key not in listed

    revoked = remote(live_server, root, "keys", "revoke", key_id)
    assert revoked.exit_code == 0 and f"Revoked API key {key_id}" in revoked.stdout
    refused = remote(live_server, key, "keys", "list")
    assert refused.exit_code == 2 and "was revoked" in refused.stderr
    assert re.search(rf"{key_id}.*revoked", remote(live_server, root, "keys", "list").stdout)


def test_an_admin_makes_a_limited_expiring_key_for_another_user(live_server: LiveServer) -> None:
    root = bootstrap(live_server)
    for step in [
        ("admin", "users", "create", "etl", "--service"),
        ("admin", "projects", "create", "flights", "--owner", "root"),
    ]:
        assert remote(live_server, root, *step).exit_code == 0

    made = remote(
        live_server,
        root,
        "keys",
        "create",
        "--user",
        "etl",
        "--project",
        "flights",
        "--expires-in",
        "30d",
    )

    assert made.exit_code == 0, made.output
    assert "of 'etl' (project 'flights', read and write, expires " in made.stderr
    listed = remote(live_server, root, "keys", "list", "--user", "etl").stdout
    assert re.search(r"etl\s*│\s*│\s*flights\s*│\s*read, write\s*│.*│\s*active", listed)


def test_a_bad_expiry_is_an_error_and_makes_no_key(live_server: LiveServer) -> None:
    root = bootstrap(live_server)

    result = remote(live_server, root, "keys", "create", "--expires-in", "soon")

    assert result.exit_code == 2 and "--expires-in = 'soon' is not a duration" in result.stderr
    assert remote(live_server, root, "keys", "list").stdout.count("bootstrap") == 1


def test_the_url_and_key_come_from_the_environment(live_server: LiveServer) -> None:
    root = bootstrap(live_server)

    result = CliRunner().invoke(
        app,
        ["keys", "list"],
        env={"FTI_URL": live_server.url, "FTI_API_KEY": root, "COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert "bootstrap" in result.stdout
    assert fti("keys", "list", "--url", "ftp://x", "--api-key", root).exit_code == 2
