"""Bulk jobs and their rows, stored so that a job survives reloads, closed tabs and restarts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from partner_console.bulk.prepare import READY, PreparedRow
from partner_console.storage.clock import utcnow
from partner_console.storage.errors import NotFoundError
from partner_console.storage.job_states import JobKind, JobStatus, RowState
from partner_console.storage.scope import Scope
from partner_console.storage.tables import bulk_job_rows, bulk_jobs

# Row states (storage/job_states.py defines them once, for storage and the engine alike)
QUEUED = RowState.QUEUED.value
SENDING = RowState.SENDING.value
DONE_CREATED = RowState.CREATED.value
DONE_LINKS_LOST = RowState.LINKS_LOST.value
DONE_FAILED = RowState.FAILED.value
DONE_SKIPPED = RowState.SKIPPED.value
DONE_CHECKED = RowState.CHECKED.value
DONE_EMAILED = RowState.EMAILED.value
DONE_UNCERTAIN = RowState.UNCERTAIN.value
ROW_STATE_LABELS = {
    QUEUED: "Waiting", SENDING: "Sending", DONE_CREATED: "Created",
    DONE_LINKS_LOST: "Created, link not returned", DONE_FAILED: "Failed",
    DONE_SKIPPED: "Skipped", DONE_CHECKED: "Checked", DONE_EMAILED: "Emailed",
    DONE_UNCERTAIN: "May have been sent",
}
CREATED_STATES = (DONE_CREATED, DONE_LINKS_LOST)
NOT_SENT = "not_sent"  # a count in Progress, not a state

# Job kinds
IMPORT = JobKind.IMPORT.value
REFRESH = JobKind.REFRESH.value
EMAILS = JobKind.EMAILS.value
REMINDERS = JobKind.REMINDERS.value

# Job statuses
RUNNING = JobStatus.RUNNING.value
PAUSED = JobStatus.PAUSED.value
CANCELLED = JobStatus.CANCELLED.value
FINISHED = JobStatus.FINISHED.value


@dataclass(frozen=True)
class Job:
    id: int
    created_at: datetime
    created_by: str
    file_name: str
    status: str
    total: int
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None = None
    control: str | None = None  # a pause or cancel asked for, not yet obeyed
    kind: str = IMPORT
    send_invites: bool = False  # an import that emails each invite as it creates it

    @property
    def live(self) -> bool:
        """A runner on some replica holds the job's lease right now."""
        return self.lease_expires_at is not None and self.lease_expires_at >= utcnow()

    @property
    def interrupted(self) -> bool:
        """Marked running, but no runner holds it any more (its server stopped)."""
        return self.status == RUNNING and not self.live

    @property
    def shown_status(self) -> str:
        return PAUSED if self.interrupted else self.status

    @property
    def stop_reason(self) -> str | None:
        """Why a job shown as paused stopped, when no person paused it."""
        if self.interrupted:
            return ("The console server running this job stopped (or lost touch with the "
                    "database) before it finished. Nothing was lost or sent twice: press "
                    "Resume to go on.")
        return None


@dataclass(frozen=True)
class JobRow:
    id: int
    row_number: int
    state: str
    email: str
    cells: dict[str, str]
    request: dict[str, Any] | None
    message: str | None
    provider_id: int | None
    invite_url: str | None
    private_room_link: str | None
    attempts: int = 0
    claimed_by: str | None = None
    name: str | None = None  # as uploaded

    @property
    def full_name(self) -> str:
        if self.name:
            return self.name
        request = self.request or {}
        return " ".join(str(request.get(k) or "") for k in ("firstName", "lastName")).strip()

    @property
    def sent(self) -> bool:
        """Whether this row was ever handed to Upheal (a row refused by the preview, skipped,
        or cancelled before its turn never was)."""
        return self.request is not None and self.attempts > 0 and self.state != DONE_SKIPPED

    @property
    def outcome(self) -> str:
        """'Created', 'Failed', or 'Not sent: <reason>' for a row that never left."""
        if self.state in (DONE_FAILED, DONE_SKIPPED) and not self.sent:
            return f"Not sent: {self.message}" if self.message else "Not sent"
        return ROW_STATE_LABELS.get(self.state, self.state)

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
        return self.total - self.counts.get(QUEUED, 0) - self.counts.get(SENDING, 0)

    @property
    def created(self) -> int:
        return sum(self.counts.get(s, 0) for s in CREATED_STATES)

    @property
    def failed(self) -> int:
        """Sent to Upheal and refused (or not answered)."""
        return self.counts.get(DONE_FAILED, 0) - self.counts.get(NOT_SENT, 0)

    @property
    def skipped(self) -> int:
        return self.counts.get(DONE_SKIPPED, 0)

    @property
    def not_sent(self) -> int:
        """Never sent: refused by the preview, already created, or cancelled before their turn."""
        return self.counts.get(NOT_SENT, 0) + self.skipped


def _job(row: Any) -> Job:
    return Job(row.id, row.created_at, row.created_by, row.file_name, row.status, row.total,
               row.heartbeat_at, row.lease_expires_at, row.control, row.kind,
               bool(row.send_invites))


def _job_row(row: Any) -> JobRow:
    return JobRow(row.id, row.row_number, row.state, row.email, json.loads(row.cells),
                  json.loads(row.request) if row.request else None, row.message,
                  row.provider_id, row.invite_url, row.private_room_link, row.attempts,
                  row.claimed_by, row.name)


@dataclass
class JobStore:
    engine: Engine

    def create(self, scope: Scope, *, created_by: str, file_name: str,
               rows: list[PreparedRow], start_token: str,
               send_invites: bool = False) -> tuple[int, bool]:
        """Store a job with all its rows; (job id, True), or (the earlier job, False) when this
        start token was used already (one click is one job)."""
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                job_id = conn.execute(insert(bulk_jobs).values(
                    created_at=now, updated_at=now, heartbeat_at=None,
                    created_by=created_by, key_fingerprint=scope.key_fingerprint,
                    organization_id=scope.organization_ids[0]
                    if len(scope.organization_ids) == 1 else None,
                    file_name=file_name[:300], status=PAUSED, start_token=start_token,
                    total=len(rows), send_invites=send_invites).returning(
                    bulk_jobs.c.id)).scalar_one()
                conn.execute(insert(bulk_job_rows), [{
                    "job_id": job_id, "row_number": r.row_number,
                    "state": QUEUED if r.status == READY else
                    (DONE_FAILED if r.request is None else DONE_SKIPPED),
                    "email": str(r.values.get("email") or "")[:320],
                    "name": " ".join(str(r.values.get(k) or "").strip() for k in (
                        "first_name", "last_name")).strip()[:401] or None,
                    "cells": json.dumps(r.cells),
                    "request": json.dumps(r.request.to_json()) if r.request else None,
                    "message": None if r.status == READY else r.problem,
                    "updated_at": now,
                } for r in rows])
            return int(job_id), True
        except IntegrityError:
            return self._started_with(start_token), False

    def _started_with(self, start_token: str) -> int:
        """The job an earlier click with this start token made."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(bulk_jobs.c.id).where(
                bulk_jobs.c.start_token == start_token)).scalar_one())

    def create_refresh(self, scope: Scope, *, created_by: str, providers: list[tuple[int, str,
                                                                                     str]],
                       start_token: str) -> tuple[int, bool]:
        """A sign-up refresh of `providers` ((history row id, email, name) each), like an
        import: one row per provider, run by one runner under a lease."""
        return self.create_for_providers(
            scope, kind=REFRESH, created_by=created_by, start_token=start_token,
            file_name=f"Sign-up status of {len(providers)} provider(s)",
            providers=[(p, e, n, {}) for p, e, n in providers])

    def create_for_providers(self, scope: Scope, *, kind: str, created_by: str, file_name: str,
                             providers: list[tuple[int, str, str, dict[str, Any]]],
                             start_token: str) -> tuple[int, bool]:
        """A job of one row per provider ((history row id, email, name, cells) each): a
        sign-up refresh or an email job."""
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                job_id = conn.execute(insert(bulk_jobs).values(
                    created_at=now, updated_at=now, heartbeat_at=None, created_by=created_by,
                    key_fingerprint=scope.key_fingerprint,
                    organization_id=scope.organization_ids[0]
                    if len(scope.organization_ids) == 1 else None,
                    file_name=file_name[:300], status=PAUSED,
                    start_token=start_token, total=len(providers), kind=kind,
                ).returning(bulk_jobs.c.id)).scalar_one()
                if providers:
                    conn.execute(insert(bulk_job_rows), [{
                        "job_id": job_id, "row_number": number, "state": QUEUED,
                        "email": email[:320], "name": name[:401], "cells": json.dumps(cells),
                        "request": None, "message": None, "provider_id": provider_id,
                        "updated_at": now,
                    } for number, (provider_id, email, name, cells) in enumerate(providers, 1)])
            return int(job_id), True
        except IntegrityError:
            return self._started_with(start_token), False

    def relink(self, row_id: int, invite_url: str, private_room_link: str | None) -> bool:
        """A row created without its links got them after all."""
        c = bulk_job_rows.c
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_job_rows).where(
                c.id == row_id, c.state == DONE_LINKS_LOST).values(
                state=DONE_CREATED, invite_url=invite_url, private_room_link=private_room_link,
                message=None, updated_at=utcnow())).rowcount)

    def get(self, scope: Scope, job_id: int) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(select(bulk_jobs).where(
                bulk_jobs.c.id == job_id, scope.visible(bulk_jobs))).first()
        if row is None:
            raise NotFoundError(f"No import {job_id} in this organisation.")
        return _job(row)

    def jobs(self, scope: Scope, limit: int = 20, kind: str = IMPORT) -> list[Job]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(bulk_jobs).where(
                scope.visible(bulk_jobs), bulk_jobs.c.kind == kind).order_by(
                bulk_jobs.c.id.desc()).limit(limit)).all()
        return [_job(r) for r in rows]

    def set_status(self, job_id: int, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(bulk_jobs).where(bulk_jobs.c.id == job_id).values(
                status=status, updated_at=utcnow(), heartbeat_at=utcnow()))

    def rows(self, job_id: int, states: tuple[str, ...] = ()) -> list[JobRow]:
        query = select(bulk_job_rows).where(bulk_job_rows.c.job_id == job_id)
        if states:
            query = query.where(bulk_job_rows.c.state.in_(states))
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
        if state == QUEUED:
            raise ValueError("a row is put back in the queue by Leases.requeue_row")
        c = bulk_job_rows.c
        with self.engine.begin() as conn:
            return bool(conn.execute(update(bulk_job_rows).where(
                c.id == row.id, c.state == SENDING, c.attempts == row.attempts,
                c.claimed_by.is_(None) if row.claimed_by is None
                else c.claimed_by == row.claimed_by,
            ).values(state=state, updated_at=utcnow(), **values)).rowcount)

    def claimed(self, row: Any) -> JobRow:
        return _job_row(row)

    def rows_a_minute(self, job_id: int) -> int:
        """How many of the job's rows were done in the last minute (its pace, for "… left")."""
        from partner_console.storage.coordination import rows_done_recently

        return rows_done_recently(self.engine, job_id)

    def progress(self, job_id: int) -> Progress:
        with self.engine.connect() as conn:
            by_state = select(bulk_job_rows.c.state, func.count()).where(
                bulk_job_rows.c.job_id == job_id).group_by(bulk_job_rows.c.state)
            counts = {str(state): int(count) for state, count in conn.execute(by_state)}
            # failed rows never claimed (refused by the preview): "not sent", as JobRow says
            counts[NOT_SENT] = int(conn.execute(select(func.count()).where(
                bulk_job_rows.c.job_id == job_id, bulk_job_rows.c.state == DONE_FAILED,
                bulk_job_rows.c.attempts == 0)).scalar_one())
            total = conn.execute(select(bulk_jobs.c.total).where(
                bulk_jobs.c.id == job_id)).scalar_one()
        return Progress(total, {k: int(v) for k, v in counts.items()})
