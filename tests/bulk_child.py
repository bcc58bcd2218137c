"""Runs one bulk job in its own process, so a test can kill it (SIGKILL) mid-run.

    python -m tests.bulk_child DATABASE_URL SANDBOX_URL JOB_ID RATE_PER_MINUTE JOURNAL

It paces through the key's budget shared in the database, as the console does; with
BULK_CHILD_LOCAL_PACER=1 it paces only itself, as the first release did (B9's baseline).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from partner_console.api.client import UphealClient
from partner_console.api.pacing import Pacer
from partner_console.jobs.store import JobStore
from partner_console.storage import LinkJournal, fingerprint, make_engine
from partner_console.storage.coordination import KeyPacing, Leases, RateBudget, lease_owner
from tests.helpers import HistoryForTests, build_runner

SECRET = b"bulk-test-secret"
REPLICA = os.environ.get("JOB_CHILD_REPLICA", "bulk-child")
KEY = "sandbox-demo-key"


def main() -> None:
    database_url, sandbox_url, job_id, rate, journal = sys.argv[1:6]
    engine = make_engine(database_url)
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    runner = build_runner(job_id=int(job_id), api_key=KEY, scope=scope, created_by="child",
                          store=JobStore(engine), history=history,
                          journal=LinkJournal(Path(journal)),
                          client=UphealClient(sandbox_url, timeout=5),
                          pacing=Pacer(int(rate)) if os.environ.get("BULK_CHILD_LOCAL_PACER")
                          else KeyPacing(RateBudget(engine, int(rate)), SECRET, background=True),
                          owner=lease_owner(REPLICA), settle_after=1.0)
    # As a restarted console server does: its earlier life's jobs are free again at once.
    Leases(engine).release_replica(REPLICA, lease_owner(REPLICA))
    started = runner.start()
    print("started" if started else "refused", flush=True)
    runner.join()


if __name__ == "__main__":
    main()
