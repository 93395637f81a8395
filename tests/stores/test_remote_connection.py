"""A project through fti server with API keys on: the key's role decides what the same SDK
calls may do, refusals are the fti errors of the embedded mode, the key never shows, and the
command line takes the same settings (``FTI_URL``, ``FTI_API_KEY``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from typer.testing import CliRunner

import fti
from fti.cli.main import app
from fti.errors import NotFoundError, PermissionDeniedError, StoreError, UnauthenticatedError
from fti.server.platform.deps import Platform
from fti.stores.server_client import ServerClient
from support.remote_stores import LiveServer, server_settings
from support.tcp_proxy import proxied

ROWS = pd.DataFrame(
    {
        "city": ["oslo", "rome"],
        "t": pd.to_datetime(["2024-01-01", "2024-01-01"], utc=True),
        "temp": [-3.0, 12.5],
    }
)

CLASSIFIER = DummyClassifier(strategy="constant", constant=1).fit([[0.0], [1.0]], [0, 1])


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with keys on, and the keys of olga (owner of p), eddie (editor), vera
    (viewer), otto (owner of q only)."""
    server = LiveServer(server_settings(tmp_path_factory.mktemp("team")), auth=True)
    platform: Platform = server.app.state.platform
    accounts = platform.accounts
    accounts.bootstrap("root")
    for name in ("olga", "eddie", "vera", "otto"):
        accounts.create_user(name)
    accounts.create_project("p", "olga", created_by="root")
    accounts.create_project("q", "otto", created_by="root")
    accounts.set_member("p", "eddie", "editor")
    accounts.set_member("p", "vera", "viewer")
    keys = {name: accounts.create_key(name)[1] for name in ("olga", "eddie", "vera", "otto")}
    yield server.url, keys
    server.stop()


def test_each_role_does_what_it_may_through_the_same_sdk(
    team: tuple[str, dict[str, str]],
) -> None:
    url, keys = team
    with fti.connect(url, "p", api_key=keys["eddie"]) as editor:
        fs = editor.feature_store
        temps = fs.create_feature_group("temps", primary_key=["city"], event_time="t")
        temps.insert(ROWS)
        view = fs.create_feature_view("temps_view", query=temps.select_all())
        assert view.get_feature_vector({"city": "rome"}, return_type="dict")["temp"] == 12.5
        model = editor.model_registry.create_model("m").save(CLASSIFIER)
        # Deleting is an owner's.
        with pytest.raises(PermissionDeniedError, match="this needs a owner"):
            model.delete()

    with fti.connect(url, "p", api_key=keys["vera"]) as viewer:
        group = viewer.feature_store.get_feature_group("temps")
        assert sorted(group.read()["city"]) == ["oslo", "rome"]
        assert viewer.model_registry.get_model("m").load().predict([[0.0]]).tolist() == [1]
        with pytest.raises(PermissionDeniedError, match="'vera' is a viewer"):
            group.insert(ROWS)
        with pytest.raises(PermissionDeniedError):
            viewer.model_registry.create_model("n").save(CLASSIFIER)

    with (
        fti.connect(url, "p", api_key=keys["otto"]) as outsider,
        pytest.raises(PermissionDeniedError, match="not a member of project 'p'"),
    ):
        outsider.feature_store.get_feature_group("temps")

    with fti.connect(url, "p", api_key=keys["olga"]) as owner:
        owner.model_registry.get_model("m").delete()
        owner.feature_store.get_feature_group("temps").delete()
        assert owner.feature_store.list_feature_groups() == []


def test_a_missing_or_wrong_key_is_unauthenticated_and_never_shown(
    team: tuple[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    url, keys = team
    caplog.set_level(logging.DEBUG)
    with fti.connect(url, "p") as anonymous, pytest.raises(UnauthenticatedError):
        anonymous.model_registry.list_models()
    wrong = keys["olga"][:-4] + "AAAA"
    with fti.connect(url, "p", api_key=wrong) as project:
        with pytest.raises(UnauthenticatedError) as refused:
            project.model_registry.list_models()
        shown = [repr(project), repr(project.settings), str(refused.value), caplog.text]
        shown += [repr(project.metadata_store), repr(project.online_store)]
    assert not [text for text in shown if wrong in text or keys["olga"] in text]


def test_opening_without_create_needs_a_project_the_key_may_use(
    team: tuple[str, dict[str, str]],
) -> None:
    url, keys = team
    with fti.connect(url, "p", api_key=keys["vera"], create=False) as viewer:
        # Opened, and the viewer's key reads p (an error would fail the test).
        assert viewer.name == "p"
        viewer.model_registry.list_models()

    # As embedded (tests/cli/test_context.py): NotFoundError listing the projects there are,
    # those the key may use.
    for who, project, listed in [("eddie", "nope", "p"), ("otto", "p", "q")]:
        with pytest.raises(
            NotFoundError, match=rf"project '{project}' does not exist .*projects there: {listed} "
        ):
            fti.connect(url, project, api_key=keys[who], create=False)


def test_an_unreachable_server_is_a_store_error_naming_it(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # discard: nothing answers
    with (
        fti.connect(url, "p", api_key="fti_secret_key") as project,
        pytest.raises(
            StoreError, match=r"cannot reach the fti server at http://127\.0\.0\.1:9"
        ) as failed,
    ):
        project.model_registry.list_models()
    assert "fti_secret_key" not in str(failed.value)


def test_the_command_line_takes_the_server_from_the_environment(
    team: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, keys = team
    with fti.connect(url, "p", api_key=keys["eddie"]) as editor:
        editor.model_registry.create_model("cli_model").save(CLASSIFIER)
    env = {"FTI_URL": url, "FTI_API_KEY": keys["vera"], "COLUMNS": "200"}

    listed = CliRunner().invoke(
        app, ["--home", str(tmp_path / "empty"), "--project", "p", "models", "list"], env=env
    )

    assert listed.exit_code == 0, listed.output
    assert "cli_model" in listed.output
    assert not (tmp_path / "empty" / "metadata.db").exists()


def test_documents_over_the_json_limit_are_stored(team: tuple[str, dict[str, str]]) -> None:
    # The statistics of a group of 1,000 columns are about 1.8 MB of JSON.
    url, keys = team
    body = {"columns": {f"c{i}": "x" * 2_000 for i in range(1_000)}}
    with fti.connect(url, "p", api_key=keys["eddie"]) as project:
        store = project.metadata_store
        made = store.create("feature_group", "p", "wide", None, body)
        store.add_record("feature_group", "p", "wide", made.version, "statistics", "0", body)
        assert (
            store.records("feature_group", "p", "wide", made.version, "statistics")[0].body == body
        )


@pytest.mark.parametrize(
    ("who", "path", "refused"),
    [
        ("olga", "/api/v1/projects/p", None),
        ("olga", "/api/v1/projects/p/online/p__nope__v1/watermark", None),
        ("wrong", "/api/v1/projects/p", UnauthenticatedError),
        ("otto", "/api/v1/projects/p", PermissionDeniedError),
        ("olga", "/api/v1/projects/p/models/nope", NotFoundError),
    ],
)
def test_the_serving_read_answers_as_any_request(
    team: tuple[str, dict[str, str]], who: str, path: str, refused: type[Exception] | None
) -> None:
    url, keys = team
    key = keys.get(who, "fti_not_a_key")
    client = ServerClient(url, key)
    try:
        if refused is None:
            assert client.get(path) == client.request("GET", path).content
            return
        with pytest.raises(refused) as by_get:
            client.get(path)
        with pytest.raises(refused) as by_request:
            client.request("GET", path)
        assert str(by_get.value) == str(by_request.value)
        assert key not in str(by_get.value)
    finally:
        client.close()


def test_the_serving_read_survives_a_dropped_connection_and_names_a_cut_one(
    team: tuple[str, dict[str, str]],
) -> None:
    url, keys = team
    with proxied(url) as proxy:
        client = ServerClient(proxy.url, keys["olga"])
        try:
            first = client.get("/api/v1/projects/p")
            proxy.cut()
            proxy.restore()
            # The kept-alive connection was dropped: the read goes again on a new one.
            assert client.get("/api/v1/projects/p") == first
            assert proxy.connections == 2
            proxy.cut()
            with pytest.raises(StoreError, match=f"cannot reach the fti server at {proxy.url}"):
                client.get("/api/v1/projects/p")
        finally:
            client.close()
