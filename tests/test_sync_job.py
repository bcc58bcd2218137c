"""A roster sync as a job, against the sandbox served on loopback, on SQLite and PostgreSQL:
it creates, links, changes and deactivates, each once; the same roster again plans nothing;
a runner SIGKILLed mid-sync (a real process) resumes with nothing done twice; two servers
starting it at once run it once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from partner_console.api.client import UphealClient
from partner_console.api.models import validate_provider
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.creation import ProviderCreator
from partner_console.jobs.kinds.sync import create_sync
from partner_console.jobs.store import (
    JobKind,
    JobStatus,
    JobStore,
    RowState,
    UnfinishedJobError,
)
from partner_console.roster import plan_sync
from partner_console.sandbox import Faults, SandboxApp, SandboxServer
from partner_console.storage import LinkJournal, fingerprint
from partner_console.storage.coordination import Leases
from tests import children
from tests.helpers import HistoryForTests, build_runner

KEY = "sandbox-demo-key"
SECRET = b"bulk-test-secret"  # (tests/bulk_child.py's)


pytestmark = pytest.mark.sandbox(rate_per_minute=100_000, seed=37)  # (the `served` fixture's)


def _history(engine, server, tmp_path, count: int):
    """`count` providers created (p0..), with employee ids E0.."""
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    creator = ProviderCreator(UphealClient(server.base_url), history,
                              LinkJournal(tmp_path / "j.jsonl"), 1.0)
    for n in range(count):
        request, _ = validate_provider({"first_name": f"P{n}", "last_name": "Sync",
                                        "email": f"p{n}@example.com",
                                        "partner_user_id": f"E{n}"})
        assert creator.create(KEY, scope, request, created_by="Setup").status == "created"
    return history, history.scope_for(fingerprint(SECRET, KEY))


def _plan(history, scope, text: str):
    read = read_file(text.encode(), "roster.csv")
    return plan_sync(prepare_rows(read, auto_map(read.headers), []),
                     list(history.iter_rows(scope)))


def _new_licences(count: int) -> str:
    """A roster giving providers p0.. (employee ids E0..) a licence: `count` changes."""
    return "First name,Last name,Email,Employee ID,Licence\n" + "".join(
        f"P{n},Sync,p{n}@example.com,E{n},PsyD\n" for n in range(count))


ROSTER = ("First name,Last name,Email,Employee ID,NPI,Licence\n"
          + "".join(f"P{n},Sync,p{n}@example.com,E{n},{'1234567893' if n < 6 else ''},"
                    f"{'LCSW' if n < 6 else ''}\n" for n in range(12))
          + "".join(f"N{n},New,n{n}@example.com,N{n},,\n" for n in range(6))
          + "Known,Already,known@example.com,K1,,\n")


def _run(engine, server, store, history, scope, job_id, tmp_path, owner="sync#1"):
    runner = build_runner(job_id=job_id, api_key=KEY, scope=scope, created_by="Ann",
                          store=store, history=history,
                          journal=LinkJournal(tmp_path / "j.jsonl"),
                          client=UphealClient(server.base_url, timeout=3), pacing=None,
                          owner=owner, settle_after=1.0)
    assert runner.start()
    runner.join(120)
    return runner


def test_a_sync_creates_links_changes_and_deactivates_once(engine, served, tmp_path):
    app, server = served
    history, scope = _history(engine, server, tmp_path, 16)  # p12..p15: not in the roster
    app.add_user(KEY, {"firstName": "Known", "lastName": "Already", "email": "known@example.com"})
    plan = _plan(history, scope, ROSTER)
    assert plan.counts == {"new": 7, "changed": 6, "unchanged": 6, "missing": 4, "conflict": 0}
    store = JobStore(engine)
    job_id, _ = create_sync(store, scope, created_by="Ann", file_name="roster.csv", plan=plan,
                            deactivate_missing=True, start_token="sync-1")
    _run(engine, server, store, history, scope, job_id, tmp_path)
    assert store.get(scope, job_id).status == JobStatus.FINISHED
    states = Counter(r.state for r in store.rows(job_id))
    assert states == {RowState.CREATED: 6, RowState.LINKED: 1, RowState.UPDATED: 6,
                      RowState.DEACTIVATED: 4}
    users = {u["email"]: u for u in app.users()}
    assert users["p0@example.com"]["nationalProviderIdentifier"] == "1234567893"
    assert [app.is_deactivated(f"p{n}@example.com") for n in (11, 12, 15)] == [False, True, True]
    creates = Counter(c.path for c in app.calls if c.method == "POST"
                      and c.path == "/users/providers")
    assert creates["/users/providers"] == 16 + 6  # setup, six new ("known" was added by hand)
    linked = [r for r in store.rows(job_id) if r.state == RowState.LINKED]
    assert history.get(scope, linked[0].provider_id).invite_url == \
        users["known@example.com"]["inviteUrl"]  # linked, with its links, not created again
    again = _plan(history, scope, ROSTER)
    assert again.nothing_to_do(deactivate_missing=True), [
        (r.category, r.email, r.note) for r in again.to_send(True)]


def test_a_sync_killed_mid_way_resumes_with_nothing_done_twice(postgres_server, tmp_path):
    from partner_console.storage import make_engine, migrate

    url = postgres_server.create_database(f"sync_{tmp_path.name[-12:].lower()}")
    engine = make_engine(url)
    migrate(engine)
    app = SandboxApp(rate_per_minute=100_000, seed=41, faults=Faults(latency_ms=80))
    server = SandboxServer(app, hang_seconds=0.5)
    server.start_in_thread()
    try:
        history, scope = _history(engine, server, tmp_path, 40)
        roster = _new_licences(30) + "".join(f"N{n},New,n{n}@example.com,N{n},\n"
                                             for n in range(10))
        plan = _plan(history, scope, roster)
        store = JobStore(engine)
        job_id, _ = create_sync(store, scope, created_by="Ann", file_name="roster.csv",
                                plan=plan, deactivate_missing=True, start_token="kill-1")
        app.calls.clear()
        args = ["tests.bulk_child", url, server.base_url, str(job_id),
                "6000", str(tmp_path / "journal.jsonl")]
        child = children.spawn(*args)
        assert child.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while store.progress(job_id).done < 15:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        Leases(engine).release_replica("bulk-child", "bulk-child#after")
        _run(engine, server, store, history, scope, job_id, tmp_path, owner="bulk-child#after")
        assert store.get(scope, job_id).status == JobStatus.FINISHED
        rows = store.rows(job_id)
        assert Counter(r.state for r in rows) == {RowState.UPDATED: 30, RowState.CREATED: 10,
                                                  RowState.DEACTIVATED: 10}
        sent = Counter((c.method, c.path) for c in app.calls
                       if c.method in ("PATCH", "DELETE") and c.status < 400)
        assert sent and max(sent.values()) == 1  # no change or deactivation sent twice
        creates = Counter(u["email"] for u in app.users())
        assert max(creates.values()) == 1 and len(creates) == 50
        assert all(u.get("therapyLicence") == "PsyD" for u in app.users()
                   if u["email"].startswith("p") and int(u["email"][1:].split("@")[0]) < 30)
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()


def test_two_servers_applying_one_sync_run_it_once(engine, served, tmp_path):
    app, server = served
    history, scope = _history(engine, server, tmp_path, 8)
    plan = _plan(history, scope, _new_licences(8))
    store = JobStore(engine)
    first = create_sync(store, scope, created_by="Ann", file_name="r.csv", plan=plan,
                        deactivate_missing=False, start_token="one-click")
    second = create_sync(store, scope, created_by="Ann", file_name="r.csv", plan=plan,
                         deactivate_missing=False, start_token="one-click")
    assert first == (first[0], True) and second == (first[0], False)  # one click, one job
    runners = [build_runner(job_id=first[0], api_key=KEY, scope=scope, created_by="Ann",
                            store=store, history=history,
                            journal=LinkJournal(tmp_path / "j.jsonl"),
                            client=UphealClient(server.base_url), pacing=None,
                            owner=f"replica-{n}#1", settle_after=1.0) for n in "ab"]
    started = [runner.start() for runner in runners]
    assert sorted(started) == [False, True]
    for runner in runners:
        runner.join(60)
    assert store.get(scope, first[0]).status == JobStatus.FINISHED
    assert len([c for c in app.calls if c.method == "PATCH"]) == 8


def test_one_sync_at_a_time_however_many_apply_at_once(engine, served, tmp_path):
    app, server = served
    history, scope = _history(engine, server, tmp_path, 4)
    plan = _plan(history, scope, _new_licences(4))
    store = JobStore(engine)

    def apply(token: str):
        try:
            return create_sync(store, scope, created_by=f"Person {token}", file_name="r.csv",
                               plan=plan, deactivate_missing=False, start_token=token)
        except UnfinishedJobError as exc:
            return exc.job_id, "refused"

    with ThreadPoolExecutor(8) as pool:  # eight people (or replicas) pressing Apply at once
        answers = list(pool.map(apply, [f"person-{n}" for n in range(8)]))
    made = [job_id for job_id, outcome in answers if outcome is True]
    assert len(made) == 1 and sorted(o for _, o in answers if o is not True) == ["refused"] * 7
    assert {job_id for job_id, _ in answers} == set(made)  # each is shown the one sync
    assert len(store.jobs(scope, kind=JobKind.SYNC)) == 1
    token = next(f"person-{n}" for n, (_, o) in enumerate(answers) if o is True)
    assert apply(token) == (made[0], False)  # the same click again: its own sync
    _run(engine, server, store, history, scope, made[0], tmp_path)
    assert len([c for c in app.calls if c.method == "PATCH"]) == 4
    second = apply("after-it-finished")  # once it has finished, the next one may start
    assert second[1] is True and second[0] != made[0]
