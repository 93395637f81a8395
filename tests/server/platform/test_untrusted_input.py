"""Names and paths from clients never reach the filesystem or a store unchecked, and nothing a
client sends is unpickled, before or after authorization.

Every path parameter and every string query parameter of every route (read from the route
table and the OpenAPI document, so later routes are covered) takes every payload of a corpus
of traversals: dot segments, percent-encoded and double-encoded, backslashes, NUL, absolute
paths, URLs. Requests go to the ASGI app as a server would hand them over (the raw path as
sent, the path decoded once), as an admin so that they pass authorization. Each answer is a
4xx, and afterwards no file changed and no row changed (the audit log aside).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import anyio
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from platform_team import PROJECT, Team

from fti.stores.metadata import accounts, sql

_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def corpus(outside: Path) -> dict[str, str]:
    """Traversal payloads as a client writes them in a URL (``%`` escapes are kept)."""
    return {
        "dot_dot": "..",
        "dot": ".",
        "dot_dot_slash": "../../etc/passwd",
        "encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "encoded_slash_only": "..%2f..%2fetc",
        "double_encoded": "%252e%252e%252fetc%252fpasswd",
        "overlong_utf8": "%c0%ae%c0%ae%c0%af",
        "backslashes": "..\\..\\windows\\win.ini",
        "encoded_backslashes": "..%5c..%5cwin.ini",
        "nul": "name%00.txt",
        "nul_after_dots": "..%00",
        "absolute": "/etc/passwd",
        "absolute_outside": str(outside / "escaped"),
        "windows_drive": "C:\\Windows\\win.ini",
        "unc": "\\\\server\\share",
        "file_url": "file:///etc/passwd",
        "http_url": "http://169.254.169.254/latest/meta-data",
        "s3_url": "s3://bucket/key",
        "home": "~/x",
        "unicode_dots": "\u2025/\uff0e\uff0e",
        "long": "a" * 4096,
    }


def _raw(text: str, safe: str) -> bytes:
    return quote(text, safe=safe).encode("ascii")


async def call(
    app: FastAPI, method: str, raw_path: bytes, query: bytes, headers: dict[str, str], body: bytes
) -> int:
    """The status of one request handed to ``app`` as uvicorn hands it over."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def snapshot(root: Path, team: Team) -> tuple[dict[str, tuple[int, int]], dict[str, list[Any]]]:
    """Every file under ``root`` (size, mtime) but the metadata database, and every row of
    every table but the audit log."""
    files = {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("metadata.db")
    }
    tables = [*sql.schema.sorted_tables, *accounts.schema.sorted_tables]
    with team.platform.metadata._connect() as conn:
        rows = {
            t.name: sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
            for t in tables
            if t is not accounts.audit_log
        }
    return files, rows


def requests(team: Team, outside: Path) -> list[tuple[str, str, bytes, bytes]]:
    """(id, method, raw path, query) of each payload in each parameter of each route."""
    document = team.client.get("/openapi.json").json()
    payloads = corpus(outside)
    made = []
    for route in iter_route_contexts(team.app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        names = _PARAMETER.findall(route.path)
        for method in sorted(route.methods or ()):
            # The web UI's pages are not in the API's document: their path names still are.
            operation = document["paths"].get(route.path_format, {}).get(method.lower(), {})
            queries = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and "string" in repr(p["schema"])
            ]
            for where in [*(("path", n) for n in names), *(("query", n) for n in queries)]:
                for kind, payload in payloads.items():
                    values = {n: PROJECT if n == "project" else "absent" for n in names}
                    query = b""
                    if where[0] == "path":
                        values[where[1]] = payload
                    else:
                        query = f"{where[1]}=".encode() + _raw(payload, "%")
                    raw = _PARAMETER.sub(
                        lambda m, v=values: quote(v[m[1]], safe="%/"),
                        route.path,  # type: ignore[misc]
                    )
                    label = f"{method} {route.path} {where[0]}:{where[1]}={kind}"
                    made.append((label, method, raw.encode("ascii"), query))
    return made


def test_traversal_payloads_in_every_name_get_4xx_and_touch_nothing(
    team: Team, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    cases = requests(team, outside)
    assert len({c[0].split(" ")[1] for c in cases}) >= 5  # routes with names were found
    before = snapshot(tmp_path, team)
    admin = team.headers("admin")

    async def run_all() -> list[str]:
        wrong = []
        for label, method, raw, query in cases:
            status = await call(team.app, method, raw, query, admin, b"")
            if not 400 <= status < 500:
                wrong.append(f"{label}: {status}")
        return wrong

    wrong = anyio.run(run_all)

    assert not wrong, "\n".join(wrong)
    assert snapshot(tmp_path, team) == before
    assert not (outside / "escaped").exists()


NAMED_BODIES = [
    ("POST", "/api/v1/users", {"name": None}),
    ("POST", "/api/v1/projects", {"name": None, "owner": "vera"}),
    ("POST", "/api/v1/projects", {"name": "fresh", "owner": None}),
    ("POST", "/api/v1/keys", {"project": None}),
    ("POST", "/api/v1/keys", {"user": None}),
]
"""Bodies of the server resources with one name field (None) to fill with each payload."""


@pytest.mark.parametrize(
    ("method", "path", "body"),
    NAMED_BODIES,
    ids=[f"{m} {p} {next(k for k, v in b.items() if v is None)}" for m, p, b in NAMED_BODIES],
)
def test_traversal_payloads_in_body_names_get_4xx_and_touch_nothing(
    team: Team, tmp_path: Path, method: str, path: str, body: dict[str, str | None]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    before = snapshot(tmp_path, team)
    field = next(k for k, v in body.items() if v is None)
    wrong = []
    for kind, payload in corpus(outside).items():
        sent = {**body, field: unquote(payload)}
        answer = team.client.request(method, path, json=sent, headers=team.headers("admin"))
        if not 400 <= answer.status_code < 500:
            wrong.append(f"{kind}: {answer.status_code} {answer.text}")
    assert not wrong, "\n".join(wrong)
    assert snapshot(tmp_path, team) == before


class _Tripwire:
    """Unpickling this creates the directory ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


@pytest.mark.parametrize("who", ["none", "admin"], ids=["before_authorization", "as_admin"])
def test_a_pickle_sent_to_any_route_is_never_loaded(team: Team, tmp_path: Path, who: str) -> None:
    tripwire = tmp_path / "unpickled"
    payload = pickle.dumps(_Tripwire(tripwire))
    media_types = [
        "application/octet-stream",
        "application/python-pickle",
        "application/json",
        "application/vnd.apache.arrow.stream",
        "",
    ]
    statuses = []

    async def run_all() -> None:
        for route in iter_route_contexts(team.app.routes):
            if not isinstance(route.original_route, APIRoute):
                continue
            raw = _PARAMETER.sub(
                lambda m: PROJECT if m[1] == "project" else "absent", route.path
            ).encode()
            for method in sorted((route.methods or set()) - {"GET", "HEAD"}):
                for media in media_types:
                    headers = {**team.headers(who), "content-type": media}
                    status = await call(team.app, method, raw, b"", headers, payload)
                    statuses.append((f"{method} {route.path} {media}", status))

    anyio.run(run_all)

    assert statuses
    assert [s for s in statuses if not 400 <= s[1] < 500] == []
    assert not tripwire.exists()


def test_no_server_module_imports_a_deserializer_of_code() -> None:
    import fti.server

    root = Path(fti.server.__file__).parent
    unsafe = re.compile(
        r"^\s*(?:import|from)\s+(pickle|cloudpickle|dill|marshal|shelve|joblib)\b", re.M
    )
    found = [
        f"{path.relative_to(root)}: {m[1]}"
        for path in sorted(root.rglob("*.py"))
        for m in unsafe.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
