from __future__ import annotations

import io
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select, text

from partner_console.api.client import UphealClient
from partner_console.api.models import CreatedProvider, ProviderRequest, validate_provider
from partner_console.creation import ProviderCreator, replay_journal
from partner_console.exports import HEADERS, history_csv, history_xlsx, links_text
from partner_console.sandbox import SandboxTransport
from partner_console.storage import (
    HistoryFilter,
    LinkJournal,
    NotFoundError,
    fingerprint,
    load_or_create_secret,
    make_engine,
    migrate,
)
from partner_console.storage.history_reads import COUNT_CAP, HistoryReads
from partner_console.storage.migrations import LATEST, current_version
from partner_console.storage.scope import Scope
from partner_console.storage.tables import providers
from tests.conftest import DEMO_KEY, SECOND_KEY
from tests.helpers import HistoryForTests

SECRET = b"test-secret"
FP_A = fingerprint(SECRET, DEMO_KEY)
FP_B = fingerprint(SECRET, SECOND_KEY)


def req(i=0, **values):
    request, errors = validate_provider({"first_name": f"Jane{i}", "last_name": "Smith",
                                         "email": f"jane{i}@example.com", **values})
    assert not errors, errors
    return request


def created(i=0, org="org-a"):
    return CreatedProvider.model_validate({
        "userId": f"user-{i}", "inviteUrl": f"https://sandbox.invalid/invite/{i}",
        "privateRoomLink": f"https://sandbox.invalid/room/{i}", "organizationId": org})


@pytest.fixture
def history(engine):
    return HistoryForTests(engine)


@pytest.fixture
def creator(history, sandbox, sleeps, tmp_path):
    client = UphealClient("https://sandbox.invalid/api/", transport=SandboxTransport(sandbox),
                          sleep=sleeps)
    # settle_after=0: these tests settle rows whose create is known to be over
    return ProviderCreator(client, history, LinkJournal(tmp_path / "journal.jsonl"),
                           settle_after=0)


def test_fingerprint_is_keyed_and_does_not_contain_the_key(tmp_path):
    assert fingerprint(b"one", "abc") != fingerprint(b"two", "abc")
    assert DEMO_KEY not in FP_A and len(FP_A) == 40
    secret = load_or_create_secret(None, tmp_path)
    assert secret == load_or_create_secret(None, tmp_path) and len(secret) == 64
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    assert load_or_create_secret("configured", tmp_path) == b"configured"


def test_migrate_is_idempotent(engine):
    assert migrate(engine) == LATEST
    assert migrate(engine) == LATEST


def test_migration_upgrades_an_old_database_with_rows_in_it(database_url):
    engine = make_engine(database_url)
    assert migrate(engine, target=1) == 1
    with engine.begin() as conn:  # a row exactly as version 1 wrote it
        conn.execute(text(
            "INSERT INTO providers (created_at, updated_at, created_by, key_fingerprint, "
            "status, source, email, email_normalized, first_name, last_name, partner_user_id, "
            "user_id, invite_url) VALUES (:now, :now, 'Ann', :fp, 'created', 'form', "
            "'zoe@example.com', 'zoe@example.com', 'Zoë', 'Müller', 'EMP-9', 'user-0', "
            "'https://sandbox.invalid/invite/0')"), {"now": "2026-01-02 03:04:05", "fp": FP_A})
    assert "note_templates" not in inspect(engine).get_table_names()
    assert migrate(engine) == LATEST
    assert {"note_templates", "organisation_settings", "bulk_jobs"} <= set(
        inspect(engine).get_table_names())
    history = HistoryForTests(engine)
    scope = history.scope_for(FP_A)
    (row,) = history.search(scope).rows
    assert row.invite_url == "https://sandbox.invalid/invite/0" and row.created_by == "Ann"
    for words in ("zoë", "ZOË MÜ", "müller", "emp-9", "zoe@", "muller zoe", "example.com",
                  "uLLe"):  # back-filled search columns
        assert history.search(scope, HistoryFilter(text=words)).total == 1, words
    with engine.connect() as conn:
        assert current_version(conn) == LATEST
    engine.dispose()


def test_pending_then_created(history):
    scope = history.scope_for(FP_A)
    row_id, is_new = history.record_pending(scope, req(), created_by="Ann", token="t1")
    assert is_new and history.get(scope, row_id).status == "pending"
    history.complete(row_id, FP_A, created())
    row = history.get(history.scope_for(FP_A), row_id)
    assert (row.status, row.user_id, row.organization_id) == ("created", "user-0", "org-a")
    assert history.scope_for(FP_A).organization_ids == ("org-a",)


def test_pending_then_failed(history):
    scope = history.scope_for(FP_A)
    row_id, _ = history.record_pending(scope, req(), created_by="Ann")
    history.mark_failed(row_id, "The API key was not accepted.")
    row = history.get(scope, row_id)
    assert row.status == "failed" and "not accepted" in row.error_text


def test_the_same_token_twice_is_one_row(history):
    scope = history.scope_for(FP_A)
    first = history.record_pending(scope, req(), created_by="Ann", token="same")
    second = history.record_pending(scope, req(), created_by="Ann", token="same")
    assert first == (first[0], True) and second == (first[0], False)


def test_request_fields_are_stored_without_the_key(history, engine):
    scope = history.scope_for(FP_A)
    request = req(phone_number="+1 415 555 2671", national_provider_identifier="1234567893",
                  default_note_template_ids=["2fb81b0a-611b-11ed-9b6a-0242ac120002"],
                  note_identifier="Coach", partner_user_id="emp-7", locale="en-US",
                  therapy_licence="LCSW")
    row = history.get(scope, history.record_pending(scope, request, created_by="Ann")[0])
    assert (row.phone_number, row.phone_country_code, row.national_provider_identifier,
            row.note_identifier, row.partner_user_id, row.locale, row.therapy_licence) == (
        "4155552671", "+1", "1234567893", "Coach", "emp-7", "en-US", "LCSW")
    assert row.default_note_template_ids == ["2fb81b0a-611b-11ed-9b6a-0242ac120002"]
    with engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.execute(select(providers)))
    assert DEMO_KEY not in dump


def test_create_through_the_creator_stores_the_links(creator, history, sandbox):
    scope = history.scope_for(FP_A)
    outcome = creator.create(DEMO_KEY, scope, req(), created_by="Ann", token="tok")
    assert outcome.status == "created" and outcome.invite_url == sandbox.users()[0]["inviteUrl"]
    row = history.get(history.scope_for(FP_A), outcome.row_id)
    assert (row.invite_url, row.private_room_link) == (outcome.invite_url,
                                                       outcome.private_room_link)
    again = creator.create(DEMO_KEY, scope, req(), created_by="Ann", token="tok")
    assert again.repeated and again.invite_url == outcome.invite_url and len(sandbox.users()) == 1


def test_failures_are_recorded_with_the_reason(creator, history):
    scope = history.scope_for(fingerprint(SECRET, "wrong-key"))
    outcome = creator.create("wrong-key", scope, req(), created_by="Ann")
    assert outcome.status == "failed" and "not accepted" in outcome.message
    assert history.get(scope, outcome.row_id).status == "failed"


def test_crash_between_call_and_write_leaves_pending_that_check_settles(creator, history,
                                                                        sandbox):
    scope = history.scope_for(FP_A)
    # The process died after sending: the sandbox has the user, the row is still pending.
    row_id, _ = history.record_pending(scope, req(1), created_by="Ann")
    creator.client.create_provider(DEMO_KEY, req(1))
    never_sent, _ = history.record_pending(scope, req(2), created_by="Ann")
    assert [r.id for r in history.pending(scope)] == [row_id, never_sent]
    settled = creator.settle(DEMO_KEY, scope, row_id)
    user = sandbox.users()[0]
    assert settled.status == "created" and settled.user_id == user["userId"]
    # the links, fetched again with get-user-by-id, are stored
    assert history.get(scope, row_id).invite_url == user["inviteUrl"] == settled.invite_url
    assert creator.settle(DEMO_KEY, scope, never_sent).status == "failed"
    assert history.pending(scope) == []


def test_failed_database_write_after_a_200_keeps_the_links(creator, history, engine, sandbox):
    scope = history.scope_for(FP_A)

    def break_the_database():  # a real failure: the table disappears mid-flight
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE providers RENAME TO providers_away"))

    class Breaker:  # runs just before the call, after the write-ahead row
        def before_call(self, api_key):
            break_the_database()

        def rate_limited(self, api_key, seconds):
            pass

    creator.client.pacing = Breaker()
    outcome = creator.create(DEMO_KEY, scope, req(), created_by="Ann")
    creator.client.pacing = None
    assert outcome.status == "created" and not outcome.saved
    assert outcome.invite_url == sandbox.users()[0]["inviteUrl"]  # the person still sees it
    assert len(creator.journal.entries()) == 1
    assert DEMO_KEY not in creator.journal.path.read_text()
    assert replay_journal(creator.journal, history) == (0, 1)  # still broken: kept
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE providers_away RENAME TO providers"))
    assert replay_journal(creator.journal, history) == (1, 0)
    row = history.get(history.scope_for(FP_A), outcome.row_id)
    assert row.status == "created" and row.invite_url == outcome.invite_url
    assert creator.journal.entries() == []


def test_journal_replay_recreates_a_row_the_database_never_had(history, tmp_path):
    journal = LinkJournal(tmp_path / "j.jsonl")
    journal.append({"row_id": 4242, "key_fingerprint": FP_A, "created_by": "Ann",
                    "source": "form", "recorded_at": "2026-11-01T10:00:00",
                    "request": req(5).to_json(), "provider": created(5).model_dump(by_alias=True)})
    with open(journal.path, "a") as handle:
        handle.write('{"torn": ')  # a crash mid-write
    assert replay_journal(journal, history) == (1, 0)
    row = history.get(history.scope_for(FP_A), 4242)
    assert row.email == "jane5@example.com" and row.invite_url.endswith("/invite/5")


def test_organisation_a_never_sees_organisation_b(creator, history):
    a = creator.create(DEMO_KEY, history.scope_for(FP_A), req(1), created_by="Ann")
    b = creator.create(SECOND_KEY, history.scope_for(FP_B), req(2), created_by="Bob")
    scope_a, scope_b = history.scope_for(FP_A), history.scope_for(FP_B)
    assert [r.id for r in history.search(scope_a).rows] == [a.row_id]
    assert [r.id for r in history.search(scope_b).rows] == [b.row_id]
    with pytest.raises(NotFoundError):
        history.get(scope_a, b.row_id)
    assert history.find_by_email(scope_a, "jane2@example.com") == []
    assert [r.email for r in history.iter_rows(scope_b)] == ["jane2@example.com"]
    assert history.creators(scope_a) == ["Ann"]


def test_a_second_key_of_the_same_organisation_sees_its_rows(history, engine):
    row_id, _ = history.record_pending(history.scope_for(FP_A), req(), created_by="Ann")
    history.complete(row_id, FP_A, created(org="org-a"))
    other_key = fingerprint(SECRET, "another-key-of-org-a")
    assert history.search(history.scope_for(other_key)).total == 0
    with engine.begin() as conn:
        history.learn_organisation(conn, other_key, "org-a")
    assert history.search(history.scope_for(other_key)).total == 1


def seed(history, count, fp=FP_A):
    scope = history.scope_for(fp)
    ids = []
    for i in range(count):
        row_id, _ = history.record_pending(
            scope, req(i, note_identifier="Coach" if i % 2 else "Therapist",
                       partner_user_id=f"emp-{i:03d}"),
            created_by="Ann" if i % 3 else "Bob")
        if i % 5 == 0:
            history.mark_failed(row_id, "no")
        else:
            history.complete(row_id, fp, created(i))
        ids.append(row_id)
    return ids


def test_search_filters_and_paging_in_sql(history):
    seed(history, 30)
    scope = history.scope_for(FP_A)
    page = history.search(scope, page=2, page_size=10)
    assert (page.total, page.page_count, len(page.rows)) == (30, 3, 10)
    assert page.rows[0].first_name == "Jane19"  # newest first
    assert history.search(scope, HistoryFilter(text="JANE7 smith")).total == 1
    assert history.search(scope, HistoryFilter(text="jane12@example")).total == 1
    assert history.search(scope, HistoryFilter(text="emp-02")).total == 10
    assert history.search(scope, HistoryFilter(statuses=("failed",))).total == 6
    assert history.search(scope, HistoryFilter(note_identifiers=("Coach",))).total == 15
    assert history.search(scope, HistoryFilter(created_by=("Bob",))).total == 10
    today = date.today()
    assert history.search(scope, HistoryFilter(date_from=today, date_to=today)).total == 30
    assert history.search(scope, HistoryFilter(date_to=today - timedelta(days=1))).total == 0
    assert history.search(scope, page=99, page_size=10).page == 3  # clamped, not empty
    assert history.search(scope, HistoryFilter(text="100%_")).total == 0


def test_search_finds_any_part_as_people_type_it(history):
    """Any part of a name, email or reference; case, accents and punctuation ignored; a full
    name in either order; never across organisations."""
    scope = history.scope_for(FP_A)
    people = [("Aoife", "O'Connor", "aoife.oc@example.com", "REF-12"),
              ("Zoë", "Müller-Lüdenscheidt", "zoe@clinic.org", None),
              ("Jean-Luc", "St. John", "jl@stjohn.example.net", "emp/0042")]
    for first, last, email, ref in people:
        history.record_pending(scope, ProviderRequest(
            first_name=first, last_name=last, email=email, partner_user_id=ref),
            created_by="Ann")
    other = history.scope_for(FP_B)
    history.record_pending(other, ProviderRequest(
        first_name="Orla", last_name="OConnor", email="orla@example.com"), created_by="Bo")

    def found(words):
        return sorted(r.first_name for r in history.search(scope, HistoryFilter(
            text=words)).rows)

    assert found("oconnor") == found("O'Connor") == found("o’connor") == ["Aoife"]
    assert found("example.com") == ["Aoife"] and found("example") == ["Aoife", "Jean-Luc"]
    assert found("muller") == found("MÜLLER") == found("ludensch") == ["Zoë"]
    assert found("connor aoife") == found("aoife o'connor") == ["Aoife"]
    assert found("st john") == found("St. John") == found("jean luc") == ["Jean-Luc"]
    assert found("ef-12") == found("oife.o") == ["Aoife"] and found("0042") == ["Jean-Luc"]
    assert found("clinic") == ["Zoë"]
    assert found("zo") == ["Zoë"]  # two characters: the start of a name or an email
    assert found("aoife example") == []  # a match never runs from one field into the next
    assert found("orla") == [] and found("100%_") == []
    assert [r.first_name for r in history.search(other, HistoryFilter(text="connor")).rows
            ] == ["Orla"]


def test_a_search_matching_most_of_a_large_history_reads_newest_first(history):
    """More matches than a count goes to: the page is the newest matches and the count says
    so ("10,000+" for the whole list, "1,000+" for a search)."""
    from bench.seed import seed_history
    seed_history(history.engine, COUNT_CAP + 500, FP_A, "org-a")
    scope = history.scope_for(FP_A)
    everything = history.search(scope, page_size=5)
    assert everything.more_than_cap and everything.total_text == "10,000+"
    page = history.search(scope, HistoryFilter(text="example.com"), page_size=5)
    assert page.more_than_cap and page.total_text == "1,000+" and page.page_count == 200
    assert [r.id for r in page.rows] == [r.id for r in everything.rows]
    assert len(history.search(scope, HistoryFilter(text="example.com"), page=200,
                              page_size=5).rows) == 5  # the last page counted is full
    one = history.search(scope, HistoryFilter(text=f"emp {COUNT_CAP + 17:07d}"))
    assert [r.partner_user_id for r in one.rows] == [f"emp-{COUNT_CAP + 17:07d}"]


def test_exports_neutralise_formulas_and_open_in_pandas_with_the_same_rows(history):
    scope = history.scope_for(FP_A)
    evil = req(99, first_name="@HYPERLINK(\"http://evil\")", partner_user_id="+1234",
               therapy_licence="@SUM(A1)")
    row_id, _ = history.record_pending(scope, evil, created_by="-Ann")
    history.complete(row_id, FP_A, created(1))
    seed(history, 4)
    scope = history.scope_for(FP_A)
    rows = list(history.iter_rows(scope))
    csv_file = history_csv(history, scope)
    frame = pd.read_csv(io.BytesIO(csv_file), dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    assert csv_file.startswith(b"\xef\xbb\xbf")
    assert list(frame.columns) == HEADERS and len(frame) == 5
    assert list(frame["Email"]) == [r.email for r in rows]
    cells = frame.to_numpy().ravel().tolist()
    assert not any(str(c).startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    evil_row = frame[frame["Email"] == "jane99@example.com"].iloc[0]
    assert evil_row["First name"] == "'@HYPERLINK(\"http://evil\")"
    assert evil_row["Created by"] == "'-Ann"
    assert FP_A not in "".join(map(str, cells)) and DEMO_KEY not in "".join(map(str, cells))
    assert links_text(rows).splitlines()[0] == f"{rows[0].email}\t{rows[0].invite_url}"


def test_the_excel_export_is_an_excel_file(history):
    """Real date-times in the person's zone, clickable links showing their address, labels not
    codes, strings as typed (never formulas, so no apostrophes), a filter on the header row,
    internal ids last."""
    from zoneinfo import ZoneInfo

    from tests.workbooks import formulas, hyperlinks, part, sheet_xml

    scope = history.scope_for(FP_A)
    # A name stored before names starting with "=" were refused: exported as typed, inert.
    evil = req(99, locale="pt-BR", note_identifier="DrLastName").model_copy(
        update={"first_name": "=HYPERLINK(\"http://evil\")"})
    row_id, _ = history.record_pending(scope, evil, created_by="-Ann")
    history.complete(row_id, FP_A, created(1))
    seed(history, 3)
    with history.engine.begin() as conn:  # a known moment: 2026-07-01 12:00 UTC
        conn.execute(providers.update().where(providers.c.id == row_id).values(
            created_at=datetime(2026, 7, 1, 12, 0)))
    prague = history_xlsx(history, scope, zone=ZoneInfo("Europe/Prague"))
    frame = pd.read_excel(io.BytesIO(prague), engine="calamine", keep_default_na=False)
    assert list(frame.columns)[0] == "Created (Prague time)"
    assert list(frame.columns)[-2:] == ["Upheal user id", "Organisation id"]
    evil_row = frame[frame["Email"] == "jane99@example.com"].iloc[0]
    assert evil_row["Created (Prague time)"] == pd.Timestamp("2026-07-01 14:00")  # CEST
    assert evil_row["First name"] == "=HYPERLINK(\"http://evil\")"  # exactly as typed
    assert evil_row["Created by"] == "-Ann"
    assert evil_row["Language"] == "Portuguese (Brazil)"
    assert evil_row["Called in notes"] == "Dr. + last name"
    assert evil_row["Status"] == "Created"
    assert formulas(prague) == []
    links = hyperlinks(prague)
    assert "https://sandbox.invalid/invite/1" in links and evil_row["Invite link"] in links
    xml = sheet_xml(prague)
    assert '<autoFilter ref="A1:AA5"/>' in xml
    assert 'formatCode="yyyy-mm-dd hh:mm"' in part(prague, "xl/styles.xml")  # shown, sortable
    in_utc = pd.read_excel(io.BytesIO(history_xlsx(history, scope)), engine="calamine")
    assert in_utc.columns[0] == "Created (UTC)"
    assert pd.Timestamp("2026-07-01 12:00") in set(in_utc["Created (UTC)"])
    everything = "".join(map(str, frame.to_numpy().ravel()))
    assert FP_A not in everything and DEMO_KEY not in everything


def _export_sample(url: str) -> bytes:
    """A history holding every status and cells that need quoting, exported as CSV."""
    engine = make_engine(url)
    migrate(engine)
    history = HistoryForTests(engine)
    scope = history.scope_for(FP_A)
    templates = ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]
    for i in range(7):
        request = req(i, partner_user_id=f"emp,{i}", therapy_licence='LCSW "senior"',
                      default_note_template_ids=templates if i % 2 else [])
        row_id, _ = history.record_pending(scope, request, created_by="Ann\nthe second")
        if i % 4 == 0:
            history.complete(row_id, FP_A, created(i))
        elif i % 4 == 1:
            history.mark_failed(row_id, "Upheal said: \"no\", try\r\nagain")
        elif i % 4 == 2:
            history.mark_links_lost(row_id, f"user-{i}")
    data = history_csv(history, scope)
    engine.dispose()
    return data


@pytest.mark.postgres
def test_the_csv_export_is_the_same_file_from_sqlite_and_postgresql(
        tmp_path, postgres_server, monkeypatch):
    import partner_console.storage.history as history_module

    monkeypatch.setattr(history_module, "utcnow", lambda: datetime(2026, 11, 29, 9, 30, 5, 123))
    from_sqlite = _export_sample(f"sqlite:///{tmp_path / 'h.db'}")
    from_postgres = _export_sample(postgres_server.create_database("t_same_file"))
    assert from_sqlite.decode().splitlines() == from_postgres.decode().splitlines()
    frame = pd.read_csv(io.BytesIO(from_sqlite), dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    assert len(frame) == 7 and set(frame["Created by"]) == {"Ann\nthe second"}
    assert set(frame["Status"]) == {"Created", "Failed", "Created, link not returned",
                                    "Outcome unknown"}
    assert frame["Created at (UTC)"].iloc[0] == "2026-11-29 09:30:05"
    assert "Upheal said: \"no\", try\r\nagain" in set(frame["Problem"])
    assert frame["Note templates"].iloc[1] == ", ".join(
        ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "7c9e6679-7425-40de-944b-e07fc1f90ae7"])


def _writer(url: str, worker: int, count: int) -> None:
    engine = make_engine(url)
    history = HistoryForTests(engine)
    fp = fingerprint(SECRET, DEMO_KEY)
    for i in range(count):
        row_id, _ = history.record_pending(history.scope_for(fp), req(worker * 1000 + i),
                                           created_by=f"w{worker}")
        history.complete(row_id, fp, created(worker * 1000 + i))
    engine.dispose()


def test_two_processes_writing_at_once_lose_nothing(database_url, engine):
    # Plain subprocesses: multiprocessing's spawn would re-run whatever __main__ an earlier
    # AppTest left behind in this worker.
    root = Path(__file__).resolve().parent.parent
    workers = [subprocess.Popen([sys.executable, "-c", "import sys; from tests.test_storage "
                                 "import _writer; _writer(sys.argv[1], int(sys.argv[2]), 150)",
                                 database_url, str(n)], cwd=root) for n in (1, 2)]
    for w in workers:
        assert w.wait(120) == 0
    with engine.connect() as conn:
        total, links = conn.execute(select(func.count(), func.count(
            func.distinct(providers.c.invite_url)))).one()
    assert (total, links) == (300, 300)


def test_statistics_are_refreshed_when_the_history_has_grown(engine):
    from bench.seed import seed_history
    from partner_console.storage.engine import refresh_statistics

    assert refresh_statistics(engine) is False  # a small history needs nothing
    seed_history(engine, 3000, FP_A, "org-a")
    assert refresh_statistics(engine) is True
    assert refresh_statistics(engine) is False  # nothing changed since
    scope = HistoryForTests(engine).scope_for(FP_A)
    assert HistoryForTests(engine).search(scope).more_than_cap is False
    assert HistoryForTests(engine).search(scope, HistoryFilter(text="jane")).total > 0


def test_both_exports_carry_the_sign_up_status_and_when_it_was_checked(history):
    from zoneinfo import ZoneInfo

    from partner_console.signup import GONE, SIGNED_UP

    scope = history.scope_for(FP_A)
    ids = seed(history, 4)  # rows 0 failed; 1, 2, 3 created
    history.record_signup(ids[1], SIGNED_UP)
    history.record_signup(ids[2], GONE)
    history.mark_reminded(scope, [ids[3]], "Olivia")
    csv_frame = pd.read_csv(io.BytesIO(history_csv(history, scope)), dtype=str,
                            keep_default_na=False, encoding="utf-8-sig")
    xlsx_frame = pd.read_excel(io.BytesIO(history_xlsx(history, scope, zone=ZoneInfo(
        "Europe/Prague"))), engine="calamine", keep_default_na=False)
    for frame in (csv_frame, xlsx_frame):
        by_email = {e: s for e, s in zip(frame["Email"], frame["Sign-up"], strict=True)}
        assert by_email == {"jane0@example.com": "", "jane1@example.com": "Signed up",
                            "jane2@example.com": "No longer in Upheal",
                            "jane3@example.com": "Invited, not signed up yet"}
        reminded = frame[frame["Email"] == "jane3@example.com"].iloc[0]
        assert reminded["Reminded by"] == "Olivia"
    checked = csv_frame[csv_frame["Email"] == "jane1@example.com"].iloc[0]
    assert len(checked["Sign-up checked at (UTC)"]) == 19  # "YYYY-MM-DD HH:MM:SS"
    stamp = xlsx_frame[xlsx_frame["Email"] == "jane1@example.com"].iloc[0][
        "Sign-up checked (Prague time)"]
    assert isinstance(stamp, datetime)  # a real date-time in the person's zone


def test_history_read_from_eight_threads_for_two_organisations_never_errs_or_mixes(history):
    """Two runs of one session, and many sessions, read History at once: searches (FTS5 or
    pg_trgm, and short ones), counts and pages for two organisations from 8 threads. No
    "FROM providers, providers", no error, and never a row of the other organisation."""
    import threading

    from partner_console.storage.history_reads import HistoryFilter

    seed(history, 40, FP_A)
    scope_b = history.scope_for(FP_B)
    for i in range(100, 130):
        row_id, _ = history.record_pending(scope_b, req(i), created_by="Bob")
        history.complete(row_id, FP_B, created(i, org="org-b"))
    scopes = {"a": history.scope_for(FP_A), "b": history.scope_for(FP_B)}
    emails = {name: {r.email for r in history.iter_rows(scope)} for name, scope in scopes.items()}
    assert emails["a"] and emails["b"] and not emails["a"] & emails["b"]
    filters = [HistoryFilter(), HistoryFilter(text="jane1"), HistoryFilter(text="ja"),
               HistoryFilter(text="example.com"), HistoryFilter(text="smith jane2"),
               HistoryFilter(statuses=("created",)), HistoryFilter(text="emp-0")]
    errors: list[BaseException] = []
    mixed: list[str] = []
    barrier = threading.Barrier(8)

    def read(n: int) -> None:
        name = "ab"[n % 2]
        scope = scopes[name]
        barrier.wait()
        try:
            for round_ in range(25):
                chosen = filters[(n + round_) % len(filters)]
                page = history.search(scope, chosen, page=1 + round_ % 2, page_size=7)
                history.count(scope, chosen)
                mixed.extend(r.email for r in page.rows if r.email not in emails[name])
        except BaseException as exc:  # noqa: BLE001  (any error at all fails the test)
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and mixed == []


def test_a_search_within_small_practices_reads_their_rows_and_finds_what_fts_finds(
        engine, monkeypatch):
    """A read within a platform's practices starts from the practices' own rows when they are
    few (SQLite; PostgreSQL always uses pg_trgm and its planner): a search, a plain listing
    and Overview's waiting list give the same rows, in the same order, with the same count,
    as FTS5 reading its matches or the planner's own choice."""
    import partner_console.storage.history_reads as reads_module
    from bench.seed import LARGE_PRACTICE, SMALL_PRACTICE, seed_history

    key = fingerprint(b"s", DEMO_KEY)
    seed_history(engine, 1_200, key, "org-search", practices=True)
    reads = HistoryReads(engine)
    scope = Scope(key, ("org-search",))
    found = {}
    for small in (reads_module.SMALL_PRACTICES, 0):  # by the practices' rows; by FTS5
        monkeypatch.setattr(reads_module, "SMALL_PRACTICES", small)
        for practices in ((SMALL_PRACTICE,), (LARGE_PRACTICE, SMALL_PRACTICE)):
            for words in ("ulle", "smith jane", "example.com", "emp-0000", "zz", "", "waiting"):
                wanted = HistoryFilter(text=words, practices=practices) if words != "waiting" \
                    else HistoryFilter(signups=("invited",), practices=practices,
                                       invited_before=datetime(2026, 12, 1))
                page = reads.search(scope, wanted, page_size=20)
                found.setdefault((practices, words), []).append(
                    (page.total, [r.id for r in page.rows],
                     [r.id for r in reads.iter_rows(scope, wanted)]))
    for (practices, words), (by_rows, by_fts) in found.items():
        assert by_rows == by_fts, (practices, words)
    assert found[((SMALL_PRACTICE,), "ulle")][0][0] > 0  # (a search that finds some)


def test_the_deactivated_of_a_practice_are_read_from_their_own_index(engine):
    """Overview's and History's deactivated within practices: the same rows as a plain read,
    and on SQLite read from the deactivated's partial index (few rows), not from every row of
    the practice, whatever its statistics say."""
    from bench.seed import LARGE_PRACTICE, SMALL_PRACTICE, seed_history
    from partner_console.storage.tables import DEACTIVATED

    key = fingerprint(b"s", DEMO_KEY)
    seed_history(engine, 700, key, "org-gone", practices=True)
    with engine.begin() as conn:
        conn.execute(providers.update().where(providers.c.id % 7 == 0).values(
            deactivated_at=datetime(2026, 11, 1), status="created"))
    reads = HistoryReads(engine)
    scope = Scope(key, ("org-gone",))
    for practices in ((SMALL_PRACTICE,), (LARGE_PRACTICE,), ("",), (SMALL_PRACTICE, "")):
        wanted = HistoryFilter(statuses=(DEACTIVATED,), practices=practices)
        chosen = [p for p in practices if p]
        with engine.connect() as conn:
            expected = sorted(conn.execute(select(providers.c.id).where(
                providers.c.deactivated_at.is_not(None),
                providers.c.practice_id.in_(chosen) | (providers.c.practice_id.is_(None)
                                                      if "" in practices else False))
            ).scalars())
        assert expected, practices
        assert reads.count(scope, wanted) == len(expected), practices
        assert sorted(r.id for r in reads.iter_rows(scope, wanted)) == expected, practices
    if engine.dialect.name == "sqlite":  # analysed, as a large History is (engine.py)
        query = reads.matching([func.count()], scope, HistoryFilter(
            statuses=(DEACTIVATED,), practices=(SMALL_PRACTICE,)))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            plan = " ".join(row[-1] for row in conn.execute(text("EXPLAIN QUERY PLAN " + str(
                query.compile(engine, compile_kwargs={"literal_binds": True})))))
        assert "ix_providers_deactivated" in plan, plan
