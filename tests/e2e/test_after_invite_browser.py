"""After the invite, in a real browser at 1366x768: Change details, Replace with the right
email, Deactivate (confirmed, naming the provider), Reactivate, and a roster sync with
deactivations; axe-core on each new state. One server for the module's tests, started on each
pytest worker that runs some of them and kept until the worker ends (the run weaves modules
together, tests/conftest.py: a module-scoped server would be stopped and started again)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import violations
from tests.e2e.conftest import start_app, stop_app, wait_for_app_run
from tests.e2e.steps import create_provider, enter_key, go, result_seen, select_first_row

pytestmark = [pytest.mark.browser]
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    from partner_console.sandbox import SandboxApp, SandboxServer

    sandbox = SandboxServer(SandboxApp(rate_per_minute=100_000, seed=31), hang_seconds=1)
    sandbox.start_in_thread()
    app = start_app(tmp_path_factory.mktemp("after"), {"UPHEAL_API_BASE_URL": sandbox.base_url})
    yield app, sandbox.app
    stop_app(app)
    sandbox.shutdown()
    sandbox.server_close()


def read(page) -> str:
    """The page's main text as a person reads it (without the invisible joiners that keep an
    address from becoming a link)."""
    return page.inner_text("main").replace("\u2060", "")


def console(browser, app):
    page = browser.new_page(viewport=LAPTOP)
    page.goto(app.url)
    wait_for_app_run(page)
    enter_key(page, "sandbox-demo-key")
    return page


def open_details(page, text: str, name: str) -> None:
    """History, searched for `text`, with the first row's details open."""
    go(page, "History", "provider(s) · page")
    box = page.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    wait_for_app_run(page)
    select_first_row(page, page.get_by_role("heading", name=name))
    wait_for_app_run(page)


def test_change_details_then_deactivate_and_reactivate(browser, served, tmp_path):
    app, sandbox = served
    page = console(browser, app)
    create_provider(page, "Chloe", "Change", "chloe.change@example.com")
    result_seen(page)
    open_details(page, "chloe", "Chloe Change")
    page.get_by_role("button", name="Change details").click()
    form = page.locator(".st-key-pa_change_" + str(_row_id(page, app)))
    # (the form's container appears before its last fields are drawn: wait for the sentence)
    expect(form).to_contain_text("does not let a provider's email or phone number be changed")
    expect(form.get_by_role("textbox", name="Email")).to_be_disabled()
    form.get_by_role("textbox", name="NPI", exact=False).fill("1234567893")
    form.get_by_role("textbox", name="Licence", exact=False).fill("LCSW")
    form.get_by_role("textbox", name="Licence", exact=False).press("Tab")
    wait_for_app_run(page)
    page.screenshot(path=str(tmp_path / "change-form.png"), full_page=True)
    assert violations(page, "change details") == []
    form.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved in Upheal: NPI, licence.").wait_for()
    user = next(u for u in sandbox.users() if u["email"] == "chloe.change@example.com")
    assert (user["nationalProviderIdentifier"], user["therapyLicence"]) == ("1234567893", "LCSW")
    assert "firstName" in user and user["firstName"] == "Chloe"

    page.get_by_role("button", name="Deactivate", exact=True).click()
    confirm = page.get_by_role("button", name="Yes, deactivate Chloe Change")
    confirm.wait_for()
    wait_for_app_run(page)  # (a running page fades what it will redraw: not a colour to judge)
    assert "Deactivate Chloe Change (chloe.change@example.com) in Upheal?" in read(page)
    assert violations(page, "deactivate confirmation") == []
    confirm.click()
    page.get_by_text("is deactivated in Upheal").first.wait_for()
    assert sandbox.is_deactivated("chloe.change@example.com")
    page.get_by_role("button", name="Reactivate").wait_for()
    wait_for_app_run(page)
    assert "Deactivated in Upheal on" in read(page) and "· Deactivated ·" in read(page)
    page.screenshot(path=str(tmp_path / "deactivated.png"), full_page=True)
    assert violations(page, "deactivated") == []
    page.get_by_role("button", name="Reactivate").click()
    page.get_by_text("is active in Upheal again").wait_for()
    assert not sandbox.is_deactivated("chloe.change@example.com")
    from partner_console.storage import make_engine
    from partner_console.storage.activity import Activity, ActivityFilter
    from partner_console.storage.scope import Scope

    engine = make_engine(f"sqlite:///{app.data_dir / 'console.db'}")
    entries = Activity(engine).page(Scope("", (_org(sandbox),)), ActivityFilter(), None, 20)
    actions = [e.action for e in entries.entries]
    engine.dispose()
    assert actions[:3] == ["reactivated", "deactivated", "changed"]
    page.close()


def test_replace_a_mistyped_email(browser, served, tmp_path):
    app, sandbox = served
    page = console(browser, app)
    create_provider(page, "Rita", "Replace", "rita@gmial-example.com")
    result_seen(page)
    open_details(page, "rita", "Rita Replace")
    page.get_by_role("button", name="Replace with the right email").click()
    box = page.get_by_role("textbox", name="The right email")
    box.fill("rita@example.com")
    box.press("Enter")
    page.get_by_role("button", name="Yes, replace the email").wait_for()
    wait_for_app_run(page)
    assert "Deactivate rita@gmial-example.com and create rita@example.com" in read(page)
    assert violations(page, "replace") == []
    page.get_by_role("button", name="Yes, replace the email").click()
    page.get_by_text("was created in Upheal with Rita Replace's details").wait_for()
    assert sandbox.is_deactivated("rita@gmial-example.com")
    emails = [u["email"] for u in sandbox.users() if u["firstName"] == "Rita"]
    assert sorted(emails) == ["rita@example.com", "rita@gmial-example.com"]
    page.screenshot(path=str(tmp_path / "replaced.png"), full_page=True)
    page.close()


def test_a_roster_sync_with_deactivations(browser, served, tmp_path):
    app, sandbox = served
    page = console(browser, app)
    for n in range(5):
        create_provider(page, f"Rosa{n}", "Roster", f"rosa{n}@example.com")
        result_seen(page)
    roster = tmp_path / "roster.csv"
    roster.write_text("First name,Last name,Email,NPI\n"
                      "Rosa0,Roster,rosa0@example.com,1234567893\n"
                      "Rosa1,Roster,rosa1@example.com,\n"
                      "Rosa2,Roster,rosa2@example.com,\n"
                      "Nell,New,nell.new@example.com,\n", encoding="utf-8")
    go(page, "Roster sync", "1. Upload the roster")
    page.locator("input[type=file]").set_input_files(str(roster))
    page.get_by_text("3. Check the changes").wait_for(timeout=30_000)
    wait_for_app_run(page)
    main = page.get_by_role("main")
    assert "Not in the file" in main.inner_text()
    page.get_by_text("Deactivate the").first.click()  # the checkbox's label
    # Ticked, the page either questions the number or offers to apply the deactivations (the
    # Apply button shown before the tick says nothing of deactivating).
    page.get_by_text("This looks wrong").or_(page.get_by_role(
        "button", name=re.compile(r"to deactivate\)"))).first.wait_for()
    wait_for_app_run(page)
    body = main.inner_text()
    if "This looks wrong" in body:  # (the other tests' providers count among the missing)
        count = body.split("to go on")[0].rsplit("(", 1)[1].split(")")[0]
        page.get_by_role("textbox", name="Number of providers to deactivate").fill(count)
        page.get_by_role("textbox", name="Number of providers to deactivate").press("Enter")
        wait_for_app_run(page)
    page.screenshot(path=str(tmp_path / "roster-preview.png"), full_page=True)
    assert violations(page, "roster preview") == []
    page.get_by_role("button", name=re.compile(r"^Apply changes .*to deactivate\)")).click()
    page.get_by_role("button", name="Yes, apply the changes").click()
    # (the heading: "finished" is also in the caption shown while the sync runs)
    page.get_by_role("heading", name=re.compile(r"^Roster sync \d+: Finished")).wait_for(
        timeout=60_000)
    wait_for_app_run(page)
    assert sandbox.is_deactivated("rosa3@example.com") and sandbox.is_deactivated(
        "rosa4@example.com")
    assert not sandbox.is_deactivated("rosa1@example.com")
    users = {u["email"]: u for u in sandbox.users()}
    assert users["rosa0@example.com"]["nationalProviderIdentifier"] == "1234567893"
    assert "nell.new@example.com" in users
    page.screenshot(path=str(tmp_path / "roster-results.png"), full_page=True)
    assert violations(page, "roster results") == []
    page.close()


def _org(sandbox) -> str:
    from partner_console.sandbox import SANDBOX_KEYS

    return SANDBOX_KEYS["sandbox-demo-key"].organization_id


def _row_id(page, app) -> int:
    """The id of the provider whose details are open (from the form's container key)."""
    classes = page.locator("[class*='st-key-pa_buttons_']").first.get_attribute("class") or ""
    return int(next(c for c in classes.split() if c.startswith("st-key-pa_buttons_"))
               .rsplit("_", 1)[1])


