"""A platform partner in a real browser at 1366x768: add a practice (a half-filled one refused
under its field), pick it on the Create provider form, create; History names the practice; the
same person created in the key's own organisation is said to be in both. axe-core finds nothing
on the Practices page."""

from __future__ import annotations

import pytest

from partner_console.sandbox import SANDBOX_KEYS, SandboxApp, SandboxServer
from tests.e2e.a11y import violations
from tests.e2e.conftest import start_app, stop_app, wait_for_app_run
from tests.e2e.steps import (
    create_provider,
    enter_key,
    go,
    result_seen,
    select_first_row,
    textbox,
)

pytestmark = [pytest.mark.browser]
NORTH = SANDBOX_KEYS["sandbox-platform-key"].practices[0][0]
OWN = SANDBOX_KEYS["sandbox-platform-key"].organization_id


@pytest.fixture
def served(tmp_path):
    sandbox = SandboxServer(SandboxApp(rate_per_minute=100_000, seed=47), hang_seconds=1)
    sandbox.start_in_thread()
    app = start_app(tmp_path, {"UPHEAL_API_BASE_URL": sandbox.base_url})
    yield app, sandbox.app
    stop_app(app)
    sandbox.shutdown()
    sandbox.server_close()


def test_add_a_practice_pick_it_and_create_there(browser, served, tmp_path):
    app, sandbox = served
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(app.url)
    wait_for_app_run(page)
    enter_key(page, "sandbox-platform-key")
    go(page, "Practices", "Add a practice")
    assert "(this key's own)" in page.get_by_role("main").inner_text()
    textbox(page, "Name").fill("Northside Therapy")
    textbox(page, "Name").press("Tab")
    wait_for_app_run(page)
    page.get_by_role("button", name="Add practice").click()
    page.get_by_text("Paste the practice's organisation id from Upheal").wait_for()
    textbox(page, "Organisation id").fill(NORTH)
    textbox(page, "Organisation id").press("Tab")
    wait_for_app_run(page)
    page.get_by_role("button", name="Add practice").click()
    page.get_by_text("Added “Northside Therapy”.").wait_for()
    wait_for_app_run(page)
    page.screenshot(path=str(tmp_path / "practices.png"), full_page=True)
    assert violations(page, "practices") == []

    go(page, "Create provider", "First name")
    practice = page.get_by_role("combobox", name="Practice")
    practice.click()
    page.get_by_role("option", name="Northside Therapy").click()
    wait_for_app_run(page)
    create_provider(page, "Nora", "North", "nora.north@example.com")
    result_seen(page)
    assert [u["email"] for u in sandbox.users(NORTH)] == ["nora.north@example.com"]
    go(page, "History", "provider(s) · page")
    select_first_row(page, page.get_by_role("heading", name="Nora North"))
    wait_for_app_run(page)
    assert "in Northside Therapy" in page.get_by_role("main").inner_text()
    go(page, "Create provider", "First name")  # remembered for the session
    page.screenshot(path=str(tmp_path / "remembered.png"), full_page=True)
    picker = page.locator(".st-key-cp_practice")
    assert "Northside Therapy" in (picker.text_content() or "") + " ".join(
        picker.locator("input").evaluate_all("(boxes) => boxes.map((b) => b.value)"))

    # The same person in the key's own organisation (never learned: the key has only created
    # in a practice): created there too, and the result says they are in both.
    page.get_by_role("combobox", name="Practice").click()
    page.get_by_role("option", name="(this key's own)").click()
    wait_for_app_run(page)
    create_provider(page, "Nora", "North", "nora.north@example.com")
    result_seen(page)
    also = page.get_by_text("Also a provider in Northside Therapy")
    also.wait_for()
    also.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "also-in.png"))
    assert [u["email"] for u in sandbox.users(OWN)] == ["nora.north@example.com"]
    assert len(sandbox.users(NORTH)) == 1
    page.close()
