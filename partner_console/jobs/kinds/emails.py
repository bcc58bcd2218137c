"""Email jobs: "Email the invites to N providers" (or reminders). Each row is one send through
the one sending path (mail/sender.py), paced by the deployment's messages-per-minute budget,
shared by every replica. The API key plays no part: nothing here calls Upheal.

After a kill, a row left "sending" is settled from its send's record before anything else:
sent is sent; "may have been sent" is left for a person; a send that never left is queued
again. A send another server may still be handing over is waited for, never doubled.
"""

from __future__ import annotations

from collections.abc import Callable

from partner_console.jobs.engine import Handler, JobServices, Runner, Words, kind
from partner_console.jobs.store import Job, JobKind, JobRow, JobStore, NewRow, Progress, RowState
from partner_console.mail.sender import Mailer, compose
from partner_console.storage import activity
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import RENEW_SECONDS
from partner_console.storage.errors import NotFoundError
from partner_console.storage.history import History
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

# The email kind (sends.py) each email job kind sends, and back: one map, read both ways.
EMAIL_OF_JOB = {JobKind.EMAILS.value: INVITE, JobKind.REMINDERS.value: REMINDER}
JOB_OF_EMAIL = {email: job for job, email in EMAIL_OF_JOB.items()}
CANCELLED = "Cancelled before this email was sent."


def _finished(noun: str, what: str) -> Callable[[Job, Progress], str]:
    def words(job: Job, progress: Progress) -> str:
        emailed = progress.count(RowState.EMAILED)
        return (f"The {noun} “{what} to {job.total} provider(s)”{{by}} finished: {emailed} "
                f"emailed, {progress.total - emailed} not emailed.")
    return words


INVITE_WORDS = Words("email", CANCELLED, title="Invites to {total} provider(s)",
                     finished_action=activity.EMAILED,
                     finished_words=_finished("email job", "Invites"))
REMINDER_WORDS = Words("email", CANCELLED, title="Reminders to {total} provider(s)",
                       finished_action=activity.REMINDED,
                       finished_words=_finished("reminder job", "Reminders"))


def create_email_job(store: JobStore, scope: Scope, *, email_kind: str, created_by: str,
                     providers: list[tuple[int, str, str, dict[str, int]]], start_token: str
                     ) -> tuple[int, bool]:
    """A job of one send per provider ((History row id, email, name, {"confirmed": n}) each):
    `email_kind` INVITE or REMINDER."""
    return store.create(scope, kind=JOB_OF_EMAIL[email_kind], created_by=created_by,
                        start_token=start_token, rows=[
                            NewRow(number, email, name, cells=cells, provider_id=provider_id)
                            for number, (provider_id, email, name, cells)
                            in enumerate(providers, 1)])


def _build(run: Runner, services: JobServices, job: Job) -> Handler:
    return SendRows(run, services.mailer.for_jobs(), services.history, services.catalog,
                    EMAIL_OF_JOB[job.kind])


kind(JobKind.EMAILS, INVITE_WORDS, workers=2)(_build)
kind(JobKind.REMINDERS, REMINDER_WORDS, workers=2)(_build)


class SendRows(Handler):
    def __init__(self, run: Runner, mailer: Mailer, history: History, catalog: Catalog,
                 email_kind: str) -> None:
        super().__init__(run)
        self.mailer = mailer  # the job's own copy (Mailer.for_jobs)
        self.history = history
        self.catalog = catalog
        self.email_kind = email_kind  # INVITE or REMINDER
        self.store = run.store

    def close(self) -> None:
        self.mailer.close()

    def worker_done(self) -> None:
        self.mailer.close()

    def settle(self, wait: bool) -> None:
        """Rows an earlier runner left "sending": decided from their send's record."""
        sends = self.mailer.sends
        for row in self.store.rows(self.run.job_id, (RowState.SENDING,)):
            while not self.run.stopping:
                sends.settle_stale()
                send = sends.latest_of_job(self.run.job_id, row.provider_id or 0,
                                           self.email_kind)
                if send is None or send.state not in IN_FLIGHT:
                    break
                self.run.wait(RENEW_SECONDS)  # another server may still be handing it over
                self.run.renew()
            else:
                return
            if send is None or (send.state == FAILED and send.error_text == NEVER_LEFT):
                self.run.requeue(row)  # it never left: its turn comes again
            else:
                self._record(row, send.state, send.error_text or "")

    def _record(self, row: JobRow, state: str, words: str) -> None:
        if state == SENT:
            self.store.finish_row(row, RowState.EMAILED, message="Emailed.")
        elif state == UNCERTAIN:
            self.store.finish_row(row, RowState.UNCERTAIN, message=words)
        else:
            self.store.finish_row(row, RowState.FAILED, message=words)

    def process(self, row: JobRow) -> None:
        try:
            provider = self.history.get(self.run.scope, row.provider_id or 0)
        except NotFoundError:
            self.store.finish_row(row, RowState.SKIPPED, message="Not in History any more.")
            return
        if not provider.active:
            self.store.finish_row(row, RowState.SKIPPED,
                                  message="Not sent: deactivated in Upheal.")
            return
        if not provider.invite_url:
            self.store.finish_row(row, RowState.SKIPPED,
                                  message="Not sent: this provider has no invite link yet.")
            return
        mail = compose(self.catalog, self.run.scope, provider, self.email_kind,
                       self.run.created_by)
        result = self.mailer.send(
            self.run.scope, provider, self.email_kind, subject=mail.subject, body=mail.body,
            created_by=self.run.created_by, confirmed=int(row.cells.get("confirmed", 0)),
            token=f"job{self.run.job_id}-row{row.id}-try{row.attempts}", job_id=self.run.job_id)
        if result.setup_problem:  # the mail server refuses the console: nothing else will go
            self.run.requeue(row, message=result.words)  # shown with "Paused"
            self.run.pause()
            return
        if result.status == ALREADY and result.previous is not None:
            sent = result.previous.sent_at or result.previous.created_at
            self.store.finish_row(row, RowState.SKIPPED, message=(
                f"Not sent: already emailed on {sent.strftime(SHOWN)} UTC by "
                f"{result.previous.created_by or 'a colleague'}."))
        elif result.status == BUSY:
            self.store.finish_row(row, RowState.SKIPPED, message="Not sent: a colleague was "
                                                                 "sending it at the same moment.")
        else:
            self._record(row, result.status, result.words)
