"""The bulk import job: a worker on the server, paced under the rate limit, resumable.

Each row goes the way of a single create: check Upheal, then the write-ahead create of
`ProviderCreator`. Every call (checks included) takes a slot from the key's `Pacer`, so the
job never sends more than the configured calls per minute. A 429 holds every worker of that key
for its Retry-After. The worker makes no streamlit calls; pages read its progress from the
database. The API key lives only in the worker's memory, never in the database.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from partner_console.api.client import UphealClient
from partner_console.api.errors import ApiError
from partner_console.api.models import ProviderRequest
from partner_console.bulk.jobs import (
    CANCELLED,
    DONE_CREATED,
    DONE_FAILED,
    DONE_LINKS_LOST,
    DONE_SKIPPED,
    FINISHED,
    PAUSED,
    QUEUED,
    RUNNING,
    SENDING,
    JobRow,
    JobStore,
)
from partner_console.creation import CreationOutcome, ProviderCreator
from partner_console.messages import explain
from partner_console.storage.engine import refresh_statistics
from partner_console.storage.history import History
from partner_console.storage.journal import LinkJournal
from partner_console.storage.scope import Scope
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
DEFAULT_WORKERS = 6


class Pacer:
    """Evenly spaced call slots: at most `per_minute` calls in any minute, no bursts."""

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

    def hold(self, seconds: float) -> None:
        """Upheal said wait: no worker of this key sends anything for `seconds`."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)
        self._sleep(seconds)


_pacers: dict[tuple[str, int], Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(key_fingerprint: str, per_minute: int) -> Pacer:
    """One pacer per key in this process, shared by all of that key's jobs."""
    with _pacers_lock:
        pacer = _pacers.get((key_fingerprint, per_minute))
        if pacer is None:
            pacer = _pacers[(key_fingerprint, per_minute)] = Pacer(per_minute)
        return pacer


@dataclass
class JobRunner:
    job_id: int
    api_key: str = field(repr=False)
    scope: Scope
    created_by: str
    store: JobStore
    creator: ProviderCreator  # built on this job's own paced client, never a shared one
    workers: int = DEFAULT_WORKERS
    _pause: threading.Event = field(default_factory=threading.Event, init=False)
    _cancel: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    started: float = field(default=0.0, init=False)
    done_here: int = field(default=0, init=False)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def client(self) -> UphealClient:
        return self.creator.client

    @property
    def history(self) -> History:
        return self.creator.history

    def start(self) -> None:
        self.store.set_status(self.job_id, RUNNING)
        self.started = time.monotonic()
        supervisor = threading.Thread(target=self._run, name=f"bulk-job-{self.job_id}",
                                      daemon=True)
        self._threads = [supervisor]
        supervisor.start()

    def pause(self) -> None:
        self._pause.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    @property
    def rows_per_minute(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done_here / elapsed * 60 if elapsed > 0 else 0.0

    # -- the work --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            # Rows that were being sent when the last worker died are settled first.
            for row in self.store.rows(self.job_id, (SENDING,)):
                self._resolve_interrupted(row)
            work: queue.Queue[JobRow] = queue.Queue()
            for row in self.store.rows(self.job_id, (QUEUED,)):
                work.put(row)
            threads = [threading.Thread(target=self._work, args=(work,), daemon=True,
                                        name=f"bulk-job-{self.job_id}-{n}")
                       for n in range(max(1, self.workers))]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                self.store.heartbeat(self.job_id)
                for thread in threads:
                    thread.join(HEARTBEAT_SECONDS / len(threads))
            # A row a worker could not finish (its error is logged) is settled like after a crash.
            for row in self.store.rows(self.job_id, (SENDING,)):
                self._resolve_interrupted(row)
                if self.store.row(row.id).state == QUEUED:
                    self._process_safely(row)
            if self._cancel.is_set():
                self._skip_remaining()
                self.store.set_status(self.job_id, CANCELLED)
            elif self._pause.is_set():
                self.store.set_status(self.job_id, PAUSED)
            else:
                self.store.set_status(self.job_id, FINISHED)
            refresh_statistics(self.history.engine)  # thousands of new rows: keep plans good
        except Exception:  # the job must never die silently: it shows as interrupted
            log.exception("bulk job %s stopped", self.job_id)
            self.store.set_status(self.job_id, PAUSED)
        finally:
            self.client.close()

    def _work(self, work: queue.Queue[JobRow]) -> None:
        while not (self._pause.is_set() or self._cancel.is_set()):
            try:
                row = work.get_nowait()
            except queue.Empty:
                return
            self._process_safely(row)
            with self._count_lock:
                self.done_here += 1

    def _process_safely(self, row: JobRow) -> None:
        try:
            self._process(row)
        except Exception:  # left "sending": the supervisor settles it once the workers stop
            log.exception("bulk job %s: row %s could not be finished", self.job_id,
                          row.row_number)

    def _process(self, row: JobRow) -> None:
        assert row.request is not None
        request = ProviderRequest.model_validate(row.request)
        self.store.set_row(row.id, SENDING)
        earlier = self.history.find_by_email(self.scope, request.email)
        if earlier:
            self.store.set_row(row.id, DONE_SKIPPED, message="Already created (in History).",
                               provider_id=earlier[0].id, invite_url=earlier[0].invite_url,
                               private_room_link=earlier[0].private_room_link)
            return
        try:
            check = self.client.check_user(self.api_key, request.email)
        except ApiError as exc:
            self.store.set_row(row.id, DONE_FAILED, message=explain(exc))
            return
        if check.is_user_exists:
            self.store.set_row(row.id, DONE_SKIPPED, message="Already has an Upheal account.")
            return
        outcome = self.creator.create(self.api_key, self.scope, request,
                                      created_by=self.created_by, token=_token(self, row),
                                      source="bulk")
        self._record(row, outcome)

    def _record(self, row: JobRow, outcome: CreationOutcome) -> None:
        state = {CREATED: DONE_CREATED, LINKS_LOST: DONE_LINKS_LOST, FAILED: DONE_FAILED,
                 PENDING: DONE_FAILED}[outcome.status]
        self.store.set_row(row.id, state, message=outcome.message or None,
                           provider_id=outcome.row_id, invite_url=outcome.invite_url,
                           private_room_link=outcome.private_room_link)

    def _resolve_interrupted(self, row: JobRow) -> None:
        """A row a worker was sending when it died: find out what happened, before anything
        is sent again. Every attempt is in History under this row's token prefix."""
        attempts = self.history.attempts(self.scope, _token_prefix(self, row))
        for attempt in attempts:
            if attempt.status == PENDING:
                try:
                    self.creator.settle(self.api_key, self.scope, attempt.id)
                except ApiError as exc:  # cannot tell yet: History offers "Check with Upheal"
                    self.store.set_row(row.id, DONE_FAILED, provider_id=attempt.id,
                                       message=explain(exc))
                    return
        for attempt in self.history.attempts(self.scope, _token_prefix(self, row)):
            if attempt.status in (CREATED, LINKS_LOST):
                self._record(row, CreationOutcome.from_row(attempt))
                return
        self.store.set_row(row.id, QUEUED)  # never created: it is sent again

    def _skip_remaining(self) -> None:
        for row in self.store.rows(self.job_id, (QUEUED,)):
            self.store.set_row(row.id, DONE_SKIPPED, message="Import cancelled before this row.")

def _token_prefix(runner: JobRunner, row: JobRow) -> str:
    return f"job{runner.job_id}-row{row.id}-try"


def _token(runner: JobRunner, row: JobRow) -> str:
    """A new attempt's token: the row's prefix and the number of attempts before it."""
    prefix = _token_prefix(runner, row)
    return f"{prefix}{len(runner.history.attempts(runner.scope, prefix))}"


@dataclass
class JobRegistry:
    """The jobs running in this process: one runner per job, never two."""

    _runners: dict[int, JobRunner] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, job_id: int) -> JobRunner | None:
        with self._lock:
            return self._runners.get(job_id)

    def pause_all_with_key(self, api_key: str) -> int:
        """Stop using a key that was forgotten: pause every running import holding it."""
        with self._lock:
            holding = [r for r in self._runners.values() if r.alive and r.api_key == api_key]
        for runner in holding:
            runner.pause()
        return len(holding)

    def start(self, runner: JobRunner) -> JobRunner:
        with self._lock:
            current = self._runners.get(runner.job_id)
            if current is not None and current.alive:
                return current
            self._runners[runner.job_id] = runner
        runner.start()
        return runner


def paced_client(client: UphealClient, pacer: Pacer) -> UphealClient:
    """A copy of `client` for one job: every request waits for a pacer slot, and a 429's
    Retry-After holds the whole key, not just one worker."""
    return replace(client, before_request=pacer.acquire, sleep=pacer.hold)


def build_runner(*, job_id: int, api_key: str, scope: Scope, created_by: str, store: JobStore,
                 history: History, journal: LinkJournal, client: UphealClient,
                 rate_per_minute: int, workers: int = DEFAULT_WORKERS,
                 pacer: Pacer | None = None) -> JobRunner:
    """A runner on its own paced copy of `client`, sharing the key's pacer in this process."""
    pacer = pacer or pacer_for(scope.key_fingerprint, rate_per_minute)
    creator = ProviderCreator(paced_client(client, pacer), history, journal)
    return JobRunner(job_id, api_key, scope, created_by, store, creator, workers)


def emails_in_upheal(client: UphealClient, api_key: str, emails: list[str], pacer: Pacer,
                     on_progress: Callable[[int, int], object] | None = None) -> set[str]:
    """Which of `emails` already have an Upheal account, asked one by one at the key's pace.
    Raises ApiError when Upheal cannot answer; `on_progress(done, total)` after each."""
    paced = paced_client(client, pacer)
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
