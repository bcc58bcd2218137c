"""B14: roster sync. The preview of a 1,000-row roster (100 changed) against a 10,000-provider
History (p50, beside pandas reading the same file and joining it to the same rows), and the
sync's pace: its calls a minute against what the key's budget leaves it beside a person's own
calls (as B11 measures the sign-up refresh)."""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import update

from bench.beside import KEY, a_person_checking, background_runner, seeded
from bench.harness import Result
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.jobs.kinds.sync import create_sync
from partner_console.jobs.store import JobStore, RowState
from partner_console.roster import CHANGED, plan_sync
from partner_console.sandbox import Faults, SandboxApp, SandboxServer
from partner_console.storage import History, HistoryReads
from partner_console.storage.coordination import HEADROOM, RateBudget
from partner_console.storage.tables import providers

SECRET = b"bench-roster"
NPIS = ["1234567893", "1245319599", "1003000126"]


def _roster(history: HistoryReads, scope, rows: int, changed: int) -> bytes:
    """`rows` of History's providers as a roster, `changed` of them with another licence."""
    lines = ["First name,Last name,Email,Employee ID,Therapy licence"]
    for provider in history.iter_rows(scope):
        if len(lines) > rows:
            break
        if provider.status != "created":
            continue
        licence = "PsyD" if len(lines) <= changed else (provider.therapy_licence or "")
        lines.append(f"{provider.first_name},{provider.last_name},{provider.email},"
                     f"{provider.partner_user_id},{licence}")
    return ("\n".join(lines) + "\n").encode()


def b14(history_size: int, roster_rows: int, changed: int, repeat: int, rate: int,
        seconds: float, person_every: float) -> list[Result]:
    folder, engine, fp = seeded("b14", history_size, SECRET)
    reads = HistoryReads(engine)
    scope = History(engine).scope_for(fp)
    data = _roster(reads, scope, roster_rows, changed)

    def preview():  # what the page does for a new file: read, prepare, plan
        read = read_file(data, "roster.csv")
        return plan_sync(prepare_rows(read, auto_map(read.headers), []),
                         list(reads.iter_rows(scope)))

    def baseline() -> None:  # pandas: read the file, read History, join them by the id
        roster = pd.read_csv(io.BytesIO(data), dtype=str)
        with engine.connect() as conn:
            known = pd.read_sql("SELECT * FROM providers", conn)
        roster.merge(known, left_on="Employee ID", right_on="partner_user_id", how="left")

    ours, theirs = [], []
    plan = preview()
    for _ in range(repeat):
        start = time.perf_counter()
        plan = preview()
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        baseline()
        theirs.append(time.perf_counter() - start)
    p50, base = statistics.median(ours), statistics.median(theirs)
    results = [Result(
        "B14 preview", f"roster sync preview: {roster_rows}-row roster ({changed} changed) "
        f"against {history_size:,} providers, p50", round(p50, 3), "s", round(base, 3),
        "pandas: read_csv + read_sql + merge of the same", "<= 2 s",
        p50 <= 2.0 and plan.count(CHANGED) >= changed * 0.9,
        {"changed": plan.count(CHANGED), "rows": len(plan.rows)})]
    results.append(_pace(engine, scope, plan, rate, seconds, person_every, folder))
    engine.dispose()
    return results


def _pace(engine, scope, plan, rate: int, seconds: float, person_every: float,
          folder: Path) -> Result:
    sandbox = SandboxApp(rate_per_minute=rate, seed=14, faults=Faults(latency_ms=30))
    server = SandboxServer(sandbox, hang_seconds=1)
    server.start_in_thread()
    history = History(engine)
    for planned in plan.rows:  # Upheal knows the providers to change (not timed, no budget)
        if planned.category == CHANGED:
            provider = history.get(scope, planned.provider_id)
            user = sandbox.add_user(KEY, {"firstName": provider.first_name,
                                          "lastName": provider.last_name,
                                          "email": provider.email})
            with engine.begin() as conn:  # (History's user id is the sandbox's)
                conn.execute(update(providers).where(providers.c.id == provider.id).values(
                    user_id=user["userId"]))
    budget = RateBudget(engine, rate)
    store = JobStore(engine)
    job_id, _ = create_sync(store, scope, created_by="bench", file_name="roster.csv",
                            plan=plan, deactivate_missing=False, start_token=f"b14-{rate}")
    runner = background_runner(engine, store, history, "b14#1", server.base_url, budget,
                               SECRET, job_id, scope, folder)
    runner.start()
    # (the sandbox's clock for the person's calls, to compare them with its own)
    with a_person_checking(server.base_url, budget, SECRET, person_every,
                           clock=time.time) as person_calls:
        runner.join(seconds)  # (a sync of the plan's changes: done well inside this)
        runner.pause()
    runner.join(30)
    patches = sorted(c.at for c in sandbox.calls if c.method == "PATCH")
    refused = sum(1 for c in sandbox.calls if c.status == 429)
    done = sum(1 for r in store.rows(job_id) if r.state == RowState.UPDATED)
    server.shutdown()
    server.server_close()
    # n calls in evenly spaced slots span n - 1 intervals (as B12 counts messages)
    elapsed = (patches[-1] - patches[0]) if len(patches) > 1 else float("inf")
    per_minute = (len(patches) - 1) / elapsed * 60
    during = [t for t in person_calls if patches and patches[0] <= t <= patches[-1]]
    person_per_minute = len(during) / elapsed * 60
    left = rate * HEADROOM - person_per_minute
    return Result(
        "B14 pace", f"roster sync of {len(patches)} changes beside a person's own checks "
        f"({person_per_minute:.0f}/min), sandbox enforcing {rate} calls/min, {elapsed:.0f} s",
        round(per_minute, 1), "calls/min", round(left, 1),
        "what the budget leaves it (97 % of the limit less the person's)", ">= 90 %, no 429",
        per_minute >= 0.9 * left and refused == 0,
        {"answers_429": refused, "changed": done, "person_calls": len(person_calls)})
