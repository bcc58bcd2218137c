"""AppTest tests of the pages: smoke per page, and the flows staff follow."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from partner_console.jobs.kinds.emails import create_email_job
from partner_console.jobs.kinds.imports import create_import
from tests.conftest import DEMO_KEY, FORBIDDEN_KEY, SECOND_KEY
from tests.helpers import find_by_email, pending

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["pages/create_provider.py", "pages/overview.py", "pages/bulk_import.py",
         "pages/roster_sync.py", "pages/practices.py",
         "pages/history.py", "pages/follow_up.py", "pages/note_templates.py",
         "pages/email_texts.py", "pages/emails.py", "pages/activity.py"]


@pytest.fixture(autouse=True)
def isolated_console(tmp_path, monkeypatch, _migrated_sqlite):
    """Each test gets its own database, data folder and sandbox (services are cached per
    settings). The database is a copy of one migrated once (each migration took 50 ms)."""
    (tmp_path / "data").mkdir()
    shutil.copyfile(_migrated_sqlite, tmp_path / "data" / "console.db")
    monkeypatch.setenv("PARTNER_CONSOLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'console.db'}")
    monkeypatch.delenv("UPHEAL_API_BASE_URL", raising=False)


def app(key: str | None = DEMO_KEY, page: str | None = None, *, auth: dict | None = None,
        user: dict | None = None) -> AppTest:
    """A first run of the console (signed in as `user` when `auth` secrets are given)."""
    at = AppTest.from_file(APP, default_timeout=30)
    if auth is not None:
        at.secrets["auth"] = auth
        at.user = user or {"is_logged_in": False}
    if key:
        at.session_state["api_key"] = key
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def shown(markdown: str) -> str:
    """What a person reads: markdown backslash escapes removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def fill(at: AppTest, first="Jane", last="Smith", email="jane@example.com", **extra) -> AppTest:
    at.text_input(key="cp_first_name").input(first)
    at.text_input(key="cp_last_name").input(last)
    at.text_input(key="cp_email").input(email)
    for key, value in extra.items():
        at.text_input(key=key).input(value)
    return at


def services_of(at: AppTest):
    from components.services import _services
    from partner_console.config import load_settings

    return _services(load_settings())


def test_the_services_are_shared_per_settings_and_apart_when_any_setting_differs(tmp_path):
    """The services are cached by the settings' every field (their repr, a cheap key): equal
    settings share one set, one changed setting gets its own."""
    from dataclasses import replace

    from components.services import _services
    from partner_console.config import load_settings

    settings = load_settings()
    assert _services(settings) is _services(load_settings())
    assert _services(replace(settings, rate_limit_per_minute=120)) is not _services(settings)
    other = replace(settings, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    assert _services(other).history.engine.url != _services(settings).history.engine.url


def test_a_page_opened_first_through_the_legacy_folder_still_gets_the_frame():
    """A fresh server runs a bookmarked page's file bare (Streamlit's legacy `pages/` mode)
    until a run calls st.navigation, and stays in that mode when the first run is cut before
    it. The page must route itself then, even when the router ran in this process before (it
    was remembered per process, and a restarted replica served every later bookmark bare)."""
    app(None)  # the router has run in this process
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("pages/history.py").run()  # a first run by the file's name: the legacy mode
    assert not at.exception
    assert at.sidebar.text_input(key="api_key_input").label == "API key"  # the frame
    assert at.title[0].value == "History"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("key", [None, DEMO_KEY])
def test_every_page_renders_without_an_exception(page, key):
    at = app(key, page)
    assert not at.exception and not at.error


# A backslash escape inside a code span (`…\\<…`) is shown as a backslash: the escaping of
# safe() belongs outside code, where it is read away.
ESCAPED_IN_CODE = re.compile(r"(`+)(?:(?!\1).)*\\[!-/:-@\[-`{-~](?:(?!\1).)*\1")


def test_no_page_shows_markdown_escapes_inside_code():
    at = created(app(), "Zoë [x](y)", "O'Neil <b>", "zoe.o@example.com")
    at.button(key="es_open_panel").click().run()
    at.button(key="es_send_panel").click().run()
    for page in PAGES:
        at.switch_page(page).run()
        texts = [e.value for kind in ("markdown", "caption", "success", "warning", "info",
                                      "error") for e in at.get(kind)]
        assert texts, page
        assert not [t for t in texts if ESCAPED_IN_CODE.search(str(t))], page
    assert ESCAPED_IN_CODE.search("**Message id:** `\\<1@x\\>`")  # what Emails showed
    assert not ESCAPED_IN_CODE.search("**Message id:** \\<1@x\\>")


def test_sandbox_banner_and_key_box_are_shown_on_the_first_page():
    at = app(key=None)
    assert any("SANDBOX" in w.value for w in at.sidebar.warning)
    assert at.sidebar.text_input(key="api_key_input").label == "API key"
    at.sidebar.text_input(key="api_key_input").input(DEMO_KEY).run()
    assert at.session_state["api_key"] == DEMO_KEY
    assert at.session_state["api_key_input"] == ""  # the box does not keep it
    # (AppTest drops sidebar elements on reruns under st.navigation; the browser test checks
    # the sidebar as drawn.)
    at.switch_page("pages/history.py").run()
    assert at.session_state["api_key"] == DEMO_KEY  # survives a page change


def test_forget_key_clears_it():
    at = app()
    at.sidebar.button(key="forget_key").click().run()
    assert "api_key" not in at.session_state
    assert at.button(key="cp_submit").disabled


def test_test_key_says_the_key_works():
    at = app(DEMO_KEY)
    at.sidebar.button(key="test_key").click().run()
    assert "works" in at.session_state["key_test"][1]


@pytest.mark.parametrize("page", PAGES)
def test_a_wrong_key_is_caught_as_it_is_entered_and_nothing_is_shown(page):
    at = app(key=None)
    at.sidebar.text_input(key="api_key_input").input("not-a-real-key").run()
    assert "api_key" not in at.session_state  # refused: not kept
    at.switch_page(page).run()
    assert not at.exception
    said = " ".join(e.value for e in at.error)
    assert "This API key was not accepted by Upheal" in said and "401" not in said
    assert not at.dataframe and not at.get("file_uploader")


def test_a_key_that_cannot_be_checked_is_kept_but_shows_nothing_until_accepted():
    at = app(key=None)
    svc = services_of(at)
    svc.client.sleep = lambda _seconds: None
    svc.sandbox.faults.server_error_rate = 1.0  # Upheal cannot answer
    at.sidebar.text_input(key="api_key_input").input(DEMO_KEY).run()
    assert at.session_state["api_key"] == DEMO_KEY  # kept: it may well be right
    assert any("could not be checked" in w.value for w in at.warning)
    at.switch_page("pages/history.py").run()
    assert any("could not be checked" in w.value for w in at.warning)
    assert not any("not accepted" in e.value for e in at.error)
    assert not at.dataframe
    svc.sandbox.faults.server_error_rate = 0.0
    at.switch_page("pages/create_provider.py").run()  # the home page
    at.sidebar.button(key="check_key_again").click().run()
    assert at.session_state["api_key_check"][1] == "accepted"
    at.switch_page("pages/history.py").run()
    assert any("Providers you create appear here" in i.value for i in at.info)


def test_create_shows_both_links_and_the_email_and_records_history():
    at = fill(app())
    at.selectbox(key="cp_note_identifier").select("DrLastName").run()
    assert any("Dr. Smith" in shown(c.value) for c in at.caption)
    at.button(key="cp_submit").click().run()
    assert not at.exception
    user = services_of(at).sandbox.users("5a4d0b7e-0000-4000-8000-00000000c11c")[0]
    codes = [c.value for c in at.code]
    assert user["inviteUrl"] in codes and user["privateRoomLink"] in codes
    # the subject in its own box, the text ready for the message body (no "Subject:" line)
    assert "Your invitation to Upheal" in codes
    bodies = [c for c in codes if user["inviteUrl"] in c and c.startswith("Hello Jane")]
    assert bodies and not any(c.startswith("Subject:") for c in codes)
    boxes = [b.key for b in at.get("flex_container") if (b.key or "").startswith("pc_copy_")]
    assert {"pc_copy_invite_panel", "pc_copy_room_panel", "pc_copy_subject_panel",
            "pc_copy_email_panel", "pc_copy_invite_dialog"} <= set(boxes), boxes
    assert user["noteIdentifier"] == "DrLastName"
    assert at.text_input(key="cp_first_name").value == ""  # ready for the next provider
    at.switch_page("pages/history.py").run()
    assert at.dataframe[0].value["Email"].tolist() == ["jane@example.com"]


def test_the_same_person_created_in_a_second_practice_is_told_so():
    from partner_console.sandbox import SANDBOX_KEYS
    from partner_console.storage import fingerprint
    from partner_console.storage.practices import Practice

    platform = "sandbox-platform-key"
    north, lake = (org for org, _ in SANDBOX_KEYS[platform].practices)
    at = app(platform)
    svc = services_of(at)
    svc.practices.save_all(svc.history.scope_for(fingerprint(svc.secret, platform)), [
        Practice("Northside Therapy", north), Practice("Lakeside Counselling", lake)])
    at.run()
    said = []
    for practice in (north, lake):
        at.selectbox(key="cp_practice").set_value(practice).run()
        fill(at, "Pia", "Two").button(key="cp_submit").click().run()
        assert not at.exception
        said.append([shown(i.value) for i in at.info if "Also a provider" in i.value])
        at.button(key="cp_dismiss").click().run()
    assert [len(svc.sandbox.users(org)) for org in (north, lake)] == [1, 1]
    assert said == [[], ["Also a provider in Northside Therapy: each practice has an Upheal "
                         "account of its own for them."] * 2]  # (the dialog and the panel)


def test_invalid_fields_get_messages_next_to_them_and_nothing_is_sent():
    at = fill(app(), email="not-an-email", cp_npi="1234567890")
    at.button(key="cp_submit").click().run()
    texts = [m.value for m in at.markdown]
    assert any("complete email address" in t for t in texts)
    assert any("last digit" in t for t in texts)
    assert services_of(at).sandbox.users() == []
    assert at.text_input(key="cp_email").value == "not-an-email"  # nothing lost


def test_phone_with_country_picker_is_sent_split():
    at = fill(app(), cp_phone_number="(415) 555-2671")
    at.selectbox(key="cp_phone_country").select("US:+1")
    at.button(key="cp_submit").click().run()
    user = services_of(at).sandbox.users()[0]
    assert (user["phoneNumber"], user["phoneCountryCode"]) == ("4155552671", "+1")


def test_a_key_refused_later_is_explained_in_plain_words():
    at = fill(app())
    services_of(at).sandbox.keys.pop(DEMO_KEY)  # the administrator revoked it meanwhile
    at.button(key="cp_submit").click().run()
    assert any("API key was not accepted" in e.value for e in at.error)
    assert not any("401" in e.value for e in at.error)


def test_forbidden_key_explains_what_to_check():
    at = fill(app(FORBIDDEN_KEY))
    at.button(key="cp_submit").click().run()
    assert any("not allowed" in e.value and "templates" in e.value for e in at.error)


def test_server_errors_and_lost_answers_are_explained():
    at = fill(app())
    svc = services_of(at)
    svc.sandbox.faults.server_error_rate = 1.0
    svc.client.retry = type(svc.client.retry)(max_attempts=1)
    at.button(key="cp_submit").click().run()
    assert any("Upheal had a problem" in e.value or "could not" in e.value for e in at.error)
    assert not at.exception


def test_429_storm_is_explained_after_waiting():
    at = fill(app())
    svc = services_of(at)
    svc.sandbox.faults.rate_limit_storm = True
    waits = []
    svc.client.sleep = waits.append
    at.button(key="cp_submit").click().run()
    assert any("too many requests" in e.value for e in at.error)
    assert waits and all(w == 1.0 for w in waits)  # honoured Retry-After: 1
    assert svc.sandbox.users() == []


class CallHook:
    """Pacing that runs `fn` before every call made with a key (then paces as before)."""

    def __init__(self, inner, fn):
        self.inner, self.fn = inner, fn

    def before_call(self, api_key):
        self.fn()
        self.inner.before_call(api_key)

    def rate_limited(self, api_key, seconds):
        self.inner.rate_limited(api_key, seconds)


def test_timeout_leaves_outcome_unknown_and_check_with_upheal_settles_it_when_safe():
    at = fill(app())
    svc = services_of(at)
    calls = []

    def lose_upheal_after_the_first_check():  # the create and every later check time out
        calls.append(1)
        svc.sandbox.faults.timeout_rate = 1.0 if len(calls) >= 2 else 0.0

    paced = svc.client.pacing
    svc.client.pacing = CallHook(paced, lose_upheal_after_the_first_check)
    svc.client.sleep = lambda _seconds: None
    at.button(key="cp_submit").click().run()
    assert any("could not confirm whether" in w.value for w in at.warning)
    assert any("Check with Upheal" in c.value for c in at.caption)
    svc.client.pacing = paced
    svc.sandbox.faults.timeout_rate = 0.0
    # Too early: Upheal may still be creating it. Nothing is asked, nothing changes.
    at.button(key="cp_settle_panel").click().run()
    assert any("may still be working on this create" in c.value for c in at.caption)
    assert len(pending(svc.history, svc.history.scope_for(_fp(svc)))) == 1
    svc.creator.settle_after = 0  # the safe wait has passed
    at.button(key="cp_settle_panel").click().run()
    assert any("it was not created" in i.value for i in at.info)
    assert svc.sandbox.users() == []


def _fp(svc):
    from partner_console.storage import fingerprint

    return fingerprint(svc.secret, DEMO_KEY)


def test_lost_response_is_recovered_with_both_links():
    at = fill(app())
    svc = services_of(at)
    svc.sandbox.faults.lost_response_rate = 1.0
    at.button(key="cp_submit").click().run()
    user = svc.sandbox.users()[0]
    assert len(svc.sandbox.users()) == 1
    assert any("was created in Upheal" in s.value for s in at.success)
    assert {user["inviteUrl"], user["privateRoomLink"]} <= {c.value for c in at.code}


def test_links_that_cannot_be_fetched_offer_a_retry_that_recovers_them():
    at = fill(app())
    svc = services_of(at)
    svc.sandbox.faults.lost_response_rate = 1.0
    svc.client.recover = lambda *args, **kwargs: None  # get-user-by-id fails this time
    at.button(key="cp_submit").click().run()
    assert any("could not be fetched from Upheal yet" in w.value for w in at.warning)
    del svc.client.recover
    at.button(key="cp_fetch_links_panel").click().run()
    user = svc.sandbox.users()[0]
    assert any("was created in Upheal" in s.value for s in at.success)
    assert user["inviteUrl"] in {c.value for c in at.code}
    row = find_by_email(svc.history, svc.history.scope_for(_fp(svc)), "jane@example.com")[0]
    assert (row.status, row.invite_url) == ("created", user["inviteUrl"])


def test_duplicate_in_history_requires_create_anyway_and_upheal_check_blocks():
    at = fill(app())
    at.button(key="cp_submit").click().run()
    first_invite = services_of(at).sandbox.users()[0]["inviteUrl"]
    at.button(key="cp_dismiss").click().run()
    fill(at).button(key="cp_submit").click().run()
    warning = next(w.value for w in at.warning if "already created" in w.value)
    assert " by " not in warning  # nobody's name was given: no "by someone"
    codes = [c.value for c in at.code]
    assert first_invite in codes and "Your invitation to Upheal" in codes  # the same ready email
    assert any(c.startswith("Hello Jane,") and first_invite in c for c in codes)
    assert any(b.proto.url.startswith("mailto:jane%40example.com?subject=")
               for b in at.get("link_button"))
    anyway = at.button(key="cp_create_anyway")
    assert anyway.proto.type == "tertiary"  # visibly the secondary, risky choice
    anyway.click().run()
    assert any("already has an Upheal account" in w.value for w in at.warning)
    assert len(services_of(at).sandbox.users()) == 1


def test_the_same_token_twice_shows_the_first_result_and_creates_one():
    at = fill(app())
    at.session_state["cp_token"] = "fixed-token"
    at.button(key="cp_submit").click().run()
    at.session_state["cp_token"] = "fixed-token"  # a second run that read the old token
    fill(at).button(key="cp_submit").click().run()
    assert len(services_of(at).sandbox.users()) == 1
    assert services_of(at).sandbox.users()[0]["inviteUrl"] in [c.value for c in at.code]


def test_templates_catalog_feeds_the_picker_with_preselection():
    at = app(page="pages/note_templates.py")
    svc = services_of(at)
    from partner_console.storage import fingerprint
    from partner_console.storage.catalog import NoteTemplate

    scope = svc.history.scope_for(fingerprint(svc.secret, DEMO_KEY))
    svc.catalog.save_templates(scope, [
        NoteTemplate("Intake", "2fb81b0a-611b-11ed-9b6a-0242ac120002", True),
        NoteTemplate("Progress note", "d290f1ee-6c54-4b01-90e6-d701748f0852", False)])
    at.switch_page("pages/create_provider.py").run()
    picker = at.multiselect(key="cp_templates")
    assert picker.value == ["2fb81b0a-611b-11ed-9b6a-0242ac120002"]
    assert set(picker.options) == {"Intake", "Progress note"}
    fill(at).button(key="cp_submit").click().run()
    assert services_of(at).sandbox.users()[0]["defaultNoteTemplateIds"] == [
        "2fb81b0a-611b-11ed-9b6a-0242ac120002"]


def test_the_practice_providers_are_still_in_the_sandbox_after_the_console_restarts():
    """`make run` started again (new services, a new built-in sandbox): the providers made in
    practice are still known to the sandbox, with their links, so History's sign-up check
    does not call them "No longer in Upheal" and they can still be changed."""
    from components.services import _services
    from partner_console.signup import GONE, status_from_check

    at = app()
    fill(at).button(key="cp_submit").click().run()
    before = services_of(at)
    created = before.sandbox.users()
    assert [u["email"] for u in created] == ["jane@example.com"]
    _services.clear()  # as a restarted server builds everything again
    after = services_of(at)
    assert after.sandbox is not before.sandbox
    assert after.sandbox.users() == created
    check = after.client.check_user(DEMO_KEY, "jane@example.com")
    assert check.is_user_exists and status_from_check(check) != GONE


def test_email_text_is_editable_and_checked():
    at = app(page="pages/email_texts.py")
    at.text_area(key="et_email").input("Hi {first_name} {oops}").run()
    at.button(key="et_email_save").click().run()
    assert any("Unknown placeholder {oops}" in shown(e.value) for e in at.error)
    at.text_area(key="et_email").input("Subject: Welcome\n\nHi {first_name}: {invite_link}").run()
    at.button(key="et_email_save").click().run()
    at.switch_page("pages/create_provider.py").run()
    fill(at).button(key="cp_submit").click().run()
    codes = [c.value for c in at.code]
    assert "Welcome" in codes
    assert any(c.startswith("Hi Jane: https://sandbox.invalid/") for c in codes)


def test_email_texts_have_their_own_page_with_a_preview_and_note_templates_say_where_ids_are():
    from components.router import PAGES as NAVIGATION

    titles = [title for _, title, _ in NAVIGATION]
    assert "Email texts" in titles and "Outbox" not in titles
    at = app(page="pages/email_texts.py")
    assert at.title[0].value == "Email texts"
    assert [t.label for t in at.tabs] == ["Invite email", "Reminder email"]
    at.text_area(key="et_email").input("Subject: Hi {first_name}\n\nYour link: {invite_link}").run()
    assert any(shown(m.value) == "**Preview, for Jane Smith:** Hi Jane" for m in at.markdown)
    assert "Your link: https://app.upheal.io/invite/example" in [c.value for c in at.code]
    at.text_area(key="et_email").input("Hi {oops}").run()  # a broken text: no preview
    assert any("Preview: not until the text is fixed" in c.value for c in at.caption)
    at.switch_page("pages/note_templates.py").run()
    assert not [t for t in at.text_area if "email" in t.label.lower()]  # no longer here
    assert any("ask your Upheal contact" in c.value for c in at.caption)
    assert at.text_input(key="nt_id").label == "Template ID"


def test_a_format_spec_in_an_email_text_is_refused_and_an_old_one_falls_back_with_a_notice():
    from partner_console.invite_email import EMAIL_SETTING

    hostile = "Hello {first_name:x>300000000}, sign up here: {invite_link}"
    at = app(page="pages/email_texts.py")
    at.text_area(key="et_email").input(hostile).run()
    at.button(key="et_email_save").click().run()
    assert any("{first_name:x>300000000} is not allowed" in shown(e.value) for e in at.error)
    svc = services_of(at)
    scope = svc.history.scope_for(svc.history.scope_for(
        __import__("partner_console.storage", fromlist=["fingerprint"]).fingerprint(
            svc.secret, DEMO_KEY)).key_fingerprint)
    assert svc.catalog.setting(scope, EMAIL_SETTING, "unset") == "unset"  # nothing saved
    svc.catalog.set_setting(scope, EMAIL_SETTING, hostile)  # as saved before the rule
    at = app(page="pages/email_texts.py")
    assert any("can no longer be used" in shown(w.value) and "default text" in shown(w.value)
               for w in at.warning)
    at.switch_page("pages/create_provider.py").run()
    fill(at).button(key="cp_submit").click().run()
    assert not at.exception
    assert any(c.startswith("Hello Jane,\n\nWe have set up your Upheal account")
               for c in (c.value for c in at.code))


# -- History ----------------------------------------------------------------------------------------
def seed_history(at: AppTest, count: int, key: str = DEMO_KEY) -> None:
    from partner_console.api.models import validate_provider
    from partner_console.storage import fingerprint

    svc = services_of(at)
    for i in range(count):
        request, _ = validate_provider({"first_name": f"P{i:03d}", "last_name": "Test",
                                        "email": f"p{i:03d}@example.com",
                                        "note_identifier": "Coach" if i % 2 else "Therapist"})
        scope = svc.history.scope_for(fingerprint(svc.secret, key))
        svc.creator.create(key, scope, request, created_by="Ann" if i % 3 else "Bob")


def test_history_search_filters_and_paging():
    at = app(page="pages/history.py")
    seed_history(at, 60)
    at.run()
    assert len(at.dataframe[0].value) == 50 and "60 provider(s)" in at.caption[0].value
    at.number_input(key="hi_page").set_value(2).run()
    assert len(at.dataframe[0].value) == 10
    at.number_input(key="hi_page").set_value(1).run()
    at.text_input(key="hi_search").input("p007@").run()
    assert at.dataframe[0].value["Email"].tolist() == ["p007@example.com"]
    at.text_input(key="hi_search").input("").run()
    at.multiselect(key="hi_note").select("Coach").run()
    assert set(at.dataframe[0].value["Email"]) == {f"p{i:03d}@example.com" for i in
                                                   range(1, 60, 2)}
    at.multiselect(key="hi_by").select("Bob").run()
    assert len(at.dataframe[0].value) == 10  # odd and multiple of three


def test_history_of_a_platform_filters_by_practice_and_names_it():
    from partner_console.api.models import validate_provider
    from partner_console.sandbox import SANDBOX_KEYS
    from partner_console.storage import fingerprint
    from partner_console.storage.practices import Practice

    platform = "sandbox-platform-key"
    north, lake = (org for org, _ in SANDBOX_KEYS[platform].practices)
    at = app(platform, page="pages/history.py")
    svc = services_of(at)
    scope = svc.history.scope_for(fingerprint(svc.secret, platform))
    svc.practices.save_all(scope, [Practice("Northside Therapy", north),
                                   Practice("Lakeside Counselling", lake)])
    for i, practice in enumerate([None, north, lake, lake]):
        request, _ = validate_provider({"first_name": f"Q{i}", "last_name": "Practice",
                                        "email": f"q{i}@example.com"})
        svc.creator.create(platform, scope, request, created_by="Ann", practice_id=practice)
    at.run()
    assert len(at.dataframe[0].value) == 4 and "Practice" in at.dataframe[0].value.columns
    at.multiselect(key="hi_practice").set_value([lake]).run()
    table = at.dataframe[0].value
    assert sorted(table["Email"]) == ["q2@example.com", "q3@example.com"]
    assert set(table["Practice"]) == {"Lakeside Counselling"}
    at.multiselect(key="hi_practice").set_value([""]).run()  # the key's own organisation
    assert at.dataframe[0].value["Email"].tolist() == ["q0@example.com"]
    # one person in two practices: the email job says they get one email per practice
    request, _ = validate_provider({"first_name": "Q2", "last_name": "Practice",
                                    "email": "q2@example.com"})
    svc.creator.create(platform, scope, request, created_by="Ann", practice_id=north)
    at.multiselect(key="hi_practice").set_value([]).run()
    at.toggle(key="hi_email_toggle").set_value(True).run()
    at.button(key="ej_ask_history").click().run()
    assert any("1 person here is a provider in more than one practice: they get one email "
               "per practice" in shown(w.value) for w in at.warning)
    assert not at.exception


def test_history_puts_what_a_person_needs_first_within_a_laptops_page():
    import json

    at = app(page="pages/history.py")
    seed_history(at, 2)
    at.run()
    grid = at.dataframe[0]
    first = ["Name", "Email", "Sign-up", "Invite emailed", "Invite link"]
    assert list(grid.value.columns)[:5] == first and "Room link" not in grid.value.columns
    config = json.loads(grid.proto.columns)
    widths = [config[name]["width"] for name in first]
    assert all(isinstance(w, int) for w in widths)
    assert sum(widths) + 40 <= 950  # (the selection column; 1366 px less the open sidebar)
    assert all(config[name]["width"] for name in grid.value.columns)  # every column sized
    assert "times in UTC" in at.caption[0].value  # the zone once, not in a column header


def test_history_never_shows_another_organisation():
    at = app(page="pages/history.py")
    seed_history(at, 3, key=SECOND_KEY)
    at.run()
    assert not at.dataframe and any("No providers" in i.value for i in at.info)


def test_history_downloads_are_offered_as_csv_and_excel():
    at = app(page="pages/history.py")
    seed_history(at, 2)
    at.run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("CSV" in label for label in labels) and any("Excel" in label for label in labels)


def test_a_search_matching_more_than_history_counts_is_built_too(monkeypatch):
    """A search's count stops past 1,000 (2 here): the Excel button is not told more, so the
    file is built with its progress rather than the matches counted again for it."""
    import partner_console.storage.history_reads as history_reads

    monkeypatch.setattr(history_reads, "SEARCH_COUNT_CAP", 2)
    at = app(page="pages/history.py")
    seed_history(at, 5)
    at.run()
    assert "hi_xlsx" in [b.key for b in at.get("download_button")]  # 5, counted exactly
    at.text_input(key="hi_search").input("example").run()
    assert "2+ provider(s)" in " ".join(c.value for c in at.caption)
    [build] = [b for b in at.button if b.key == "hi_xlsx_start"]
    assert build.proto.help.startswith("More than 2 providers")
    assert "hi_xlsx" not in [b.key for b in at.get("download_button")]
    at.text_input(key="hi_search").input("p001").run()  # one match: straight to the download
    assert "hi_xlsx" in [b.key for b in at.get("download_button")] and not at.exception


def test_a_large_excel_export_is_built_with_its_progress_then_downloaded(monkeypatch):
    """More than 10,000 providers (3 here): Build, its progress while the server writes it,
    then a Download button holding the file; other filters ask for a new build."""
    import io
    import threading
    import time

    import pandas as pd

    import components.excel_export as excel
    import partner_console.storage.history_reads as history_reads
    from partner_console.exports import history_xlsx

    monkeypatch.setattr(excel, "LARGE", 3)
    monkeypatch.setattr(history_reads, "COUNT_CAP", 2)  # History says "2+"; the file, all 5
    release = threading.Event()

    def held(*args, progress=None, **kwargs):  # the real export, stopped half-way
        progress(2)
        release.wait(30)
        return history_xlsx(*args, progress=progress, **kwargs)

    monkeypatch.setattr(excel, "history_xlsx", held)
    at = app(page="pages/history.py")
    seed_history(at, 5)
    at.run()
    assert "hi_xlsx" not in [b.key for b in at.get("download_button")]
    at.button(key="hi_xlsx_start").click().run()
    progress = [p.proto.text for p in at.get("progress")]
    assert progress == ["Building the Excel file: 2 of 5 providers…"]
    release.set()
    build = at.session_state["hi_xlsx_build"]
    deadline = time.monotonic() + 30
    while build.running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at.run()
    [button] = [b for b in at.get("download_button") if b.key == "hi_xlsx"]
    assert button.proto.label == "Download Excel (5 providers)" and not at.get("progress")
    frame = pd.read_excel(io.BytesIO(build.data), engine="calamine")
    assert sorted(frame["Email"]) == [f"p{i:03d}@example.com" for i in range(5)]
    at.multiselect(key="hi_by").select("Bob").run()  # 2 providers: straight to the download
    assert [b.proto.label for b in at.get("download_button") if b.key == "hi_xlsx"] == \
        ["Download Excel"]
    at.multiselect(key="hi_by").unselect("Bob").run()  # all 5 again: the file built is kept
    assert [b.proto.label for b in at.get("download_button") if b.key == "hi_xlsx"] == \
        ["Download Excel (5 providers)"]
    at.text_input(key="hi_search").input("example").run()  # other providers: built anew
    assert "hi_xlsx_start" in [b.key for b in at.button] and not at.exception


# -- Bulk import ------------------------------------------------------------------------------------
def stored_job(at: AppTest, count: int) -> int:
    from partner_console.bulk.columns import auto_map
    from partner_console.bulk.prepare import prepare_rows
    from partner_console.bulk.read import read_file
    from partner_console.storage import fingerprint

    svc = services_of(at)
    data = "First name,Last name,Email\n" + "".join(
        f"P{i},Test,p{i}@example.com\n" for i in range(count))
    read = read_file(data.encode(), "practice.csv")
    scope = svc.history.scope_for(fingerprint(svc.secret, DEMO_KEY))
    job_id, _ = create_import(svc.jobs, scope, created_by="Ann", file_name="practice.csv",
                              rows=prepare_rows(read, auto_map(read.headers), []),
                              start_token="t")
    from datetime import timedelta

    from sqlalchemy import update

    from partner_console.storage.clock import utcnow
    from partner_console.storage.tables import bulk_jobs
    with svc.history.engine.begin() as conn:  # as a server that died mid-import leaves it
        conn.execute(update(bulk_jobs).values(
            status="running", heartbeat_at=utcnow() - timedelta(minutes=5)))
    return job_id


def test_an_interrupted_import_shows_paused_and_resumes_with_the_key():
    at = app(page="pages/bulk_import.py")
    job_id = stored_job(at, 5)
    at.run()
    assert any(f"Import {job_id}: Paused" in h.value for h in at.header)
    assert any("The console server running this job stopped" in i.value for i in at.info)
    at.button(key="jp_import_resume").click().run()
    runner = services_of(at).runners.get(job_id)
    runner.join(30)
    at.run()
    assert any(f"Import {job_id}: Finished" in h.value for h in at.header)
    assert len(services_of(at).sandbox.users()) == 5
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download results (CSV)" in labels and "Download results (Excel)" in labels


def test_a_running_import_says_its_pace_once_it_has_one(monkeypatch):
    """Until two rows are done there is no pace: the panel said "0 a minute · … left"."""
    from dataclasses import replace
    from datetime import timedelta

    from partner_console.jobs.store import JobStatus, JobStore
    from partner_console.storage.clock import utcnow

    at = app(page="pages/bulk_import.py")
    job_id = stored_job(at, 5)
    read = JobStore.get
    monkeypatch.setattr(JobStore, "get", lambda self, scope, job: replace(
        read(self, scope, job), status=JobStatus.RUNNING,
        lease_expires_at=utcnow() + timedelta(minutes=1)))  # running on another server
    monkeypatch.setattr(JobStore, "rows_a_minute", lambda self, job, seconds=60.0: 0)
    at.run()
    assert any(f"Import {job_id}: Importing" in h.value for h in at.header)
    captions = [c.value for c in at.caption]
    assert "Working out how long it will take · it keeps going if you close this tab" in captions
    assert not any("0 a minute" in c for c in captions)
    monkeypatch.setattr(JobStore, "rows_a_minute", lambda self, job, seconds=60.0: 120)
    at.run()
    assert any(c.startswith("120 a minute · ") and " left · it keeps going" in c
               for c in at.caption.values)


def test_an_interrupted_import_asks_for_the_key_before_resuming():
    at = app(page="pages/bulk_import.py")
    stored_job(at, 2)
    at.session_state["api_key"] = "sandbox-demo-key"
    at.run()
    del at.session_state["api_key"]
    at.run()
    assert any("Paste your organisation's API key" in i.value for i in at.info)


def test_bulk_template_downloads_are_offered_without_a_key():
    at = app(key=None, page="pages/bulk_import.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download template (Excel)", "Download template (CSV)"]


def test_us_numbers_as_people_type_them_use_the_default_country_which_stays():
    at = fill(app(), cp_phone_number="(415) 555-2671")
    assert at.selectbox(key="cp_phone_country").value == "US:+1"  # preselected
    at.button(key="cp_submit").click().run()
    user = services_of(at).sandbox.users()[0]
    assert (user["phoneNumber"], user["phoneCountryCode"]) == ("4155552671", "+1")
    assert at.selectbox(key="cp_phone_country").value == "US:+1"  # not forgotten
    at.selectbox(key="cp_phone_country").select("GB:+44").run()
    fill(at, email="uk@example.com", cp_phone_number="+1 415 555 2672")  # its own +1 wins
    at.button(key="cp_submit").click().run()
    assert at.selectbox(key="cp_phone_country").value == "GB:+44"  # kept after a create
    users = {u["email"]: u for u in services_of(at).sandbox.users()}
    assert users["uk@example.com"]["phoneCountryCode"] == "+1"


def test_the_default_phone_country_is_a_setting(monkeypatch):
    monkeypatch.setenv("UPHEAL_DEFAULT_PHONE_COUNTRY", "gb")
    at = app()
    assert at.selectbox(key="cp_phone_country").value == "GB:+44"


def _leftovers(at: AppTest) -> AppTest:
    """Every kind of per-session state the pages keep, made with the first organisation's key:
    a result on screen, an "already created" warning, an import panel, a History page number."""
    fill(at).button(key="cp_submit").click().run()  # a result
    at.button(key="cp_dismiss").click().run()
    fill(at).button(key="cp_submit").click().run()  # the "already created" warning
    assert at.session_state["cp_duplicate"]
    svc = services_of(at)
    scope = svc.history.scope_for(_fp(svc))
    from partner_console.bulk.columns import auto_map
    from partner_console.bulk.prepare import prepare_rows
    from partner_console.bulk.read import read_file
    from partner_console.jobs.store import JobStore

    read = read_file(b"First name,Last name,Email\nA,B,left@example.com\n", "left.csv")
    job_id, _ = create_import(JobStore(svc.history.engine), scope, created_by="Ann",
                              file_name="left.csv", start_token="leftover",
                              rows=prepare_rows(read, auto_map(read.headers), []))
    at.session_state["bi_job"] = job_id
    at.session_state["hi_page"] = 3
    from partner_console.storage.catalog import NoteTemplate

    svc.catalog.add(scope, NoteTemplate("Left", "2fb81b0a-611b-11ed-9b6a-0242ac120002"))
    at.session_state["nt_editing"] = "2fb81b0a-611b-11ed-9b6a-0242ac120002"
    at.session_state["nt_removing"] = "2fb81b0a-611b-11ed-9b6a-0242ac120002"
    at.session_state["nt_draft_name"] = "Half typed"
    return at


@pytest.mark.parametrize("change", ["forget, then another organisation", "another organisation",
                                    "a wrong key", "forget"])
def test_changing_the_key_never_leaves_a_dead_end_on_any_page(change):
    from components.session import forget_key

    at = _leftovers(app())
    # What the sidebar's Forget key and key box do (AppTest loses the sidebar's widgets after
    # reruns under st.navigation; the browser tests press the real ones).
    forget_key(at.session_state)
    if change.endswith("another organisation"):
        at.session_state["api_key"] = SECOND_KEY
    elif change == "a wrong key":
        at.session_state["api_key"] = "not-a-real-key"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not any("Something went wrong" in e.value for e in at.error), page
        assert "jane@example.com" not in " ".join(m.value for m in at.markdown)
        assert "Half typed" not in [t.value for t in at.text_input]
    if change.endswith("another organisation"):  # the main action still works
        at.switch_page("pages/create_provider.py").run()
        fill(at, email="second@example.com").button(key="cp_submit").click().run()
        assert any("was created in Upheal" in s.value for s in at.success)


def test_a_page_that_fails_shows_a_sentence_and_stays_usable(monkeypatch):
    at = app(page="pages/history.py")
    svc = services_of(at)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(type(svc.reads), "search", broken)
    at.run()
    assert not at.exception
    assert any("Something went wrong on this page" in e.value for e in at.error)
    monkeypatch.undo()


def test_a_mistyped_email_domain_gets_a_suggestion_not_a_refusal():
    at = fill(app(), email="jane@gmial.com")
    at.run()
    assert any("Did you mean" in shown(c.value) and "jane@gmail.com" in
               shown(c.value).replace("\u2060", "") for c in at.caption)
    at.button(key="cp_use_suggestion").click().run()
    assert at.text_input(key="cp_email").value == "jane@gmail.com"
    assert not any("Did you mean" in c.value for c in at.caption)


@pytest.mark.parametrize("choice, sent", [("cp_typo_fix", "jane@gmail.com"),
                                          ("cp_typo_keep", "jane@gmial.com")])
def test_a_likely_typo_in_the_email_is_asked_about_once_before_anything_is_sent(choice, sent):
    at = fill(app(), email="jane@gmial.com")
    at.button(key="cp_submit").click().run()
    assert services_of(at).sandbox.users() == []  # asked first, nothing sent
    assert any("Create with gmial.com?" in shown(w.value).replace("**", "") for w in at.warning)
    buttons = [b.key for b in at.button if b.key in ("cp_typo_fix", "cp_typo_keep")]
    assert buttons == ["cp_typo_fix", "cp_typo_keep"]  # the suggestion is the first choice
    assert "gmail.com" in shown(at.button(key="cp_typo_fix").label).replace("\u2060", "")
    at.button(key=choice).click().run()
    assert [u["email"] for u in services_of(at).sandbox.users()] == [sent]
    assert not any("Create with" in shown(w.value) for w in at.warning)
    assert at.session_state["cp_outcome"]["email"] == sent


def test_a_formula_for_a_name_is_refused_for_what_it_is():
    at = fill(app(), first='=HYPERLINK("https://evil.example","Click")')
    at.button(key="cp_submit").click().run()
    assert services_of(at).sandbox.users() == []
    assert any("is a spreadsheet formula" in shown(m.value) for m in at.markdown)
    assert not any("This is required" in shown(m.value) for m in at.markdown)


def test_note_templates_are_added_with_a_plain_form_checked_edited_and_removed():
    """No grid: an add form that refuses half-filled templates next to the field (keeping what
    was typed, even across pages), a list with edit, preselect and remove (confirmed)."""
    from partner_console.storage import fingerprint
    from partner_console.storage.catalog import NoteTemplate

    intake = "2fb81b0a-611b-11ed-9b6a-0242ac120002"
    at = app(page="pages/note_templates.py")
    svc = services_of(at)
    scope = svc.history.scope_for(fingerprint(svc.secret, DEMO_KEY))

    def saved() -> list[NoteTemplate]:
        return svc.catalog.templates(scope)

    def said(words: str) -> bool:
        return any(words in shown(m.value) for m in [*at.markdown, *at.success, *at.warning])

    at.text_input(key="nt_name").input("Intake").run()
    at.button(key="nt_add_button").click().run()
    assert said("Paste the template's id") and saved() == []  # half-filled: nothing saved
    at.switch_page("pages/history.py").run()
    at.switch_page("pages/note_templates.py").run()
    assert at.text_input(key="nt_name").value == "Intake"  # what was typed is still there
    at.text_input(key="nt_id").input(" " + intake.upper()).run()
    at.checkbox(key="nt_pre").check().run()
    at.button(key="nt_add_button").click().run()
    assert not at.exception and saved() == [NoteTemplate("Intake", intake, True)]
    assert said("Added “Intake”") and at.text_input(key="nt_name").value == ""

    at.text_input(key="nt_name").input("intake").run()
    at.text_input(key="nt_id").input(intake).run()
    at.button(key="nt_add_button").click().run()
    assert said("already in the list, as “Intake”") and said("already called “Intake”")
    assert len(saved()) == 1

    at.button(key="nt_edit_0").click().run()
    at.text_input(key="nt_edit_name").input("Intake (adults)").run()
    at.button(key="nt_edit_save").click().run()
    assert saved() == [NoteTemplate("Intake (adults)", intake, True)]
    at.checkbox(key="nt_pre_0").uncheck().run()
    assert saved() == [NoteTemplate("Intake (adults)", intake, False)]

    at.button(key="nt_remove_0").click().run()
    assert len(saved()) == 1 and said("Remove “Intake (adults)” from the list?")
    at.button(key="nt_remove_yes_0").click().run()
    assert saved() == [] and not at.exception


def test_follow_up_lists_who_waits_with_a_reminder_and_records_it():
    """Providers invited 3 or more days ago and not signed up, oldest first; the reminder email
    (its own template, the same placeholders) and its mailto; "I sent this reminder" records
    who and when; a signed-up provider is not listed."""
    from datetime import timedelta

    from partner_console.signup import SIGNED_UP
    from partner_console.storage.tables import providers

    at = app()
    for first, email in (("Old", "old@example.com"), ("Older", "older@example.com"),
                         ("Done", "done@example.com"), ("New", "new@example.com")):
        fill(at, first=first, email=email).button(key="cp_submit").click().run()
        at.button(key="cp_dismiss").click().run()
    svc = services_of(at)
    scope = svc.history.scope_for(_fp(svc))
    rows = {r.first_name: r for r in svc.reads.search(scope).rows}
    from partner_console.storage.clock import utcnow

    with svc.history.engine.begin() as conn:
        for first, days in (("Old", 4), ("Older", 9), ("Done", 5), ("New", 1)):
            conn.execute(providers.update().where(providers.c.id == rows[first].id).values(
                created_at=utcnow() - timedelta(days=days)))
    svc.history.record_signup(rows["Done"].id, SIGNED_UP)
    at.switch_page("pages/follow_up.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["Older Smith", "Old Smith"]  # oldest first, no Done/New
    assert list(table["Waiting (days)"]) == [9, 4]
    at.session_state["fu_days"] = 7
    at.run()
    assert list(at.dataframe[0].value["Name"]) == ["Older Smith"]
    mail = [c.value for c in at.code]
    assert any(rows["Older"].invite_url in c and "older@example.com" in c for c in mail)
    svc.history.mark_reminded(scope, [rows["Older"].id], "Olivia")
    at.run()
    assert "by Olivia" in list(at.dataframe[0].value["Reminded"])[0]
    from partner_console.invite_email import DEFAULT_REMINDER_TEMPLATE, render_email

    message = render_email(DEFAULT_REMINDER_TEMPLATE, first_name="Zoë", last_name="Müller",
                           invite_link="https://x/i", room_link="https://x/r", sender_name="Ann",
                           fallback=DEFAULT_REMINDER_TEMPLATE)
    assert message.subject == "A reminder: your Upheal account is waiting"
    assert message.body.startswith("Hello Zoë,") and "https://x/i" in message.body
    assert message.mailto("zoe@example.com").startswith(
        "mailto:zoe%40example.com?subject=A%20reminder%3A%20your%20Upheal")


def test_overview_shows_the_numbers_and_a_chart():
    at = app()
    fill(at).button(key="cp_submit").click().run()
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Providers created"] == "1" and shown["Signed up"] == "0"
    assert shown["Sign-up rate"] == "0%" and shown["Median days to sign up"] == "–"
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert charts
    spec = json.loads(charts[0].proto.spec)
    assert spec["encoding"]["y"]["axis"] == {"format": "d", "tickMinStep": 1}  # whole people


def test_overview_of_an_empty_history_says_so_instead_of_an_empty_chart():
    at = app()
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    assert not (at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))
    assert any("No provider was created or signed up in the last 26 weeks" in c.value
               for c in at.caption)


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/follow_up.py",
                                  "pages/history.py"])
def test_sign_ups_are_checked_by_themselves_on_the_pages_that_show_them_once_a_visit(page):
    from components.signups import AUTO_SETTING
    from partner_console.jobs.store import JobKind

    at = app()
    fill(at).button(key="cp_submit").click().run()
    svc = services_of(at)
    scope = svc.history.scope_for(_fp(svc))
    at.switch_page(page).run()
    # (the in-process sandbox may answer before the page draws the line: either is true)
    assert any(re.search(r"Sign-up status: (not checked with Upheal yet|last checked with "
                         r"Upheal)", shown(c.value)) for c in at.caption)
    jobs = svc.jobs.jobs(scope, kind=JobKind.REFRESH)  # on by default
    assert len(jobs) == 1 and jobs[0].total == 1
    svc.runners.get(jobs[0].id).join(30)
    assert svc.reads.search(scope).rows[0].signup_checked_at is not None
    at.run()  # the same visit: nothing more; and the provider was just checked anyway
    assert any("Sign-up status: last checked with Upheal" in shown(c.value) for c in at.caption)
    at.session_state["hi_auto_started"] = False
    at.run()
    assert len(svc.jobs.jobs(scope, kind=JobKind.REFRESH)) == 1  # checked within the last hour
    svc.catalog.set_setting(scope, AUTO_SETTING, "0")  # turned off: never by itself
    fill(at.switch_page("pages/create_provider.py").run(), email="two@example.com")
    at.button(key="cp_submit").click().run()
    at.session_state["hi_auto_started"] = False
    at.switch_page(page).run()
    assert len(svc.jobs.jobs(scope, kind=JobKind.REFRESH)) == 1
    assert any("Automatic checks are off" in c.value for c in at.caption)


def test_one_automatic_refresh_token_per_organisation_and_period(monkeypatch):
    from datetime import datetime

    import components.signups as signups
    from partner_console.storage import Scope

    now = [datetime(2026, 12, 4, 10, 5)]
    monkeypatch.setattr(signups, "utcnow", lambda: now[0])
    one, other = Scope("fp", ("org-1",)), Scope("fp", ("org-2",))
    first = signups.auto_token(one, 1)
    assert len(first) <= 64 and first.startswith("auto-")  # (the start token column holds 64)
    now[0] = datetime(2026, 12, 4, 10, 55)
    assert signups.auto_token(one, 1) == first  # another replica, the same hour: the same job
    assert signups.auto_token(other, 1) != first
    assert signups.auto_token(one, 24) != first
    now[0] = datetime(2026, 12, 4, 11, 0)
    assert signups.auto_token(one, 1) != first  # the next hour: a new refresh may start


def test_follow_up_says_nobody_was_invited_that_long_ago_rather_than_all_signed_up():
    at = app(page="pages/follow_up.py")
    assert [shown(i.value) for i in at.info] == [
        "Nobody has been invited yet. The providers you create appear here until they sign up."]
    at.switch_page("pages/create_provider.py").run()
    fill(at)
    at.button(key="cp_submit").click().run()
    at.switch_page("pages/follow_up.py").run()
    assert any("Nobody was invited 3 or more day(s) ago yet" in i.value for i in at.info)
    assert not any("has signed up" in i.value for i in at.info)
    at.number_input(key="fu_days").set_value(0).run()
    assert any("provider(s) waiting" in shown(m.value) for m in at.markdown)


# -- invite emails (the sandbox: the Outbox) -------------------------------------------------
def created(at: AppTest, first="Zoë", last="Müller", email="zoe@example.com") -> AppTest:
    fill(at, first, last, email)
    at.button(key="cp_submit").click().run()
    assert at.session_state["cp_outcome"]["status"] == "created"
    return at


def test_an_invite_emailed_after_a_create_lands_in_the_outbox_once():
    at = created(app())
    at.button(key="es_open_panel").click().run()
    row_id = at.session_state["cp_outcome"]["row_id"]
    assert any("Practice: kept on the Emails page" in c.value for c in at.caption)
    assert not any("Outbox" in e.value for kind in ("caption", "markdown", "warning")
                   for e in at.get(kind))  # one name: the navigation's
    assert at.text_input(key=f"es_subject_panel_{row_id}").value == "Your invitation to Upheal"
    body = at.text_area(key=f"es_body_panel_{row_id}").value
    assert at.session_state["cp_outcome"]["invite_url"] in body
    at.text_input(key=f"es_subject_panel_{row_id}").input("Welcome, Zoë").run()
    at.button(key="es_send_panel").click().run()
    assert any("Emailed to zoe" in shown(s.value) for s in at.success)
    svc = services_of(at)

    [kept] = svc.sends.recent(svc.history.scope_for(svc.reads.search(
        svc.history.scope_for(_fingerprint(svc))).rows[0].__class__ and _fingerprint(svc)))
    assert kept.subject == "Welcome, Zoë" and kept.transport == "outbox" and kept.state == "sent"
    # a second send asks first: the button waits for "Send it again"
    at.button(key="es_open_panel").click().run()
    assert at.button(key="es_send_panel").disabled
    at.checkbox(key=f"es_again_panel_{row_id}").check().run()
    assert not at.button(key="es_send_panel").disabled
    # Emails shows it, labelled as practice, under the navigation's own name
    at.switch_page("pages/emails.py").run()
    assert at.title[0].value == "Emails"
    assert any("Practice: not sent" in w.value for w in at.warning)


def test_a_double_clicks_second_click_after_the_send_shows_the_first_result():
    """A double click on Send now whose second click reaches the server after the first
    click's send went out (a busy machine): one email, and the panel still says "Emailed to",
    never "Nothing was sent"."""
    at = created(app())
    at.button(key="es_open_panel").click().run()
    row_id = at.session_state["cp_outcome"]["row_id"]
    texts = {key: at.session_state[key] for key in (f"es_subject_panel_{row_id}",
                                                    f"es_body_panel_{row_id}")}
    at.button(key="es_send_panel").click().run()
    assert any("Emailed to zoe" in shown(s.value) for s in at.success)
    # The browser still had the button, enabled, and the texts: the second click runs its
    # callback as the first did (here the panel is drawn as it was, "Send it again" ticked to
    # enable the button).
    for key, value in {**texts, f"es_open_panel_{row_id}": True,
                       f"es_again_panel_{row_id}": True}.items():
        at.session_state[key] = value
    at.run()
    at.button(key="es_send_panel").click().run()
    assert any("Emailed to zoe" in shown(s.value) for s in at.success)
    assert not any("Nothing was sent" in i.value for i in at.info)
    svc = services_of(at)
    assert [s.state for s in svc.sends.for_provider(
        svc.history.scope_for(_fingerprint(svc)), row_id, "invite")] == ["sent"]


def _fingerprint(svc) -> str:
    from partner_console.storage import fingerprint

    return fingerprint(svc.secret, DEMO_KEY)


def test_a_removed_invite_link_is_refused_with_a_sentence_and_nothing_sent():
    at = created(app())
    row_id = at.session_state["cp_outcome"]["row_id"]
    at.button(key="es_open_panel").click().run()
    at.text_area(key=f"es_body_panel_{row_id}").input("Hello, no link here").run()
    at.button(key="es_send_panel").click().run()
    assert any("no longer holds the invite link" in shown(e.value) for e in at.error)
    svc = services_of(at)
    assert svc.sends.count(svc.history.scope_for(_fingerprint(svc))) == 0


def test_history_offers_to_email_the_invites_and_shows_an_unfinished_job():
    at = created(app())
    created(at, "Max", "Lee", "max@example.com")
    at.switch_page("pages/history.py").run()
    at.toggle(key="hi_email_toggle").set_value(True).run()
    ask = at.button(key="ej_ask_history")
    assert ask.label == "Email the invites to 2 provider(s)"
    ask.click().run()
    at.button(key="ej_start_history").click().run()
    svc = services_of(at)
    scope = svc.history.scope_for(_fingerprint(svc))
    [job] = svc.jobs.jobs(scope, kind="emails")
    svc.runners.get(job.id).join(30)
    assert svc.sends.count(scope, ("sent",)) == 2
    # a new session (a restart, another tab) sees a paused job without touching the toggle
    from partner_console.jobs.store import JobStore
    from partner_console.storage.coordination import Leases

    second = create_email_job(
        svc.jobs, scope, email_kind="invite", created_by="Ann",
        start_token="paused-one", providers=[(1, "zoe@example.com", "Zoë Müller", {})])[0]
    assert Leases(svc.jobs.engine).claim(second, "gone#1")  # a runner that then died
    Leases(svc.jobs.engine).release(second, "gone#1", "paused")
    assert JobStore(svc.jobs.engine).get(scope, second).status == "paused"
    other = app(page="pages/history.py")
    assert other.button(key="jp_history_resume").label == "Resume"


def test_a_job_that_ends_while_the_page_runs_does_not_lose_the_click_of_that_run(monkeypatch):
    """A job's panel is drawn from one reading of the job. It read the job twice, and a
    sign-up refresh that ended in between restarted the page's run: the click that run carried
    ("Email the invites") was lost, and the person had to click again (seen under load)."""
    from dataclasses import replace
    from datetime import timedelta

    from partner_console.jobs.store import JobKind, JobStatus, JobStore
    from partner_console.storage.clock import utcnow

    at = created(app())
    at.switch_page("pages/history.py").run()  # (the automatic sign-up check: a refresh)
    svc = services_of(at)
    scope = svc.history.scope_for(_fingerprint(svc))
    [refresh] = svc.jobs.jobs(scope, kind=JobKind.REFRESH)
    svc.runners.get(refresh.id).join(30)
    at.toggle(key="hi_email_toggle").set_value(True).run()
    readings: list[int] = []
    read = JobStore.get

    def running_then_ended(self, scope, job_id):  # running at the first reading, then ended
        job = read(self, scope, job_id)
        if job_id != refresh.id:
            return job
        readings.append(job_id)
        if len(readings) > 1:
            return job
        return replace(job, status=JobStatus.RUNNING,
                       lease_expires_at=utcnow() + timedelta(minutes=1))

    monkeypatch.setattr(JobStore, "get", running_then_ended)
    at.button(key="ej_ask_history").click().run()
    assert readings  # (the refresh's panel was drawn in that run)
    assert at.button(key="ej_start_history").label == "Yes, send them"


# -- sign-in (st.login) and the activity log -----------------------------------------------------
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 40,
        "client_id": "console", "client_secret": "secret",
        "server_metadata_url": "http://localhost:9400/.well-known/openid-configuration"}
ALICE = {"is_logged_in": True, "email": "alice@partner.example", "name": "Alice Ansel",
         "email_verified": True}


def signed_in_app(user: dict, auth: dict | None = None, key: str | None = DEMO_KEY,
                  page: str | None = None) -> AppTest:
    return app(key, page, auth=auth or AUTH, user=user)


def nothing_of_the_console(at: AppTest) -> None:
    assert [t.label for t in at.text_input] == []  # no key box, no form
    assert len(at.dataframe) == 0
    assert not [m.value for m in at.sidebar.markdown if "Signed in" in m.value]


@pytest.mark.parametrize("page", [None, "pages/history.py"])
def test_with_sign_in_on_nothing_is_shown_before_sign_in(page):
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.session_state["api_key"] = DEMO_KEY  # even a key in the session shows nothing
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in with your company account" in at.markdown[0].value
    nothing_of_the_console(at)


def test_named_providers_get_a_button_each_and_an_incomplete_setup_says_what_is_missing():
    named = {k: v for k, v in AUTH.items() if k in ("redirect_uri", "cookie_secret")}
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = {**named, "microsoft": provider, "okta": provider}
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in with Microsoft", "Sign in with Okta"]
    broken = signed_in_app(ALICE, auth={**AUTH, "cookie_secret": "short"})
    assert "not set up correctly" in shown(broken.error[0].value)
    assert "cookie_secret must be a long random string" in shown(broken.error[0].value)
    nothing_of_the_console(broken)


@pytest.mark.parametrize("user, words", [
    ({**ALICE, "email": "mallory@elsewhere.example"}, "is not allowed to use"),
    ({**ALICE, "email_verified": False}, "could not confirm that the address"),
    ({k: v for k, v in ALICE.items() if k != "email_verified"}, "could not confirm"),
    ({**ALICE, "email_verified": "off"}, "could not confirm that the address"),
    ({**ALICE, "email": "eve@evil.example@partner.example"}, "is not allowed to use"),
    ({**ALICE, "email": "carl@evil.example, carl@partner.example"}, "is not allowed to use"),
    ({"is_logged_in": True, "name": "No Address"}, "did not tell the console your email"),
])
def test_people_outside_the_allow_list_are_told_plainly_and_see_nothing(monkeypatch, user,
                                                                         words):
    monkeypatch.setenv("PARTNER_CONSOLE_ALLOWED_EMAILS", "@partner.example")
    at = signed_in_app(user)
    assert words in shown(at.error[0].value)
    assert [b.label for b in at.button] == ["Sign out"]
    nothing_of_the_console(at)
    at.run()  # logged once per session, however many runs
    from partner_console.storage.activity import SIGN_IN_REFUSED
    from partner_console.storage.scope import Scope

    entries = services_of(at).activity.page(Scope("any-org-key")).entries
    assert [(e.action, e.actor_email) for e in entries] == [
        (SIGN_IN_REFUSED, user.get("email", ""))]
    assert "Sign-in refused" in entries[0].summary
    assert "token" not in entries[0].summary.lower()


def test_a_trusted_provider_lets_in_an_address_without_a_verified_claim(monkeypatch):
    monkeypatch.setenv("PARTNER_CONSOLE_ALLOWED_EMAILS", "@partner.example")
    monkeypatch.setenv("PARTNER_CONSOLE_TRUSTED_EMAIL_PROVIDERS", "default")
    at = signed_in_app({k: v for k, v in ALICE.items() if k != "email_verified"})
    assert not at.error
    assert any("Alice Ansel" in m.value for m in at.sidebar.markdown)


def test_signed_in_the_identity_is_the_name_in_every_record_and_the_log(monkeypatch):
    monkeypatch.setenv("PARTNER_CONSOLE_ALLOWED_EMAILS", "@partner.example")
    at = signed_in_app(ALICE)
    assert "Your name" not in [t.label for t in at.text_input]
    assert any("Alice Ansel" in m.value for m in at.sidebar.markdown)
    fill(at).button(key="cp_submit").click().run()
    assert not at.exception
    at.switch_page("pages/history.py").run()
    assert at.dataframe[0].value["Created by"].tolist() == ["Alice Ansel (alice@partner.example)"]
    at.switch_page("pages/activity.py").run()
    log = at.dataframe[0].value
    assert log["Who"].tolist() == ["Alice Ansel (alice@partner.example)"]
    assert log["What"].tolist() == ["Created a provider"]
    assert log["Details"].tolist() == ["Created Jane Smith (jane@example.com)."]


def test_without_sign_in_the_log_carries_the_typed_name_and_template_changes():
    at = app()
    at.text_input(key="your_name_input").input("Dana Desk").run()
    fill(at).button(key="cp_submit").click().run()
    at.switch_page("pages/note_templates.py").run()
    at.text_input(key="nt_name").input("Intake")
    at.text_input(key="nt_id").input("3f1c9a52-8d7e-4b0a-9c61-2f5e8d4a7b10")
    at.button(key="nt_add_button").click().run()
    assert not at.exception
    at.switch_page("pages/activity.py").run()
    log = at.dataframe[0].value
    assert log["Who"].tolist() == ["Dana Desk", "Dana Desk"]
    assert log["What"].tolist() == ["Templates", "Created a provider"]
    assert "Intake" in log["Details"][0]
    at.text_input(key="ac_search").input("jane").run()
    assert at.dataframe[0].value["What"].tolist() == ["Created a provider"]
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV",
                                                                   "Download Excel"]
    at.text_input(key="ac_search").input("ja").run()
    assert "three or more letters" in shown(at.info[0].value)
    at.text_input(key="ac_search").input("nobody at all").run()
    assert "No entries match" in shown(at.info[0].value)
    assert not at.get("download_button") and "Export" not in [h.value for h in at.header]


def test_sign_out_forgets_the_key_and_signs_out(monkeypatch):
    monkeypatch.setenv("PARTNER_CONSOLE_ALLOWED_EMAILS", "@partner.example")
    at = signed_in_app(ALICE)
    assert at.session_state["api_key"] == DEMO_KEY
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert "api_key" not in at.session_state
    assert at.user["is_logged_in"] is False  # (the browser is sent to sign-out: tested in e2e)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_preview_numbers_are_the_numbers_of_the_button_the_confirmation_and_the_job():
    """Classified once per file: reruns, the button, the confirmation and the results agree;
    the template's own example row is recognised and left out unless kept."""
    at = app(page="pages/bulk_import.py")
    seed_history(at, 2)  # p000 and p001 are already in History
    data = ("First name,Last name,Email\nJane,Smith,jane.smith@example.com\n"
            "P000,Test,p000@example.com\nP001,Test,P001@example.com\n,Nobody,\nBad,Row,not-an-email\n"
            + "".join(f"New{i},Person,new{i}@example.com\n" for i in range(25)))
    at.file_uploader(key="bi_upload_0").set_value(("practice.csv", data.encode(), "text/csv"))
    at.run()
    expected = {"Ready": "25", "Needs fixing": "2", "Repeated": "0", "Already in History": "2",
                "Has Upheal account": "0", "Example row": "1"}
    for _ in range(3):  # the same numbers on every rerun
        assert _metrics(at) == expected
        at.run()
    preview = at.dataframe[0].value
    example = preview[preview["Email"] == "jane.smith@example.com"]
    assert example["Status"].tolist() == ["The template's example row"]
    assert "left out" in example["What to do"].iloc[0]
    at.button(key="bi_start_ask").click().run()
    assert at.button(key="bi_start_ask").proto.label == "Start import of 25 provider(s)"
    assert _metrics(at) == expected
    assert any("This creates 25 provider(s)" in w.value for w in at.warning)
    at.checkbox(key="bi_keep_example").check().run()  # kept: one more ready, the same elsewhere
    assert _metrics(at) == {**expected, "Ready": "26", "Example row": "0"}
    assert any("This creates 26 provider(s)" in w.value for w in at.warning)
    at.checkbox(key="bi_keep_example").uncheck().run()
    assert _metrics(at) == expected and any("This creates 25 provider(s)" in w.value
                                            for w in at.warning)
    at.button(key="bi_start").click().run()
    job_id = at.session_state["bi_job"]
    services_of(at).runners.get(job_id).join(60)
    at.run()
    assert _metrics(at) == {"Created": "25", "Failed": "0", "Not sent": "5", "Waiting": "0"}
    emails = [u["email"] for u in services_of(at).sandbox.users()]
    assert "jane.smith@example.com" not in emails and len(emails) == 2 + 25


# Each page that shows only the organisation's data, with what its key prompt says it is for.
PURPOSES = {"activity": "to see its activity", "email_texts": "to see its email texts",
            "follow_up": "to see who has not signed up yet", "history": "to see its providers",
            "note_templates": "to see its templates", "overview": "to see how onboarding is going",
            "practices": "to see its practices", "roster_sync": "to sync its roster"}


@pytest.mark.parametrize("page", sorted(PURPOSES))
def test_a_page_of_the_organisation_shows_only_its_title_and_the_key_prompt_without_a_key(page):
    from components.router import PAGES

    title, purpose = {name: title for name, title, _ in PAGES}[page], PURPOSES[page]
    at = app(key=None, page=f"pages/{page}.py")
    assert [t.value for t in at.main.title] == [title]
    prompts = [i.value for i in at.main.info]
    assert len(prompts) == 1 and f"in the sidebar {purpose}." in prompts[0]
    assert not at.main.button and not at.main.text_input and not at.main.selectbox
    assert not at.main.get("dataframe") and not at.main.get("download_button")
    assert not at.main.header and not at.main.expander
    with_key = app(page=f"pages/{page}.py")  # with the key, the page itself
    assert [t.value for t in with_key.main.title] == [title]
    assert not any("Paste your organisation's API key" in i.value for i in with_key.main.info)
    assert len(with_key.main.children) > len(at.main.children)  # what the prompt held back
