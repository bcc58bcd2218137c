"""The bulk job against the sandbox served on loopback, with faults, pacing and a real kill."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import pytest

from bench.harness import max_in_window
from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.api.pacing import Pacer
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.jobs.kinds.imports import create_import
from partner_console.jobs.store import CREATED_STATES, JobStatus, JobStore, RowState
from partner_console.sandbox import Faults
from partner_console.storage import LinkJournal, fingerprint
from partner_console.storage.coordination import CANCEL, Leases
from tests import children
from tests.bulk_child import KEY, SECRET
from tests.helpers import HistoryForTests, build_runner

RATE = 3000  # calls per minute for the job and the sandbox alike (50 a second)


def spreadsheet(count: int, start: int = 0) -> bytes:
    lines = ["First name,Last name,Email,Your reference"]
    lines += [f"P{i},Test,p{i}@example.com,emp-{i}" for i in range(start, start + count)]
    return ("\n".join(lines) + "\n").encode()


pytestmark = pytest.mark.sandbox(rate_per_minute=RATE, seed=13)  # (the `served` fixture's)


def new_job(engine, data: bytes, token: str = "start-1", send_invites: bool = False):
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    read = read_file(data, "practice.csv")
    rows = prepare_rows(read, auto_map(read.headers), [])
    store = JobStore(engine)
    job_id, _ = create_import(store, scope, created_by="Ann", file_name="practice.csv",
                              rows=rows, start_token=token, send_invites=send_invites)
    return store, history, scope, job_id


SETTLE_AFTER = 1.0  # the sandbox creates in milliseconds: Upheal can tell after a second


def runner_for(engine, server, store, history, scope, job_id, tmp_path, *, pacer=None,
               timeout=2.0, owner="bulk-child#test"):
    """A runner as the killed child's server would start again: its leases freed at once."""
    Leases(engine).release_replica("bulk-child", owner)
    client = UphealClient(server.base_url, timeout=timeout,
                          retry=RetryPolicy(max_attempts=6, initial_backoff=0.05, max_backoff=0.5))
    return build_runner(job_id=job_id, api_key=KEY, scope=scope, created_by="Ann", store=store,
                        history=history, journal=LinkJournal(tmp_path / "journal.jsonl"),
                        client=client, pacing=pacer or Pacer(RATE), owner=owner,
                        settle_after=SETTLE_AFTER)


def assert_guarantees(sandbox, store, history, scope, job_id, total):
    rows = store.rows(job_id)
    states = Counter(r.state for r in rows)
    progress = store.progress(job_id)
    assert len(rows) == total
    assert progress.created + progress.failed + progress.not_sent == total
    assert states[RowState.QUEUED] == 0 and states[RowState.SENDING] == 0
    users = {u["email"]: u for u in sandbox.users()}
    created = [r for r in rows if r.state in CREATED_STATES]
    assert len(users) == len(created)  # every user the sandbox made is a created row, once
    assert not any("already exists" in (r.message or "") for r in rows)  # nothing re-sent blind
    for row in created:
        user = users[row.email]
        provider = history.get(scope, row.provider_id)
        assert provider.user_id == user["userId"]
        if row.state == RowState.CREATED:  # every link that came back is stored, in both places
            assert (row.invite_url, provider.invite_url) == (user["inviteUrl"],) * 2
            assert row.private_room_link == user["privateRoomLink"]
    return states


def max_calls_in_any_window(sandbox, seconds: float) -> int:
    return max_in_window([c.at for c in sandbox.calls], seconds)


def test_300_rows_with_503s_lost_answers_and_a_429_storm(served, engine, tmp_path):
    sandbox, server = served
    sandbox.faults = Faults(server_error_rate=0.2, lost_response_rate=0.2)
    store, history, scope, job_id = new_job(engine, spreadsheet(300))
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)

    def storm():  # a 429 storm in the middle of the run
        time.sleep(2)
        sandbox.faults.rate_limit_storm = True
        time.sleep(1.5)
        sandbox.faults.rate_limit_storm = False

    threading.Thread(target=storm, daemon=True).start()
    runner.start()
    runner.join(120)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    states = assert_guarantees(sandbox, store, history, scope, job_id, 300)
    # Every lost answer's links were fetched again with get-user-by-id.
    assert states[RowState.CREATED] > 150 and states["links_lost"] == 0
    assert sum(c.path.startswith("/users/") and c.method == "GET" for c in sandbox.calls) > 10
    statuses = Counter(c.status for c in sandbox.calls)
    assert statuses[429] > 0 and statuses[503] + statuses[500] > 0  # the faults really fired


def test_pacing_never_exceeds_the_configured_rate(served, engine, tmp_path):
    sandbox, server = served
    store, history, scope, job_id = new_job(engine, spreadsheet(200))
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    runner.join(60)
    assert_guarantees(sandbox, store, history, scope, job_id, 200)
    # A check and a create per row (unpaced, all in ~2 s); on a busy machine a call that timed
    # out is looked up again before anything is re-sent (assert_guarantees: nobody twice).
    assert len(sandbox.calls) >= 400
    # The sandbox's own limiter, at the same calls per minute, never had to refuse a call.
    assert not any(c.status == 429 for c in sandbox.calls)
    # Sent evenly, 20 ms apart. Arrivals bunch when the machine is busy (the server's threads
    # pick up queued requests together), so bursts are judged over 5-second windows with up
    # to 200 ms of such delay allowed (10 slots); unpaced, all 400 calls land within one.
    assert max_calls_in_any_window(sandbox, 5.0) <= RATE / 12 + 10


def test_rerunning_the_same_file_creates_nobody_twice(served, engine, tmp_path):
    sandbox, server = served
    store, history, scope, first = new_job(engine, spreadsheet(20), token="a")
    runner = runner_for(engine, server, store, history, scope, first, tmp_path)
    runner.start()
    runner.join(60)
    assert len(sandbox.users()) == 20
    _, _, _, second = new_job(engine, spreadsheet(20), token="b")
    runner = runner_for(engine, server, store, history, scope, second, tmp_path)
    runner.start()
    runner.join(60)
    assert len(sandbox.users()) == 20
    assert all(r.state == RowState.SKIPPED for r in store.rows(second))


def test_one_start_token_is_one_job(engine):
    store, _, _, first = new_job(engine, spreadsheet(3), token="same")
    _, _, _, second = new_job(engine, spreadsheet(3), token="same")
    assert first == second


def until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_pause_and_cancel(served, engine, tmp_path):
    sandbox, server = served
    sandbox.faults = Faults(latency_ms=20)
    store, history, scope, job_id = new_job(engine, spreadsheet(120))
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    until(lambda: store.progress(job_id).done >= 3)  # (not a fixed sleep: busy machines lag)
    runner.pause()
    runner.join(30)
    assert store.get(scope, job_id).status == "paused"
    waiting = store.progress(job_id).counts.get(RowState.QUEUED, 0)
    assert 0 < waiting < 120
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    until(lambda: store.progress(job_id).counts.get(RowState.QUEUED, 0) < waiting)
    Leases(engine).ask(job_id, CANCEL)  # as from any replica: written to the job
    runner.join(30)
    assert store.get(scope, job_id).status == JobStatus.CANCELLED
    assert_guarantees(sandbox, store, history, scope, job_id, 120)
    assert any(r.outcome == "Not sent: Import cancelled before this row."
               for r in store.rows(job_id))


def test_job_killed_mid_run_resumes_and_finishes_with_the_same_guarantees(
        served, engine, database_url, tmp_path):
    sandbox, server = served
    sandbox.faults = Faults(latency_ms=30, lost_response_rate=0.1)
    store, history, scope, job_id = new_job(engine, spreadsheet(150))
    child = children.spawn("tests.bulk_child", database_url, server.base_url, str(job_id),
                           str(RATE), str(tmp_path / "journal.jsonl"))
    assert child.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 60
    while store.progress(job_id).done < 40:
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)  # the process, not a flag
    child.wait(10)
    assert store.get(scope, job_id).status == "running"  # as the dead worker left it
    assert store.progress(job_id).done < 150
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    runner.join(120)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    assert_guarantees(sandbox, store, history, scope, job_id, 150)
    assert history.pending(scope) == []


def test_results_keep_every_uploaded_value_and_say_what_was_never_sent(served, engine,
                                                                       tmp_path):
    import io

    import pandas as pd

    from partner_console.bulk.files import results_csv, results_xlsx
    from partner_console.jobs.store import JobRow, RowState
    from tests.workbooks import formulas, hyperlinks

    sandbox, server = served
    data = (b"First name,Last name,Email,Your reference,Team\n"
            b"Ann,Lee,ann@example.com,emp-1,North\n"
            b"Bo,Kim,not-an-email,emp-2,=South\n"
            b"Cy,Ode,cy@example.com,emp-3,East\n")
    for token in ("first", "again"):  # the same file twice: the second sends nobody
        store, history, scope, job_id = new_job(engine, data, token=token)
        runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
        runner.start()
        runner.join(60)
        rows = store.rows(job_id)
        assert [r.full_name for r in rows] == ["Ann Lee", "Bo Kim", "Cy Ode"]
        csv_frame = pd.read_csv(io.BytesIO(results_csv(rows)), dtype=str,
                                keep_default_na=False, encoding="utf-8-sig")
        workbook = results_xlsx(rows)
        xlsx_frame = pd.read_excel(io.BytesIO(workbook), dtype=str, keep_default_na=False,
                                   engine="calamine")
        for frame in (csv_frame, xlsx_frame):
            assert list(frame.columns) == ["Row", "Outcome", "First name", "Last name", "Email",
                                           "Your reference", "Team", "Invite link", "Room link",
                                           "Details"]
            assert list(frame["First name"]) == ["Ann", "Bo", "Cy"]
            assert list(frame["Email"]) == ["ann@example.com", "not-an-email", "cy@example.com"]
            bo = frame.iloc[1]
            assert bo["Outcome"].startswith("Not sent: Email") and bo["Details"] == ""
            assert "Failed" not in set(frame["Outcome"])
        assert list(csv_frame["Team"])[1] == "'=South"  # the CSV keeps its formula guard
        assert list(xlsx_frame["Team"])[1] == "=South" and formulas(workbook) == []
        outcomes = list(csv_frame["Outcome"])
        if token == "first":
            assert outcomes[0] == outcomes[2] == "Created"
            assert sorted(hyperlinks(workbook)) == sorted(
                [u["inviteUrl"] for u in sandbox.users()]
                + [u["privateRoomLink"] for u in sandbox.users()])
        else:
            assert outcomes[0] == outcomes[2] == "Not sent: Already created (in History)."
    assert len(sandbox.users()) == 2
    sent_and_refused = JobRow(1, 2, RowState.FAILED, "a@example.com", {}, {"firstName": "A"},
                              "Upheal refused it.", None, None, None, attempts=1)
    assert (sent_and_refused.outcome, sent_and_refused.details) == ("Failed",
                                                                    "Upheal refused it.")


def test_links_lost_during_an_import_are_asked_for_again_before_it_ends(served, engine,
                                                                        tmp_path, monkeypatch):
    """Every answer lost, and get-user-by-id failing at first (a 429 storm, say): the rows are
    created without links, then fetched again at the end of the job: none left without."""
    sandbox, server = served
    sandbox.faults = Faults(lost_response_rate=1.0)
    original = UphealClient.recover
    calls = {"n": 0}

    def failing_at_first(self, *args, **kwargs):
        calls["n"] += 1
        return None if calls["n"] <= 5 else original(self, *args, **kwargs)

    monkeypatch.setattr(UphealClient, "recover", failing_at_first)
    store, history, scope, job_id = new_job(engine, spreadsheet(5))
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    runner.join(60)
    assert calls["n"] == 10  # five failed during the run, five asked again at its end
    users = {u["email"]: u for u in sandbox.users()}
    for row in store.rows(job_id):
        assert row.state == RowState.CREATED and row.invite_url == users[row.email]["inviteUrl"]
        assert history.get(scope, row.provider_id).invite_url == row.invite_url


def test_an_import_that_runs_to_its_end_says_so_in_the_activity_log_once(served, engine,
                                                                          tmp_path):
    from partner_console.storage.activity import Activity

    sandbox, server = served
    store, history, scope, job_id = new_job(engine, spreadsheet(6))
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    runner.join(60)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    entries = Activity(engine).page(scope).entries
    assert [(e.who, e.action) for e in entries] == [("Partner Console (automatic)", "imported")]
    assert entries[0].summary == ("The import of “practice.csv” (started by Ann) finished: "
                                  "6 created, 0 not created, 0 not sent.")


def test_rows_put_back_in_the_queue_after_the_last_look_are_done_and_the_job_finishes(
        engine, served, tmp_path):
    """The runner's pass ends with a row back in the queue (put there by its own settle, a
    late HALTED, or anything): it goes round again instead of pausing with rows waiting."""
    sandbox, server = served
    store, history, scope, job_id = new_job(engine, spreadsheet(6))
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    came_back = []
    before = runner.handler.before_finish

    def once_more() -> None:  # the last look found nothing; then a row is back in the queue
        if not came_back:
            done = store.rows(job_id, (RowState.CREATED,))[0]
            with engine.begin() as conn:
                from partner_console.storage.tables import bulk_job_rows
                conn.execute(bulk_job_rows.update().where(bulk_job_rows.c.id == done.id)
                             .values(state=RowState.QUEUED))
            came_back.append(done.id)
        before()

    runner.handler.before_finish = once_more
    assert runner.start()
    runner.join(60)
    assert came_back
    assert store.get(scope, job_id).status == JobStatus.FINISHED  # not "paused" with a row waiting
    assert store.row(came_back[0]).state in CREATED_STATES + (RowState.SKIPPED,)
    assert not store.rows(job_id, (RowState.QUEUED, RowState.SENDING))
