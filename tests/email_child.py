"""Runs one email job in its own process, so a test can kill it (SIGKILL) mid-send.

    python -m tests.email_child DATABASE_URL SMTP_URL CA_FILE JOB_ID PER_MINUTE

Like a console server restarted after a crash: the same replica name, a new life, so its
earlier life's leases and in-flight sends are settled at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from partner_console.config import load_settings
from partner_console.jobs.store import JobStore
from partner_console.mail.sender import Mailer, transport_for
from partner_console.startup import recover
from partner_console.storage import LinkJournal, fingerprint, make_engine
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import Leases, RateBudget, lease_owner
from partner_console.storage.sends import Sends
from tests.conftest import DEMO_KEY as KEY
from tests.helpers import HistoryForTests, build_email_runner
from tests.test_mail import SECRET

REPLICA = os.environ.get("JOB_CHILD_REPLICA", "email-child")


def main() -> None:
    database_url, smtp_url, ca_file, job_id, per_minute = sys.argv[1:6]
    settings = load_settings({"UPHEAL_API_BASE_URL": "https://api.partner.example/",
                              "SMTP_URL": smtp_url, "SMTP_CA_FILE": ca_file,
                              "INVITE_EMAIL_FROM": "Onboarding <onboarding@partner.example>",
                              "UPHEAL_REQUEST_TIMEOUT_SECONDS": "3"}, Path("/nonexistent.toml"))
    engine = make_engine(database_url)
    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    owner = lease_owner(REPLICA)
    sends = Sends(engine, REPLICA, owner)
    # As a restarted console server does (startup.py): its earlier life's jobs are free again
    # and its in-flight sends settled at once, whoever resumes the job.
    recover(history=history, journal=LinkJournal(Path("/nonexistent/journal.jsonl")),
            leases=Leases(engine), sends=sends, replica=REPLICA, owner=owner)
    mailer = Mailer(sends, settings.email_from, None, transport_for(settings),
                    RateBudget(engine, int(per_minute)), attempts=6, initial_backoff=0.05,
                    max_backoff=0.4)
    runner = build_email_runner(job_id=int(job_id), scope=scope, created_by="Ann",
                                store=JobStore(engine), history=history, catalog=Catalog(engine),
                                mailer=mailer, owner=owner)
    started = runner.start()
    print("started" if started else "refused", flush=True)
    runner.join()


if __name__ == "__main__":
    main()
