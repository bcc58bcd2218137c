"""Jobs and their rows, stored so that a job survives reloads, closed tabs and restarts.

The words a job and its rows are stored with are defined once (`JobKind`, `JobStatus`,
`RowState`, in states.py, which imports nothing, so storage's coordination.py can read them
too); they are re-exported here. The database holds each member's value as text.

A job is one row of `bulk_jobs` and one row of `bulk_job_rows` per unit of work (a provider to
create, to check, to email). Its status is written by whoever holds its lease
(storage/coordination.py); this repository writes jobs, rows and the result of each attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from partner_console.jobs.states import JobKind, JobStatus, RowState
from partner_console.storage.clock import stored_time, utcnow
from partner_console.storage.coordination import unfinished_alone
from partner_console.storage.engine import one_or_missing
from partner_console.storage.errors import StorageError
from partner_console.storage.scope import Scope
from partner_console.storage.tables import bulk_job_rows, bulk_jobs

WAITING = (RowState.QUEUED, RowState.SENDING)  # rows a job still has to do
ROW_STATE_LABELS = {
    RowState.QUEUED: "Waiting", RowState.SENDING: "Sending", RowState.CREATED: "Created",
    RowState.LINKS_LOST: "Created, link not returned", RowState.FAILED: "Failed",
    RowState.SKIPPED: "Skipped", RowState.CHECKED: "Checked", RowState.EMAILED: "Emailed",
    RowState.UNCERTAIN: "May have been sent", RowState.UPDATED: "Changed",
    RowState.DEACTIVATED: "Deactivated", RowState.LINKED: "Linked (already in Upheal)",
}
CREATED_STATES = (RowState.CREATED, RowState.LINKS_LOST)
NOT_SENT = "not_sent"  # a count in Progress, not a state


class UnfinishedJobError(StorageError):
    """A job of a kind that runs alone was asked for while another one is unfinished."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} of this kind has not finished")
        self.job_id = job_id


@dataclass(frozen=True)
class Job:
    id: int
    created_at: datetime
    created_by: str
    file_name: str  # an import's file; other kinds are named by their kind (engine.title)
    status: str
    total: int
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None = None
    control: str | None = None  # a pause or cancel asked for, not yet obeyed
    kind: str = JobKind.IMPORT
    send_invites: bool = False  # an import that emails each invite as it creates it

    @property
    def live(self) -> bool:
        """A runner on some replica holds the job's lease right now."""
        return self.lease_expires_at is not None and self.lease_expires_at >= utcnow()

    @property
    def interrupted(self) -> bool:
        """Marked running, but no runner holds it any more (its server stopped)."""
        return self.status == JobStatus.RUNNING and not self.live

    @property
    def shown_status(self) -> str:
        return JobStatus.PAUSED if self.interrupted else self.status

    @property
    def stop_reason(self) -> str | None:
        """Why a job shown as paused stopped, when no person paused it."""
        if self.interrupted:
            return ("The console server running this job stopped (or lost touch with the "
                    "database) before it finished. Nothing was lost or sent twice: press "
                    "Resume to go on.")
        return None


@dataclass(frozen=True)
class NewRow:
    """One row of a job to be: its place, what it is about, and its first state (queued, or
    already decided when the preview refused it)."""

    row_number: int
    email: str
    name: str | None = None
    cells: dict[str, Any] | None = None  # as uploaded, or the kind's own values
    request: dict[str, Any] | None = None  # an import's create request, as sent
    state: str = RowState.QUEUED
    message: str | None = None
    provider_id: int | None = None  # the History row it is about
    practice_id: str | None = None  # a platform's practice its create goes to


@dataclass(frozen=True)
class JobRow:
    id: int
    row_number: int
    state: str
    email: str
    cells: dict[str, Any]
    request: dict[str, Any] | None
    message: str | None
    provider_id: int | None
    invite_url: str | None
    private_room_link: str | None
    attempts: int = 0
    claimed_by: str | None = None
    name: str | None = None  # as uploaded
    practice_id: str | None = None  # a platform's practice its create goes to

    @property
    def line(self) -> int | None:
        """The row's line in the uploaded file (None for a provider who is not in the file: a
        roster sync's deactivation)."""
        return self.row_number if self.cells else None

    @property
    def full_name(self) -> str:
        if self.name:
            return self.name
        request = self.request or {}
        return " ".join(str(request.get(k) or "") for k in ("firstName", "lastName")).strip()

    @property
    def sent(self) -> bool:
        """Whether this row's create was ever handed to Upheal (a row refused by the preview,
        skipped, or cancelled before its turn never was)."""
        return self.request is not None and self.attempts > 0 and \
            self.state != RowState.SKIPPED

    @property
    def outcome(self) -> str:
        """'Created', 'Failed', or 'Not sent: <reason>' for a row that never left."""
        if self.state in (RowState.FAILED, RowState.SKIPPED) and not self.sent:
            return f"Not sent: {self.message}" if self.message else "Not sent"
        return ROW_STATE_LABELS.get(self.state, self.state)  # type: ignore[call-overload]

    @property
    def details(self) -> str:
        """The message, unless the outcome already says it."""
        return "" if self.outcome.startswith("Not sent") else (self.message or "")


@dataclass(frozen=True)
class Progress:
    total: int
    counts: dict[str, int]

    @property
    def done(self) -> int:
        return self.total - self.waiting

    @property
    def waiting(self) -> int:
        return sum(self.counts.get(s, 0) for s in WAITING)

    def count(self, state: str) -> int:
        return self.counts.get(state, 0)

    @property
    def created(self) -> int:
        return sum(self.counts.get(s, 0) for s in CREATED_STATES)

    @property
    def failed(self) -> int:
        """Sent and refused (or not answered)."""
        return self.counts.get(RowState.FAILED, 0) - self.counts.get(NOT_SENT, 0)

    @property
    def skipped(self) -> int:
        return self.counts.get(RowState.SKIPPED, 0)

    @property
    def not_sent(self) -> int:
        """Never sent: refused by the preview, already done, or cancelled before their turn."""
        return self.counts.get(NOT_SENT, 0) + self.skipped


def _job(row: Any) -> Job:
    return Job(row.id, row.created_at, row.created_by, row.file_name, row.status, row.total,
               row.heartbeat_at, row.lease_expires_at, row.control, row.kind,
               bool(row.send_invites))


def _job_row(row: Any) -> JobRow:
    return JobRow(row.id, row.row_number, row.state, row.email, json.loads(row.cells),
                  json.loads(row.request) if row.request else None, row.message,
                  row.provider_id, row.invite_url, row.private_room_link, row.attempts,
                  row.claimed_by, row.name, row.practice_id)


@dataclass
class JobStore:
    engine: Engine

    def create(self, scope: Scope, *, kind: str, created_by: str, rows: list[NewRow],
               start_token: str, file_name: str = "", send_invites: bool = False,
               alone: bool = False) -> tuple[int, bool]:
        """Store a job (paused until a runner takes it) with all its rows; (job id, True), or
        (the earlier job, False) when this start token was used already (one click, one job).

        With `alone`, UnfinishedJobError names the organisation's job of this kind that is
        still running or paused, if there is one, and nothing is stored: two people applying
        at once, on two replicas, make one job (storage/coordination.py, `unfinished_alone`)."""
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                if alone and (earlier := unfinished_alone(conn, scope, kind)):
                    if earlier[1] == start_token:  # (this click's job, made a moment ago)
                        return earlier[0], False
                    raise UnfinishedJobError(earlier[0])
                job_id = conn.execute(insert(bulk_jobs).values(
                    created_at=now, updated_at=now, heartbeat_at=None, created_by=created_by,
                    key_fingerprint=scope.key_fingerprint,
                    organization_id=scope.organization_ids[0]
                    if len(scope.organization_ids) == 1 else None,
                    file_name=file_name[:300], status=JobStatus.PAUSED.value,
                    start_token=start_token, total=len(rows), kind=str(kind),
                    send_invites=send_invites,
                ).returning(bulk_jobs.c.id)).scalar_one()
                if rows:
                    conn.execute(insert(bulk_job_rows), [{
                        "job_id": job_id, "row_number": r.row_number, "state": str(r.state),
                        "email": r.email[:320], "name": r.name[:401] if r.name else None,
                        "cells": json.dumps(r.cells or {}),
                        "request": json.dumps(r.request) if r.request is not None else None,
                        "message": r.message, "provider_id": r.provider_id, "updated_at": now,
                        "practice_id": r.practice_id,
                    } for r in rows])
            return int(job_id), True
        except IntegrityError:
            return self._started_with(start_token), False

    def _started_with(self, start_token: str) -> int:
        """The job an earlier click with this start token made."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(bulk_jobs.c.id).where(
                bulk_jobs.c.start_token == start_token)).scalar_one())

    def relink(self, row_id: int, invite_url: str, private_room_link: str | None) -> bool:
        """A row created without its links got them after all."""
        c = bulk_job_rows.c
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_job_rows).where(
                c.id == row_id, c.state == RowState.LINKS_LOST.value).values(
                state=RowState.CREATED.value, invite_url=invite_url,
                private_room_link=private_room_link, message=None,
                updated_at=utcnow())).rowcount)

    def get(self, scope: Scope, job_id: int) -> Job:
        return _job(one_or_missing(self.engine, select(bulk_jobs).where(
            bulk_jobs.c.id == job_id, scope.visible(bulk_jobs)),
            f"No job {job_id} in this organisation."))

    def jobs(self, scope: Scope, limit: int = 20, kind: str = JobKind.IMPORT) -> list[Job]:
        """The organisation's latest jobs of one kind, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(bulk_jobs).where(
                scope.visible(bulk_jobs), bulk_jobs.c.kind == str(kind)).order_by(
                bulk_jobs.c.id.desc()).limit(limit)).all()
        return [_job(r) for r in rows]

    def unfinished(self, scope: Scope, kind: str) -> Job | None:
        """The organisation's latest job of this kind, if it is running or shown paused."""
        latest = self.jobs(scope, limit=1, kind=kind)
        return latest[0] if latest and latest[0].shown_status in (
            JobStatus.RUNNING, JobStatus.PAUSED) else None

    def rows(self, job_id: int, states: tuple[str, ...] = ()) -> list[JobRow]:
        query = select(bulk_job_rows).where(bulk_job_rows.c.job_id == job_id)
        if states:
            query = query.where(bulk_job_rows.c.state.in_([str(s) for s in states]))
        with self.engine.connect() as conn:
            return [_job_row(r) for r in conn.execute(query.order_by(bulk_job_rows.c.row_number))]

    def row(self, row_id: int) -> JobRow:
        with self.engine.connect() as conn:
            return _job_row(conn.execute(select(bulk_job_rows).where(
                bulk_job_rows.c.id == row_id)).one())

    def finish_row(self, row: JobRow, state: str, **values: Any) -> bool:
        """Write this attempt's result, only if the row is still this attempt's (a runner that
        lost its lease never overwrites what the next runner decided). A row goes back to the
        queue only through Leases.requeue_row, which proves the lease."""
        if state == RowState.QUEUED:
            raise ValueError("a row is put back in the queue by Leases.requeue_row")
        c = bulk_job_rows.c
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_job_rows).where(
                c.id == row.id, c.state == RowState.SENDING.value, c.attempts == row.attempts,
                c.claimed_by.is_(None) if row.claimed_by is None
                else c.claimed_by == row.claimed_by,
            ).values(state=str(state), updated_at=utcnow(), **values)).rowcount)

    @staticmethod
    def claimed(row: Any) -> JobRow:
        """A row as Leases.claim_row returned it."""
        return _job_row(row)

    def rows_a_minute(self, job_id: int, seconds: float = 60.0) -> int:
        """The job's pace in rows a minute, on any replica, for "… left": the rows done in the
        last `seconds`, counted over the time they took when that is shorter (a job that
        started ten seconds ago and did 40 rows goes at 240 a minute, not 40). 0 until two
        rows are done: too early to say."""
        r = bulk_job_rows.c
        now = utcnow()
        with self.engine.connect() as conn:
            done, first = conn.execute(select(func.count(), func.min(r.updated_at)).where(
                r.job_id == job_id, r.updated_at >= now - timedelta(seconds=seconds),
                and_(*(r.state != s.value for s in WAITING)))).one()
        if done < 2 or first is None:
            return 0
        took = max((now - stored_time(first)).total_seconds(), 1.0)
        return round(done * 60 / min(took, seconds))

    def progress(self, job_id: int) -> Progress:
        with self.engine.connect() as conn:
            by_state = select(bulk_job_rows.c.state, func.count()).where(
                bulk_job_rows.c.job_id == job_id).group_by(bulk_job_rows.c.state)
            counts = {str(state): int(count) for state, count in conn.execute(by_state)}
            # failed rows never claimed (refused by the preview): "not sent", as JobRow says
            counts[NOT_SENT] = int(conn.execute(select(func.count()).where(
                bulk_job_rows.c.job_id == job_id,
                bulk_job_rows.c.state == RowState.FAILED.value,
                bulk_job_rows.c.attempts == 0)).scalar_one())
            total = conn.execute(select(bulk_jobs.c.total).where(
                bulk_jobs.c.id == job_id)).scalar_one()
        return Progress(total, counts)


__all__ = ["CREATED_STATES", "NOT_SENT", "ROW_STATE_LABELS", "WAITING", "Job", "JobKind",
           "JobRow", "JobStatus", "JobStore", "NewRow", "Progress", "RowState"]
