"""After the invite: sign-up statuses, the refresh job (faults, two runners), the pending
filter's edges, reminders. Real databases, the sandbox on a real socket."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.api.models import UserCheck
from partner_console.api.pacing import Pacer
from partner_console.creation import ProviderCreator
from partner_console.jobs.kinds.refresh import create_refresh
from partner_console.jobs.store import JobStatus, JobStore, RowState
from partner_console.sandbox import Faults, SandboxApp
from partner_console.signup import GONE, INVITED, SIGNED_UP, label, status_from_check
from partner_console.storage import HistoryFilter, LinkJournal, fingerprint
from partner_console.storage.clock import utcnow
from partner_console.storage.coordination import Leases
from tests.bulk_child import KEY, SECRET
from tests.helpers import HistoryForTests, build_refresh_runner

ORG = "5a4d0b7e-0000-4000-8000-00000000c11c"  # sandbox-demo-key's organisation


def test_what_a_check_means_lives_in_one_place():
    assert status_from_check(UserCheck(is_user_exists=False)) == GONE
    assert status_from_check(UserCheck(is_user_exists=True, is_active=False)) == INVITED
    assert status_from_check(UserCheck(is_user_exists=True, is_active=None)) == INVITED
    assert status_from_check(UserCheck(is_user_exists=True, is_active=True)) == SIGNED_UP
    assert [label(s) for s in (None, INVITED, SIGNED_UP, GONE)] == [
        "Invited, not signed up yet", "Invited, not signed up yet", "Signed up",
        "No longer in Upheal"]


def test_sandbox_providers_sign_up_over_time_and_tests_can_decide():
    now = [100.0]
    sandbox = SandboxApp(signup_after=60, clock=lambda: now[0])
    emails = [f"p{i}@example.com" for i in range(30)]
    for email in emails:
        sandbox.handle("POST", "/users/providers", {"Authorization": KEY},
                       f'{{"firstName": "P", "lastName": "Q", "email": "{email}"}}'.encode())

    def active() -> set[str]:
        found = set()
        for email in emails:
            answer = sandbox.handle("POST", "/users/check", {"Authorization": KEY},
                                    f'{{"email": "{email}"}}'.encode())
            if b'"isActive": true' in answer.body:
                found.add(email)
        return found

    assert active() == set()
    now[0] += 61
    later = active()
    assert 10 < len(later) < 30  # two in three, fixed by the email
    assert active() == later
    sandbox.sign_up(emails[0], active=False)
    sandbox.sign_up(emails[1])
    assert emails[0] not in active() and emails[1] in active()
    sandbox.remove_user(emails[2])
    gone = sandbox.handle("POST", "/users/check", {"Authorization": KEY},
                          f'{{"email": "{emails[2]}"}}'.encode())
    assert b'"isUserExists": false' in gone.body


pytestmark = pytest.mark.sandbox(rate_per_minute=3000, seed=7, hang_seconds=0.3)  # (the `served` fixture's)


def _client(server, timeout=2.0):
    return UphealClient(server.base_url, timeout=timeout,
                        retry=RetryPolicy(max_attempts=8, initial_backoff=0.02, max_backoff=0.3))


def created_providers(engine, server, tmp_path, count):
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    creator = ProviderCreator(_client(server), history, LinkJournal(tmp_path / "j.jsonl"), 0.5)
    from partner_console.api.models import validate_provider
    for i in range(count):
        request, _ = validate_provider({"first_name": f"P{i}", "last_name": "Signup",
                                        "email": f"p{i}@example.com"})
        assert request is not None
        outcome = creator.create(KEY, scope, request, created_by="Ann")
        assert outcome.status == "created", outcome
    scope = history.scope_for(fingerprint(SECRET, KEY))
    return history, scope


def refresh(engine, server, history, scope, tmp_path, rows, token="r1", owner="test#1",
            start=True, per_minute=3000):
    store = JobStore(engine)
    job_id, _ = create_refresh(store, scope, created_by="Ann", providers=[
        (r.id, r.email, r.full_name) for r in rows], start_token=token)
    runner = build_refresh_runner(
        job_id=job_id, api_key=KEY, scope=scope, created_by="Ann", store=store, history=history,
        journal=LinkJournal(tmp_path / "j.jsonl"), client=_client(server),
        pacing=Pacer(per_minute), owner=owner)
    if start:
        assert runner.start()
    return store, job_id, runner


def test_a_refresh_records_each_providers_sign_up_status(served, engine, tmp_path):
    sandbox, server = served
    history, scope = created_providers(engine, server, tmp_path, 6)
    rows = history.search(scope).rows
    sandbox.sign_up("p1@example.com")
    sandbox.sign_up("p2@example.com")
    sandbox.remove_user("p3@example.com")
    store, job_id, runner = refresh(engine, server, history, scope, tmp_path, rows)
    runner.join(60)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    assert {r.state for r in store.rows(job_id)} == {RowState.CHECKED}
    by_email = {r.email: r for r in history.search(scope).rows}
    assert {e: r.signup_status for e, r in by_email.items()} == {
        "p0@example.com": INVITED, "p1@example.com": SIGNED_UP, "p2@example.com": SIGNED_UP,
        "p3@example.com": GONE, "p4@example.com": INVITED, "p5@example.com": INVITED}
    assert all(r.signup_checked_at is not None for r in by_email.values())
    first_seen = by_email["p1@example.com"].signed_up_at
    assert first_seen is not None and by_email["p0@example.com"].signed_up_at is None
    # the filters: signed up, invited (never-checked rows count as invited), gone
    assert history.search(scope, HistoryFilter(signups=(SIGNED_UP,))).total == 2
    assert history.search(scope, HistoryFilter(signups=(INVITED,))).total == 3
    assert history.search(scope, HistoryFilter(signups=(GONE,))).total == 1
    # checked again: the first time they were seen signed up is kept
    time.sleep(0.01)
    store, job_id, runner = refresh(engine, server, history, scope, tmp_path,
                                    history.search(scope).rows, token="r2")
    runner.join(60)
    again = {r.email: r for r in history.search(scope).rows}
    assert again["p1@example.com"].signed_up_at == first_seen
    assert again["p1@example.com"].signup_checked_at > by_email["p1@example.com"].signup_checked_at


def test_a_refresh_under_429_storms_and_lost_answers_checks_everyone(served, engine, tmp_path):
    sandbox, server = served
    history, scope = created_providers(engine, server, tmp_path, 40)
    sandbox.sign_up("p7@example.com")
    sandbox.faults = Faults(drop_rate=0.2, server_error_rate=0.1, timeout_rate=0.05)
    store, job_id, runner = refresh(engine, server, history, scope, tmp_path,
                                    history.search(scope).rows, per_minute=1200)
    deadline = time.monotonic() + 30
    while store.progress(job_id).done < 5:  # the storm comes in the middle of the run
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sandbox.faults.rate_limit_storm = True
    time.sleep(1.0)
    sandbox.faults.rate_limit_storm = False
    runner.join(120)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    states = [r.state for r in store.rows(job_id)]
    assert states.count(RowState.CHECKED) + states.count(RowState.FAILED) == 40
    assert states.count(RowState.CHECKED) >= 36  # reads are asked again; a few may give up
    assert any(c.status == 429 for c in sandbox.calls)
    signed = history.search(scope, HistoryFilter(signups=(SIGNED_UP,))).rows
    assert [r.email for r in signed] in ([], ["p7@example.com"])  # never anyone else
    failed = [r for r in store.rows(job_id) if r.state == RowState.FAILED]
    for row in failed:  # a check that could not be made leaves the status as it was
        assert history.get(scope, row.provider_id).signup_status is None


def test_one_refresh_has_one_runner_and_pause_and_resume_finish_it(served, engine, tmp_path):
    sandbox, server = served
    sandbox.faults = Faults(latency_ms=15)
    history, scope = created_providers(engine, server, tmp_path, 30)
    store, job_id, first = refresh(engine, server, history, scope, tmp_path,
                                   history.search(scope).rows, owner="replica-a#1",
                                   per_minute=300)  # five a second: 6 s for the 30
    _, _, second = refresh(engine, server, history, scope, tmp_path, [], owner="replica-b#1",
                           start=False)
    second.job_id = job_id
    assert not second.start()  # another replica's runner holds it
    deadline = time.monotonic() + 30
    while store.progress(job_id).done < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.pause()
    first.join(30)
    left = len(store.rows(job_id, (RowState.QUEUED,)))
    assert 0 < left < 30
    Leases(engine).release_replica("replica-a", "replica-a#1")
    _, _, resumed = refresh(engine, server, history, scope, tmp_path, [], owner="replica-b#2",
                            start=False)
    resumed.job_id = job_id
    assert resumed.start()
    resumed.join(60)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    assert len([c for c in sandbox.calls if c.path == "/users/check"]) >= 30
    checked = [r for r in store.rows(job_id) if r.state == RowState.CHECKED]
    assert len(checked) == 30


def test_the_pending_filter_edges_and_reminders(engine):
    history = HistoryForTests(engine)
    fp = fingerprint(SECRET, KEY)
    scope = history.scope_for(fp)
    from partner_console.api.models import CreatedProvider, validate_provider
    from partner_console.storage.tables import providers
    now = datetime(2026, 11, 29, 12, 0)
    ages = {"fresh": timedelta(hours=1), "edge": timedelta(days=3),
            "old": timedelta(days=3, seconds=1), "older": timedelta(days=9)}
    ids = {}
    for name, age in ages.items():
        request, _ = validate_provider({"first_name": name, "last_name": "X",
                                        "email": f"{name}@example.com"})
        row_id, _ = history.record_pending(scope, request, created_by="Ann")
        history.complete(row_id, fp, CreatedProvider(user_id=name, invite_url=f"https://x/{name}"))
        with engine.begin() as conn:
            conn.execute(providers.update().where(providers.c.id == row_id).values(
                created_at=now - age))
        ids[name] = row_id
    history.record_signup(ids["older"], INVITED)
    pending = HistoryFilter(signups=(INVITED,), invited_before=now - timedelta(days=3))
    assert [r.first_name for r in history.oldest_first(scope, pending)] == ["older", "old"]
    history.record_signup(ids["old"], SIGNED_UP)
    assert [r.first_name for r in history.oldest_first(scope, pending)] == ["older"]
    assert history.mark_reminded(scope, [ids["older"]], "  Ann Lee ") == 1
    reminded = history.get(scope, ids["older"])
    assert reminded.reminded_by == "Ann Lee" and reminded.reminded_at is not None
    other = history.scope_for(fingerprint(SECRET, "sandbox-second-org-key"))
    assert history.mark_reminded(other, [ids["fresh"]], "Mallory") == 0  # not theirs


def test_the_last_sign_up_check_is_the_latest_of_the_organisations_rows_by_index(engine):
    from sqlalchemy import text

    from partner_console.api.models import CreatedProvider, validate_provider
    from partner_console.storage.scope import Scope
    from partner_console.storage.tables import providers

    history = HistoryForTests(engine)
    fp = fingerprint(SECRET, KEY)
    org, other_org = "org-one", "org-two"
    owners = {"mine": Scope(fp), "colleague": Scope("colleague-key", (org,)),
              "stranger": Scope("stranger-key", (other_org,))}
    checked = {"mine": datetime(2026, 12, 1, 9), "colleague": datetime(2026, 12, 3, 9),
               "stranger": datetime(2026, 12, 5, 9)}
    for name, scope in owners.items():
        request, _ = validate_provider({"first_name": name, "last_name": "X",
                                        "email": f"{name}@example.com"})
        row_id, _ = history.record_pending(scope, request, created_by="Ann")
        history.complete(row_id, scope.key_fingerprint,
                         CreatedProvider(user_id=name, invite_url=f"https://x/{name}"))
        with engine.begin() as conn:  # (each row's organisation as the key learned it)
            conn.execute(providers.update().where(providers.c.id == row_id).values(
                organization_id=(scope.organization_ids or (org,))[0],
                signup_checked_at=checked[name]))
    assert history.last_signup_check(Scope(fp)) == checked["mine"]  # the key's own rows
    # the key's organisation: its colleague's later check counts; another organisation's not
    assert history.last_signup_check(Scope(fp, (org,))) == checked["colleague"]
    assert history.last_signup_check(Scope("nobody", ("org-three",))) is None
    if engine.dialect.name == "sqlite":  # one probe of an index each, never a pass over rows
        with engine.connect() as conn:
            for column, value in (("key_fingerprint", fp), ("organization_id", org)):
                plan = " ".join(str(row[-1]) for row in conn.execute(text(
                    f"EXPLAIN QUERY PLAN SELECT max(signup_checked_at) FROM providers WHERE "
                    f"{column} = :v"), {"v": value}))
                assert "USING COVERING INDEX ix_providers_" in plan, plan


def test_overview_numbers_match_a_hand_computed_history(engine, monkeypatch):
    """Created per week, signed up per week, the rate and the median days, kept as rows change
    (the real paths: complete, links lost, failed, sign-ups), equal to a rebuild from the rows,
    and moved with the organisation when it is learned."""
    from datetime import date

    import partner_console.storage.history as history_module
    from partner_console.api.models import CreatedProvider, validate_provider
    from partner_console.storage import onboarding
    from partner_console.storage.tables import providers

    history = HistoryForTests(engine)
    fp = fingerprint(SECRET, KEY)
    scope = history.scope_for(fp)
    monday = datetime(2026, 11, 2, 9, 0)  # a Monday
    plan = [  # (name, created, outcome, days to sign up or None)
        ("a", monday, "created", 2),
        ("b", monday + timedelta(days=1), "created", 5),
        ("c", monday + timedelta(days=8), "created", 9),
        ("d", monday + timedelta(days=9), "links_lost", None),
        ("e", monday + timedelta(days=10), "failed", None),
        ("f", monday + timedelta(days=11), "created", None),
    ]
    clock = [monday]
    monkeypatch.setattr(history_module, "utcnow", lambda: clock[0])
    for name, created, outcome, days in plan:
        request, _ = validate_provider({"first_name": name, "last_name": "X",
                                        "email": f"{name}@example.com"})
        clock[0] = created
        row_id, _ = history.record_pending(scope, request, created_by="Ann")
        if outcome == "created":
            history.complete(row_id, fp, CreatedProvider(user_id=name,
                                                         invite_url=f"https://x/{name}"))
        elif outcome == "links_lost":
            history.mark_links_lost(row_id, name)
        else:
            history.mark_failed(row_id, "no")
        if days is not None:
            clock[0] = created + timedelta(days=days, hours=1)
            history.record_signup(row_id, SIGNED_UP)
            history.record_signup(row_id, SIGNED_UP)  # seen again: counted once
    with engine.connect() as conn:
        assert conn.execute(providers.select()).fetchall()  # (the rows are there)
    numbers = onboarding.overview(engine, scope, weeks=3, today=date(2026, 11, 18))
    by_week = {w: (c, s) for w, c, s in numbers.weeks}
    # a: created 2 Nov, signed up 4 Nov (week of 2 Nov); b: 3 Nov -> 8 Nov (week of 2 Nov);
    # c: 10 Nov -> 19 Nov (week of 16 Nov); d (links lost) and f created in the week of 9 Nov.
    assert by_week == {date(2026, 11, 2): (2, 2), date(2026, 11, 9): (3, 0),
                       date(2026, 11, 16): (0, 1)}
    assert (numbers.created, numbers.signed_up) == (5, 3)
    assert numbers.signup_rate == pytest.approx(0.6)
    assert numbers.median_days == 5  # of 2, 5 and 9
    with engine.begin() as conn:  # kept as rows changed == recomputed from the rows
        onboarding.rebuild(conn)
    assert onboarding.overview(engine, scope, weeks=3, today=date(2026, 11, 18)) == numbers
    # a second key of the organisation sees them once the organisation is learned
    other = fingerprint(SECRET, "another-key-of-the-clinic")
    with engine.begin() as conn:
        history.learn_organisation(conn, fp, ORG)
        history.learn_organisation(conn, other, ORG)
    colleague = history.scope_for(other)
    assert onboarding.overview(engine, colleague, weeks=3,
                               today=date(2026, 11, 18)).created == 5
    assert onboarding._median([(1, 1), (4, 1)]) == 2.5
    assert onboarding._median([]) is None


def test_a_refresh_whose_runner_died_mid_check_finishes_on_another(served, engine, tmp_path):
    """A runner killed while asking: its lease runs out, the row it was asking about is
    asked again by the next runner, and every provider is checked once the job finishes."""
    sandbox, server = served
    history, scope = created_providers(engine, server, tmp_path, 12)
    store, job_id, _ = refresh(engine, server, history, scope, tmp_path,
                               history.search(scope).rows, start=False)
    # A runner took the job and one row, then died: its lease ran out long ago. (Its clock is
    # five minutes behind. A 50 ms lease, slept past, could run out on a busy machine between
    # the claim of the job and the claim of its row.)
    dead = Leases(engine, lease_seconds=1, now=lambda: utcnow() - timedelta(minutes=5))
    assert dead.claim(job_id, "gone#1")
    assert dead.claim_row(job_id, "gone#1") is not None
    assert len(store.rows(job_id, ("sending",))) == 1
    _, _, runner = refresh(engine, server, history, scope, tmp_path, [], owner="next#1",
                           start=False)
    runner.job_id = job_id
    assert runner.start()
    runner.join(60)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    assert [r.state for r in store.rows(job_id)] == [RowState.CHECKED] * 12
    assert all(r.signup_checked_at for r in history.search(scope).rows)


def test_invited_n_days_ago_is_counted_by_the_persons_own_calendar():
    from zoneinfo import ZoneInfo

    from partner_console.when import invited_before

    now = datetime(2026, 11, 26, 3, 0)  # Thursday 03:00 UTC: Wednesday 22:00 in New York
    new_york, prague = ZoneInfo("America/New_York"), ZoneInfo("Europe/Prague")
    # in New York it is still Wednesday: 3 days ago is Sunday, so before Monday 00:00 EST
    assert invited_before(3, now, new_york) == datetime(2026, 11, 23, 5, 0)
    # in Prague it is Thursday 04:00: before Tuesday 00:00 CET (Monday 23:00 UTC)
    assert invited_before(3, now, prague) == datetime(2026, 11, 23, 23, 0)
    assert invited_before(0, now, prague) == datetime(2026, 11, 26, 23, 0)  # everyone so far


def test_a_refresh_asks_about_created_providers_not_yet_signed_up_unless_asked(engine):
    history = HistoryForTests(engine)
    fp = fingerprint(SECRET, KEY)
    scope = history.scope_for(fp)
    from partner_console.api.models import CreatedProvider, validate_provider
    ids = {}
    for name, outcome in (("made", "created"), ("signed", "created"), ("gone", "created"),
                          ("failed", "failed"), ("waiting", "pending"), ("lost", "lost")):
        request, _ = validate_provider({"first_name": name, "last_name": "X",
                                        "email": f"{name}@example.com"})
        row_id, _ = history.record_pending(scope, request, created_by="Ann")
        if outcome == "created":
            history.complete(row_id, fp, CreatedProvider(user_id=name,
                                                         invite_url=f"https://x/{name}"))
        elif outcome == "failed":
            history.mark_failed(row_id, "no")
        elif outcome == "lost":
            history.mark_links_lost(row_id, name)
        ids[name] = row_id
    history.record_signup(ids["signed"], SIGNED_UP)
    history.record_signup(ids["gone"], GONE)

    def asked(**how):
        return sorted(name for _, _, name in history.to_refresh(scope, HistoryFilter(), **how))

    assert asked(include_signed_up=False) == ["gone X", "lost X", "made X"]
    assert asked(include_signed_up=True) == ["gone X", "lost X", "made X", "signed X"]
    from partner_console.storage.clock import utcnow

    recently = utcnow() - timedelta(hours=1)
    assert asked(include_signed_up=False, checked_before=recently) == ["lost X", "made X"]
    only_gone = HistoryFilter(signups=(GONE,))
    assert [n for _, _, n in history.to_refresh(scope, only_gone, include_signed_up=False)
            ] == ["gone X"]


def test_time_zones_are_named_as_staff_say_them():
    from partner_console.when import zone_label, zone_named

    assert zone_label(zone_named("America/Los_Angeles")) == "Los Angeles time"
    assert zone_label(zone_named("Asia/Ho_Chi_Minh")) == "Ho Chi Minh City time"
    assert zone_label(zone_named(None)) == zone_label(zone_named("Etc/UTC")) == "UTC"
    assert zone_label(zone_named("Not/A_Zone")) == "UTC"  # an unknown zone: shown in UTC
    assert zone_label(zone_named("Etc/GMT+5")) == "Etc/GMT+5"  # (five hours behind, not ahead)
