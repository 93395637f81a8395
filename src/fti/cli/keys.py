"""``fti keys``: your API keys on an fti server (an admin's: anyone's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from fti.cli.context import console, errors
from fti.cli.remote import DEFAULT_URL, ApiKey, Url, segment, server, when

app = typer.Typer(help="API keys: list, create, revoke.", no_args_is_help=True)


@app.command("list")
def list_keys(
    user: Annotated[
        str | None, typer.Option(help="Whose keys (admins only; default: yours).")
    ] = None,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """List keys, newest first, revoked and expired ones too (never their secrets)."""
    with server(url, api_key) as remote:
        found = remote.call("GET", "/api/v1/keys", params={"user": user})
    table = Table(title="API keys")
    for column in ("id", "user", "label", "project", "access", "created", "expires", "state"):
        table.add_column(column)
    now = datetime.now(UTC)
    for key in found:
        expires = key["expires_at"]
        if key["revoked_at"]:
            state = f"revoked {when(key['revoked_at'])}"
        elif expires and datetime.fromisoformat(expires) <= now:
            state = "expired"
        else:
            state = "active"
        table.add_row(
            key["id"],
            key["user"],
            key["label"],
            key["project"] or "any",
            "read" if key["read_only"] else "read, write",
            when(key["created_at"]),
            when(expires) or "never",
            state,
        )
    console.print(table if found else "No keys.")


@app.command("create")
def create_key(
    label: Annotated[str, typer.Option(help="What the key is for (a machine, a job).")] = "",
    project: Annotated[str | None, typer.Option(help="Limit the key to this project.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="A key that only reads.")] = False,
    expires_in: Annotated[
        str | None,
        typer.Option(help="Expire after this long, e.g. 30d or 12h (default: never)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Whose key (admins only; default: yours).")
    ] = None,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Create a key and print it (only the key, on standard output): it is shown this once.

    A key never has more power than the key that made it: a read-only key makes none, a key
    limited to a project makes keys limited to it, a new key expires no later than yours.
    """
    from fti.settings import parse_duration

    body: dict[str, Any] = {"label": label, "read_only": read_only}
    if project is not None:
        body["project"] = project
    if user is not None:
        body["user"] = user
    with server(url, api_key) as remote:
        if expires_in is not None:
            body["expires_at"] = (
                datetime.now(UTC) + parse_duration(expires_in, "--expires-in")
            ).isoformat()
        made = remote.call("POST", "/api/v1/keys", body=body)
    limits = [f"project {made['project']!r}" if made["project"] else "any project"]
    limits.append("read-only" if made["read_only"] else "read and write")
    limits.append(f"expires {when(made['expires_at'])}" if made["expires_at"] else "no expiry")
    errors.print(
        f"API key {made['id']} of {made['user']!r} ({', '.join(limits)}), printed once below:"
    )
    typer.echo(made["key"])


@app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (`fti keys list`).")],
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Revoke a key: it stops working on every server worker within seconds."""
    with server(url, api_key) as remote:
        revoked = remote.call("DELETE", f"/api/v1/keys/{segment(key_id)}")
    console.print(f"Revoked API key {revoked['id']} of {revoked['user']!r}.")
