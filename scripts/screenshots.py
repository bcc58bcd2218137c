"""Take the README's screenshots (1280x800) of every page, on the sandbox.

    .venv/bin/python scripts/screenshots.py [output folder]    (default docs/screenshots)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.conftest import (  # noqa: E402
    launch_chromium,
    start_app,
    stop_app,
    wait_for_app_run,
)
from tests.e2e.steps import enter_key, go, open_first_waiting  # noqa: E402


def upload(page, name: str, text: str, step: str) -> None:
    """Upload `text` as a file called `name` and wait for the page's `step` to show it."""
    path = Path(tempfile.mkdtemp()) / name
    path.write_text(text, encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text(step).wait_for()
    wait_for_app_run(page)
    page.get_by_text(step).evaluate("e => e.scrollIntoView({block: 'start'})")  # (at the top)


def add_entry(page, id_label: str, name: str, value: str, button: str,
              tick: str | None = None) -> None:
    """Fill a catalog's add form (Name and its id), optionally tick a box, and add it."""
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    box = page.get_by_role("textbox", name=id_label, exact=True)
    box.fill(value)
    box.press("Tab")
    wait_for_app_run(page)
    if tick:
        page.get_by_text(tick).click()
        wait_for_app_run(page)
    page.get_by_role("button", name=button).click()
    page.get_by_text(f"Added “{name}”").wait_for()
    wait_for_app_run(page)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    app = start_app(Path(tempfile.mkdtemp()), {"SANDBOX_SIGNUP_AFTER_SECONDS": "1"})
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(app.url)
            wait_for_app_run(page)
            page.get_by_text("Template ID not in your list").wait_for()
            page.screenshot(path=str(out / "start.png"))
            page.get_by_role("button", name="Use the practice key").click()
            wait_for_app_run(page)
            name = page.get_by_role("textbox", name="Your name", exact=True)
            name.fill("Olivia Operations")
            name.press("Enter")
            wait_for_app_run(page)
            for label, value in (("First name", "Jane"), ("Last name", "Smith"),
                                 ("Email", "jane.smith@example.com")):
                box = page.get_by_role("textbox", name=label, exact=True)
                box.fill(value)
                box.press("Tab")
                wait_for_app_run(page)
            page.screenshot(path=str(out / "create-provider.png"))
            page.get_by_role("button", name="Create provider").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("was created in Upheal").wait_for()
            wait_for_app_run(page)
            page.wait_for_timeout(500)  # the dialog's opening animation
            page.screenshot(path=str(out / "created.png"))
            dialog.get_by_role("button", name="Back to the form").click()
            dialog.wait_for(state="detached")
            go(page, "History", "provider(s) · page")
            grid = page.get_by_test_id("stDataFrame").bounding_box()
            assert grid is not None
            page.mouse.click(grid["x"] + 16, grid["y"] + 54)  # the row's selection checkbox
            page.get_by_role("heading", name="Jane Smith").wait_for()
            wait_for_app_run(page)
            page.screenshot(path=str(out / "history.png"))
            page.get_by_text("What was sent to Upheal").click()
            wait_for_app_run(page)
            page.locator(".st-key-hi_details").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "history-details.png"))
            page.get_by_role("button", name="Change details").click()
            page.get_by_role("button", name="Save changes").wait_for()
            page.get_by_role("textbox", name="NPI").fill("1234567893")
            page.get_by_role("textbox", name="Therapy licence").fill("LCSW")
            page.get_by_role("textbox", name="Therapy licence").press("Tab")
            wait_for_app_run(page)
            page.locator("[class*='st-key-pa_change_']").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "change-details.png"))
            go(page, "Bulk import", "2. Upload your file")
            upload(page, "practice.csv", "First Name;Surname;E-mail;NPI;Department\n" + "".join(
                f"Provider{i};Example;provider{i}@example.com;1234567893;Adults\n"
                for i in range(8)) + "Bad;Row;not-an-email;123;Kids\n", "4. Check the rows")
            page.screenshot(path=str(out / "bulk-preview.png"))
            page.get_by_role("button", name="Start import of 8 provider(s)").click()
            page.get_by_role("button", name="Yes, start the import").click()
            page.get_by_text("Finished").first.wait_for()
            wait_for_app_run(page)
            page.wait_for_timeout(800)  # let the progress bar finish its animation
            page.screenshot(path=str(out / "bulk-results.png"))
            go(page, "Roster sync", "1. Upload the roster")
            upload(page, "roster.csv", "First Name;Surname;E-mail;Licence\n" + "".join(
                f"Provider{i};Example;provider{i}@example.com;{'PsyD' if i < 2 else ''}\n"
                for i in range(6)) + "Nina;New;nina.new@example.com;LCSW\n",
                "3. Check the changes")
            page.screenshot(path=str(out / "roster-preview.png"))
            go(page, "Note templates", "Add a template")
            add_entry(page, "Template ID", "Intake", "2fb81b0a-611b-11ed-9b6a-0242ac120002",
                      "Add template", tick="Preselect it for every new provider")
            add_entry(page, "Template ID", "Progress note",
                      "d290f1ee-6c54-4b01-90e6-d701748f0852", "Add template")
            page.screenshot(path=str(out / "note-templates.png"))
            page.get_by_role("button", name="Forget key").click()
            wait_for_app_run(page)
            enter_key(page, "sandbox-platform-key")
            go(page, "Practices", "Add a practice")
            for name, org_id in (("Northside Therapy", "5a4d0b7e-0000-4000-8000-0000000000a1"),
                                 ("Lakeside Counselling",
                                  "5a4d0b7e-0000-4000-8000-0000000000a2")):
                add_entry(page, "Organisation id", name, org_id, "Add practice")
            page.screenshot(path=str(out / "practices.png"))
            page.get_by_role("button", name="Forget key").click()
            wait_for_app_run(page)
            page.get_by_role("button", name="Use the practice key").click()
            wait_for_app_run(page)
            page.get_by_role("link", name="Email texts").click()
            page.get_by_text("Preview, for Jane Smith").first.wait_for()
            wait_for_app_run(page)
            page.screenshot(path=str(out / "email-texts.png"))
            page.get_by_role("link", name="History").click()
            page.get_by_text("provider(s) · page").wait_for()
            wait_for_app_run(page)
            page.get_by_role("button", name="Refresh sign-up status").click()
            page.get_by_text("checked (finished)").wait_for(timeout=60_000)
            wait_for_app_run(page)
            page.get_by_role("link", name="Overview").click()
            page.get_by_text("The last 26 weeks").wait_for()
            wait_for_app_run(page)
            page.wait_for_timeout(800)  # the chart's drawing
            page.screenshot(path=str(out / "overview.png"))
            open_first_waiting(page)
            wait_for_app_run(page)
            page.screenshot(path=str(out / "follow-up.png"))
            page.get_by_role("link", name="Activity").click()
            page.get_by_text("newest first").wait_for()
            wait_for_app_run(page)
            page.wait_for_timeout(800)  # the table's drawing
            page.screenshot(path=str(out / "activity.png"))
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.goto(app.url)
            wait_for_app_run(phone)
            phone.screenshot(path=str(out / "phone.png"))
            browser.close()
    finally:
        stop_app(app)
    sign_in_page(out)
    print("screenshots in", out)


def sign_in_page(out: Path) -> None:
    """The first page with sign-in on, against a mock OpenID Connect provider."""
    from oidc_provider_mock import run_server_in_thread

    from tests.e2e.test_signin_browser import secrets_file

    folder = Path(tempfile.mkdtemp())
    with run_server_in_thread() as server:
        oidc = f"http://localhost:{server.server_port}"
        app = start_app(folder, {"STREAMLIT_SECRETS_FILES": str(secrets_file(folder, oidc))})
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"http://localhost:{app.port}")
                page.get_by_text("Sign in with your company account").wait_for()
                wait_for_app_run(page)
                page.screenshot(path=str(out / "sign-in.png"))
                browser.close()
        finally:
            stop_app(app)


if __name__ == "__main__":
    main()
