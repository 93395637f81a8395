"""The web UI in Debian's Chromium: every page of the flights project renders with no console
error and no failed request and passes axe-core with no serious violation (a screenshot of each
in tests/screenshots/); search, the lineage graph and the writes work as a person uses them;
under fti server, roles decide what a person sees and may do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flights_project import MODEL, MONITOR, PASSWORDS, PROJECT, SCREENSHOTS, VIEW, Served

P = f"/projects/{PROJECT}"
PAGES = {
    "project": P,
    "search": f"{P}?q=temperature",
    "group_flights": f"{P}/groups/flights/1",
    "group_weather": f"{P}/groups/weather/1",
    "view": f"{P}/views/{VIEW}/1",
    "model": f"{P}/models/{MODEL}",
    "monitor": f"{P}/monitors/{MONITOR}",
    "runs": f"{P}/runs",
}
VIEW_GROUPS = ["flights", "weather", "carrier_delays", "aircraft_history", "planes"]


class Watched:
    """A page whose console errors and failed requests are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"),
        )

    def open(self, url: str) -> Any:
        answer = self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        return answer


@pytest.fixture
def tab(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page())
    context.close()


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_cleanly_and_accessibly(
    local_ui: Served, tab: Watched, name: str
) -> None:
    answer = tab.open(local_ui.url + PAGES[name])
    assert answer.status == 200
    assert tab.page.locator("h1").count() == 1
    for chart in tab.page.locator(".chart").all():
        assert chart.locator(".main-svg").count() > 0, "a chart was not drawn"
    SCREENSHOTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert tab.problems == []
    assert serious_violations(tab.page) == []


def test_search_finds_a_feature_by_its_description_from_the_keyboard(
    local_ui: Served, tab: Watched
) -> None:
    tab.open(local_ui.url + P)
    tab.page.get_by_label("Search features, groups, views and models").fill("great-circle")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_load_state("networkidle")
    results = tab.page.locator("table.results")
    assert "distance (flights v1)" in results.inner_text()
    results.get_by_role("link", name=re.compile("distance")).click()
    tab.page.wait_for_load_state("networkidle")
    assert "/groups/flights/1" in tab.page.url
    assert tab.page.locator("#feature-distance").is_visible()
    assert tab.problems == []


def test_the_lineage_graph_shows_the_dataset_and_every_group_of_the_view(
    local_ui: Served, tab: Watched
) -> None:
    tab.open(f"{local_ui.url}{P}/models/{MODEL}")
    graph = tab.page.locator("svg.graph")
    assert graph.count() == 1, "one graph on the model page"
    nodes = {n.get_attribute("data-node") for n in graph.locator("[data-node]").all()}
    assert {"model", "dataset", "view"} <= nodes
    for group in VIEW_GROUPS:
        assert f"group-{group}-1" in nodes and f"commit-{group}-1" in nodes
    assert "training dataset 1" in (graph.text_content() or "")
    graph.locator('[data-node="dataset"]').click()
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.locator("#dataset-1").is_visible()


def sign_in(tab: Watched, url: str, user: str) -> None:
    tab.open(f"{url}/signin")
    tab.page.get_by_label("User").fill(user)
    tab.page.get_by_label("Password").fill(PASSWORDS[user])
    tab.page.get_by_role("button", name="Sign in", exact=True).click()
    tab.page.wait_for_load_state("networkidle")


def test_signing_in_is_needed_and_a_wrong_password_is_refused(
    team_ui: Served, tab: Watched
) -> None:
    tab.open(f"{team_ui.url}{P}")
    assert "/signin" in tab.page.url
    tab.page.get_by_label("User").fill("ed")
    tab.page.get_by_label("Password").fill("not the password")
    tab.page.get_by_role("button", name="Sign in", exact=True).click()
    assert "wrong password" in tab.page.locator(".error").inner_text()
    cookies = {c["name"]: c for c in tab.page.context.cookies()}
    assert "fti_session" not in cookies


def move_alias(tab: Watched, url: str, alias: str) -> None:
    tab.open(f"{url}{P}/models/{MODEL}")
    tab.page.get_by_label("Point alias").fill(alias)
    tab.page.get_by_role("button", name="Move alias").click()
    tab.page.wait_for_load_state("networkidle")


def test_moving_an_alias_in_fti_ui(local_ui: Served, tab: Watched) -> None:
    move_alias(tab, local_ui.url, "staging")
    assert "the alias was moved" in tab.page.locator(".notice").inner_text()
    assert "staging → v1" in tab.page.inner_text("main")
    history = tab.page.locator("#aliases-h ~ table").first.inner_text()
    assert "staging" in history


def test_an_editor_signs_in_and_writes(team_ui: Served, tab: Watched) -> None:
    sign_in(tab, team_ui.url, "ed")
    session = {c["name"]: c for c in tab.page.context.cookies()}["fti_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    tab.open(f"{team_ui.url}{P}/models/{MODEL}")
    tab.page.get_by_label("Tag").fill("reviewed_by")
    tab.page.get_by_label("Value").fill("ed in the browser")
    tab.page.get_by_role("button", name="Set tag").click()
    tab.page.wait_for_load_state("networkidle")
    assert "the tag was set" in tab.page.locator(".notice").inner_text()
    assert "ed in the browser" in tab.page.inner_text("main")
    SCREENSHOTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / "model_as_editor.png"), full_page=True)


def test_an_editor_moves_an_alias_under_fti_server(team_ui: Served, tab: Watched) -> None:
    sign_in(tab, team_ui.url, "ed")
    move_alias(tab, team_ui.url, "candidate")
    assert "the alias was moved" in tab.page.locator(".notice").inner_text()
    assert "candidate → v1" in tab.page.inner_text("main")
    assert tab.problems == []


def test_every_page_renders_under_fti_server_through_the_remote_stores(
    team_ui: Served, tab: Watched
) -> None:
    sign_in(tab, team_ui.url, "vic")
    for name, path in PAGES.items():
        answer = tab.open(team_ui.url + path)
        assert answer.status == 200, name
        assert tab.page.locator(".error").count() == 0, (name, tab.page.inner_text("main"))
    assert tab.problems == []


def test_a_viewer_sees_no_write_and_a_write_is_refused(team_ui: Served, tab: Watched) -> None:
    sign_in(tab, team_ui.url, "vic")
    tab.open(f"{team_ui.url}{P}/models/{MODEL}")
    assert tab.page.get_by_role("button", name="Move alias").count() == 0
    assert tab.page.locator("form[action$='/alias']").count() == 0
    csrf = tab.page.locator("input[name=csrf]").first.get_attribute("value")
    answer = tab.page.request.post(
        f"{team_ui.url}{P}/models/{MODEL}/1/alias",
        form={"alias": "production", "csrf": csrf or ""},
    )
    assert answer.status == 403


def test_a_user_of_another_project_sees_nothing_of_it(team_ui: Served, tab: Watched) -> None:
    sign_in(tab, team_ui.url, "otto")
    assert PROJECT not in tab.page.inner_text("main")
    answer = tab.open(f"{team_ui.url}{P}")
    assert answer.status == 403
    assert MODEL not in tab.page.content()
