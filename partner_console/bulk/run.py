"""The bulk import job: a worker on the server, paced under the rate limit, resumable.

One runner per job across every replica: it must win the job's lease first (coordination.py),
renews it twice a second, reads Pause and Cancel from the database at each renewal, and claims
rows one at a time in one statement each, so a row is sent by at most one worker ever. Each row
goes the way of a single create: the write-ahead row with the email's reservation, a check with
Upheal, the create. Every call takes a slot of the key's budget, shared by all replicas. The
worker makes no streamlit calls; pages read its progress from the database. The API key lives
only in the runner's memory, never in the database.

A row whose create had an unknown outcome (timeout, lost answer, a runner killed mid-call) is
never sent again until Upheal can know: it stays "sending" until the safe wait after its last
sending has passed, is then settled with Upheal, and only a row Upheal never created is queued
again, under a new attempt token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from partner_console.api.client import Pacing, UphealClient
from partner_console.api.errors import ApiError, AuthenticationError
from partner_console.api.models import ProviderRequest
from partner_console.bulk.jobs import (
    CANCELLED,
    DONE_CHECKED,
    DONE_CREATED,
    DONE_EMAILED,
    DONE_FAILED,
    DONE_LINKS_LOST,
    DONE_SKIPPED,
    EMAILS,
    IMPORT,
    PAUSED,
    REMINDERS,
    SENDING,
    JobRow,
    JobStore,
)
from partner_console.creation import (
    BUSY,
    DUPLICATE,
    EXISTS,
    HALTED,
    CreationOutcome,
    ProviderCreator,
)
from partner_console.identity import Person
from partner_console.mail.sender import Mailer, compose
from partner_console.messages import explain
from partner_console.signup import label as signup_label
from partner_console.signup import status_from_check
from partner_console.storage import activity
from partner_console.storage.activity import Activity
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import (
    CANCEL,
    PAUSE,
    RENEW_SECONDS,
    Leases,
    skip_queued_rows,
)
from partner_console.storage.engine import refresh_statistics
from partner_console.storage.history import History
from partner_console.storage.job_states import CANCELLED_BEFORE, JobKind
from partner_console.storage.journal import LinkJournal
from partner_console.storage.scope import Scope
from partner_console.storage.sends import INVITE
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING

log = logging.getLogger(__name__)
DEFAULT_WORKERS = 6
SYSTEM = Person("Partner Console (automatic)")
FINISHED_WORDS = {IMPORT: (activity.IMPORTED, "The import of"),
                  EMAILS: (activity.EMAILED, "The email job"),
                  REMINDERS: (activity.REMINDED, "The reminder job")}


class Pacer:
    """Evenly spaced call slots in this process only: at most `per_minute` calls in any
    minute, no bursts. For tests and single-process tools; the console itself paces through
    the shared budget (coordination.KeyPacing)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def before_call(self, api_key: str) -> None:
        self.acquire()

    def rate_limited(self, api_key: str, seconds: float) -> None:
        """Upheal said wait: no worker sends anything for `seconds`."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


@dataclass
class LeasedRunner:
    """What every background job shares: the job's lease (one runner across replicas), renewed
    twice a second with Pause and Cancel read at each renewal, and worker threads that claim
    rows one at a time. A kind of job says what one row is (`_process`)."""

    job_id: int
    scope: Scope
    created_by: str
    store: JobStore
    leases: Leases
    owner: str  # this process's lease name (coordination.lease_owner)
    workers: int = DEFAULT_WORKERS
    api_key: str = field(default="", repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _asked: str | None = field(default=None, init=False)  # PAUSE or CANCEL, from anywhere
    _lost: bool = field(default=False, init=False)
    cancelled_message = CANCELLED_BEFORE[IMPORT]

    def close(self) -> None:
        """Let go of this runner's connections."""

    def start(self) -> bool:
        """Take the job's lease and start; False (nothing started) when a runner on this or
        another replica holds it."""
        if not self.leases.claim(self.job_id, self.owner):
            self.close()
            return False
        supervisor = threading.Thread(target=self._run, daemon=True,
                                      name=f"{self.kind_name}-job-{self.job_id}")
        self._threads = [supervisor]
        supervisor.start()
        return True

    def pause(self) -> None:
        """Stop soon (the key was forgotten here): no new row is claimed."""
        self._asked = self._asked or PAUSE
        self._stop.set()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self) -> None:
        """The fixed template every kind runs: settle what an earlier runner left, claim and
        work rows, and end. The end is decided in the database (Leases.finish): a pass that
        leaves rows queued or sending goes round again, so a job never pauses itself; it stops
        only when a person pauses or cancels it, its lease is lost, or a fault a person must
        see (the kind calls pause(), or an error: shown as paused)."""
        try:
            while not self._stop.is_set():
                self._settle(wait=False)
                self._work_until_done()
                if self._stop.is_set():
                    break
                if self.store.rows(self.job_id, (SENDING,)):
                    self._settle(wait=True)  # rows whose outcome cannot be told yet
                    self._idle()
                    continue
                self._before_finish()
                if not self._stop.is_set() and self.leases.finish(self.job_id, self.owner):
                    self._log_finished()
                    self._after_finish()
                    return
                self._idle()  # rows came back, or the lease is in doubt: look again
            if self._lost:
                log.warning("%s job %s: lease lost; another runner has it", self.kind_name,
                            self.job_id)
                return
            self._stopped()
        except Exception:  # the job must never die silently: it shows as paused
            log.exception("%s job %s stopped", self.kind_name, self.job_id)
            self.leases.release(self.job_id, self.owner, PAUSED)
        finally:
            self.close()

    kind_name = "bulk"  # in thread and log names

    def _settle(self, wait: bool) -> None:
        """Rows an earlier runner (or an unknown outcome) left "sending": decide each; with
        `wait`, wait for those that cannot be decided yet."""

    def _before_finish(self) -> None:
        """Last work once every row is done (an import's late links and emails)."""

    def _after_finish(self) -> None:
        """After the job is written finished."""

    def _idle(self) -> None:
        self._stop.wait(RENEW_SECONDS)
        self._renew()

    def _requeue(self, row: JobRow, message: str | None = None) -> bool:
        """This row back in the queue, only while this runner holds the lease."""
        return self.leases.requeue_row(self.job_id, self.owner, row, message)

    def _process(self, row: JobRow) -> None:
        raise NotImplementedError

    def _work_until_done(self) -> None:
        threads = [threading.Thread(target=self._work, daemon=True,
                                    name=f"{self.kind_name}-job-{self.job_id}-{n}")
                   for n in range(max(1, self.workers))]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            self._renew()
            for thread in threads:
                thread.join(RENEW_SECONDS / len(threads))
        self._renew()

    def _renew(self) -> None:
        renewal = self.leases.renew(self.job_id, self.owner)
        if not renewal.held:
            self._lost = True
            self._stop.set()
        elif renewal.control:
            self._asked = renewal.control
            self._stop.set()

    def _stopped(self) -> None:
        """Asked to stop (Pause or Cancel, from anywhere, or the kind's own pause())."""
        if self._asked == CANCEL:
            with self.store.engine.begin() as conn:
                skip_queued_rows(conn, self.job_id, self.cancelled_message)
            self.leases.release(self.job_id, self.owner, CANCELLED)
        else:
            self.leases.release(self.job_id, self.owner, PAUSED)

    def _log_finished(self) -> None:
        """The activity log's entry for a job that ran to its end (people's own Start, Pause,
        Resume and Cancel are logged by the pages)."""
        try:
            job = self.store.get(self.scope, self.job_id)
            progress = self.store.progress(self.job_id)
            action, words = FINISHED_WORDS.get(job.kind, (None, ""))
            if action is None:
                return
            emailed = progress.counts.get(DONE_EMAILED, 0)
            done = (f"{progress.created} created, {progress.failed} not created, "
                    f"{progress.not_sent} not sent" if job.kind == IMPORT else
                    f"{emailed} emailed, {progress.total - emailed} not emailed")
            by = f" (started by {job.created_by})" if job.created_by else ""
            Activity(self.store.engine).record(
                self.scope, SYSTEM, action, f"{words} “{job.file_name}”{by} finished: {done}.")
        except Exception:  # the job is finished and kept; only its log entry is missing
            log.exception("the activity entry of job %s could not be written", self.job_id)

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                claimed = self.leases.claim_row(self.job_id, self.owner)
                if claimed is None:
                    return
                self._process_safely(self.store.claimed(claimed))
        finally:
            self._worker_done()

    def _worker_done(self) -> None:
        """A worker thread is leaving (its own connections may close)."""

    def _process_safely(self, row: JobRow) -> None:
        try:
            self._process(row)
        except Exception:  # left "sending": settled once the workers stop
            log.exception("%s job %s: row %s could not be finished", self.kind_name,
                          self.job_id, row.row_number)


@dataclass
class JobRunner(LeasedRunner):
    """An import: each row is a create (creation.py), and with `mailer` its invite is emailed
    as soon as the provider is created."""

    creator: ProviderCreator = field(kw_only=True)  # on this job's own paced client
    mailer: Mailer | None = field(default=None, kw_only=True)
    catalog: Catalog | None = field(default=None, kw_only=True)

    @property
    def client(self) -> UphealClient:
        return self.creator.client

    @property
    def history(self) -> History:
        return self.creator.history

    def close(self) -> None:
        self.client.close()

    def _worker_done(self) -> None:
        if self.mailer is not None:
            self.mailer.close()

    # -- the work --------------------------------------------------------------------------------
    kind_name = "import"

    def _settle(self, wait: bool) -> None:
        self._settle_interrupted(wait)

    def _before_finish(self) -> None:
        self._fetch_lost_links()
        self._email_created()

    def _after_finish(self) -> None:
        refresh_statistics(self.history.engine)  # thousands of new rows: keep plans good

    def _process(self, row: JobRow) -> None:
        assert row.request is not None
        request = ProviderRequest.model_validate(row.request)
        outcome = self.creator.create(self.api_key, self.scope, request,
                                      created_by=self.created_by, token=_token(self, row),
                                      source="bulk", check_first=True, refuse_duplicate=True,
                                      halted=self._stop.is_set)
        self._record(row, outcome)

    def _record(self, row: JobRow, outcome: CreationOutcome) -> None:
        if outcome.status == PENDING:
            return  # unknown: stays "sending" until Upheal can know (_settle_interrupted)
        if outcome.status == HALTED:
            self._requeue(row)  # asked to stop before it left: waits again
            return
        if outcome.status == DUPLICATE:
            self.store.finish_row(row, DONE_SKIPPED, message="Already created (in History).",
                                  provider_id=outcome.row_id, invite_url=outcome.invite_url,
                                  private_room_link=outcome.private_room_link)
            return
        if outcome.status == EXISTS:
            self.store.finish_row(row, DONE_SKIPPED, message="Already has an Upheal account.")
            return
        if outcome.status == BUSY:
            self.store.finish_row(row, DONE_SKIPPED, provider_id=outcome.row_id, message=(
                f"{outcome.holder or 'A colleague'} was creating this provider at the same "
                "moment: see History."))
            return
        state = {CREATED: DONE_CREATED, LINKS_LOST: DONE_LINKS_LOST, FAILED: DONE_FAILED}[
            outcome.status]
        self.store.finish_row(row, state, message=outcome.message or None,
                              provider_id=outcome.row_id, invite_url=outcome.invite_url,
                              private_room_link=outcome.private_room_link)
        if state == DONE_CREATED and outcome.row_id is not None:
            self._email_invite(outcome.row_id)

    def _email_invite(self, provider_id: int) -> None:
        """"Email each invite as soon as its provider is created" (the import's option)."""
        if self.mailer is None or self.catalog is None:
            return
        try:
            provider = self.history.get(self.scope, provider_id)
            if not provider.invite_url:
                return
            mail = compose(self.catalog, self.scope, provider, INVITE, self.created_by)
            # (never a second one: an invite already sent, or maybe sent, counts)
            self.mailer.send(self.scope, provider, INVITE, subject=mail.subject, body=mail.body,
                             created_by=self.created_by, job_id=self.job_id)
        except Exception:  # the import goes on; the sweep at its end tries again
            log.exception("import job %s: the invite of provider %s was not emailed",
                          self.job_id, provider_id)

    def _email_created(self) -> None:
        """Before the import ends: every provider it created whose invite was never handed over
        (a kill mid-way, a link fetched late) is emailed now; "may have been sent" is left to
        a person."""
        if self.mailer is None:
            return
        self.mailer.sends.settle_stale()
        created = [r.provider_id for r in self.store.rows(self.job_id, (DONE_CREATED,))
                   if r.provider_id is not None]
        counted = self.mailer.sends.already_sent(created, INVITE)
        for provider_id in created:
            if self._stop.is_set():
                return
            if not counted.get(provider_id):
                self._email_invite(provider_id)

    def _fetch_lost_links(self) -> None:
        """Rows created without their links (the answer was lost and get-user-by-id failed
        then, in a 429 storm say): asked for once more before the job ends."""
        for row in self.store.rows(self.job_id, (DONE_LINKS_LOST,)):
            if self._stop.is_set() or row.provider_id is None:
                return
            try:
                outcome = self.creator.settle(self.api_key, self.scope, row.provider_id)
            except ApiError:
                continue  # History keeps offering "Fetch the links again"
            if outcome.status == CREATED and outcome.invite_url:
                self.store.relink(row.id, outcome.invite_url, outcome.private_room_link)
            self._renew()

    def _settle_interrupted(self, wait: bool) -> bool:
        """Rows left "sending" (a runner killed mid-call, or an unknown outcome): settle each
        whose safe wait has passed, waiting for the rest when `wait`. Returns whether any row
        went back to the queue."""
        requeued = False
        for row in self.store.rows(self.job_id, (SENDING,)):
            while True:
                attempts = self.history.attempts(self.scope, _token_prefix(self, row))
                unsettled = [a for a in attempts if a.status == PENDING]
                due = max((self.creator.seconds_until_settle(a) for a in unsettled), default=0)
                if due <= 0 or not wait or self._stop.is_set():
                    break
                self._stop.wait(min(due, RENEW_SECONDS))
                self._renew()
            if due > 0:
                continue  # not yet: Upheal may still be creating it
            requeued |= self._settle_row(row, attempts)
        return requeued

    def _settle_row(self, row: JobRow, attempts: list) -> bool:  # type: ignore[type-arg]
        for attempt in attempts:
            if attempt.status == PENDING:
                try:
                    self.creator.settle(self.api_key, self.scope, attempt.id)
                except ApiError as exc:  # cannot tell yet: History offers "Check with Upheal"
                    self.store.finish_row(row, DONE_FAILED, provider_id=attempt.id,
                                          message=explain(exc))
                    return False
        for attempt in self.history.attempts(self.scope, _token_prefix(self, row)):
            if attempt.status in (CREATED, LINKS_LOST):
                self._record(row, CreationOutcome.from_row(attempt))
                return False
        # Never created: back to the queue, for a new attempt under a new token.
        return self._requeue(row)


def _token_prefix(runner: JobRunner, row: JobRow) -> str:
    return f"job{runner.job_id}-row{row.id}-try"


def _token(runner: JobRunner, row: JobRow) -> str:
    """This attempt's token: the row's prefix and its attempt number, counted in the claim."""
    return f"{_token_prefix(runner, row)}{row.attempts}"


class RefreshRunner(JobRunner):  # (its creator's client asks, and is paced)
    """A sign-up refresh (jobs.REFRESH): each row asks /users/check about one provider and
    records its sign-up status (signup.py). Reads only, so an answer lost on the way is simply
    asked again; everything else (the lease, one runner across replicas, Pause, Cancel, the
    key's shared budget with people's own calls first) is the import's."""

    cancelled_message = CANCELLED_BEFORE[JobKind.REFRESH.value]
    kind_name = "refresh"

    def _settle(self, wait: bool) -> None:
        # Rows a runner was asking about when it died: asking again is harmless.
        self.leases.requeue_interrupted(self.job_id, self.owner)

    def _before_finish(self) -> None:
        pass

    def _after_finish(self) -> None:
        pass

    def _process(self, row: JobRow) -> None:
        try:
            check = self.client.check_user(self.api_key, row.email)
        except AuthenticationError as exc:  # the key stopped working: stop, keep the row
            self._requeue(row)
            log.warning("refresh job %s: %s", self.job_id, type(exc).__name__)
            self.pause()
            return
        except ApiError as exc:  # this one could not be asked; its status is left as it was
            self.store.finish_row(row, DONE_FAILED, message=explain(exc))
            return
        status = status_from_check(check)
        if row.provider_id is not None:
            self.history.record_signup(row.provider_id, status)
        self.store.finish_row(row, DONE_CHECKED, message=signup_label(status))


@dataclass
class JobRegistry:
    """The runners this process started (to pause them when their key is forgotten here)."""

    _runners: dict[int, LeasedRunner] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, job_id: int) -> LeasedRunner | None:
        with self._lock:
            return self._runners.get(job_id)

    def pause_all_with_key(self, api_key: str) -> int:
        """Stop using a key that was forgotten: pause every running import holding it."""
        with self._lock:
            holding = [r for r in self._runners.values() if r.alive and r.api_key == api_key]
        for runner in holding:
            runner.pause()
        return len(holding)

    def start(self, runner: LeasedRunner) -> bool:
        """Start `runner` if it wins the job's lease; False when a runner (here or on another
        replica) has the job already."""
        with self._lock:
            current = self._runners.get(runner.job_id)
            if current is not None and current.alive:
                runner.close()
                return False
            started = runner.start()
            if started:
                self._runners[runner.job_id] = runner
            return started


def paced_client(client: UphealClient, pacing: Pacing) -> UphealClient:
    """A copy of `client` (its own connections) whose every request takes a slot through
    `pacing`, and whose 429 waits hold the whole key."""
    return replace(client, pacing=pacing)


def build_runner(*, job_id: int, api_key: str, scope: Scope, created_by: str, store: JobStore,
                 history: History, journal: LinkJournal, client: UphealClient, pacing: Pacing,
                 owner: str, settle_after: float, workers: int = DEFAULT_WORKERS,
                 leases: Leases | None = None, mailer: Mailer | None = None,
                 catalog: Catalog | None = None) -> JobRunner:
    """A runner on its own paced copy of `client`."""
    creator = ProviderCreator(paced_client(client, pacing), history, journal, settle_after)
    mailer = mailer.for_jobs() if mailer is not None else None
    return JobRunner(job_id, scope, created_by, store, leases or Leases(store.engine), owner,
                     workers, api_key, creator=creator, mailer=mailer, catalog=catalog)


def build_refresh_runner(*, job_id: int, api_key: str, scope: Scope, created_by: str,
                         store: JobStore, history: History, journal: LinkJournal,
                         client: UphealClient, pacing: Pacing, owner: str,
                         workers: int = DEFAULT_WORKERS, leases: Leases | None = None
                         ) -> RefreshRunner:
    """A sign-up refresh runner on its own paced copy of `client`."""
    creator = ProviderCreator(paced_client(client, pacing), history, journal, 0.0)
    return RefreshRunner(job_id, scope, created_by, store, leases or Leases(store.engine),
                         owner, workers, api_key, creator=creator)


def emails_in_upheal(client: UphealClient, api_key: str, emails: list[str], pacing: Pacing,
                     on_progress: Callable[[int, int], object] | None = None) -> set[str]:
    """Which of `emails` already have an Upheal account, asked one by one at the key's pace.
    Raises ApiError when Upheal cannot answer; `on_progress(done, total)` after each."""
    paced = paced_client(client, pacing)
    found: set[str] = set()
    try:
        for number, email in enumerate(emails, start=1):
            if paced.check_user(api_key, email).is_user_exists:
                found.add(email.lower())
            if on_progress is not None:
                on_progress(number, len(emails))
    finally:
        paced.close()
    return found
