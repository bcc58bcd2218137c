"""The job engine: one leased runner, a fixed template every kind of job runs, and the registry.

A job kind is registered, not inherited (pgqueuer's `@entrypoint`, procrastinate's
`JobManager`): `@kind(JobKind.X, words)` on a class that says what one row is (`process`) and,
when it needs to, what a runner killed mid-row left behind (`settle`) and what is left to do once
every row is done (`before_finish`). Nothing else of a kind touches the loop.

The template (`Runner._run`), the same for every kind:
1. settle what an earlier runner left "sending" (the kind decides each row);
2. claim and work rows with a few worker threads until none is queued, renewing the job's lease
   twice a second and reading Pause and Cancel from the database at each renewal;
3. finish: "finished" is written only by the lease holder, only in the statement that finds no
   row queued or sending (coordination.Leases.finish). A pass that leaves rows (a row put back,
   an outcome not known yet) goes round again: a job never pauses itself with rows waiting.
A job stops only because a person paused or cancelled it (from any replica), its lease was lost
(another runner has it), or a fault a person must see (the kind calls `pause()`; an error).

One runner per job across every replica: it must win the job's lease first, and each row is
claimed in one statement that proves the lease, so a row is worked by at most one runner ever.
The worker makes no streamlit calls; pages read progress from the database. The API key lives
only in the runner's memory, never in the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from partner_console.api.client import Pacing, UphealClient
from partner_console.identity import Person
from partner_console.jobs.store import Job, JobKind, JobRow, JobStatus, JobStore, RowState
from partner_console.storage.activity import Activity
from partner_console.storage.coordination import (
    CANCEL,
    PAUSE,
    RENEW_SECONDS,
    Leases,
    skip_queued_rows,
)
from partner_console.storage.scope import Scope

if TYPE_CHECKING:
    from partner_console.config import Settings
    from partner_console.mail.sender import Mailer
    from partner_console.storage.catalog import Catalog
    from partner_console.storage.history import History
    from partner_console.storage.journal import LinkJournal

log = logging.getLogger(__name__)
SYSTEM = Person("Partner Console (automatic)")


@dataclass(frozen=True)
class Words:
    """How a kind of job is spoken of."""

    name: str  # in thread and log names: "import", "refresh", "email"
    cancelled_before: str  # on a row a Cancel left without its turn
    title: str = ""  # "Invites to {total} provider(s)"; an import is named by its file
    finished_action: str | None = None  # the activity entry of a job that ran to its end
    finished_words: Callable[[Job, Any], str] | None = None  # (job, progress) -> its summary


class Handler:
    """One kind's work, for one run of one job (a new one each time the job is resumed).
    `run` is the runner: its `stopping`, `renew()`, `requeue(row)` and `pause()`."""

    def __init__(self, run: Runner) -> None:
        self.run = run

    def settle(self, wait: bool) -> None:
        """Rows an earlier runner (or an unknown outcome) left "sending": decide each; with
        `wait`, wait for those that cannot be decided yet. Default: nothing is ever left."""

    def process(self, row: JobRow) -> None:
        """Do one claimed row and write its result (store.finish_row or run.requeue)."""
        raise NotImplementedError

    def before_finish(self) -> None:
        """Last work once every row is done (an import's late links and emails)."""

    def after_finish(self) -> None:
        """After the job is written finished."""

    def worker_done(self) -> None:
        """A worker thread is leaving (its own connections may close)."""

    def close(self) -> None:
        """The run is over: let go of its connections."""


class JobServices(Protocol):
    """What a job kind may use of the console's services (components/services.py)."""

    settings: Settings
    jobs: JobStore
    leases: Leases
    owner: str
    runners: Registry
    history: History
    journal: LinkJournal
    catalog: Catalog
    client: UphealClient
    mailer: Mailer
    activity: Activity

    def background_pacing(self) -> Pacing | None: ...


HandlerFactory = Callable[["Runner", JobServices, Job], Handler]


@dataclass(frozen=True)
class Kind:
    name: JobKind
    words: Words
    build: HandlerFactory
    workers: int = 6


KINDS: dict[str, Kind] = {}


def kind(name: JobKind, words: Words, workers: int = 6) -> Callable[[HandlerFactory],
                                                                     HandlerFactory]:
    """Register `factory(run, services, job) -> Handler` as the work of jobs of `name`."""
    def register(factory: HandlerFactory) -> HandlerFactory:
        KINDS[name.value] = Kind(name, words, factory, workers)
        return factory
    return register


def words_of(job_kind: str) -> Words:
    _load_kinds()
    return KINDS[job_kind].words


def title(job: Job) -> str:
    """How a job is named on screen: an import by its file, the others by their kind."""
    words = words_of(job.kind)
    return words.title.replace("{total}", str(job.total)) if words.title else job.file_name


def _load_kinds() -> None:
    """The kinds register themselves when imported."""
    if len(KINDS) < len(JobKind):
        from partner_console.jobs import kinds  # noqa: F401


@dataclass
class Runner:
    """One run of one job under its lease: the fixed template every kind runs."""

    job_id: int
    scope: Scope
    created_by: str
    store: JobStore
    leases: Leases
    owner: str  # this process's lease name (coordination.lease_owner)
    words: Words
    workers: int = 6
    api_key: str = field(default="", repr=False)
    handler: Handler | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _asked: str | None = field(default=None, init=False)  # PAUSE or CANCEL, from anywhere
    _lost: bool = field(default=False, init=False)

    # -- what a handler may use ------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once when asked to stop."""
        self._stop.wait(seconds)

    def pause(self) -> None:
        """Stop soon (the key was forgotten here, or a fault a person must see): no new row
        is claimed, and the job shows paused."""
        self._asked = self._asked or PAUSE
        self._stop.set()

    def requeue(self, row: JobRow, message: str | None = None) -> bool:
        """This row back in the queue, only while this runner holds the lease."""
        return self.leases.requeue_row(self.job_id, self.owner, row, message)

    def renew(self) -> None:
        renewal = self.leases.renew(self.job_id, self.owner)
        if not renewal.held:
            self._lost = True
            self._stop.set()
        elif renewal.control:
            self._asked = renewal.control
            self._stop.set()

    # -- the run ---------------------------------------------------------------------------------
    def start(self) -> bool:
        """Take the job's lease and start; False (nothing started) when a runner on this or
        another replica holds it."""
        if not self.leases.claim(self.job_id, self.owner):
            self._close()
            return False
        supervisor = threading.Thread(target=self._run, daemon=True,
                                      name=f"{self.words.name}-job-{self.job_id}")
        self._threads = [supervisor]
        supervisor.start()
        log.info("%s job %s: started here (%s)", self.words.name, self.job_id, self.owner)
        return True

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self) -> None:
        handler = self._handler
        try:
            while not self._stop.is_set():
                handler.settle(wait=False)
                self._work_until_done()
                if self._stop.is_set():
                    break
                if self.store.rows(self.job_id, (RowState.SENDING,)):
                    handler.settle(wait=True)  # rows whose outcome cannot be told yet
                    self._idle()
                    continue
                handler.before_finish()
                if not self._stop.is_set() and self.leases.finish(self.job_id, self.owner):
                    log.info("%s job %s: finished", self.words.name, self.job_id)
                    self._log_finished()
                    handler.after_finish()
                    return
                self._idle()  # rows came back, or the lease is in doubt: look again
            if self._lost:
                log.warning("%s job %s: lease lost; another runner has it", self.words.name,
                            self.job_id)
                return
            self._stopped()
        except Exception:  # the job must never die silently: it shows as paused
            log.exception("%s job %s stopped", self.words.name, self.job_id)
            self.leases.release(self.job_id, self.owner, JobStatus.PAUSED)
        finally:
            self._close()

    @property
    def _handler(self) -> Handler:
        assert self.handler is not None, "a runner works through its kind's handler"
        return self.handler

    def _close(self) -> None:
        if self.handler is not None:
            self.handler.close()

    def _idle(self) -> None:
        self._stop.wait(RENEW_SECONDS)
        self.renew()

    def _work_until_done(self) -> None:
        threads = [threading.Thread(target=self._work, daemon=True,
                                    name=f"{self.words.name}-job-{self.job_id}-{n}")
                   for n in range(max(1, self.workers))]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            self.renew()
            for thread in threads:
                thread.join(RENEW_SECONDS / len(threads))
        self.renew()

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                claimed = self.leases.claim_row(self.job_id, self.owner)
                if claimed is None:
                    return
                row = self.store.claimed(claimed)
                try:
                    self._handler.process(row)
                except Exception:  # left "sending": settled once the workers stop
                    log.exception("%s job %s: row %s could not be finished", self.words.name,
                                  self.job_id, row.row_number)
        finally:
            self._handler.worker_done()

    def _stopped(self) -> None:
        """Asked to stop (Pause or Cancel, from anywhere, or the kind's own pause())."""
        log.info("%s job %s: stopped (%s asked)", self.words.name, self.job_id, self._asked)
        if self._asked == CANCEL:
            with self.store.engine.begin() as conn:
                skip_queued_rows(conn, self.job_id, self.words.cancelled_before)
            self.leases.release(self.job_id, self.owner, JobStatus.CANCELLED)
        else:
            self.leases.release(self.job_id, self.owner, JobStatus.PAUSED)

    def _log_finished(self) -> None:
        """The activity log's entry for a job that ran to its end (people's own Start, Pause,
        Resume and Cancel are logged by the pages)."""
        if self.words.finished_action is None or self.words.finished_words is None:
            return
        try:
            job = self.store.get(self.scope, self.job_id)
            summary = self.words.finished_words(job, self.store.progress(self.job_id))
            by = f" (started by {job.created_by})" if job.created_by else ""
            Activity(self.store.engine).record(self.scope, SYSTEM, self.words.finished_action,
                                               summary.replace("{by}", by))
        except Exception:  # the job is finished and kept; only its log entry is missing
            log.exception("the activity entry of job %s could not be written", self.job_id)


@dataclass
class Registry:
    """The runners this process started (to pause them when their key is forgotten here)."""

    _runners: dict[int, Runner] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, job_id: int) -> Runner | None:
        with self._lock:
            return self._runners.get(job_id)

    def pause_all_with_key(self, api_key: str) -> int:
        """Stop using a key that was forgotten: pause every running job holding it."""
        with self._lock:
            holding = [r for r in self._runners.values() if r.alive and r.api_key == api_key]
        for runner in holding:
            runner.pause()
        return len(holding)

    def start(self, runner: Runner) -> bool:
        """Start `runner` if it wins the job's lease; False when a runner (here or on another
        replica) has the job already."""
        with self._lock:
            current = self._runners.get(runner.job_id)
            if current is not None and current.alive:
                runner._close()
                return False
            started = runner.start()
            if started:
                self._runners[runner.job_id] = runner
            return started


@dataclass
class Parts:
    """The services a job runs on, given one by one: for tests, benchmarks and tools that run
    jobs without the console's pages (the console passes its own Services)."""

    jobs: JobStore
    leases: Leases
    owner: str
    history: Any = None
    journal: Any = None
    catalog: Any = None
    client: Any = None
    mailer: Any = None
    settings: Any = None
    pacing: Pacing | None = None  # None: calls unpaced
    runners: Registry = field(default_factory=lambda: Registry())
    activity: Any = None

    def __post_init__(self) -> None:
        if self.settings is None:
            from partner_console.config import Settings

            self.settings = Settings()

    def background_pacing(self) -> Pacing | None:
        return self.pacing

    def runner(self, job_id: int, scope: Scope, *, api_key: str = "", by: str = "",
               workers: int | None = None) -> Runner:
        """A runner for the stored job `job_id` (not started)."""
        return runner_for(self, self.jobs.get(scope, job_id), scope, api_key, by, workers)


def runner_for(services: JobServices, job: Job, scope: Scope, api_key: str, by: str,
               workers: int | None = None) -> Runner:
    """A runner for `job`, working through its kind's handler (not started)."""
    _load_kinds()
    spec = KINDS[job.kind]
    runner = Runner(job.id, scope, by, services.jobs, services.leases, services.owner,
                    spec.words, spec.workers if workers is None else workers, api_key)
    runner.handler = spec.build(runner, services, job)
    return runner


def start_job(services: JobServices, job_id: int, scope: Scope, api_key: str, by: str) -> bool:
    """Run the job here if no runner on any replica has it; False when one has (its progress
    is shown from the database all the same). The one way every page starts or resumes a job."""
    job = services.jobs.get(scope, job_id)
    return services.runners.start(runner_for(services, job, scope, api_key, by))


def pause_job(services: JobServices, job_id: int) -> None:
    """Pause: written to the job, so whichever replica runs it stops within a second or two
    (and a runner in this process stops at once)."""
    runner = services.runners.get(job_id)
    if runner is not None and runner.alive:
        runner.pause()
    services.leases.ask(job_id, PAUSE)


def cancel_job(services: JobServices, scope: Scope, job_id: int) -> None:
    """Cancel: the runner (on any replica) stops and leaves the rest unsent; with no runner,
    the rest are left unsent here and now, in the kind's words."""
    job = services.jobs.get(scope, job_id)
    services.leases.ask(job_id, CANCEL, words_of(job.kind).cancelled_before)
