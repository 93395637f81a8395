"""``fti admin``: the first admin (on the server host), then users, projects, members and the
audit log through the server."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from fti.cli.context import CliState, console, errors
from fti.cli.remote import DEFAULT_URL, ApiKey, Url, segment, server, when

app = typer.Typer(
    help="Server administration: the first admin, users, projects, members, the audit log.",
    no_args_is_help=True,
)
users = typer.Typer(help="Users and service accounts (server admins).", no_args_is_help=True)
projects = typer.Typer(help="Projects and their first owner (server admins).", no_args_is_help=True)
members = typer.Typer(
    help="Members of a project and their roles (its owners, and admins).", no_args_is_help=True
)
app.add_typer(users, name="users")
app.add_typer(projects, name="projects")
app.add_typer(members, name="members")

Role = Annotated[str, typer.Argument(help="viewer, editor or owner.")]


@app.command("bootstrap")
def bootstrap(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The admin's user name.")],
) -> None:
    """Create the first admin NAME and print its API key (only the key, on standard output).

    Runs on the server host, against the metadata database itself (--home, $FTI_METADATA_URL).
    When admins exist, NAME must be one of them: it gets a new key (a lost key is recovered
    where the database is reachable anyway).
    """
    from fti.errors import FtiError
    from fti.settings import Settings
    from fti.stores.metadata.accounts import AccountStore
    from fti.stores.metadata.sql import SqlMetadataStore

    state: CliState = ctx.obj
    try:
        metadata = SqlMetadataStore(Settings.load(state.home).metadata_url)
        try:
            user, key, secret = AccountStore(metadata).bootstrap(name)
        finally:
            metadata.close()
    except FtiError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    errors.print(
        f"Admin {user.name!r}, API key {key.id} (printed once, below: keep it now, e.g. as "
        "FTI_API_KEY):"
    )
    typer.echo(secret)


# Users --------------------------------------------------------------------------------------


@users.command("list")
def list_users(url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """List users and service accounts."""
    with server(url, api_key) as remote:
        found = remote.call("GET", "/api/v1/users")
    table = Table(title="Users")
    for column in ("name", "admin", "kind", "password", "created"):
        table.add_column(column)
    for user in found:
        table.add_row(
            user["name"],
            "yes" if user["admin"] else "",
            "service" if user["service"] else "person",
            "yes" if user["has_password"] else "",
            when(user["created_at"]),
        )
    console.print(table)


@users.command("create")
def create_user(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="A server admin.")] = False,
    service: Annotated[
        bool, typer.Option("--service", help="A service account (a program: no password).")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read a password (for the web UI) from standard input."
        ),
    ] = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Add a user or a service account."""
    body: dict[str, Any] = {"name": name, "admin": admin, "service": service}
    if password_stdin:
        body["password"] = _read_password()
    with server(url, api_key) as remote:
        made = remote.call("POST", "/api/v1/users", body=body)
    kind = "service account" if made["service"] else "user"
    console.print(f"Created {kind} {made['name']!r}{' (admin)' if made['admin'] else ''}.")


@users.command("update")
def update_user(
    name: str,
    admin: Annotated[
        bool | None,
        typer.Option(
            "--admin/--no-admin", help="Make NAME a server admin, or not.", show_default=False
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a new password from standard input.")
    ] = False,
    remove_password: Annotated[
        bool, typer.Option("--remove-password", help="Remove NAME's password.")
    ] = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Make a user an admin or not, set or remove its password (the last admin stays one)."""
    body: dict[str, Any] = {}
    if admin is not None:
        body["admin"] = admin
    if password_stdin:
        body["password"] = _read_password()
    elif remove_password:
        body["password"] = None
    with server(url, api_key) as remote:
        changed = remote.call("PATCH", f"/api/v1/users/{segment(name)}", body=body)
    console.print(
        f"{changed['name']!r}: admin {'yes' if changed['admin'] else 'no'}, "
        f"password {'set' if changed['has_password'] else 'none'}."
    )


@users.command("delete")
def delete_user(name: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Remove a user with its keys and memberships (not the last admin, nor a project's last
    owner)."""
    with server(url, api_key) as remote:
        remote.call("DELETE", f"/api/v1/users/{segment(name)}")
    console.print(f"Deleted {name!r} and its keys.")


# Projects -----------------------------------------------------------------------------------


@projects.command("list")
def list_projects(url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """List the projects your key may use (an admin: all), with your role."""
    with server(url, api_key) as remote:
        found = remote.call("GET", "/api/v1/projects")
    table = Table(title="Projects")
    for column in ("name", "your role", "created by", "created"):
        table.add_column(column)
    for project in found:
        table.add_row(
            project["name"],
            project["role"] or "",
            project["created_by"] or "",
            when(project["created_at"]),
        )
    console.print(table)


@projects.command("create")
def create_project(
    name: str,
    owner: Annotated[str, typer.Option(help="The project's first owner.")],
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Make a project with its first owner (a project that holds data already keeps it)."""
    with server(url, api_key) as remote:
        remote.call("POST", "/api/v1/projects", body={"name": name, "owner": owner})
    console.print(f"Created project {name!r}, owned by {owner!r}.")


@projects.command("delete")
def delete_project(name: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Remove a project that holds no data, with its members and the keys limited to it."""
    with server(url, api_key) as remote:
        remote.call("DELETE", f"/api/v1/projects/{segment(name)}")
    console.print(f"Deleted project {name!r}.")


# Members ------------------------------------------------------------------------------------


@members.command("list")
def list_members(project: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """List a project's members and their roles."""
    with server(url, api_key) as remote:
        found = remote.call("GET", f"/api/v1/projects/{segment(project)}/members")
    table = Table(title=f"Members of {project!r}")
    table.add_column("user")
    table.add_column("role")
    for member in found:
        table.add_row(member["user"], member["role"])
    console.print(table)


@members.command("set")
def set_member(
    project: str,
    user: str,
    role: Role,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Add USER to PROJECT with ROLE, or change its role (a project keeps one owner)."""
    with server(url, api_key) as remote:
        remote.call(
            "PUT",
            f"/api/v1/projects/{segment(project)}/members/{segment(user)}",
            body={"role": role},
        )
    console.print(f"{user!r} is a {role} of {project!r}.")


@members.command("remove")
def remove_member(project: str, user: str, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Take USER out of PROJECT (not its last owner)."""
    with server(url, api_key) as remote:
        remote.call("DELETE", f"/api/v1/projects/{segment(project)}/members/{segment(user)}")
    console.print(f"{user!r} is no longer a member of {project!r}.")


# Audit --------------------------------------------------------------------------------------


@app.command("audit")
def audit(
    project: Annotated[
        str | None,
        typer.Option(help="Only this project's writes (its owners may read them)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1, max=10_000)] = 50,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Show the newest writes: who, what, when, from where, and how each ended."""
    path = f"/api/v1/projects/{segment(project)}/audit" if project else "/api/v1/audit"
    with server(url, api_key) as remote:
        found = remote.call("GET", path, params={"limit": limit})
    table = Table(title="Audit log, newest first")
    for column in ("when", "user", "key", "project", "request", "status", "from"):
        table.add_column(column)
    for event in found:
        table.add_row(
            when(event["at"]),
            event["user"] or "",
            event["key_id"] or "",
            event["project"] or "",
            f"{event['method']} {event['path']}",
            str(event["status"]),
            event["remote"] or "",
        )
    console.print(table if found else "No writes recorded.")


def _read_password() -> str:
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")
