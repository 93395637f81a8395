"""The pages of the web UI: a FastAPI router whose routes declare their access (ADR 0011).

Each page gets its :class:`~fti.Project` from the app's :class:`ProjectSource`
(``app.state.ui_projects``): the embedded project for ``fti ui``, the remote stores with the
session's key under ``fti server``. Names in URLs are checked against fti's naming rule before
any page code sees them; writes are forms with a CSRF token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from fti.errors import (
    FtiError,
    InvalidArgumentError,
    InvalidNameError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from fti.monitoring.monitors import describe_duration
from fti.names import NAME_PATTERN, check_name
from fti.server.platform.access import Access, Authenticator, Principal, check
from fti.ui import pages
from fti.ui.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_HOURS,
    check_csrf,
    csrf_token,
    keep_csrf,
    set_session,
    ui_requires,
)

if TYPE_CHECKING:
    from fti.project import Project

HERE = FilePath(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")


def _script_json(value: Any) -> Markup:
    """``value`` as JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


templates.env.filters["json"] = _script_json
templates.env.filters["duration"] = describe_duration
STATIC = {"ui.css": "text/css", "ui.js": "text/javascript", "plotly.min.js": "text/javascript"}

router = APIRouter(include_in_schema=False)

Name = Annotated[str, Path(pattern=NAME_PATTERN.pattern, max_length=63)]
ProjectName = Annotated[str, Path(pattern=NAME_PATTERN.pattern, max_length=63)]
Version = Annotated[int, Path(ge=1, le=1_000_000_000)]
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]
Reader = Annotated[Principal | None, Depends(ui_requires(Access.READ))]
Writer = Annotated[Principal | None, Depends(ui_requires(Access.WRITE))]
Anyone = Annotated[Principal | None, Depends(ui_requires(Access.AUTHENTICATED))]


class ProjectSource(Protocol):
    """Where the pages' projects come from."""

    def open(self, request: Request, project: str) -> Project:
        """``project`` as the caller of ``request`` may see it."""
        ...

    def names(self, request: Request, principal: Principal) -> list[str]:
        """The projects ``principal`` may open."""
        ...

    def close(self) -> None:
        """Close the projects opened."""
        ...


# Static files and sign-in -----------------------------------------------------------------


@router.get("/static/{name}", dependencies=[Depends(ui_requires(Access.PUBLIC))])
def static(name: Annotated[str, Path(max_length=40)]) -> Response:
    """The UI's stylesheet and script, and plotly.js from the installed plotly package."""
    if name not in STATIC:
        raise NotFoundError(f"no static file {name!r}")
    if name == "plotly.min.js":
        import plotly

        where = FilePath(plotly.__file__).parent / "package_data" / name
    else:
        where = HERE / "static" / name
    return FileResponse(
        where, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/signin", dependencies=[Depends(ui_requires(Access.PUBLIC))])
def signin_page(request: Request, next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    """The sign-in form: a user and password, or an API key."""
    return render(request, "signin.html", {"next": _local(next), "error": None})


@router.post("/signin", dependencies=[Depends(ui_requires(Access.PUBLIC))])
def signin(
    request: Request,
    csrf: Csrf,
    user: Annotated[str, Form(max_length=63)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Start a session: a password makes a key for the user, good for a working day."""
    check_csrf(request, csrf)
    accounts = getattr(getattr(request.app.state, "platform", None), "accounts", None)
    authenticator: Authenticator = request.app.state.authenticator
    refused = "unknown user or wrong password"
    try:
        if api_key:
            authenticator.authenticate(api_key.strip())
            key = api_key.strip()
        else:
            if accounts is None or not NAME_PATTERN.fullmatch(user):
                raise UnauthenticatedError(refused)
            if not accounts.check_password(user, password):
                raise UnauthenticatedError(refused)
            _, key = accounts.create_key(
                user,
                label="web UI session",
                expires_at=datetime.now(UTC) + timedelta(hours=SESSION_HOURS),
            )
    except UnauthenticatedError as exc:
        context = {"next": _local(next), "error": str(exc) if api_key else refused}
        return render(request, "signin.html", context, status=401)
    response = RedirectResponse(_local(next), status_code=303)
    set_session(request, response, key)
    return response


@router.post("/signout")
def signout(request: Request, principal: Anyone, csrf: Csrf) -> Response:
    """End the session: its key is revoked when the UI made it."""
    check_csrf(request, csrf)
    platform = getattr(request.app.state, "platform", None)
    if platform is not None and principal is not None and principal.key_id is not None:
        key = platform.accounts.get_key(principal.key_id)
        if key.label == "web UI session":
            platform.accounts.revoke_key(key.id)
            platform.authenticator.forget()
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# Pages ------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, principal: Anyone) -> Response:
    """The projects the caller may open."""
    assert principal is not None
    names = [
        name
        for name in source(request).names(request, principal)
        if _allowed(request, principal, Access.READ, name)
    ]
    return render(request, "home.html", {"projects": names})


@router.get("/projects/{project}")
def project_page(
    request: Request,
    project: ProjectName,
    principal: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The project's groups, views, models and monitors, and search."""
    return show(request, project, principal, "project.html", lambda p: pages.overview(p, q))


@router.get("/projects/{project}/groups/{name}/{version}")
def group_page(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    principal: Reader,
    commit: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> Response:
    """A feature group."""
    return show(
        request,
        project,
        principal,
        "group.html",
        lambda p: pages.feature_group(p, name, version, commit),
    )


@router.get("/projects/{project}/views/{name}/{version}")
def view_page(
    request: Request, project: ProjectName, name: Name, version: Version, principal: Reader
) -> Response:
    """A feature view."""
    return show(
        request, project, principal, "view.html", lambda p: pages.feature_view(p, name, version)
    )


@router.get("/projects/{project}/models/{name}")
def model_page(
    request: Request,
    project: ProjectName,
    name: Name,
    principal: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000_000)] = None,
) -> Response:
    """A model and one of its versions (the latest by default)."""
    return show(request, project, principal, "model.html", lambda p: pages.model(p, name, version))


@router.get("/projects/{project}/models/{name}/{version}/files/{path:path}")
def model_file(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    path: Annotated[str, Path(max_length=1000)],
    principal: Reader,
) -> Response:
    """Download one file of a model version (verified against its manifest as it streams)."""
    opened = source(request).open(request, project)
    model = opened.model_registry.get_model(name, version)
    if path not in model.files():
        raise NotFoundError(f"model {name!r} version {version} has no file {path!r}")
    stream = model.open_file(path)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(1 << 20):
                yield chunk

    filename = quote(path.rsplit("/", 1)[-1])
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


@router.get("/projects/{project}/monitors/{name}")
def monitor_page(request: Request, project: ProjectName, name: Name, principal: Reader) -> Response:
    """A monitor's windows."""
    return show(request, project, principal, "monitor.html", lambda p: pages.monitor(p, name))


@router.get("/projects/{project}/runs")
def runs_page(request: Request, project: ProjectName, principal: Reader) -> Response:
    """The latest pipeline runs."""
    return show(request, project, principal, "runs.html", pages.runs)


# Writes -----------------------------------------------------------------------------------


@router.post("/projects/{project}/models/{name}/{version}/alias")
def set_alias(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    principal: Writer,
    csrf: Csrf,
    alias: Annotated[str, Form(max_length=63)],
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Point an alias at a version through the promotion checks; a refusal shows why."""
    check_csrf(request, csrf)
    where = f"/projects/{project}/models/{name}?version={version}"
    try:
        check_name(alias, "alias")
        opened = source(request).open(request, project)
        opened.model_registry.get_model(name, version).set_alias(alias, force=force)
    except FtiError as exc:  # the checks' refusal, or a store they could not read
        if isinstance(exc, PermissionDeniedError | UnauthenticatedError):
            raise
        refused = {"refused": str(exc), "alias": alias}
        return show(
            request,
            project,
            principal,
            "model.html",
            lambda p: pages.model(p, name, version) | refused,
            status=exc.http_status if exc.http_status < 500 else 503,
        )
    return RedirectResponse(f"{where}&done=alias", status_code=303)


@router.post("/projects/{project}/models/{name}/{version}/tag")
def set_tag(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    principal: Writer,
    csrf: Csrf,
    key: Annotated[str, Form(max_length=63)],
    value: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Set a tag on a model version (a string value)."""
    check_csrf(request, csrf)
    opened = source(request).open(request, project)
    try:
        opened.model_registry.get_model(name, version).set_tag(key, value)
    except (InvalidArgumentError, InvalidNameError) as exc:
        refused = {"refused": str(exc)}
        return show(
            request,
            project,
            principal,
            "model.html",
            lambda p: pages.model(p, name, version) | refused,
            status=exc.http_status,
        )
    return RedirectResponse(
        f"/projects/{project}/models/{name}?version={version}&done=tag", status_code=303
    )


@router.post("/projects/{project}/groups/{name}/{version}/describe")
def describe_feature(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    principal: Writer,
    csrf: Csrf,
    feature: Annotated[str, Form(max_length=63)],
    description: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Describe one feature of a group."""
    check_csrf(request, csrf)
    opened = source(request).open(request, project)
    check_name(feature, "feature name")
    opened.feature_store.get_feature_group(name, version).set_feature_description(
        feature, description
    )
    return RedirectResponse(
        f"/projects/{project}/groups/{name}/{version}?done=description#feature-{feature}",
        status_code=303,
    )


@router.post("/projects/{project}/views/{name}/{version}/datasets/{dataset}/verify")
def verify_dataset(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    dataset: Version,
    principal: Writer,
    csrf: Csrf,
) -> Response:
    """Recompute a training dataset from its pinned commits and compare its digest."""
    check_csrf(request, csrf)
    opened = source(request).open(request, project)
    opened.feature_store.get_feature_view(name, version).verify_training_data(dataset)
    return RedirectResponse(
        f"/projects/{project}/views/{name}/{version}?done=verify#dataset-{dataset}",
        status_code=303,
    )


@router.post("/projects/{project}/views/{name}/{version}/skew-audit")
def skew_audit(
    request: Request,
    project: ProjectName,
    name: Name,
    version: Version,
    principal: Writer,
    csrf: Csrf,
) -> Response:
    """Run a skew audit of the view (online vectors against offline values, 200 keys)."""
    check_csrf(request, csrf)
    opened = source(request).open(request, project)
    opened.feature_store.get_feature_view(name, version).verify_online(sample=200)
    return RedirectResponse(
        f"/projects/{project}/views/{name}/{version}?done=audit#skew", status_code=303
    )


# Helpers ----------------------------------------------------------------------------------


def source(request: Request) -> ProjectSource:
    """The app's project source."""
    found: ProjectSource | None = getattr(request.app.state, "ui_projects", None)
    if found is None:
        raise NotFoundError("this server has no web UI project source")
    return found


def show(
    request: Request,
    project: str,
    principal: Principal | None,
    template: str,
    build: Callable[[Project], dict[str, Any]],
    *,
    status: int = 200,
) -> Response:
    """Render ``template`` with what ``build`` gathers from ``project``; an fti error becomes an
    error page with its status."""
    try:
        context = build(source(request).open(request, project))
    except FtiError as exc:
        error = exc.http_status if exc.http_status < 500 else 503
        return render(request, "error.html", {"project": project, "error": str(exc)}, error)
    context |= {
        "project": project,
        "can_write": _allowed(request, principal, Access.WRITE, project),
    }
    return render(request, template, context, status)


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page, with this browser's CSRF token in its forms and cookie."""
    principal: Principal | None = getattr(request.state, "principal", None)
    context = {
        "csrf": csrf_token(request),
        "user": principal.user if principal else None,
        "signed_in": SESSION_COOKIE in request.cookies,
        "done": request.query_params.get("done"),
        **context,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status)
    keep_csrf(request, response)
    return response


def _allowed(request: Request, principal: Principal | None, access: Access, project: str) -> bool:
    if principal is None:
        return False
    try:
        check(request.app.state.authenticator, principal, access, project)
    except PermissionDeniedError:
        return False
    return True


def _local(target: str) -> str:
    """``target`` if it is a path of this site, else ``/`` (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
