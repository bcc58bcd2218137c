"""Email jobs ("Email the invites to N providers") against a real SMTP server: faults, kills
of the process sending, and what the server received counted per recipient."""

from __future__ import annotations

import random
from collections import Counter

from partner_console.jobs.kinds.emails import create_email_job
from partner_console.jobs.store import JobStatus, JobStore, RowState
from partner_console.mail.sender import Mailer, transport_for
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import Leases, RateBudget
from partner_console.storage.sends import INVITE, SENT, UNCERTAIN, Sends
from tests.conftest import DEMO_KEY as KEY
from tests.helpers import build_email_runner
from tests.smtp_server import Faults, SmtpServer
from tests.test_mail import provider_rows, settings_for
from tests.test_reliability_kill import run_child


def providers(engine, count: int, bounce_every: int = 0):
    people = [(f"bounce{n}@example.com" if bounce_every and n % bounce_every == 0
               else f"p{n}@example.com", f"P{n}", "Test") for n in range(count)]
    return provider_rows(engine, people, key=KEY)


def email_job(engine, scope, rows, token="emails-1", confirmed=0):
    store = JobStore(engine)
    job_id, _ = create_email_job(
        store, scope, email_kind=INVITE, created_by="Ann", start_token=token,
        providers=[(r.id, r.email, r.full_name, {"confirmed": confirmed}) for r in rows])
    return store, job_id


def runner(engine, settings, store, history, scope, job_id, owner="email-test#1", rate=60_000):
    mailer = Mailer(Sends(engine, owner.split("#")[0], owner), settings.email_from, None,
                    transport_for(settings), RateBudget(engine, rate), attempts=6,
                    initial_backoff=0.01, max_backoff=0.05)
    return build_email_runner(job_id=job_id, scope=scope, created_by="Ann", store=store,
                              history=history, catalog=Catalog(engine), mailer=mailer,
                              owner=owner)


def test_an_email_job_sends_each_invite_once_with_per_row_results(engine, tmp_path):
    server = SmtpServer(tmp_path, "starttls", Faults(every_nth_temporary=5)).start()
    try:
        settings = settings_for(tmp_path, server)
        history, scope, rows = providers(engine, 30, bounce_every=10)
        store, job_id = email_job(engine, scope, rows)
        run = runner(engine, settings, store, history, scope, job_id)
        assert run.start()
        run.join(60)
        assert store.get(scope, job_id).status == JobStatus.FINISHED
        states = Counter(r.state for r in store.rows(job_id))
        assert states == {RowState.EMAILED: 27, RowState.FAILED: 3}
        failed = [r for r in store.rows(job_id) if r.state == RowState.FAILED]
        assert all("refused the address bounce" in (r.message or "") for r in failed)
        assert server.count_by_recipient() == {r.email: 1 for r in rows
                                               if not r.email.startswith("bounce")}
        from partner_console.storage.activity import Activity

        assert [(e.who, e.action, e.summary.split(" finished: ")[1])
                for e in Activity(engine).page(scope).entries] == [
            ("Partner Console (automatic)", "emailed", "27 emailed, 3 not emailed.")]
        # a second job over the same providers sends nothing without a confirmation
        store2, again = email_job(engine, scope, rows, token="emails-2")
        run2 = runner(engine, settings, store2, history, scope, again)
        assert run2.start()
        run2.join(60)
        skipped = Counter(r.state for r in store2.rows(again))
        assert skipped[RowState.SKIPPED] == 27 and len(server.received) == 27
        assert "already emailed on" in store2.rows(again)[1].message
    finally:
        server.stop()


def test_a_refusing_password_pauses_the_job_and_says_why(engine, tmp_path):
    server = SmtpServer(tmp_path, "starttls").start()
    try:
        settings = settings_for(tmp_path, server, SMTP_URL=server.url().replace(
            "s3cret%20pass", "wrong"))
        history, scope, rows = providers(engine, 5)
        store, job_id = email_job(engine, scope, rows)
        run = runner(engine, settings, store, history, scope, job_id)
        assert run.start()
        run.join(30)
        assert store.get(scope, job_id).status == JobStatus.PAUSED
        queued = store.rows(job_id, (RowState.QUEUED,))
        assert len(queued) == 5 and server.received == []
        assert any("did not accept the console's user name and password" in (r.message or "")
                   for r in queued)
    finally:
        server.stop()


def test_bulk_send_of_300_under_smtp_faults_and_kills_loses_none_and_doubles_none(
        engine, database_url, tmp_path):
    """The process sending is SIGKILLed at random moments and started again, while the server
    refuses now and then (451), drops its answer after taking a message, and bounces some
    addresses. Counted from what the server received."""
    faults = Faults(every_nth_temporary=9, lost_answer=4, refuse_addresses=("bounce",))
    server = SmtpServer(tmp_path, "starttls", faults).start()
    try:
        history, scope, rows = providers(engine, 300, bounce_every=50)
        store, job_id = email_job(engine, scope, rows)
        rng = random.Random(11)
        kills = 0
        args = ["tests.email_child", database_url, server.url(), str(server.ca_file),
                str(job_id), "6000"]
        for _ in range(30):
            if store.get(scope, job_id).status == JobStatus.FINISHED:
                break
            kills += run_child(args, kill_after=rng.uniform(0.3, 1.2))
        if store.get(scope, job_id).status != JobStatus.FINISHED:
            run_child(args, kill_after=None)
        assert kills >= 3
        assert store.get(scope, job_id).status == JobStatus.FINISHED
        final = store.rows(job_id)
        assert not [r for r in final if r.state in (RowState.QUEUED, RowState.SENDING)]  # nothing lost
        received = server.count_by_recipient()
        assert max(received.values()) == 1  # nothing sent twice
        sends = Sends(engine).latest_for([r.id for r in rows], INVITE)
        for row in final:
            got = received.get(row.email, 0)
            if row.state == RowState.EMAILED:
                assert got == 1 and sends[row.provider_id].state == SENT
            elif row.state == RowState.UNCERTAIN:
                assert sends[row.provider_id].state == UNCERTAIN  # a person decides
            else:
                assert row.state == RowState.FAILED and row.email.startswith("bounce") and got == 0
        emailed = sum(r.state == RowState.EMAILED for r in final)
        assert emailed >= 300 - 6 - 4 - kills  # (bounces, lost answers, a kill each at most)
    finally:
        server.stop()


def test_two_runners_racing_for_one_email_job_send_each_invite_once(engine, tmp_path):
    server = SmtpServer(tmp_path, "starttls").start()
    try:
        settings = settings_for(tmp_path, server)
        history, scope, rows = providers(engine, 40)
        store, job_id = email_job(engine, scope, rows)
        first = runner(engine, settings, store, history, scope, job_id, owner="replica-a#1")
        second = runner(engine, settings, store, history, scope, job_id, owner="replica-b#1")
        assert [first.start(), second.start()].count(True) == 1
        first.join(60)
        second.join(60)
        assert max(server.count_by_recipient().values()) == 1
        assert len(server.received) == 40
        assert Leases(engine).claim(job_id, "replica-c#1") is False  # finished: nothing to take
    finally:
        server.stop()


def test_an_import_can_email_each_invite_as_soon_as_its_provider_is_created(engine, tmp_path):
    from partner_console.api.pacing import Pacer
    from partner_console.jobs.store import RowState
    from partner_console.sandbox import SandboxApp, SandboxServer
    from tests.helpers import build_runner
    from tests.test_bulk_job import new_job, runner_for, spreadsheet

    sandbox = SandboxServer(SandboxApp(rate_per_minute=100_000, seed=3), hang_seconds=0.5)
    sandbox.start_in_thread()
    server = SmtpServer(tmp_path, "starttls").start()
    try:
        store, history, scope, job_id = new_job(engine, spreadsheet(12), send_invites=True)
        plain = runner_for(engine, sandbox, store, history, scope, job_id, tmp_path).handler
        settings = settings_for(tmp_path, server)
        mailer = Mailer(Sends(engine), settings.email_from, None, transport_for(settings))
        run = build_runner(job_id=job_id, api_key=KEY, scope=scope, created_by="Ann",
                           store=store, history=history, journal=plain.creator.journal,
                           client=plain.creator.client, pacing=Pacer(100_000), owner="import#1",
                           settle_after=1.0, mailer=mailer, catalog=Catalog(engine))
        assert run.start()
        run.join(60)
        created = [r for r in store.rows(job_id) if r.state == RowState.CREATED]
        assert len(created) == 12
        assert server.count_by_recipient() == {r.email: 1 for r in created}
        for row in created:
            text = next(m.message for m in server.received if row.email in m.recipients
                        ).get_body(("plain",)).get_content()
            assert row.invite_url in text
            assert history.get(scope, row.provider_id).invite_emailed_at is not None
    finally:
        server.stop()
        sandbox.shutdown()
        sandbox.server_close()


def test_cancelling_a_job_nobody_runs_words_its_rows_for_its_own_kind(engine):
    """Cancel pressed on a paused email job (no runner holds it): its rows say what was not
    sent, in the words of emails, not of an import."""
    from partner_console.jobs.engine import Parts, cancel_job
    from partner_console.jobs.store import JobStatus

    history, scope, rows = providers(engine, 3)
    store, job_id = email_job(engine, scope, rows, token="cancel-words")
    cancel_job(Parts(store, Leases(engine), "here#1"), scope, job_id)  # nobody ran it
    assert store.get(scope, job_id).status == JobStatus.CANCELLED
    assert {r.message for r in store.rows(job_id)} == {"Cancelled before this email was sent."}
