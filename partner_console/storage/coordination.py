"""What must happen once across replicas, decided in the database, atomically.

Several console servers (replicas) may share one database and one API key. Nothing here trusts a
process's memory:

- **The key's rate budget** (`RateBudget`): GCRA with one row per key fingerprint holding the
  next free call slot, taken in one UPDATE. Every call made with a key takes a slot: creates,
  checks, Test key, imports. Background work (imports, preview checks) may reserve slots at most
  `horizon` seconds ahead, so a person's own call never queues behind a colleague's import: it
  takes the next slot, at most about `horizon` away. A 429 moves the key's next slot past its
  Retry-After for every replica.
- **A job's lease** (`Leases`): one runner per job across processes. Claimed with a conditional
  UPDATE (free or expired lease), renewed with the heartbeat, released with the job's final
  status. Pause and Cancel are written to the job (`control`) and obeyed by whichever replica
  holds the lease. A server that restarts releases the leases of its earlier life at once.
- **A row's claim**: a queued row becomes "sending" for exactly one runner, in one UPDATE that
  also proves the claimer still holds the job's lease and nobody asked it to stop; the row's
  attempt counter grows in the same statement, so every attempt has its own request token.
- **A row's return to the queue** (`requeue_row`, `requeue_interrupted`): only the lease's
  holder may put a "sending" row back, in one UPDATE that proves the lease, so no other
  runner (a Resume that lost the race, a runner whose lease was taken) can queue rows behind
  the holder's back. A row that keeps coming back is failed after `MAX_ATTEMPTS`.
- **A job's end** (`finish`): "finished" is written only by the holder, and only in the same
  UPDATE that finds no row queued or sending. A runner that finds rows left goes round again:
  a job never pauses itself with rows waiting; it stops only when a person pauses or cancels
  it, its lease is lost, or a fault a person must see.
- **A kind of job that runs alone** (`unfinished_alone`, a roster sync): one running or
  paused job of the kind per organisation. The check for one and the new job's insert are one
  transaction, which PostgreSQL serialises per kind and organisation with an advisory lock
  taken first (held until it commits), so two people applying at once make one job.
- **An email's reservation** (`reserve_email`): one create per email per organisation at a
  time. Taken in the transaction that writes the create's write-ahead row, released in the one
  that settles it, so a second tab or colleague sees who is creating it right now.

SQLite serialises writers (BEGIN IMMEDIATE, engine.py); PostgreSQL re-checks an UPDATE's WHERE
against the row a concurrent writer committed, and SKIP LOCKED keeps workers off each other's rows.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)

from partner_console.jobs.states import JobStatus, RowState
from partner_console.storage.clock import utcnow
from partner_console.storage.engine import insert_ignore
from partner_console.storage.scope import Scope, fingerprint
from partner_console.storage.tables import (
    bulk_job_rows,
    bulk_jobs,
    email_reservations,
    rate_budgets,
)

# Pace at 97% of Upheal's limit: the time a call takes to reach Upheal varies by some
# milliseconds, and evenly spaced slots at exactly the limit would now and then land a 301st
# call inside Upheal's minute. 3% is about 1.8 s of slack per minute.
HEADROOM = 0.97
BACKGROUND_HORIZON = 1.0  # seconds of slots background work may hold ahead of now

LEASE_SECONDS = 6.0  # a runner that misses this many seconds of renewals has lost its job
RENEW_SECONDS = 0.5  # how often a runner renews, and reads Pause/Cancel
MAX_ATTEMPTS = 8  # a row sent back to the queue this often is failed instead (never a loop)
GAVE_UP = "This row could not be finished after several attempts."
PAUSE = "pause"
CANCEL = "cancel"


def _greatest(conn: Connection, *values: Any) -> Any:
    return func.greatest(*values) if conn.dialect.name == "postgresql" else func.max(*values)


_RUNNING, _PAUSED = JobStatus.RUNNING.value, JobStatus.PAUSED.value
_QUEUED, _SENDING = RowState.QUEUED.value, RowState.SENDING.value


# -- the key's rate budget ----------------------------------------------------------------------
@dataclass
class RateBudget:
    engine: Engine
    per_minute: int
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    horizon: float = BACKGROUND_HORIZON
    _known: set[str] = field(default_factory=set, repr=False)

    @property
    def interval(self) -> float:
        return 60.0 / (self.per_minute * HEADROOM)

    def take(self, key_fingerprint: str, *, background: bool) -> float:
        """Wait for this key's next call slot. Returns the seconds waited."""
        waited = 0.0
        while True:
            now = self.clock()
            slot, next_slot = self._reserve(key_fingerprint, now, background)
            if slot is not None:
                pause = max(0.0, slot - now)
                if pause > 0:
                    self.sleep(pause)
                return waited + pause
            # Background work and the horizon is full: come back when a slot is near.
            pause = min(self.horizon, max(self.interval / 2, next_slot - self.horizon - now))
            self.sleep(pause)
            waited += pause

    def _reserve(self, key_fingerprint: str, now: float,
                 background: bool) -> tuple[float | None, float]:
        c = rate_budgets.c
        with self.engine.begin() as conn:
            if key_fingerprint not in self._known:
                insert_ignore(conn, rate_budgets, {"key_fingerprint": key_fingerprint,
                                                    "next_slot": now})
            statement = update(rate_budgets).where(c.key_fingerprint == key_fingerprint).values(
                next_slot=_greatest(conn, c.next_slot, now) + self.interval,
            ).returning(c.next_slot)
            if background:
                statement = statement.where(c.next_slot <= now + self.horizon)
            taken = conn.execute(statement).scalar()
            if taken is not None:
                self._known.add(key_fingerprint)
                return float(taken) - self.interval, float(taken)
            current = conn.execute(select(c.next_slot).where(
                c.key_fingerprint == key_fingerprint)).scalar()
        self._known.add(key_fingerprint)
        return None, float(current or now)

    def hold(self, key_fingerprint: str, seconds: float) -> None:
        """Upheal answered 429: no replica calls with this key for `seconds`."""
        c = rate_budgets.c
        until = self.clock() + seconds
        with self.engine.begin() as conn:
            insert_ignore(conn, rate_budgets, {"key_fingerprint": key_fingerprint,
                                                "next_slot": until})
            conn.execute(update(rate_budgets).where(c.key_fingerprint == key_fingerprint).values(
                next_slot=_greatest(conn, c.next_slot, until)))


@dataclass
class KeyPacing:
    """The client's pacing hook on the shared budget: fingerprints the key for each call (the
    key itself goes nowhere). `background` for imports and preview checks."""

    budget: RateBudget
    secret: bytes = field(repr=False)
    background: bool = False

    def before_call(self, api_key: str) -> None:
        self.budget.take(fingerprint(self.secret, api_key), background=self.background)

    def rate_limited(self, api_key: str, seconds: float) -> None:
        self.budget.hold(fingerprint(self.secret, api_key), seconds)


# -- who holds a lease --------------------------------------------------------------------------
def replica_name(port: object = None) -> str:
    """This server's stable name: PARTNER_CONSOLE_REPLICA_ID, else host name and port. The
    same server restarted has the same name, so it can release its earlier life's leases."""
    configured = os.environ.get("PARTNER_CONSOLE_REPLICA_ID", "").strip()
    if configured:
        return configured[:80]
    return f"{socket.gethostname()}:{port or os.getpid()}"[:80]


_BOOT = uuid.uuid4().hex[:12]


def _new_life() -> None:
    global _BOOT
    _BOOT = uuid.uuid4().hex[:12]


# A forked process is a life of its own: it never holds or renews its parent's leases.
os.register_at_fork(after_in_child=_new_life)


def lease_owner(replica: str) -> str:
    """The owner name this process writes on leases: its replica and its boot."""
    return f"{replica}#{_BOOT}"


# -- job leases, control requests, row claims ---------------------------------------------------
@dataclass(frozen=True)
class Renewal:
    held: bool  # False: the lease is gone (taken over after expiry): stop at once
    control: str | None  # PAUSE or CANCEL when someone asked, from any replica


@dataclass
class Leases:
    engine: Engine
    lease_seconds: float = LEASE_SECONDS
    now: Callable[[], datetime] = utcnow

    def claim(self, job_id: int, owner: str) -> bool:
        """Take the job for `owner` if no live runner holds it; True when taken."""
        c = bulk_jobs.c
        now = self.now()
        with self.engine.begin() as conn:
            taken = conn.execute(update(bulk_jobs).where(
                c.id == job_id, c.status.in_((_PAUSED, _RUNNING)),
                or_(c.lease_owner.is_(None), c.lease_expires_at < now),
            ).values(lease_owner=owner, lease_expires_at=now + self._ttl, control=None,
                     status=_RUNNING, heartbeat_at=now, updated_at=now)).rowcount
        return bool(taken)

    def renew(self, job_id: int, owner: str) -> Renewal:
        c = bulk_jobs.c
        now = self.now()
        with self.engine.begin() as conn:
            control = conn.execute(update(bulk_jobs).where(
                c.id == job_id, c.lease_owner == owner,
            ).values(lease_expires_at=now + self._ttl, heartbeat_at=now).returning(
                c.control)).first()
        if control is None:
            return Renewal(False, None)
        return Renewal(True, control[0])

    def release(self, job_id: int, owner: str, status: str) -> bool:
        """End the run: the job gets `status` and a free lease (only if `owner` still held it)."""
        c = bulk_jobs.c
        now = self.now()
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_jobs).where(
                c.id == job_id, c.lease_owner == owner,
            ).values(lease_owner=None, lease_expires_at=None, control=None, status=status,
                     heartbeat_at=now, updated_at=now)).rowcount)

    def ask(self, job_id: int, control: str, cancelled_message: str = "") -> bool:
        """Pause or cancel, from any replica. With a live runner the request is written for it
        to obey (True); without one it takes effect here and now (False), a cancel leaving
        `cancelled_message` (its kind's words) on the rows that never had their turn."""
        c = bulk_jobs.c
        now = self.now()
        with self.engine.begin() as conn:
            asked = conn.execute(update(bulk_jobs).where(
                c.id == job_id, c.lease_owner.is_not(None), c.lease_expires_at >= now,
            ).values(control=control, updated_at=now)).rowcount
            if asked:
                return True
            final = JobStatus.CANCELLED.value if control == CANCEL else _PAUSED
            conn.execute(update(bulk_jobs).where(
                c.id == job_id, c.status.in_((_PAUSED, _RUNNING)),
            ).values(status=final, lease_owner=None, lease_expires_at=None, control=None,
                     updated_at=now))
            if control == CANCEL:
                skip_queued_rows(conn, job_id, cancelled_message)
        return False

    def release_replica(self, replica: str, owner: str) -> int:
        """At start: jobs this replica ran in an earlier life (a crash or a kill) show as paused
        at once, instead of after their lease runs out."""
        c = bulk_jobs.c
        with self.engine.begin() as conn:
            return int(conn.execute(update(bulk_jobs).where(
                c.lease_owner.startswith(replica + "#", autoescape=True), c.lease_owner != owner,
            ).values(lease_owner=None, lease_expires_at=None, status=_PAUSED,
                     updated_at=self.now())).rowcount or 0)

    def claim_row(self, job_id: int, owner: str) -> Any | None:
        """The next queued row, now "sending" for `owner` alone, its attempts counted; None when
        no row is left, the lease is gone, or a pause or cancel was asked."""
        r, j = bulk_job_rows.c, bulk_jobs.c
        now = self.now()
        with self.engine.begin() as conn:
            candidate = select(r.id).where(r.job_id == job_id, r.state == _QUEUED).order_by(
                r.row_number).limit(1)
            if conn.dialect.name == "postgresql":
                candidate = candidate.with_for_update(skip_locked=True)
            return conn.execute(update(bulk_job_rows).where(
                r.id == candidate.scalar_subquery(), r.state == _QUEUED,
                exists().where(j.id == job_id, j.lease_owner == owner, j.control.is_(None),
                               j.lease_expires_at >= now),
            ).values(state=_SENDING, claimed_by=owner, attempts=r.attempts + 1,
                     updated_at=now).returning(*bulk_job_rows.c)).first()

    def requeue_row(self, job_id: int, owner: str, row: Any, message: str | None = None) -> bool:
        """Put one "sending" row (this attempt of it) back in the queue, only while `owner`
        holds the job's lease; True when it went back. Past MAX_ATTEMPTS it is failed."""
        r = bulk_job_rows.c
        again = row.attempts < MAX_ATTEMPTS
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_job_rows).where(
                r.id == row.id, r.state == _SENDING, r.attempts == row.attempts,
                r.claimed_by.is_(None) if row.claimed_by is None
                else r.claimed_by == row.claimed_by,
                self._held(job_id, owner),
            ).values(state=_QUEUED if again else RowState.FAILED.value,
                     message=message if again else GAVE_UP,
                     updated_at=self.now())).rowcount)

    def requeue_interrupted(self, job_id: int, owner: str) -> int:
        """Every "sending" row back in the queue (for jobs whose rows may be repeated, like a
        sign-up refresh's reads), only while `owner` holds the lease; how many."""
        r = bulk_job_rows.c
        interrupted = (r.job_id == job_id, r.state == _SENDING, self._held(job_id, owner))
        with self.engine.begin() as conn:
            conn.execute(update(bulk_job_rows).where(
                *interrupted, r.attempts >= MAX_ATTEMPTS).values(
                state=RowState.FAILED.value, message=GAVE_UP, updated_at=self.now()))
            return int(conn.execute(update(bulk_job_rows).where(*interrupted).values(
                state=_QUEUED, claimed_by=None, updated_at=self.now())).rowcount or 0)

    def finish(self, job_id: int, owner: str) -> bool:
        """End the run as "finished" if `owner` holds the lease and no row is queued or
        sending, in one statement; False (nothing changed) otherwise."""
        c, r = bulk_jobs.c, bulk_job_rows.c
        now = self.now()
        left = exists().where(r.job_id == job_id, r.state.in_((_QUEUED, _SENDING)))
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_jobs).where(
                c.id == job_id, c.lease_owner == owner, ~left,
            ).values(lease_owner=None, lease_expires_at=None, control=None,
                     status=JobStatus.FINISHED.value, heartbeat_at=now,
                     updated_at=now)).rowcount)

    @staticmethod
    def _held(job_id: int, owner: str) -> Any:
        j = bulk_jobs.c
        return exists().where(j.id == job_id, j.lease_owner == owner)

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


def skip_queued_rows(conn: Connection, job_id: int, message: str) -> None:
    conn.execute(update(bulk_job_rows).where(
        bulk_job_rows.c.job_id == job_id, bulk_job_rows.c.state == _QUEUED,
    ).values(state=RowState.SKIPPED.value, message=message, updated_at=utcnow()))


# -- email reservations -------------------------------------------------------------------------
def reservation_scope(scope: Scope) -> str:
    """Colleagues of one organisation share reservations; a key whose organisation is not known
    yet reserves under its own fingerprint."""
    if len(scope.organization_ids) == 1:
        return "org:" + scope.organization_ids[0]
    return "key:" + scope.key_fingerprint


@dataclass(frozen=True)
class Holder:
    provider_id: int
    created_by: str
    reserved_at: datetime


def reserve_email(conn: Connection, scope: Scope, email_normalized: str, provider_id: int,
                  created_by: str, practice_id: str | None = None) -> Holder | None:
    """Reserve the email for the create written as `provider_id` (same transaction), in the
    platform's practice `practice_id` when given. None when reserved; else who holds it
    (their create is in flight or its outcome is still unknown)."""
    key = reservation_scope(scope) + (f"|{practice_id}" if practice_id else "")
    added = insert_ignore(conn, email_reservations, {
        "scope_key": key, "email_normalized": email_normalized, "provider_id": provider_id,
        "created_by": created_by, "reserved_at": utcnow()})
    if added:
        return None
    e = email_reservations.c
    held = conn.execute(select(e.provider_id, e.created_by, e.reserved_at).where(
        e.scope_key == key, e.email_normalized == email_normalized)).first()
    if held is None:  # released between the two statements: the caller tries again
        return Holder(0, "", utcnow())
    return Holder(int(held.provider_id), held.created_by, held.reserved_at)


def release_email(conn: Connection, provider_id: int) -> None:
    """The create written as `provider_id` is settled (or was never sent): free its email."""
    conn.execute(delete(email_reservations).where(
        email_reservations.c.provider_id == provider_id))


# -- a kind of job that runs alone ---------------------------------------------------------------
def unfinished_alone(conn: Connection, scope: Scope, kind: str) -> tuple[int, str] | None:
    """The id and start token of the organisation's running or paused job of `kind`, read in
    the caller's transaction (which then inserts a new job only when there is none). SQLite's
    writers are one at a time already; PostgreSQL's are made so here, per kind and
    organisation, until the transaction ends."""
    if conn.dialect.name == "postgresql":
        owner = scope.organization_ids[0] if scope.organization_ids else scope.key_fingerprint
        digest = hashlib.blake2b(f"job:{kind}:{owner}".encode(), digest_size=8).digest()
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                     {"id": int.from_bytes(digest, "big", signed=True)})
    row = conn.execute(select(bulk_jobs.c.id, bulk_jobs.c.start_token).where(
        scope.visible(bulk_jobs), bulk_jobs.c.kind == str(kind),
        bulk_jobs.c.status.in_([JobStatus.RUNNING.value, JobStatus.PAUSED.value])).order_by(
        bulk_jobs.c.id.desc()).limit(1)).first()
    return (int(row.id), row.start_token) if row else None
