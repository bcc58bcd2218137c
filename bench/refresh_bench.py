"""B11: a sign-up refresh takes what a person leaves of the key's budget. A refresh job and a
person checking providers by hand share one key against a sandbox enforcing the per-minute
limit; the refresh's pace is compared, side by side, with what the budget leaves it."""

from __future__ import annotations

import time

from bench.beside import a_person_checking, background_runner, seeded
from bench.harness import Result
from partner_console.jobs.kinds.refresh import create_refresh
from partner_console.jobs.store import JobStore, RowState
from partner_console.sandbox import Faults, SandboxApp, SandboxServer
from partner_console.storage import History, HistoryReads
from partner_console.storage.coordination import HEADROOM, RateBudget

SECRET = b"b11-secret"


def b11(rate: int, seconds: float, person_every: float) -> list[Result]:
    folder, engine, fp = seeded("b11", int(rate * seconds / 60 * 1.5) + 50, SECRET)
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
    runner = background_runner(engine, store, history, "b11#1", server.base_url, budget,
                               SECRET, job_id, scope, folder)
    started = time.monotonic()
    runner.start()
    with a_person_checking(server.base_url, budget, SECRET, person_every) as person_calls:
        time.sleep(seconds)
        runner.pause()
    runner.join(30)
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
