"""B12: a bulk send keeps up with the configured messages-per-minute limit. An email job sends
invites to a real SMTP server on loopback (aiosmtpd); its pace, measured from what the server
received, is compared with the limit it was given (the goal: at least 90 % of it)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.harness import Result
from partner_console.config import load_settings
from partner_console.jobs.engine import Parts
from partner_console.jobs.kinds.emails import create_email_job
from partner_console.jobs.store import JobStore
from partner_console.mail.sender import Mailer, transport_for
from partner_console.storage import make_engine, migrate
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import Leases, RateBudget
from partner_console.storage.sends import INVITE, Sends
from tests.smtp_server import SmtpServer
from tests.test_mail import provider


def b12(count: int, per_minute: int) -> list[Result]:
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder / 'b12.db'}")
    migrate(engine)
    server = SmtpServer(folder, "plain").start()
    try:
        rows = []
        for n in range(count):
            history, scope, row = provider(engine, email=f"b12-{n}@example.com",
                                           first=f"B{n}", last="Bench")
            rows.append(row)
        scope = history.scope_for(scope.key_fingerprint)
        settings = load_settings({"UPHEAL_API_BASE_URL": "https://api.partner.example/",
                                  "SMTP_URL": server.url(),
                                  "INVITE_EMAIL_FROM": "Bench <bench@partner.example>"},
                                 folder / "none.toml")
        store = JobStore(engine)
        job_id, _ = create_email_job(
            store, scope, email_kind=INVITE, created_by="bench", start_token="b12",  # noqa: S106
            providers=[(r.id, r.email, r.full_name, {}) for r in rows])
        mailer = Mailer(Sends(engine, "b12", "b12#1"), settings.email_from, None,
                        transport_for(settings), RateBudget(engine, per_minute))
        runner = Parts(store, Leases(engine), "b12#1", history=history,
                       catalog=Catalog(engine), mailer=mailer).runner(job_id, scope, by="bench")
        started = time.monotonic()
        runner.start()
        runner.join(count * 60 / per_minute * 3 + 60)
        elapsed = time.monotonic() - started
        received = len(server.received)
    finally:
        server.stop()
    # n messages in evenly spaced slots span n - 1 intervals
    pace = (received - 1) / elapsed * 60 if received > 1 else 0.0
    return [Result("B12", f"bulk send of {count} invites, messages a minute", round(pace, 1),
                   "msg/min", float(per_minute), "the configured limit", ">= 0.90x",
                   received == count and pace >= 0.9 * per_minute,
                   {"received": received, "seconds": round(elapsed, 2)})]
