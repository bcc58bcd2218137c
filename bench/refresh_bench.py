"""B11: a sign-up refresh takes what a person leaves of the key's budget. A refresh job and a
person checking providers by hand share one key against a sandbox enforcing the per-minute
limit; the refresh's pace is compared, side by side, with what the budget leaves it."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.harness import Result
from bench.seed import seed_history
from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.jobs.engine import Parts
from partner_console.jobs.kinds.refresh import create_refresh
from partner_console.jobs.store import JobStore, RowState
from partner_console.sandbox import Faults, SandboxApp, SandboxServer
from partner_console.storage import (
    History,
    HistoryReads,
    LinkJournal,
    fingerprint,
    make_engine,
    migrate,
)
from partner_console.storage.coordination import HEADROOM, KeyPacing, Leases, RateBudget

KEY = "sandbox-demo-key"
SECRET = b"b11-secret"
ORG = "5a4d0b7e-0000-4000-8000-00000000c11c"


def b11(rate: int, seconds: float, person_every: float) -> list[Result]:
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder / 'b11.db'}")
    migrate(engine)
    fp = fingerprint(SECRET, KEY)
    seed_history(engine, int(rate * seconds / 60 * 1.5) + 50, fp, ORG)
    sandbox = SandboxApp(rate_per_minute=rate, seed=11, faults=Faults(latency_ms=30))
    server = SandboxServer(sandbox, hang_seconds=1)
    server.start_in_thread()
    history = History(engine)
    scope = history.scope_for(fp)
    rows = [(r.id, r.email, r.full_name) for r in HistoryReads(engine).iter_rows(scope)
            if r.status == "created"]
    store = JobStore(engine)
    job_id, _ = create_refresh(store, scope, created_by="bench", providers=rows,
                               start_token=f"b11-{rate}")
    budget = RateBudget(engine, rate)
    client = UphealClient(server.base_url, timeout=5, retry=RetryPolicy(max_attempts=5))
    runner = Parts(store, Leases(engine), "b11#1", history=history,
                   journal=LinkJournal(folder / "j.jsonl"), client=client,
                   pacing=KeyPacing(budget, SECRET, background=True)).runner(
        job_id, scope, api_key=KEY, by="bench")
    stop = threading.Event()
    person_calls: list[float] = []

    def person() -> None:  # a member of staff checking someone by hand now and then
        own = UphealClient(server.base_url, timeout=5, pacing=KeyPacing(budget, SECRET))
        while not stop.wait(person_every):
            own.check_user(KEY, "someone@example.com")
            person_calls.append(time.monotonic())

    helper = threading.Thread(target=person, daemon=True)
    started = time.monotonic()
    runner.start()
    helper.start()
    time.sleep(seconds)
    runner.pause()
    stop.set()
    runner.join(30)
    helper.join(10)
    elapsed = time.monotonic() - started
    checked = sum(1 for r in store.rows(job_id) if r.state == RowState.CHECKED)
    refused = sum(1 for c in sandbox.calls if c.status == 429)
    server.shutdown()
    server.server_close()
    engine.dispose()
    per_minute = checked / elapsed * 60
    person_per_minute = len(person_calls) / elapsed * 60
    left = rate * HEADROOM - person_per_minute
    return [Result(
        "B11", f"sign-up refresh beside a person's own checks ({person_per_minute:.0f}/min), "
        f"one key, sandbox enforcing {rate} calls/min, {elapsed:.0f} s", per_minute,
        "checks/min", left, "what the budget leaves it (97 % of the limit less the person's)",
        ">= 90 %, no 429", per_minute >= 0.9 * left and refused == 0,
        {"answers_429": refused, "person_calls": len(person_calls), "checked": checked})]
