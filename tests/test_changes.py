"""After the invite: change details, deactivate, reactivate, replace a mistyped email. Against
the sandbox served on loopback (real HTTP), on SQLite and PostgreSQL: what each call sends,
what Upheal's answers become, and that nothing is done twice."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from partner_console.api.client import UphealClient
from partner_console.api.models import NoteIdentifier, validate_provider
from partner_console.changes import Change, ProviderChanger, wanted_change
from partner_console.creation import ProviderCreator
from partner_console.identity import Person
from partner_console.storage import HistoryFilter, LinkJournal, fingerprint
from partner_console.storage.activity import Activity, ActivityFilter
from partner_console.storage.provider_actions import ProviderActions
from tests.conftest import DEMO_KEY, FORBIDDEN_KEY
from tests.helpers import HistoryForTests

ANN = Person("Ann Admin", "ann@partner.example")
TEMPLATE = "2fb81b0a-611b-11ed-9b6a-0242ac120002"


pytestmark = pytest.mark.sandbox(rate_per_minute=100_000, seed=23)  # (the `served` fixture's)


def _changer(engine, server, tmp_path, key=DEMO_KEY):
    history = HistoryForTests(engine)
    client = UphealClient(server.base_url, timeout=5)
    creator = ProviderCreator(client, history, LinkJournal(tmp_path / "j.jsonl"), 1.0)
    changer = ProviderChanger(client, history, ProviderActions(engine), Activity(engine),
                              creator, "test#1")
    scope = history.scope_for(fingerprint(b"s", key))
    return changer, history, scope


def _created(changer, scope, email="jane@example.com", key=DEMO_KEY, **extra):
    request, errors = validate_provider({"first_name": "Jane", "last_name": "Smith",
                                         "email": email, **extra})
    assert request is not None, errors
    outcome = changer.creator.create(key, scope, request, created_by="Ann")
    assert outcome.status == "created", outcome
    return outcome.row_id


def _calls(app, method):
    return [c for c in app.calls if c.method == method]


def test_only_the_fields_that_changed_are_sent_each_to_its_endpoint(engine, served, tmp_path):
    app, server = served
    changer, history, scope = _changer(engine, server, tmp_path)
    row_id = _created(changer, scope, national_provider_identifier="1234567893")
    row = history.get(scope, row_id)
    change, errors = wanted_change(row, {"first_name": "Janet", "last_name": "Smith",
                                         "default_note_template_ids": [],
                                         "national_provider_identifier": "1234567893"})
    assert not errors and change.new == {"first_name": "Janet"}
    assert change.user_body == {"firstName": "Janet"} and change.provider_body == {}
    outcome = changer.change(DEMO_KEY, scope, row_id, change, ANN, "t1")
    assert outcome.ok, outcome
    assert [c.path for c in _calls(app, "PATCH")] == [f"/users/{row.user_id}"]
    assert app.users()[0]["firstName"] == "Janet"
    row = history.get(scope, row_id)
    assert row.first_name == "Janet" and row.changed_at is not None
    assert history.search(scope, HistoryFilter(text="janet")).total == 1  # found by the new name

    change, _ = wanted_change(row, {"therapy_licence": "LCSW", "note_identifier": "DrLastName",
                                    "default_note_template_ids": [TEMPLATE]})
    assert change.provider_body == {"therapyLicence": "LCSW", "noteIdentifier": "DrLastName",
                                    "defaultNoteTemplateIds": [TEMPLATE]}
    assert changer.change(DEMO_KEY, scope, row_id, change, ANN, "t2").ok
    assert [c.path for c in _calls(app, "PATCH")][-1] == f"/users/providers/{row.user_id}"
    assert len(_calls(app, "PATCH")) == 2  # (no update-user this time)
    user = app.users()[0]
    assert (user["therapyLicence"], user["noteIdentifier"], user["defaultNoteTemplateIds"]) == (
        "LCSW", "DrLastName", [TEMPLATE])
    row = history.get(scope, row_id)
    assert (row.therapy_licence, row.note_identifier, row.default_note_template_ids) == (
        "LCSW", NoteIdentifier.DR_LAST_NAME.value, [TEMPLATE])
    [entry, first] = Activity(engine).page(scope, ActivityFilter(), None, 10).entries[:2]
    assert entry.summary.startswith("Changed note templates, licence, note identifier of Janet "
                                    "Smith (jane@example.com).")
    assert "NPI" not in entry.summary and "Ann Admin" in entry.who
    assert first.summary == ("Changed first name of Jane Smith (jane@example.com). "
                             "First name: Jane → Janet.")


def test_the_exact_request_each_call_sends():
    seen: list[tuple[str, str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        status = 202 if request.url.path.endswith("/activate") else 200
        return httpx.Response(status, json={"userId": "u-1"})

    client = UphealClient("https://api.example/", transport=httpx.MockTransport(answer))
    client.update_user("k", "u-1", {"firstName": "Jo"})
    client.update_provider("k", "u-1", {"nationalProviderIdentifier": "1234567893"})
    client.deactivate("k", "u-1")
    client.activate("k", "u-1")
    assert seen == [("PATCH", "/users/u-1", {"firstName": "Jo"}),
                    ("PATCH", "/users/providers/u-1", {"nationalProviderIdentifier": "1234567893"}),
                    ("DELETE", "/users/u-1", None),
                    ("POST", "/users/u-1/activate", {})]
    with pytest.raises(ValueError):  # update-provider takes its four fields only
        client.update_provider("k", "u-1", {"email": "x@example.com"})


def test_a_bad_value_is_refused_in_words_before_anything_is_sent(engine, served, tmp_path):
    app, server = served
    changer, history, scope = _changer(engine, server, tmp_path)
    row = history.get(scope, _created(changer, scope))
    change, errors = wanted_change(row, {"national_provider_identifier": "1234567890",
                                         "first_name": "=HYPERLINK(\"x\")"})
    assert not change and set(errors) == {"national_provider_identifier", "first_name"}
    assert "last digit" in errors["national_provider_identifier"]
    assert _calls(app, "PATCH") == []
    blank, errors = wanted_change(row, {"first_name": "", "therapy_licence": ""})
    assert not blank and not errors  # a blank box keeps what History has


def test_deactivate_and_reactivate_are_recorded_and_change_what_is_offered(engine, served,
                                                                            tmp_path):
    app, server = served
    changer, history, scope = _changer(engine, server, tmp_path)
    row_id = _created(changer, scope)
    other = _created(changer, scope, email="other@example.com")
    outcome = changer.deactivate(DEMO_KEY, scope, row_id, ANN, "d1")
    assert outcome.ok and "Reactivate" in outcome.words
    assert app.is_deactivated("jane@example.com")
    row = history.get(scope, row_id)
    assert not row.active and row.deactivated_by == ANN.label
    assert changer.client.check_user(DEMO_KEY, "jane@example.com").is_active is False
    found = history.search(scope, HistoryFilter(statuses=("deactivated",))).rows
    assert [r.id for r in found] == [row_id]
    assert [r.id for r in history.search(scope, HistoryFilter(statuses=("created",))).rows] == [
        other]
    assert [p for p, _, _ in history.to_refresh(scope, HistoryFilter(),
                                                include_signed_up=True)] == [other]
    assert [p for p, _, _ in history.with_invite_links(scope, HistoryFilter())] == [other]
    # a deactivated provider cannot be changed: Upheal's answer, in words
    refused = changer.change(DEMO_KEY, scope, row_id, Change({"first_name": "J"},
                                                             {"first_name": "Jane"}), ANN, "c1")
    assert not refused.ok and "reactivate them first" in refused.words
    assert changer.reactivate(DEMO_KEY, scope, row_id, ANN, "r1").ok
    assert history.get(scope, row_id).active and not app.is_deactivated("jane@example.com")
    actions = [e.action for e in Activity(engine).page(scope, ActivityFilter(), None, 10).entries]
    assert actions[:2] == ["reactivated", "deactivated"]


def test_a_double_click_two_tabs_or_two_servers_deactivate_once(engine, served, tmp_path):
    app, server = served
    changer, history, scope = _changer(engine, server, tmp_path)
    row_id = _created(changer, scope)
    results = []
    tab_answered = threading.Event()

    def click(token: str) -> None:
        results.append(changer.deactivate(DEMO_KEY, scope, row_id, ANN, token))
        if token == "tab-2":
            tab_answered.set()

    sending = threading.Event()
    deactivate = changer.client.deactivate

    def marked(*args):
        # the first call stays on its way until the other tab has had its answer (however
        # slowly the machine starts threads)
        sending.set()
        tab_answered.wait(10)
        return deactivate(*args)

    changer.client.deactivate = marked
    # the first click is inside its call to Upheal before the double click and the other tab
    threads = [threading.Thread(target=click, args=(t,)) for t in ("same", "same", "tab-2")]
    threads[0].start()
    assert sending.wait(10)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_calls(app, "DELETE")) == 1
    assert sorted(r.ok for r in results) == [False, True, True]  # the second tab: busy
    assert [r.busy for r in results if not r.ok] == [True]
    again = changer.deactivate(DEMO_KEY, scope, row_id, ANN, "same")  # a late rerun: same answer
    assert again.ok and len(_calls(app, "DELETE")) == 1


def test_upheal_answers_become_sentences(engine, served, tmp_path):
    app, server = served
    changer, history, scope = _changer(engine, server, tmp_path)
    row_id = _created(changer, scope)
    app.remove_user("jane@example.com")
    gone = changer.deactivate(DEMO_KEY, scope, row_id, ANN, "x1")
    assert not gone.ok and "removed in Upheal" in gone.words
    forbidden, history_f, scope_f = _changer(engine, server, tmp_path, key=FORBIDDEN_KEY)
    row_f = _created(changer, scope, email="f@example.com")  # created with the demo key
    refused = forbidden.deactivate(FORBIDDEN_KEY, scope, row_f, ANN, "x2")
    assert not refused.ok and "not allowed to deactivate" in refused.words
    assert "403" not in refused.words and "{" not in refused.words


def test_a_mistyped_email_is_replaced_never_two_active_users(engine, served, tmp_path):
    app, server = served
    changer, history, scope = _changer(engine, server, tmp_path)
    row_id = _created(changer, scope, email="jane@gmial.com", therapy_licence="LCSW")
    _created(changer, scope, email="taken@example.com")
    app.remove_user("taken@example.com")
    app.add_user(DEMO_KEY, {"firstName": "T", "lastName": "K", "email": "jane@gmail.com"})
    # the right address already has an Upheal account: the wrong one is deactivated, the
    # create is refused, and the person is told, and offered it again
    first = changer.replace_email(DEMO_KEY, scope, row_id, "jane@gmail.com", ANN, "r1")
    assert not first.ok and "was not created" in first.words and "again" in first.words
    assert app.is_deactivated("jane@gmial.com")
    app.remove_user("jane@gmail.com")  # (sorted out in Upheal)
    second = changer.replace_email(DEMO_KEY, scope, row_id, "jane@gmail.com", ANN, "r2")
    assert second.ok, second
    assert len(_calls(app, "DELETE")) == 1  # deactivated once, not on the second press
    new = history.get(scope, second.provider_id)
    old = history.get(scope, row_id)
    assert (old.replaced_by, new.replaces) == (new.id, old.id)
    assert (new.email, new.first_name, new.therapy_licence) == ("jane@gmail.com", "Jane", "LCSW")
    assert new.active and not old.active and new.invite_url
    actives = [u for u in app.users() if u["firstName"] == "Jane" and not u.get("deactivated")]
    assert [u["email"] for u in actives] == ["jane@gmail.com"]
    same = changer.replace_email(DEMO_KEY, scope, second.provider_id, "jane@gmail.com", ANN, "r3")
    assert not same.ok and "already" in same.words
