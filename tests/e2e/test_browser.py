"""The Create provider flow in a real browser, as staff use it."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import start_app, stop_app, wait_for_app_run
from tests.e2e.steps import result_seen, select_first_row

pytestmark = [pytest.mark.browser]


@pytest.fixture
def app_on_loopback_sandbox(tmp_path, loopback_sandbox):
    """The console talking over a real socket to a sandbox this test can inspect."""
    app = start_app(tmp_path, {"UPHEAL_API_BASE_URL": loopback_sandbox.base_url})
    yield app, loopback_sandbox.app
    stop_app(app)


def test_enter_key_create_provider_see_both_links_double_click_makes_one(
        browser, app_on_loopback_sandbox, tmp_path):
    app, sandbox = app_on_loopback_sandbox
    sandbox.faults.latency_ms = 400  # the second click lands while the first is in its call
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(app.url)
    wait_for_app_run(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert "Connected to Upheal at" in sidebar.inner_text()

    # The name first: typed into the box while the key's run redraws the sidebar, it could
    # land in an element about to be replaced (a flaky test, not a lost name); it must also
    # outlive the key's entry.
    sidebar.get_by_role("textbox", name="Your name", exact=True).fill("Olivia Operations")
    sidebar.get_by_role("textbox", name="Your name", exact=True).press("Enter")
    wait_for_app_run(page)
    key_box = sidebar.get_by_role("textbox", name="API key", exact=True)
    key_box.fill("sandbox-demo-key")
    key_box.press("Enter")
    page.get_by_text("API key accepted").wait_for()
    # The key box goes once the run ends (stale elements linger while it runs).
    expect(page.get_by_role("textbox", name="API key", exact=True)).to_have_count(0)
    expect(sidebar.get_by_role("textbox", name="Your name", exact=True)).to_have_value(
        "Olivia Operations")

    page.get_by_role("textbox", name="First name", exact=True).fill("Jane")
    page.get_by_role("textbox", name="Last name", exact=True).fill("Smith")
    page.get_by_role("textbox", name="Email", exact=True).fill("jane.smith@example.com")
    page.get_by_role("textbox", name="Email", exact=True).press("Tab")
    wait_for_app_run(page)
    page.get_by_role("button", name="Create provider").dblclick()
    result_seen(page)

    assert page.get_by_role("textbox", name="First name", exact=True).input_value() == ""
    users = sandbox.users()
    assert len(users) == 1  # a double click made one provider
    page.locator("code", has_text=users[0]["privateRoomLink"]).first.wait_for()
    body = page.inner_text("body")
    assert users[0]["inviteUrl"] in body and users[0]["privateRoomLink"] in body
    page.screenshot(path=str(tmp_path / "created.png"), full_page=True)

    with sqlite3.connect(app.data_dir / "console.db") as db:
        rows = db.execute("select status, invite_url, created_by from providers").fetchall()
    assert rows == [("created", users[0]["inviteUrl"], "Olivia Operations")]
    assert "sandbox-demo-key" not in page.url

    # History: the row, its details with both links, and both downloads.
    page.get_by_role("link", name="History").click()
    page.get_by_text("1 provider(s) · page 1 of 1").wait_for()
    wait_for_app_run(page)
    select_first_row(page, page.get_by_role("heading", name="Jane Smith"))
    page.locator("code", has_text=users[0]["privateRoomLink"]).first.wait_for()
    wait_for_app_run(page)
    details = page.get_by_test_id("stVerticalBlock").filter(
        has=page.get_by_role("heading", name="Jane Smith")).last.inner_text()
    assert users[0]["inviteUrl"] in details and users[0]["privateRoomLink"] in details
    for label, suffix in (("Download CSV", ".csv"), ("Download Excel", ".xlsx")):
        with page.expect_download() as info:
            page.get_by_role("button", name=label).click()
        download = info.value
        target = tmp_path / ("export" + suffix)
        download.save_as(target)
        assert download.suggested_filename.endswith(suffix)
        frame = (pd.read_csv(target, dtype=str, encoding="utf-8-sig") if suffix == ".csv"
                 else pd.read_excel(target, dtype=str, engine="calamine"))
        assert frame["Invite link"].tolist() == [users[0]["inviteUrl"]]
        assert "sandbox-demo-key" not in target.read_bytes().decode("latin-1")
    page.close()


def test_a_name_that_looks_like_a_link_never_becomes_one(browser, app_on_loopback_sandbox):
    """Issue 11: a bare web address in a name became a live link in the result panel, the
    toast and the History heading. Links appear only where the console means one."""
    from urllib.parse import unquote

    from tests.e2e.steps import create_provider, enter_key, go, result_seen

    app, sandbox = app_on_loopback_sandbox
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(app.url)
    wait_for_app_run(page)
    enter_key(page, "sandbox-demo-key")
    create_provider(page, "https://evil.example/phish", "www.evil.example", "mary@evil.example")
    result_seen(page)
    page.get_by_role("link", name="Open in email app").wait_for()
    wait_for_app_run(page)
    user = sandbox.users()[0]

    def hrefs() -> list[str]:
        return [unquote(a.get_attribute("href") or "") for a in page.locator("main a").all()]

    def unmeant(found: list[str]) -> list[str]:
        meant = {user["inviteUrl"], user["privateRoomLink"]}
        return [h for h in found if "evil.example" in h and h not in meant
                and not h.startswith("mailto:mary@evil.example?")]  # "Open in email app"

    assert unmeant(hrefs()) == []
    assert any(h.startswith("mailto:mary@evil.example?") for h in hrefs())  # the one meant
    go(page, "History", "1 provider(s) · page 1 of 1")
    select_first_row(page, page.get_by_text("Ready-to-send email"))
    wait_for_app_run(page)
    assert "https://evil.example/phish" in page.inner_text("main").replace("\u2060", "")
    assert unmeant(hrefs()) == []
    page.close()
