"""What staff do in the browser, as reusable steps for the e2e tests."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import wait_for_app_run


def textbox(page, name: str):
    return page.get_by_role("textbox", name=name, exact=True)


def enter_key(page, key: str) -> None:
    box = textbox(page, "API key")
    box.fill(key)
    box.press("Enter")
    page.get_by_text("API key accepted").wait_for()
    wait_for_app_run(page)


def go(page, link: str, wait_for_text: str) -> None:
    page.get_by_role("link", name=link).click()
    page.get_by_text(wait_for_text).first.wait_for()
    wait_for_app_run(page)


def open_first_waiting(page) -> None:
    """On Follow up: everyone invited (0 days ago or more), then the first provider's reminder."""
    go(page, "Follow up", "Invited at least this many days ago")
    days = page.get_by_role("spinbutton", name="Invited at least this many days ago")
    days.fill("0")
    days.press("Enter")
    page.get_by_text("provider(s) waiting").wait_for()
    wait_for_app_run(page)
    select_first_row(page, page.get_by_role("button", name="I sent this reminder"))


def select_first_row(page, opens) -> None:
    """Tick the first row of the page's table (its selection box: the grid is a canvas) and
    wait for what that opens. A run of the page that redraws the grid just as the click lands
    loses the click (the run after an automatic sign-up check ends, a second after the page
    opens): a person would click again, and so does this, once the page's run is over."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        wait_for_app_run(page)
        table = page.get_by_test_id("stDataFrame").first
        table.scroll_into_view_if_needed()  # (on a phone, below the filters)
        grid = table.bounding_box()
        assert grid is not None
        page.mouse.click(grid["x"] + 16, grid["y"] + 54)
        try:
            opens.first.wait_for(timeout=10_000 if attempt < 2 else 30_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def create_provider(page, first: str, last: str, email: str) -> None:
    for label, value in (("First name", first), ("Last name", last), ("Email", email)):
        textbox(page, label).fill(value)
    textbox(page, "Email").press("Tab")
    wait_for_app_run(page)
    page.get_by_role("button", name="Create provider").click()
    wait_for_app_run(page)


def result_seen(page, timeout: float = 30_000) -> str:
    """The create's result dialog: wait for it, read it, go back to the form. Returns its text."""
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("was created in Upheal").wait_for(timeout=timeout)
    text = dialog.inner_text()
    dialog.get_by_role("button", name="Back to the form").click()
    dialog.wait_for(state="detached")
    wait_for_app_run(page)
    return text


def import_file(page, path: Path, ready: int) -> None:
    page.get_by_text("2. Upload your file").wait_for()
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text("4. Check the rows").wait_for(timeout=30_000)
    wait_for_app_run(page)
    page.get_by_role("button", name=f"Start import of {ready} provider(s)").click()
    page.get_by_role("button", name="Yes, start the import").click()
    page.get_by_text("Finished").first.wait_for(timeout=60_000)
    wait_for_app_run(page)


def download(page, button: str, target: Path) -> bytes:
    """Click a download button and keep the file. A rerun of the page that lands between
    drawing the button and the click gives it a new address (the click then downloads
    nothing): the click is made again once the run is over."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        try:
            with page.expect_download(timeout=10_000 if attempt < 2 else 30_000) as info:
                page.get_by_role("button", name=button).click()
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            wait_for_app_run(page)
    info.value.save_as(target)
    return target.read_bytes()


def practice_file(path: Path, prefix: str, count: int) -> Path:
    path.write_text("First name,Last name,Email\n" + "".join(
        f"{prefix}{i},Bulk,{prefix.lower()}{i}@example.com\n" for i in range(count)),
        encoding="utf-8")
    return path
