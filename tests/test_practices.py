"""Platform partners: one key, several practices. The catalog on both databases, creates into a
chosen practice against the sandbox on loopback (and Upheal's refusals, naming the practice),
an email once per practice, imports and roster syncs into a practice, History's filter and
exports, Overview per practice, and isolation between partners."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from partner_console.api.client import UphealClient
from partner_console.api.models import validate_provider
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import (
    IN_UPHEAL,
    READY,
    classify_with_history,
    emails_in_upheal,
    prepare_rows,
)
from partner_console.bulk.read import read_file
from partner_console.creation import ProviderCreator
from partner_console.exports import history_csv, history_xlsx
from partner_console.jobs.kinds.imports import create_import
from partner_console.jobs.store import JobStore, RowState
from partner_console.roster import MISSING, NEW, UNCHANGED, plan_sync
from partner_console.sandbox import SANDBOX_KEYS
from partner_console.storage import HistoryFilter, LinkJournal, fingerprint
from partner_console.storage.practices import (
    Practice,
    PracticeClash,
    Practices,
    check_practice,
    read_practices_csv,
)
from tests.helpers import HistoryForTests, build_runner

PLATFORM = "sandbox-platform-key"
OWN = SANDBOX_KEYS[PLATFORM].organization_id
NORTH, LAKE = (org for org, _ in SANDBOX_KEYS[PLATFORM].practices)
UNKNOWN = "5a4d0b7e-0000-4000-8000-0000000000ff"
SECRET = b"bulk-test-secret"


pytestmark = pytest.mark.sandbox(rate_per_minute=100_000, seed=43)  # (the `served` fixture's)


def _creator(engine, server, tmp_path, key=PLATFORM):
    history = HistoryForTests(engine)
    creator = ProviderCreator(UphealClient(server.base_url), history,
                              LinkJournal(tmp_path / "j.jsonl"), 1.0)
    return creator, history, history.scope_for(fingerprint(SECRET, key))


def _request(email: str, first: str = "Pia"):
    request, errors = validate_provider({"first_name": first, "last_name": "Practice",
                                         "email": email})
    assert request is not None, errors
    return request


def test_the_catalog_checks_what_is_typed_and_keeps_each_keys_list(engine):
    practices = Practices(engine)
    history = HistoryForTests(engine)
    mine = history.scope_for(fingerprint(SECRET, PLATFORM))
    theirs = history.scope_for(fingerprint(SECRET, "sandbox-demo-key"))
    assert check_practice("", "")[1].keys() == {"name", "org_id"}
    assert "is not an organisation id" in check_practice("North", "nope")[1]["org_id"]
    assert "formula" in check_practice("=cmd", NORTH)[1]["name"]
    north, _ = check_practice("  Northside   Therapy ", NORTH.upper())
    assert north == Practice("Northside Therapy", NORTH)
    practices.add(mine, north, own_org=OWN)
    with pytest.raises(PracticeClash) as clash:
        practices.add(mine, Practice("northside therapy", LAKE), own_org=OWN)
    assert "already called" in clash.value.problems["name"]
    with pytest.raises(PracticeClash) as clash:
        practices.add(mine, Practice("Own", OWN), own_org=OWN)
    assert "key's own organisation" in clash.value.problems["org_id"]
    practices.add(mine, Practice("Lakeside", LAKE))
    practices.replace(mine, LAKE, Practice("Lakeside Counselling", LAKE))
    assert practices.all(mine) == [Practice("Lakeside Counselling", LAKE), north]
    assert practices.all(theirs) == []  # another partner's key is never offered them
    practices.remove(mine, LAKE)
    assert practices.all(mine) == [north]
    found, problems = read_practices_csv(
        f"Name,Organisation id\nA,{NORTH}\nB,bad\nC,{NORTH}\n".encode())
    assert found == [] and len(problems) == 2  # nothing half-imported
    found, problems = read_practices_csv(f"Name,Organisation id\nA,{NORTH}\nB,{LAKE}\n".encode())
    assert not problems and [p.name for p in found] == ["A", "B"]


def test_a_create_goes_to_the_chosen_practice_once_per_practice(engine, served, tmp_path):
    app, server = served
    creator, history, scope = _creator(engine, server, tmp_path)
    outcome = creator.create(PLATFORM, scope, _request("pia@example.com"), created_by="Ann",
                             check_first=True, refuse_duplicate=True, practice_id=NORTH)
    assert outcome.status == "created", outcome
    [user] = app.users(NORTH)
    assert user["email"] == "pia@example.com"
    row = history.get(scope, outcome.row_id)
    assert row.practice_id == NORTH and row.organization_id != NORTH  # scoped to the key
    # the same person in another practice: created there too; twice in one practice: not
    again = creator.create(PLATFORM, scope, _request("pia@example.com"), created_by="Ann",
                           check_first=True, refuse_duplicate=True, practice_id=LAKE)
    assert again.status == "created" and app.users(LAKE)[0]["email"] == "pia@example.com"
    twice = creator.create(PLATFORM, scope, _request("pia@example.com"), created_by="Ann",
                           check_first=True, refuse_duplicate=True, practice_id=NORTH)
    assert twice.status == "duplicate"
    own = creator.create(PLATFORM, scope, _request("own@example.com"), created_by="Ann",
                         check_first=True)
    assert own.status == "created" and app.users(OWN)[0]["email"] == "own@example.com"
    assert history.scope_for(scope.key_fingerprint).organization_ids == (OWN,)  # learned: own


def test_a_platform_that_only_created_in_practices_can_create_that_person_in_its_own(
        engine, served, tmp_path):
    """The key's own organisation is not learned from creates in practices: an account found
    in one of the key's practices is elsewhere, one in any other organisation is not."""
    app, server = served
    creator, history, scope = _creator(engine, server, tmp_path)
    in_north = creator.create(PLATFORM, scope, _request("ida@example.com"), created_by="Ann",
                              check_first=True, refuse_duplicate=True, practice_id=NORTH)
    assert in_north.status == "created"
    assert history.scope_for(scope.key_fingerprint).organization_ids == ()  # not learned
    # without North in the catalog the console cannot tell North from its own organisation
    unsure = creator.create(PLATFORM, scope, _request("ida@example.com"), created_by="Ann",
                            check_first=True, refuse_duplicate=True)
    assert unsure.status == "exists" and not _emails(app, OWN, "ida@example.com")
    Practices(engine).add(scope, Practice("Northside", NORTH))
    own = creator.create(PLATFORM, scope, _request("ida@example.com"), created_by="Ann",
                         check_first=True, refuse_duplicate=True)
    assert own.status == "created", own
    assert len(_emails(app, OWN, "ida@example.com")) == 1
    assert len(_emails(app, NORTH, "ida@example.com")) == 1  # still one there
    assert history.scope_for(scope.key_fingerprint).organization_ids == (OWN,)
    # and now that the own organisation is known, once there stays once
    again = creator.create(PLATFORM, scope, _request("ida@example.com"), created_by="Ann",
                           check_first=True)
    assert again.status == "exists" and len(_emails(app, OWN, "ida@example.com")) == 1


def _emails(app, org: str, email: str) -> list[str]:
    return [u["email"] for u in app.users(org) if u["email"] == email]


def test_upheal_refusals_name_the_practice(engine, served, tmp_path):
    app, server = served
    creator, history, scope = _creator(engine, server, tmp_path)
    missing = creator.create(PLATFORM, scope, _request("x@example.com"), created_by="Ann",
                             practice_id=UNKNOWN, practice_name="Old Town")
    assert missing.status == "failed"
    assert "did not find the organisation of “Old Town”" in missing.message
    assert "Practices page" in missing.message and "404" not in missing.message
    creator_f, _, scope_f = _creator(engine, server, tmp_path, key="sandbox-forbidden-key")
    refused = creator_f.create("sandbox-forbidden-key", scope_f, _request("y@example.com"),
                               created_by="Ann", practice_id=NORTH, practice_name="Northside")
    assert refused.status == "failed" and "not allowed to create providers in “Northside”" \
        in refused.message


def test_an_import_goes_to_the_files_practice_or_each_rows(engine, served, tmp_path):
    app, server = served
    creator, history, scope = _creator(engine, server, tmp_path)
    catalog = [Practice("Northside Therapy", NORTH), Practice("Lakeside", LAKE)]
    data = ("First name,Last name,Email,Practice\n"
            "A,One,a@example.com,\n"  # the file's practice
            f"B,Two,b@example.com,{LAKE}\n"  # by id
            "C,Three,c@example.com,lakeside\n"  # by name, any case
            "D,Four,a@example.com,Lakeside\n"  # a's email, in another practice: fine
            "E,Five,e@example.com,Nowhere\n")
    read = read_file(data.encode(), "practice.csv")
    rows = prepare_rows(read, auto_map(read.headers), [], None, catalog, NORTH)
    assert [(r.status, r.practice_id) for r in rows] == [
        (READY, NORTH), (READY, LAKE), (READY, LAKE), (READY, LAKE), ("invalid", None)]
    assert "not one of your practices" in rows[4].problem
    assert rows[3].note == ("Also in row 2, for another practice: each practice gets its own "
                            "Upheal account.")  # the same person in two practices: said so
    store = JobStore(engine)
    job_id, _ = create_import(store, scope, created_by="Ann", file_name="practice.csv",
                              rows=rows, start_token="p1")
    runner = build_runner(job_id=job_id, api_key=PLATFORM, scope=scope, created_by="Ann",
                          store=store, history=history, journal=LinkJournal(tmp_path / "j"),
                          client=UphealClient(server.base_url), pacing=None, owner="p#1",
                          settle_after=1.0)
    assert runner.start()
    runner.join(60)
    assert [r.state for r in store.rows(job_id)][:4] == [RowState.CREATED] * 4
    assert sorted(u["email"] for u in app.users(NORTH)) == ["a@example.com"]
    assert sorted(u["email"] for u in app.users(LAKE)) == ["a@example.com", "b@example.com",
                                                             "c@example.com"]
    lake = history.search(scope, HistoryFilter(practices=(LAKE,))).rows
    assert sorted(r.email for r in lake) == ["a@example.com", "b@example.com", "c@example.com"]
    assert history.search(scope, HistoryFilter(practices=("",))).total == 0  # none in own
    text = history_csv(history.reads, scope, HistoryFilter(),
                       {p.org_id: p.name for p in catalog}).decode("utf-8-sig")
    named = {r["Email"] + "|" + r["Practice"] for r in csv.DictReader(io.StringIO(text))}
    assert named == {"a@example.com|Northside Therapy", "a@example.com|Lakeside",
                     "b@example.com|Lakeside", "c@example.com|Lakeside"}
    workbook = pd.read_excel(io.BytesIO(history_xlsx(
        history.reads, scope, HistoryFilter(practices=(LAKE,)),
        practices={p.org_id: p.name for p in catalog})), engine="calamine", dtype=str)
    assert sorted(workbook["Email"] + "|" + workbook["Practice"]) == [
        "a@example.com|Lakeside", "b@example.com|Lakeside", "c@example.com|Lakeside"]
    again = read_file(b"First name,Last name,Email\nA,One,a@example.com\nZ,New,z@example.com\n",
                      "own.csv")
    classified = classify_with_history(
        history, scope, prepare_rows(again, auto_map(again.headers), [], None, catalog), set(),
        False, str, {p.org_id: p.name for p in catalog})
    assert [(r.status, r.note) for r in classified] == [
        (READY, "Also a provider in Lakeside, Northside Therapy: each practice has an Upheal "
                "account of its own for them."), (READY, "")]
    overview = history.reads.overview(scope, practice=LAKE)
    assert (overview.created, history.reads.overview(scope).created) == (3, 4)
    assert history.reads.overview(scope, practice=None).created == 0  # the key's own


def test_the_previews_check_with_upheal_skips_only_who_is_in_the_rows_practice(
        engine, served, tmp_path):
    """An email may be in each practice once: the preview's optional check asks Upheal where
    a found account is, and skips only the rows for that practice."""
    app, server = served
    _, history, scope = _creator(engine, server, tmp_path)
    client = UphealClient(server.base_url)
    # created in North by other means: Upheal knows it, History does not
    client.create_provider(PLATFORM, _request("kai@example.com"), organization_id=NORTH)
    catalog = [Practice("Northside Therapy", NORTH), Practice("Lakeside", LAKE)]
    emails = ["kai@example.com", "new.kai@example.com"]
    found = emails_in_upheal(client, PLATFORM, emails, None,
                             practices={p.org_id for p in catalog})
    assert found == {f"kai@example.com|{NORTH}"}
    # a key without practices: any account is the key's own (no question of where)
    assert emails_in_upheal(client, PLATFORM, emails, None) == {"kai@example.com"}
    data = ("First name,Last name,Email,Practice\n"
            "Kai,North,kai@example.com,Northside Therapy\n"
            "Kai,Lake,kai@example.com,Lakeside\n"
            "Kai,Own,kai@example.com,\n")
    read = read_file(data.encode(), "kai.csv")
    rows = prepare_rows(read, auto_map(read.headers), [], None, catalog)
    classified = classify_with_history(history, scope, rows, found, False, str,
                                       {p.org_id: p.name for p in catalog})
    assert [r.status for r in classified] == [IN_UPHEAL, READY, READY]


def test_a_roster_is_matched_and_found_missing_within_its_practice(engine, served, tmp_path):
    app, server = served
    creator, history, scope = _creator(engine, server, tmp_path)
    for email, practice in (("n1@example.com", NORTH), ("n2@example.com", NORTH),
                            ("l1@example.com", LAKE), ("n1@example.com", LAKE)):
        assert creator.create(PLATFORM, scope, _request(email), created_by="Ann",
                              practice_id=practice).status == "created"
    read = read_file(b"First name,Last name,Email\nPia,Practice,n1@example.com\n"
                     b"New,Person,new@example.com\n", "roster.csv")
    plan = plan_sync(prepare_rows(read, auto_map(read.headers), [], None, [], NORTH),
                     list(history.iter_rows(scope)))
    by_email = {(r.category, r.email) for r in plan.rows}
    assert by_email == {(UNCHANGED, "n1@example.com"), (NEW, "new@example.com"),
                        (MISSING, "n2@example.com")}  # Lakeside's are not this roster's
    assert plan.active_total == 2 and all(r.practice_id == NORTH for r in plan.rows)
