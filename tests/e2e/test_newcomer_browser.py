"""A newcomer's first day, in Chromium: accessible pages (axe-core), the result of a create that
cannot be missed at 1366x768, the form and its copy buttons by keyboard alone, and a phone."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.a11y import violations
from tests.e2e.conftest import start_app, stop_app, wait_for_app_run
from tests.e2e.steps import (
    create_provider,
    enter_key,
    go,
    open_first_waiting,
    result_seen,
    select_first_row,
    textbox,
)

pytestmark = [pytest.mark.browser]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# A newcomer's computer as most are: animations on (the other browser tests ask for reduced
# motion, tests/e2e/conftest.py).
MOTION = "no-preference"


@pytest.fixture
def app(tmp_path):
    running = start_app(tmp_path, {})  # the built-in sandbox, as `make run` starts it
    yield running
    stop_app(running)


def test_every_page_and_state_has_no_accessibility_violations(browser, app, tmp_path):
    """axe-core on every page and key state, in a browser whose clock is in New York (times are
    shown in the person's zone)."""
    page = browser.new_page(reduced_motion=MOTION, viewport=LAPTOP,
                            timezone_id="America/New_York")
    found: list[dict] = []

    def check(state: str) -> None:
        wait_for_app_run(page)
        time.sleep(0.3)  # let the last run's elements settle (stale ones fade out)
        found.extend(violations(page, state))

    page.goto(app.url)
    wait_for_app_run(page)
    check("no key")
    textbox(page, "API key").fill("not-a-real-key")
    textbox(page, "API key").press("Enter")
    page.get_by_text("was not accepted by Upheal").first.wait_for()
    check("a wrong key")
    enter_key(page, "sandbox-demo-key")
    create_provider(page, "Ann", "Lee", "not-an-email")
    page.get_by_text("Some details need fixing").wait_for()
    check("errors shown")
    create_provider(page, "Zoë", "O'Neil", "zoe.oneil@example.com")
    page.get_by_role("dialog").get_by_text("was created in Upheal").wait_for(timeout=30_000)
    check("created: the dialog")
    result_seen(page)
    check("created: the page")
    create_provider(page, "Zoë", "O'Neil", "zoe.oneil@example.com")
    page.get_by_text("was already created").wait_for()
    check("duplicate")
    go(page, "Note templates", "Add a template")
    textbox(page, "Name").fill("Intake")
    textbox(page, "Template ID").fill("2fb81b0a-611b-11ed-9b6a-0242ac120002")
    textbox(page, "Template ID").press("Tab")
    wait_for_app_run(page)
    page.get_by_role("button", name="Add template").click()
    page.get_by_text("Added “Intake”").wait_for()
    check("templates")
    page.screenshot(path=str(tmp_path / "templates.png"), full_page=True)
    go(page, "Activity", "newest first")
    page.get_by_test_id("stDataFrame").wait_for()
    check("activity")
    go(page, "History", "provider(s) · page")
    select_first_row(page, page.get_by_role("heading", name="Zoë O'Neil"))
    check("History with a row open")
    details = page.get_by_test_id("stVerticalBlock").filter(
        has=page.get_by_role("heading", name="Zoë O'Neil")).last.inner_text()
    new_york = datetime.now(ZoneInfo("America/New_York"))
    assert "New York time by" in details
    assert any(f"{new_york - timedelta(minutes=m):%Y-%m-%d %H:%M}" in details for m in range(3))
    page.get_by_text("What was sent to Upheal").click()
    page.get_by_text("Called in notes:").wait_for()
    check("History with what was sent open")
    sent = page.locator(".st-key-hi_details").inner_text().replace("\u2060", "")
    assert "Email: zoe.oneil@example.com" in sent and "NPI: not given" in sent
    go(page, "Email texts", "Placeholders")
    page.get_by_text("Preview, for Jane Smith").first.wait_for()
    check("email texts")
    go(page, "Overview", "Providers created")
    page.get_by_text("The last 26 weeks").wait_for()
    check("overview")
    open_first_waiting(page)
    check("follow up with a reminder open")
    reminder = page.get_by_test_id("stVerticalBlock").filter(
        has=page.get_by_role("button", name="I sent this reminder")).last.inner_text()
    assert "A reminder: your Upheal account is waiting" in reminder
    page.get_by_role("button", name="I sent this reminder").click()
    page.get_by_text("Recorded: 1 reminder(s) sent by you today.").wait_for()
    go(page, "Bulk import", "2. Upload your file")
    upload = tmp_path / "practice.csv"
    upload.write_text("First name,Last name,Email\nAmy,Ng,amy@example.com\n"
                      "Bad,Row,not-an-email\n", encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_text("4. Check the rows").wait_for(timeout=30_000)
    check("bulk preview")
    page.get_by_role("button", name="Start import of 1 provider(s)").click()
    page.get_by_role("button", name="Yes, start the import").click()
    page.get_by_text("Finished").first.wait_for(timeout=60_000)
    check("bulk results")
    (tmp_path / "axe.json").write_text(json.dumps(found, indent=1))
    assert found == [], json.dumps(found, indent=1)[:6000]
    page.close()


def tab_to(page, target, limit: int = 80) -> int:
    """Press Tab (only) until the focus is on `target` (a locator); how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if target.count() == 1 and target.evaluate("e => e === document.activeElement"):
            return presses
    raise AssertionError(f"{target} not reached with Tab")


def test_the_form_by_keyboard_alone_and_a_result_that_cannot_be_missed(browser, app):
    """At 1366x768, with Tab, Shift+Tab, typing and Enter only: the key, the form, Create; the
    result opens in a dialog over the page with the focus in it, and each copy button is
    reached and named for what it copies (and copies it)."""
    context = browser.new_context(reduced_motion=MOTION, viewport=LAPTOP,
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(app.url)
    wait_for_app_run(page)
    tab_to(page, textbox(page, "API key"))
    page.keyboard.type("sandbox-demo-key")
    page.keyboard.press("Enter")
    page.get_by_text("API key accepted").wait_for()
    wait_for_app_run(page)
    tab_to(page, textbox(page, "First name"))
    page.keyboard.type("Kim")
    tab_to(page, textbox(page, "Last name"))
    page.keyboard.type("Keyes")
    tab_to(page, textbox(page, "Email"))
    page.keyboard.type("kim.keyes@example.com")
    tab_to(page, page.get_by_role("button", name="Create provider"))
    wait_for_app_run(page)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("was created in Upheal").wait_for(timeout=30_000)
    wait_for_app_run(page)
    assert page.evaluate("!!document.activeElement.closest('[role=dialog]')")  # focus moved
    box = dialog.get_by_text("was created in Upheal").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"]
    user = app_users(page)
    names = ["Copy invite link", "Copy room link", "Copy subject", "Copy email"]
    expected = [user["invite"], user["room"], "Your invitation to Upheal", None]
    for name, value in zip(names, expected, strict=True):
        tab_to(page, dialog.get_by_role("button", name=name, exact=True))
        page.keyboard.press("Enter")
        copied = page.evaluate("navigator.clipboard.readText()")
        if value is None:  # the email text: the body, ready to paste, with no "Subject:" line
            assert copied.startswith("Hello Kim,") and user["invite"] in copied
        else:
            assert copied == value
    page.screenshot(path=str(app.data_dir.parent / "dialog.png"))
    tab_to(page, dialog.get_by_role("button", name="Back to the form"))
    page.keyboard.press("Enter")
    dialog.wait_for(state="detached")
    for name in names:  # the same result stays on the page, named the same way
        assert page.get_by_role("button", name=name).count() == 1
    context.close()


def focused(page) -> str:
    """The focused element as a person hears it: its label or its text."""
    return page.evaluate("""() => { const e = document.activeElement;
        const label = e.getAttribute('aria-label') || (e.labels && e.labels[0]
            && e.labels[0].innerText) || e.innerText || '';
        return label.replace('keyboard_arrow_right', '').trim(); }""")


@pytest.fixture
def app_and_sandbox(tmp_path, loopback_sandbox):
    running = start_app(tmp_path, {"UPHEAL_API_BASE_URL": loopback_sandbox.base_url})
    yield running, loopback_sandbox.app
    stop_app(running)


def test_every_field_by_tab_typing_and_enter_one_tab_stop_each(browser, app_and_sandbox):
    """The whole form, in the order it is seen, with one Tab between fields (no help button
    in between), sections opened with Enter, and Enter in the last box creates."""
    app, sandbox = app_and_sandbox
    page = browser.new_page(reduced_motion=MOTION, viewport=LAPTOP)
    page.goto(app.url)
    wait_for_app_run(page)
    enter_key(page, "sandbox-demo-key")
    tab_to(page, textbox(page, "First name"))
    steps = [  # (what the focus must be on after one Tab, what to type, keys after typing)
        ("First name", "Rosa", []), ("Last name", "Díaz", []),
        ("Email", "rosa.diaz@example.com", []),
        ("Contact details (optional)", "", ["Enter"]), ("Phone country", "", []),
        ("Phone number", "(415) 555-2671", []), ("Language", "español (Méx", ["Enter"]),
        ("Professional details (optional)", "", ["Enter"]),
        ("NPI (National Provider Identifier)", "1234567893", []),
        ("Therapy licence", "LCSW", []), ("Called in notes", "Dr. + last", ["Enter"]),
        ("Note templates", "", []),
        ("Template ID not in your list", "2fb81b0a-611b-11ed-9b6a-0242ac120002", []),
        ("Your own ID (optional)", "", ["Enter"]),
        ("Your own ID for this provider", "emp-0042", ["Enter"]),
    ]
    for index, (label, typed, keys) in enumerate(steps):
        if index:
            page.keyboard.press("Tab")
            # The box just left may have started a run of the page (a text box keeps what was
            # typed in it when it loses the focus): a person reads the next label first.
            # Typed into the language list while that run redrew it, Enter chose nothing and
            # the search text stayed in the box: 5 of 25 runs of these steps, 0 of 25 with
            # this wait (and the provider was created without a language, 2 runs in 22).
            wait_for_app_run(page)
        assert focused(page).startswith(label), (label, focused(page))
        if typed:
            page.keyboard.type(typed)
        for key in keys:
            page.keyboard.press(key)
            wait_for_app_run(page)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("was created in Upheal").wait_for(timeout=30_000)  # Enter created it
    page.screenshot(path=str(app.data_dir.parent / "created-by-keyboard.png"))
    user = sandbox.users()[0]
    assert (user["firstName"], user["lastName"], user["email"]) == (
        "Rosa", "Díaz", "rosa.diaz@example.com")
    assert (user["phoneNumber"], user["phoneCountryCode"], user["locale"]) == (
        "4155552671", "+1", "es-MX")
    assert (user["nationalProviderIdentifier"], user["therapyLicence"],
            user["noteIdentifier"], user["partnerUserId"]) == (
        "1234567893", "LCSW", "DrLastName", "emp-0042")
    assert user["defaultNoteTemplateIds"] == ["2fb81b0a-611b-11ed-9b6a-0242ac120002"]
    page.close()


def app_users(page) -> dict[str, str]:
    """The invite and room link as the dialog shows them (once drawn: Streamlit loads its code
    block's script when the first one is shown, a moment after the dialog's words)."""
    dialog = page.get_by_role("dialog")
    dialog.locator("code", has_text="/invite/").first.wait_for()
    dialog.locator("code", has_text="/room/").first.wait_for()
    codes = dialog.locator("code").all_inner_texts()
    invite = next(c for c in codes if "/invite/" in c)
    room = next(c for c in codes if c.startswith("http") and "/invite/" not in c)
    return {"invite": invite.strip(), "room": room.strip()}


def test_on_a_phone_the_first_page_says_sandbox_and_how_to_enter_the_key(browser, app):
    page = browser.new_page(reduced_motion=MOTION, viewport=PHONE, is_mobile=True,
                            has_touch=True)
    page.goto(app.url)
    wait_for_app_run(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert not sidebar.is_visible() or sidebar.bounding_box()["x"] < 0  # starts closed
    main = page.get_by_role("main")
    for words in ("SANDBOX", "On a phone, open the sidebar with the"):
        shown = main.get_by_text(words).first
        box = shown.bounding_box()
        assert shown.is_visible() and box is not None and box["y"] < PHONE["height"], words
    assert violations(page, "phone") == []
    page.close()


# Text lines of every copy box that sit beside its copy button end before the button (px over).
TEXT_UNDER_COPY_BUTTONS = """() => [...document.querySelectorAll('[data-testid="stCode"]')]
  .filter((box) => box.offsetParent !== null).flatMap((box) => {
    const button = box.querySelector('button');
    const text = box.querySelector('pre code') || box.querySelector('pre');
    if (!button || !text) return [];
    const edge = button.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(text);
    return [...range.getClientRects()]
      .filter((line) => line.top < edge.bottom && line.bottom > edge.top && line.width > 0)
      .map((line) => line.right - edge.left);
  })"""


def text_over_copy_buttons(page) -> list[float]:
    """TEXT_UNDER_COPY_BUTTONS's lines that reach under a button, once the copy boxes are drawn
    (Streamlit loads its code block's script lazily) and at least one line was measured."""
    page.locator('[data-testid="stCode"] pre').locator("visible=true").first.wait_for()
    overs = page.evaluate(TEXT_UNDER_COPY_BUTTONS)
    assert overs, "no line of a copy box sits beside its button"
    return [over for over in overs if over > 0.5]


# A date box's placeholder: (its text's width, the room the box gives it), in px.
PLACEHOLDER_ROOM = """() => [...document.querySelectorAll('input[placeholder*="YYYY"]')].map((box) => {
  const style = getComputedStyle(box);
  const context = document.createElement('canvas').getContext('2d');
  context.font = style.font;
  return [context.measureText(box.placeholder).width,
          box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)];
})"""


SIDEBAR_MOTION = """() => getComputedStyle(document.querySelector('[data-testid="stSidebar"]'))
                          .transitionDuration"""


def test_the_layout_holds_at_a_laptop_and_on_a_phone(browser, app, tmp_path):
    page = browser.new_page(reduced_motion=MOTION, viewport=LAPTOP)
    page.goto(app.url)
    wait_for_app_run(page)
    enter_key(page, "sandbox-demo-key")
    # Streamlit slides its sidebar; with "reduce motion" set on the computer, nothing moves.
    assert page.evaluate(SIDEBAR_MOTION).startswith("0.3s")
    page.emulate_media(reduced_motion="reduce")
    assert set(page.evaluate(SIDEBAR_MOTION).split(", ")) == {"1e-05s"}
    page.emulate_media(reduced_motion=MOTION)
    # a long name makes a long room link, and a long address a long email text
    create_provider(page, "Maximiliana-Josephine", "Oyelaran-Fitzgerald-Brennan",
                    "maximiliana.oyelaran-fitzgerald@northside-practice.example.com")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("was created in Upheal").wait_for(timeout=30_000)
    time.sleep(0.3)
    page.screenshot(path=str(tmp_path / "laptop-result.png"))
    assert text_over_copy_buttons(page) == []
    dialog.get_by_role("button", name="Back to the form").click()
    dialog.wait_for(state="detached")
    go(page, "History", "provider(s) · page")
    assert all(text <= room for text, room in page.evaluate(PLACEHOLDER_ROOM))
    select_first_row(page, page.get_by_role(
        "heading", name="Maximiliana-Josephine Oyelaran-Fitzgerald-Brennan"))
    wait_for_app_run(page)
    page.screenshot(path=str(tmp_path / "laptop-history.png"), full_page=True)
    assert text_over_copy_buttons(page) == []
    go(page, "Activity", "newest first")
    assert all(text <= room for text, room in page.evaluate(PLACEHOLDER_ROOM))
    entry = page.locator(".st-key-ac_entry")
    select_first_row(page, entry)  # the newest entry, read in full
    # (a run streams its elements: the summary may come a moment after the entry's heading)
    page.wait_for_function("""() => document.querySelector('.st-key-ac_entry').innerText
                              .replaceAll('\\u2060', '').includes('maximiliana.oyelaran-')""",
                           timeout=10_000)
    assert "maximiliana.oyelaran-fitzgerald@" in entry.inner_text().replace("\u2060", "")
    page.close()

    # a phone-sized window whose browser does not call itself a phone (Streamlit closes the
    # sidebar after a choice only for those that do)
    page = browser.new_page(reduced_motion=MOTION, viewport=PHONE)
    page.goto(app.url)
    wait_for_app_run(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_attribute("data-collapsed") == "true"  # a phone's page starts closed
    page.get_by_test_id("stExpandSidebarButton").click()
    enter_key(page, "sandbox-demo-key")
    assert sidebar.get_attribute("data-collapsed") == "false"
    go(page, "History", "provider(s) · page")
    page.wait_for_function("""() => document.querySelector('[data-testid="stSidebar"]')
                              .getAttribute('data-collapsed') === 'true'""", timeout=5_000)
    title = page.get_by_role("heading", name="History", exact=True)
    box = title.bounding_box()
    assert box is not None and box["x"] >= 0
    assert page.evaluate("""(x) => !document.elementFromPoint(x[0], x[1])
                              .closest('[data-testid="stSidebar"]')""",
                         [box["x"] + 5, box["y"] + 5])  # nothing covers the page's title
    page.screenshot(path=str(tmp_path / "phone-history.png"))
    select_first_row(page, page.get_by_role(  # its links, in a phone's narrow copy boxes
        "heading", name="Maximiliana-Josephine Oyelaran-Fitzgerald-Brennan"))
    assert text_over_copy_buttons(page) == []
    page.screenshot(path=str(tmp_path / "phone-history-row.png"))
    page.close()
