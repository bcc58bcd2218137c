"""Runs one sign-up refresh in its own process, so a test can kill it (SIGKILL) mid-run.

    python -m tests.refresh_child DATABASE_URL SANDBOX_URL JOB_ID RATE_PER_MINUTE

Like a console server restarted after a crash (JOB_CHILD_REPLICA names it): its earlier
life's leases are released at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from partner_console.api.client import UphealClient
from partner_console.jobs.store import JobStore
from partner_console.storage import LinkJournal, fingerprint, make_engine
from partner_console.storage.coordination import KeyPacing, Leases, RateBudget, lease_owner
from tests.bulk_child import KEY, SECRET
from tests.helpers import HistoryForTests, build_refresh_runner

REPLICA = os.environ.get("JOB_CHILD_REPLICA", "refresh-child")


def main() -> None:
    database_url, sandbox_url, job_id, rate = sys.argv[1:5]
    engine = make_engine(database_url)
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    owner = lease_owner(REPLICA)
    Leases(engine).release_replica(REPLICA, owner)
    runner = build_refresh_runner(
        job_id=int(job_id), api_key=KEY, scope=scope, created_by="child", store=JobStore(engine),
        history=history, journal=LinkJournal(Path("/nonexistent/journal.jsonl")),
        client=UphealClient(sandbox_url, timeout=5),
        pacing=KeyPacing(RateBudget(engine, int(rate)), SECRET, background=True), owner=owner)
    started = runner.start()
    print("started" if started else "refused", flush=True)
    runner.join()


if __name__ == "__main__":
    main()
