"""An import: each row creates one provider, the way a single create does (creation.py): the
write-ahead row with the email's reservation, a check with Upheal, the create. With "email each
invite", the invite is emailed as soon as its provider is created.

A row whose create had an unknown outcome (timeout, lost answer, a runner killed mid-call) is
never sent again until Upheal can know: it stays "sending" until the safe wait after its last
sending has passed, is then settled with Upheal, and only a row Upheal never created is queued
again, under a new attempt token.
"""

from __future__ import annotations

import logging
from typing import Any

from partner_console.api.errors import ApiError
from partner_console.api.models import ProviderRequest
from partner_console.bulk.prepare import READY, PreparedRow
from partner_console.creation import (
    BUSY,
    DUPLICATE,
    EXISTS,
    HALTED,
    CreationOutcome,
    ProviderCreator,
)
from partner_console.jobs.engine import (
    Handler,
    JobServices,
    Runner,
    Words,
    kind,
)
from partner_console.jobs.store import Job, JobKind, JobRow, JobStore, NewRow, Progress, RowState
from partner_console.mail.sender import compose
from partner_console.messages import explain
from partner_console.storage import activity
from partner_console.storage.coordination import RENEW_SECONDS
from partner_console.storage.engine import refresh_statistics
from partner_console.storage.history import ProviderRow
from partner_console.storage.practices import Practices
from partner_console.storage.scope import Scope
from partner_console.storage.sends import INVITE
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING

log = logging.getLogger(__name__)


def _finished(job: Job, progress: Progress) -> str:
    return (f"The import of “{job.file_name}”{{by}} finished: {progress.created} created, "
            f"{progress.failed} not created, {progress.not_sent} not sent.")


WORDS = Words("import", "Import cancelled before this row.",
              finished_action=activity.IMPORTED, finished_words=_finished)


def create_import(store: JobStore, scope: Scope, *, created_by: str, file_name: str,
                  rows: list[PreparedRow], start_token: str, send_invites: bool = False
                  ) -> tuple[int, bool]:
    """Store an import of the previewed rows: the ready ones queued, the others decided with
    the preview's reason. (job id, True), or (the earlier job, False) for a start token used
    already."""
    return store.create(scope, kind=JobKind.IMPORT, created_by=created_by, file_name=file_name,
                        start_token=start_token, send_invites=send_invites, rows=[NewRow(
                            row_number=r.row_number, email=str(r.values.get("email") or ""),
                            name=" ".join(str(r.values.get(k) or "").strip() for k in (
                                "first_name", "last_name")).strip() or None,
                            cells=r.cells,
                            request=r.request.to_json() if r.request else None,
                            state=RowState.QUEUED if r.status == READY else (
                                RowState.FAILED if r.request is None else RowState.SKIPPED),
                            message=None if r.status == READY else r.problem,
                            practice_id=r.practice_id)
                            for r in rows])


@kind(JobKind.IMPORT, WORDS)
def _import(run: Runner, services: JobServices, job: Job) -> Handler:
    creator = ProviderCreator(services.client.paced(services.background_pacing()),
                              services.history, services.journal,
                              services.settings.settle_after_seconds)
    emails = job.send_invites and services.mailer is not None
    return ImportRows(run, creator, services.mailer.for_jobs() if emails else None,
                      services.catalog if emails else None)


class ImportRows(Handler):
    def __init__(self, run: Runner, creator: ProviderCreator, mailer: Any = None,
                 catalog: Any = None) -> None:
        super().__init__(run)
        self.creator = creator
        self.mailer = mailer
        self.catalog = catalog
        self.store = run.store
        self._practices: dict[str, str] | None = None  # names, for the words of a refusal

    def _practice_name(self, practice_id: str | None) -> str | None:
        if practice_id is None:
            return None
        if self._practices is None:
            self._practices = {p.org_id: p.name
                               for p in Practices(self.store.engine).all(self.run.scope)}
        return self._practices.get(practice_id, practice_id)

    @property
    def history(self) -> Any:
        return self.creator.history

    def close(self) -> None:
        self.creator.client.close()

    def worker_done(self) -> None:
        if self.mailer is not None:
            self.mailer.close()

    def before_finish(self) -> None:
        self._fetch_lost_links()
        self._email_created()

    def after_finish(self) -> None:
        refresh_statistics(self.history.engine)  # thousands of new rows: keep plans good

    def process(self, row: JobRow) -> None:
        assert row.request is not None
        self._create(row, ProviderRequest.model_validate(row.request))

    source = "bulk"  # (History's "source" of the providers it creates)

    def _create(self, row: JobRow, request: ProviderRequest) -> None:
        outcome = self.creator.create(self.run.api_key, self.run.scope, request,
                                      created_by=self.run.created_by, token=self._token(row),
                                      source=self.source, check_first=True,
                                      refuse_duplicate=True, halted=lambda: self.run.stopping,
                                      practice_id=row.practice_id,
                                      practice_name=self._practice_name(row.practice_id))
        self._record(row, outcome)

    def _record(self, row: JobRow, outcome: CreationOutcome) -> None:
        if outcome.status == PENDING:
            return  # unknown: stays "sending" until Upheal can know (settle)
        if outcome.status == HALTED:
            self.run.requeue(row)  # asked to stop before it left: waits again
            return
        if outcome.status == DUPLICATE:
            self.store.finish_row(row, RowState.SKIPPED, message="Already created (in History).",
                                  provider_id=outcome.row_id, invite_url=outcome.invite_url,
                                  private_room_link=outcome.private_room_link)
            return
        if outcome.status == EXISTS:
            self.store.finish_row(row, RowState.SKIPPED, message="Already has an Upheal account.")
            return
        if outcome.status == BUSY:
            self.store.finish_row(row, RowState.SKIPPED, provider_id=outcome.row_id, message=(
                f"{outcome.holder or 'A colleague'} was creating this provider at the same "
                "moment: see History."))
            return
        state = {CREATED: RowState.CREATED, LINKS_LOST: RowState.LINKS_LOST,
                 FAILED: RowState.FAILED}[outcome.status]
        self.store.finish_row(row, state, message=outcome.message or None,
                              provider_id=outcome.row_id, invite_url=outcome.invite_url,
                              private_room_link=outcome.private_room_link)
        if state == RowState.CREATED and outcome.row_id is not None:
            self._email_invite(outcome.row_id)

    def _email_invite(self, provider_id: int) -> None:
        """"Email each invite as soon as its provider is created" (the import's option)."""
        if self.mailer is None or self.catalog is None:
            return
        try:
            provider = self.history.get(self.run.scope, provider_id)
            if not provider.invite_url:
                return
            mail = compose(self.catalog, self.run.scope, provider, INVITE, self.run.created_by)
            # (never a second one: an invite already sent, or maybe sent, counts)
            self.mailer.send(self.run.scope, provider, INVITE, subject=mail.subject,
                             body=mail.body, created_by=self.run.created_by,
                             job_id=self.run.job_id)
        except Exception:  # the import goes on; the sweep at its end tries again
            log.exception("import job %s: the invite of provider %s was not emailed",
                          self.run.job_id, provider_id)

    def _email_created(self) -> None:
        """Before the import ends: every provider it created whose invite was never handed over
        (a kill mid-way, a link fetched late) is emailed now; "may have been sent" is left to
        a person."""
        if self.mailer is None:
            return
        self.mailer.sends.settle_stale()
        created = [r.provider_id for r in self.store.rows(self.run.job_id, (RowState.CREATED,))
                   if r.provider_id is not None]
        counted = self.mailer.sends.already_sent(created, INVITE)
        for provider_id in created:
            if self.run.stopping:
                return
            if not counted.get(provider_id):
                self._email_invite(provider_id)

    def _fetch_lost_links(self) -> None:
        """Rows created without their links (the answer was lost and get-user-by-id failed
        then, in a 429 storm say): asked for once more before the job ends."""
        for row in self.store.rows(self.run.job_id, (RowState.LINKS_LOST,)):
            if self.run.stopping or row.provider_id is None:
                return
            try:
                outcome = self.creator.settle(self.run.api_key, self.run.scope, row.provider_id)
            except ApiError:
                continue  # History keeps offering "Fetch the links again"
            if outcome.status == CREATED and outcome.invite_url:
                self.store.relink(row.id, outcome.invite_url, outcome.private_room_link)
            self.run.renew()

    def settle(self, wait: bool) -> None:
        """Rows left "sending" (a runner killed mid-call, or an unknown outcome): settle each
        whose safe wait has passed, waiting for the rest when `wait`."""
        for row in self.store.rows(self.run.job_id, (RowState.SENDING,)):
            self._settle_create(row, wait)
            self.run.renew()

    def _settle_create(self, row: JobRow, wait: bool) -> None:
        while True:
            attempts = self.history.attempts(self.run.scope, self._token_prefix(row))
            unsettled = [a for a in attempts if a.status == PENDING]
            due = max((self.creator.seconds_until_settle(a) for a in unsettled), default=0)
            if due <= 0 or not wait or self.run.stopping:
                break
            self.run.wait(min(due, RENEW_SECONDS))
            self.run.renew()
        if due <= 0:  # (else not yet: Upheal may still be creating it)
            self._settle_row(row, attempts)

    def _settle_row(self, row: JobRow, attempts: list[ProviderRow]) -> None:
        for attempt in attempts:
            if attempt.status == PENDING:
                try:
                    self.creator.settle(self.run.api_key, self.run.scope, attempt.id)
                except ApiError as exc:  # cannot tell yet: History offers "Check with Upheal"
                    self.store.finish_row(row, RowState.FAILED, provider_id=attempt.id,
                                          message=explain(exc))
                    return
        for attempt in self.history.attempts(self.run.scope, self._token_prefix(row)):
            if attempt.status in (CREATED, LINKS_LOST):
                self._record(row, CreationOutcome.from_row(attempt))
                return
        self.run.requeue(row)  # never created: back to the queue, under a new token

    def _token_prefix(self, row: JobRow) -> str:
        return f"job{self.run.job_id}-row{row.id}-try"

    def _token(self, row: JobRow) -> str:
        """This attempt's token: the row's prefix and its attempt number, counted in the
        claim."""
        return f"{self._token_prefix(row)}{row.attempts}"
