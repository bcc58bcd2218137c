"""Email jobs: "Email the invites to N providers" (or reminders), run like an import.

The job machinery is the import's (run.py LeasedRunner): one runner across replicas under the
job's lease, Pause, Resume and Cancel from any replica, and it goes on when the tab is closed.
Each row is one send through the one sending path (mail/sender.py), paced by the deployment's
messages-per-minute budget, shared by every replica. The API key plays no part: nothing here
calls Upheal.

After a kill, a row left "sending" is settled from its send's record before anything else:
sent is sent; "may have been sent" is left for a person; a send that never left is queued
again. A send another server may still be handing over is waited for, never doubled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from partner_console.bulk.jobs import (
    DONE_EMAILED,
    DONE_FAILED,
    DONE_SKIPPED,
    DONE_UNCERTAIN,
    EMAILS,
    REMINDERS,
    SENDING,
    JobRow,
    JobStore,
)
from partner_console.bulk.run import LeasedRunner
from partner_console.mail.sender import Mailer, compose
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import RENEW_SECONDS, Leases
from partner_console.storage.errors import NotFoundError
from partner_console.storage.history import History
from partner_console.storage.job_states import CANCELLED_BEFORE
from partner_console.storage.scope import Scope
from partner_console.storage.sends import (
    ALREADY,
    BUSY,
    FAILED,
    IN_FLIGHT,
    INVITE,
    NEVER_LEFT,
    REMINDER,
    SENT,
    UNCERTAIN,
)
from partner_console.when import SHOWN

log = logging.getLogger(__name__)
# The email kind (sends.py) each email job kind sends, and back: one map, read both ways.
KIND_OF_JOB = {EMAILS: INVITE, REMINDERS: REMINDER}
JOB_OF_KIND = {email: job for job, email in KIND_OF_JOB.items()}


@dataclass
class EmailRunner(LeasedRunner):
    mailer: Mailer = field(kw_only=True)  # the job's own copy (Mailer.for_jobs)
    history: History = field(kw_only=True)
    catalog: Catalog = field(kw_only=True)
    kind: str = field(default=INVITE, kw_only=True)  # INVITE or REMINDER
    cancelled_message = CANCELLED_BEFORE[EMAILS]

    def close(self) -> None:
        self.mailer.close()

    def _worker_done(self) -> None:
        self.mailer.close()

    kind_name = "email"

    def _settle(self, wait: bool) -> None:
        self._settle_interrupted()

    def _settle_interrupted(self) -> None:
        """Rows an earlier runner left "sending": decided from their send's record."""
        sends = self.mailer.sends
        for row in self.store.rows(self.job_id, (SENDING,)):
            while not self._stop.is_set():
                sends.settle_stale()
                send = sends.latest_of_job(self.job_id, row.provider_id or 0, self.kind)
                if send is None or send.state not in IN_FLIGHT:
                    break
                self._stop.wait(RENEW_SECONDS)  # another server may still be handing it over
                self._renew()
            else:
                return
            if send is None or (send.state == FAILED and send.error_text == NEVER_LEFT):
                self._requeue(row)  # it never left: its turn comes again
            else:
                self._record(row, send.state, send.error_text or "")

    def _record(self, row: JobRow, state: str, words: str) -> None:
        if state == SENT:
            self.store.finish_row(row, DONE_EMAILED, message="Emailed.")
        elif state == UNCERTAIN:
            self.store.finish_row(row, DONE_UNCERTAIN, message=words)
        else:
            self.store.finish_row(row, DONE_FAILED, message=words)

    def _process(self, row: JobRow) -> None:
        try:
            provider = self.history.get(self.scope, row.provider_id or 0)
        except NotFoundError:
            self.store.finish_row(row, DONE_SKIPPED, message="Not in History any more.")
            return
        if not provider.invite_url:
            self.store.finish_row(row, DONE_SKIPPED, message="Not sent: this provider has no "
                                                             "invite link yet.")
            return
        mail = compose(self.catalog, self.scope, provider, self.kind, self.created_by)
        result = self.mailer.send(
            self.scope, provider, self.kind, subject=mail.subject, body=mail.body,
            created_by=self.created_by, confirmed=int(row.cells.get("confirmed", 0)),
            token=f"job{self.job_id}-row{row.id}-try{row.attempts}", job_id=self.job_id)
        if result.setup_problem:  # the mail server refuses the console: nothing else will go
            self._requeue(row, message=result.words)  # shown with "Paused"
            self.pause()
            return
        if result.status == ALREADY and result.previous is not None:
            sent = result.previous.sent_at or result.previous.created_at
            self.store.finish_row(row, DONE_SKIPPED, message=(
                f"Not sent: already emailed on {sent.strftime(SHOWN)} UTC by "
                f"{result.previous.created_by or 'a colleague'}."))
        elif result.status == BUSY:
            self.store.finish_row(row, DONE_SKIPPED, message="Not sent: a colleague was "
                                                             "sending it at the same moment.")
        else:
            self._record(row, result.status, result.words)


def build_email_runner(*, job_id: int, scope: Scope, created_by: str, store: JobStore,
                       history: History, catalog: Catalog, mailer: Mailer, owner: str,
                       kind: str = INVITE, leases: Leases | None = None,
                       workers: int = 2) -> EmailRunner:
    """An email job's runner, on its own copy of `mailer` (its own connections)."""
    return EmailRunner(job_id, scope, created_by, store, leases or Leases(store.engine), owner,
                       workers, mailer=mailer.for_jobs(), history=history, catalog=catalog,
                       kind=kind)
