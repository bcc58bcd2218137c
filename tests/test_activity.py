"""Sign-in's pure parts (who may come in, who a record is for, whether [auth] is complete) and the
activity log on SQLite and a real PostgreSQL: scoped, searched, paged, exported."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partner_console.config import ConfigError, load_settings
from partner_console.exports import activity_csv, activity_xlsx
from partner_console.identity import (
    AllowList,
    Person,
    auth_problem,
    email_is_verified,
    person_from_claims,
    provider_label,
    providers_of,
)
from partner_console.storage import fingerprint
from partner_console.storage.activity import (
    CREATED,
    EXPORTED,
    TEMPLATES,
    Activity,
    ActivityFilter,
    logged,
)
from partner_console.storage.scope import Scope
from tests.helpers import HistoryForTests
from tests.workbooks import formulas

SECRET = "x" * 40
COMPLETE = {"redirect_uri": "https://console.partner.example/oauth2callback",
            "cookie_secret": SECRET, "client_id": "id", "client_secret": "s",
            "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}


# -- who may come in ------------------------------------------------------------------------------
def test_the_allow_list_takes_addresses_and_domains_whatever_the_case():
    allowed = AllowList.parse(" Alice@Partner.example ; @Clinic.Example,\n@b.example ")
    assert allowed.allows("alice@partner.example")
    assert allowed.allows("ALICE@PARTNER.EXAMPLE ")
    assert allowed.allows("zoe@clinic.example") and allowed.allows("x@B.example")
    assert not allowed.allows("bob@partner.example")  # an address entry is that address only
    assert not allowed.allows("eve@evil-clinic.example")  # not a suffix match
    assert not allowed.allows("eve@sub.clinic.example")  # nor a subdomain
    assert not allowed.allows("eve@clinic.example.evil.test")
    assert not allowed.allows("")
    assert not allowed.allows("clinic.example")


def test_an_empty_allow_list_lets_in_everyone_with_an_address():
    allowed = AllowList.parse("")
    assert allowed.everyone
    assert allowed.allows("anyone@anywhere.example")
    assert not allowed.allows("")


@pytest.mark.parametrize("entry, words", [
    ("partner.example", "write a domain as @partner.example"),
    ("@", "is not a domain"),
    ("@not a domain", "is not a domain"),
    ("alice@", "is not an email address"),
])
def test_a_bad_allow_list_stops_the_app_with_one_sentence(entry, words):
    with pytest.raises(ConfigError) as raised:
        load_settings({"PARTNER_CONSOLE_ALLOWED_EMAILS": f"ok@partner.example, {entry}"},
                      secrets_file=None)
    assert words in str(raised.value)
    assert str(raised.value).startswith("PARTNER_CONSOLE_ALLOWED_EMAILS")


@given(st.emails())
def test_an_allowed_address_is_allowed_and_its_neighbours_are_not(email):
    allowed = AllowList.parse(email)
    assert allowed.allows(email.upper()) == allowed.allows(email)
    local, domain = email.rsplit("@", 1)
    assert not allowed.allows(f"{local}x@{domain}")
    assert not allowed.allows(f"{local}@x{domain}")


def test_the_record_label_carries_name_and_email():
    assert Person("Zoë  Müller", "zoe@partner.example").label == \
        "Zoë Müller (zoe@partner.example)"
    assert Person("", "zoe@partner.example").label == "zoe@partner.example"
    assert Person("Typed name").label == "Typed name"
    assert Person("zoe@partner.example", "ZOE@partner.example").label == "zoe@partner.example"
    assert len(Person("n" * 300, "e@x.example").label) == 200


def test_claims_become_a_person_and_unverified_addresses_are_not_trusted():
    assert person_from_claims({"email": "a@b.example", "name": "Ann"}) == \
        Person("Ann", "a@b.example")
    assert person_from_claims({"email": "a@b.example", "given_name": "Ann",
                               "family_name": "Bee"}).name == "Ann Bee"
    assert email_is_verified({"email_verified": True})
    assert email_is_verified({"email_verified": "true"})
    assert email_is_verified({"email_verified": " TRUE "})
    assert not email_is_verified({"email_verified": False})
    assert not email_is_verified({"email_verified": "false"})


@pytest.mark.parametrize("claims", [
    {"email": "a@b.example"},  # silence is not a yes ("nOAuth")
    {"email_verified": "off"}, {"email_verified": ""}, {"email_verified": "yes"},
    {"email_verified": 1}, {"email_verified": None}, {"email_verified": [True]},
    {"xms_edov": False}, {"xms_edov": "1"},
])
def test_an_address_nobody_vouched_for_is_not_trusted(claims):
    assert not email_is_verified(claims)
    assert not email_is_verified({**claims, "provider": "entra"}, frozenset({"okta"}))


def test_entra_domain_owner_verified_and_operator_trusted_providers_are_trusted():
    assert email_is_verified({"xms_edov": True})
    assert email_is_verified({"xms_edov": "true", "email_verified": False})
    trusted = frozenset({"default", "okta"})
    assert email_is_verified({"provider": "default"}, trusted)
    assert email_is_verified({}, trusted)  # no provider claim: the bare [auth] one
    assert email_is_verified({"provider": "Okta"}, trusted)
    assert not email_is_verified({"provider": "microsoft"}, trusted)


@pytest.mark.parametrize("claim", [
    "eve@evil.example@partner.example", "carl@evil.example, carl@partner.example",
    "carl@evil.example,carl@partner.example", "carl@evil.example carl@partner.example",
    '"eve@evil.example"@partner.example', "Eve <eve@partner.example>",
    "eve@evil.example\n@partner.example", "eve@evil.example\x00@partner.example",
    "@partner.example", "partner.example", "eve@partner.example.", "",
    "eve@evil.example;carl@partner.example",
])
def test_a_claim_that_is_not_exactly_one_address_is_refused_whatever_its_end(claim):
    allowed = AllowList.parse("@partner.example, boss@partner.example")
    claim = claim.encode().decode("unicode_escape")
    assert not allowed.allows(claim)
    assert not AllowList().allows(claim)  # with no list too: one address or nobody


def test_one_address_of_the_domain_is_let_in_however_it_is_written():
    allowed = AllowList.parse("@partner.example")
    assert allowed.allows("eve@partner.example")
    assert allowed.allows("Eve@Partner.Example")
    assert allowed.allows("  eve@partner.example ")
    assert not allowed.allows("eve@sub.partner.example")


def test_an_auth_section_is_checked_before_anyone_signs_in():
    assert auth_problem(COMPLETE) is None
    assert "redirect_uri" in auth_problem({**COMPLETE, "redirect_uri": ""})
    assert "/oauth2callback" in auth_problem({**COMPLETE, "redirect_uri": "https://x.example/"})
    assert "cookie_secret" in auth_problem({**COMPLETE, "cookie_secret": "short"})
    assert "client_secret" in auth_problem({k: v for k, v in COMPLETE.items()
                                            if k != "client_secret"})
    named = {"redirect_uri": COMPLETE["redirect_uri"], "cookie_secret": SECRET,
             "microsoft": {"client_id": "i", "client_secret": "s",
                           "server_metadata_url": "https://login.example/.well-known/x"},
             "google": {"client_id": "i", "client_secret": "s"}}
    assert providers_of(named) == ["microsoft", "google"]
    assert auth_problem(named) == "[auth.google] has no server_metadata_url."
    assert "names no identity provider" in auth_problem(
        {"redirect_uri": COMPLETE["redirect_uri"], "cookie_secret": SECRET})
    assert provider_label("default") == "Sign in"
    assert provider_label("microsoft") == "Sign in with Microsoft"
    assert provider_label("my_idp") == "Sign in with My Idp"


# -- the activity log -----------------------------------------------------------------------------
def scopes(engine):
    history = HistoryForTests(engine)
    return (history, history.scope_for(fingerprint(b"s", "key-one")),
            history.scope_for(fingerprint(b"s", "key-two")))


ALICE = Person("Alice Ansel", "alice@partner.example")
BOB = Person("Bob Brandt", "bob@partner.example")


def test_entries_are_scoped_newest_first_and_paged_by_keyset(engine):
    _, one, two = scopes(engine)
    log = Activity(engine)
    for n in range(120):
        log.record(one, ALICE if n % 2 else BOB, CREATED, f"Created Provider {n} (p{n}@x.example).")
    log.record(two, BOB, CREATED, "Created Other (other@elsewhere.example).")
    first = log.page(one, size=50)
    assert [e.summary for e in first.entries[:2]] == [
        "Created Provider 119 (p119@x.example).", "Created Provider 118 (p118@x.example)."]
    assert first.older is not None
    second = log.page(one, older_than=first.older, size=50)
    third = log.page(one, older_than=second.older, size=50)
    assert len(third.entries) == 20 and third.older is None
    summaries = [e.summary for p in (first, second, third) for e in p.entries]
    assert len(set(summaries)) == 120
    assert all("Other" not in s for s in summaries)  # another organisation's entry is not seen
    assert [e.summary for e in log.page(two).entries] == [
        "Created Other (other@elsewhere.example)."]
    assert first.entries[0].who == "Alice Ansel (alice@partner.example)"


def test_search_finds_people_and_details_whatever_the_accents(engine):
    _, one, _ = scopes(engine)
    log = Activity(engine)
    log.record(one, Person("Zoë Müller", "zoe@partner.example"), EXPORTED,
               "Downloaded the History as CSV (every provider).")
    log.record(one, ALICE, CREATED, "Created Seán O'Connor (sean@clinic.example).")
    log.record(one, ALICE, TEMPLATES, "Changed the invite email text.")
    found = lambda text, **kw: [e.summary for e in log.page(  # noqa: E731
        one, ActivityFilter(text=text, **kw)).entries]
    assert found("muller") == ["Downloaded the History as CSV (every provider)."]
    assert found("oconnor") == ["Created Seán O'Connor (sean@clinic.example)."]
    assert found("clinic.example") == ["Created Seán O'Connor (sean@clinic.example)."]
    assert len(found("alice")) == 2
    assert found("invite", actions=(TEMPLATES,)) == ["Changed the invite email text."]
    assert found("invite", actions=(CREATED,)) == []
    assert found("nobody here") == []
    assert ActivityFilter(text="zo").too_short and log.page(one, ActivityFilter("zo")).entries == []


def test_dates_filter_by_day_and_an_organisation_learned_later_keeps_its_entries(engine):
    history, one, _ = scopes(engine)
    log = Activity(engine)
    log.record(one, ALICE, CREATED, "Created Early (early@x.example).")
    today = datetime.now(UTC).date()
    assert len(log.page(one, ActivityFilter(date_from=today, date_to=today)).entries) == 1
    assert log.page(one, ActivityFilter(date_from=date(2000, 1, 1),
                                        date_to=date(2000, 1, 2))).entries == []
    with engine.begin() as conn:  # the key turns out to belong to an organisation
        history.learn_organisation(conn, one.key_fingerprint, "org-1")
    other_key_same_org = Scope(fingerprint(b"s", "key-three"), ("org-1",))
    assert [e.summary for e in log.page(other_key_same_org).entries] == [
        "Created Early (early@x.example)."]


def test_exports_hold_every_match_guarded_and_in_the_persons_zone(engine, tmp_path):
    from zoneinfo import ZoneInfo

    _, one, _ = scopes(engine)
    log = Activity(engine)
    log.record(one, Person("=HYPERLINK(\"http://evil\")", "mallory@x.example"), CREATED,
               "@SUM(1+1) Created Mal (mal@x.example).")
    for n in range(30):
        log.record(one, ALICE, CREATED, f"Created P{n} (p{n}@x.example).")
    zone = ZoneInfo("America/New_York")
    rows = list(csv.reader(io.StringIO(activity_csv(log, one, ActivityFilter(), zone)
                                       .decode("utf-8-sig"))))
    assert rows[0] == ["When (New York time)", "Who", "Email", "What", "Details"]
    assert len(rows) == 32
    assert rows[-1][1] == "'=HYPERLINK(\"http://evil\")"
    assert rows[-1][4] == "'@SUM(1+1) Created Mal (mal@x.example)."
    assert rows[1][3] == "Created a provider"
    shown = datetime.strptime(rows[1][0], "%Y-%m-%d %H:%M:%S")
    utc_now = datetime.now(UTC).replace(tzinfo=None)
    assert 3 <= (utc_now - shown).total_seconds() / 3600 <= 6  # New York is behind UTC
    searched = activity_csv(log, one, ActivityFilter(text="mallory"), zone).decode("utf-8-sig")
    assert searched.count("\n") == 2
    workbook = activity_xlsx(log, one, ActivityFilter(), zone)
    excel = pd.read_excel(io.BytesIO(workbook), dtype=str, keep_default_na=False,
                          engine="calamine", sheet_name="Activity")
    assert len(excel) == 31 and list(excel.columns) == rows[0]
    assert excel.iloc[-1]["Who"] == "=HYPERLINK(\"http://evil\")"  # as typed: a string
    assert formulas(workbook) == []


def test_a_download_is_logged_when_it_is_made(engine):
    _, one, _ = scopes(engine)
    log = Activity(engine)
    make = logged(log, one, BOB, EXPORTED, "Downloaded the History as CSV (every provider).",
                  lambda: b"file")
    assert log.page(one).entries == []  # drawing the button logs nothing
    assert make() == b"file"
    assert [(e.actor_email, e.summary) for e in log.page(one).entries] == [
        ("bob@partner.example", "Downloaded the History as CSV (every provider).")]
