"""What a console server does when it starts: settle what its earlier life left behind.

A server killed mid-work (a crash, an OOM kill, a redeploy) leaves three things that only it
can settle at once, because it knows they were its own (its replica name is stable across
restarts, coordination.replica_name):

- the jobs it was running show as paused (their leases are released), so any replica can
  resume them at once instead of after the lease runs out;
- its emails that were in flight are settled (never left: may go again; handed over: "may
  have been sent", for a person), so a job resumed elsewhere never waits for them;
- invite links it had received but not yet stored are replayed from the link journal.

`serve.py` runs this as the server starts (before anyone visits it); the services' first build
(components/services.py) runs it too, so AppTest runs and a bare `streamlit run app.py` are no
different. Every step is idempotent: running it twice settles nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from partner_console.config import Settings, load_settings
from partner_console.storage import History, LinkJournal, make_engine, migrate
from partner_console.storage.coordination import Leases, lease_owner, replica_name
from partner_console.storage.sends import Sends

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovery:
    jobs_released: int  # jobs of the earlier life, now shown as paused
    sends_never_left: int  # its emails that never left (they may go again)
    sends_uncertain: int  # ... and those that may have left (a person decides)
    links_waiting: int  # journal entries still waiting for their History row


def stale_sends_after(settings: Settings) -> timedelta:
    """A send in flight is silent at most one SMTP time-out per step: past three, it stopped."""
    return timedelta(seconds=3 * settings.smtp_timeout_seconds + 30)


def recover(*, history: History, journal: LinkJournal, leases: Leases, sends: Sends,
            replica: str, owner: str) -> Recovery:
    """Settle what this replica's earlier life left: its jobs, its sends, its journal."""
    released = leases.release_replica(replica, owner)
    never_left, uncertain = sends.settle_stale()
    _, waiting = journal.replay(history.apply_journal_entry)
    recovery = Recovery(released, never_left, uncertain, waiting)
    if released or never_left or uncertain:
        log.info("replica %s started: %s job(s) of its earlier life paused, %s email(s) "
                 "settled as never sent, %s as may have been sent", replica, released,
                 never_left, uncertain)
    return recovery


def at_server_start(port: object = None) -> Recovery | None:
    """Run `recover` as the server starts, on its own connections. A database that cannot be
    reached now is not fatal: the first visitor is told in words, and recovery runs then."""
    show_job_lines()
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            migrate(engine)
            replica = replica_name(port)
            owner = lease_owner(replica)
            return recover(history=History(engine), journal=LinkJournal(settings.journal_path),
                           leases=Leases(engine),
                           sends=Sends(engine, replica, owner, stale_sends_after(settings)),
                           replica=replica, owner=owner)
        finally:
            engine.dispose()
    except Exception:  # (it runs again when the first person visits)
        log.exception("the console's start-up recovery could not run")
        return None


def show_job_lines() -> None:
    """The console's own log lines (a job started, stopped, finished) in the server's log."""
    console = logging.getLogger("partner_console")
    if not console.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        console.addHandler(handler)
        console.setLevel(logging.INFO)
