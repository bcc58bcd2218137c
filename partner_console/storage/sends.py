"""Every invite and reminder email, recorded before it is handed to the mail server.

A send's life, each step one UPDATE that checks the step before:

    sending  --handing()-->  handing  --sent()-->  sent
       |                        |-- the server refused it -->  failed
       |                        `-- no answer / a kill ------>  uncertain ("may have been sent")
       `-- refused before the message left, or a kill -->  failed (nothing can have arrived)

- **Never twice**: at most one send per provider and kind is in flight (a partial unique
  index), and `reserve` refuses a send when the provider already has more earlier sends than
  the person confirmed they meant to go beyond ("sent on 2 Dec; send again?"). A double click
  (the same token) gets the first click's send back.
- **Never lost**: a send left "sending" or "handing" by a server that stopped is settled by
  `settle_stale`: "sending" becomes failed (it never left, so it may go again), "handing"
  becomes uncertain, for a person to decide; never an automatic resend.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from partner_console.storage.clock import utcnow
from partner_console.storage.engine import one_or_missing
from partner_console.storage.scope import Scope
from partner_console.storage.tables import email_sends, providers

INVITE, REMINDER = "invite", "reminder"
SENDING, HANDING, SENT, FAILED, UNCERTAIN = "sending", "handing", "sent", "failed", "uncertain"
IN_FLIGHT = (SENDING, HANDING)
COUNTED = (SENDING, HANDING, SENT, UNCERTAIN)  # what "already sent" counts
STATE_LABELS = {SENDING: "Sending", HANDING: "Sending", SENT: "Sent", FAILED: "Not sent",
                UNCERTAIN: "May have been sent"}
# reserve's answers
NEW, REPEATED, ALREADY, BUSY = "new", "repeated", "already", "busy"
NEVER_LEFT = ("Not sent: the console stopped before handing it to the mail server. It can be "
              "sent again safely.")
MAY_HAVE_LEFT = ("The console stopped while handing this message to the mail server, so it may "
                 "have been sent. Ask the provider, then mark it as arrived or send it again.")


@dataclass(frozen=True)
class Send:
    id: int
    provider_id: int
    kind: str
    state: str
    transport: str
    to_email: str
    subject: str
    body: str
    message_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    error_text: str | None
    claimed_by: str | None
    job_id: int | None

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


_COLUMNS = [email_sends.c[f.name] for f in fields(Send)]


def _send(row: Any) -> Send:
    return Send(**{f.name: row[f.name] for f in fields(Send)})


@dataclass(frozen=True)
class Reservation:
    state: str  # NEW, REPEATED, ALREADY or BUSY
    send: Send | None  # the new send, the earlier click's, or the one in flight
    previous: Send | None = None  # the latest earlier send that counts
    count: int = 0  # how many earlier sends count


def _stale(now: datetime, replica: str, owner: str, older_than: timedelta) -> Any:
    """In flight, but its server stopped: an earlier life of this replica, or silent too long."""
    c = email_sends.c
    earlier_life = and_(c.claimed_by.startswith(replica + "#", autoescape=True),
                        c.claimed_by != owner) if replica else false()
    return and_(c.state.in_(IN_FLIGHT), or_(earlier_life, c.updated_at < now - older_than))


@dataclass
class Sends:
    engine: Engine
    replica: str = ""  # this server (coordination.replica_name)
    owner: str = ""  # this process's life of it (coordination.lease_owner)
    stale_after: timedelta = timedelta(minutes=2)  # silence after which a send has stopped

    # -- write-ahead -----------------------------------------------------------------------
    def reserve(self, scope: Scope, *, provider_id: int, kind: str, to_email: str,
                subject: str, body: str, message_id: str, created_by: str, transport: str,
                confirmed: int = 0, token: str | None = None,
                job_id: int | None = None) -> Reservation:
        """The send's record, written before anything is handed over (one transaction):
        REPEATED for a token seen before; BUSY while another send of this provider and kind is
        in flight; ALREADY when it has more earlier sends than `confirmed`; else NEW."""
        c = email_sends.c
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                if (earlier := _by_token(conn, token)) is not None:
                    return Reservation(REPEATED, earlier)
                self._settle_stale(conn, c.provider_id == provider_id)
                previous = [_send(r) for r in conn.execute(select(*_COLUMNS).where(
                    c.provider_id == provider_id, c.kind == kind, c.state.in_(COUNTED)
                ).order_by(c.id.desc())).mappings()]
                flying = next((s for s in previous if s.state in IN_FLIGHT), None)
                if flying is not None:
                    return Reservation(BUSY, flying, flying, len(previous))
                if len(previous) > confirmed:
                    return Reservation(ALREADY, None, previous[0], len(previous))
                send_id = conn.execute(insert(email_sends).values(
                    key_fingerprint=scope.key_fingerprint,
                    organization_id=scope.organization_ids[0]
                    if len(scope.organization_ids) == 1 else None,
                    provider_id=provider_id, kind=kind, state=SENDING, transport=transport,
                    request_token=token, to_email=to_email[:320], subject=subject, body=body,
                    message_id=message_id[:300], created_by=created_by.strip()[:200],
                    created_at=now, updated_at=now, claimed_by=self.owner or None,
                    job_id=job_id).returning(c.id)).scalar_one()
            return Reservation(NEW, self.get(int(send_id)),
                               previous[0] if previous else None, len(previous))
        except IntegrityError:  # a concurrent click, tab or replica won: show theirs
            with self.engine.connect() as conn:
                if (earlier := _by_token(conn, token)) is not None:
                    return Reservation(REPEATED, earlier)
                flying_row = conn.execute(select(*_COLUMNS).where(
                    c.provider_id == provider_id, c.kind == kind, c.state.in_(IN_FLIGHT)
                )).mappings().first()
            flying = _send(flying_row) if flying_row is not None else None
            return Reservation(BUSY, flying, flying, 1)

    # -- its steps ---------------------------------------------------------------------------
    def handing(self, send_id: int) -> bool:
        """The message is about to leave: True when this send is still ours to hand over (a
        stale-send sweep may have settled it meanwhile)."""
        c = email_sends.c
        with self.engine.begin() as conn:
            return bool(conn.execute(update(email_sends).where(
                c.id == send_id, c.state == SENDING).values(
                state=HANDING, updated_at=utcnow())).rowcount)

    def not_handed(self, send_id: int) -> None:
        """The server refused the message itself (an answer, so it did not arrive): it may be
        tried again."""
        self._step(send_id, (HANDING,), state=SENDING)

    def sent(self, send_id: int) -> bool:
        """The server accepted it. (Also after a sweep called it uncertain: the answer wins.)"""
        now = utcnow()
        c = email_sends.c
        with self.engine.begin() as conn:
            row = conn.execute(update(email_sends).where(
                c.id == send_id, c.state.in_((HANDING, UNCERTAIN))).values(
                state=SENT, sent_at=now, updated_at=now, error_text=None).returning(
                c.provider_id, c.kind, c.created_by)).first()
            if row is not None:
                _mark_provider(conn, row.provider_id, row.kind, row.created_by, now)
        return row is not None

    def failed(self, send_id: int, words: str) -> bool:
        return self._step(send_id, IN_FLIGHT, state=FAILED, error_text=words)

    def uncertain(self, send_id: int, words: str) -> bool:
        return self._step(send_id, (HANDING,), state=UNCERTAIN, error_text=words)

    def _step(self, send_id: int, only_from: tuple[str, ...], **values: Any) -> bool:
        c = email_sends.c
        with self.engine.begin() as conn:
            return bool(conn.execute(update(email_sends).where(
                c.id == send_id, c.state.in_(only_from)).values(
                updated_at=utcnow(), **values)).rowcount)

    # -- a person decides ("may have been sent") ---------------------------------------------
    def decide(self, scope: Scope, send_id: int, arrived: bool, by: str) -> bool:
        """The person asked the provider: it arrived (sent), or it did not (failed, so a new
        send needs no extra confirmation for it)."""
        c = email_sends.c
        now = utcnow()
        note = f"{'Arrived' if arrived else 'Did not arrive'}, as {by.strip() or 'staff'} said."
        with self.engine.begin() as conn:
            row = conn.execute(update(email_sends).where(
                c.id == send_id, c.state == UNCERTAIN, scope.visible(email_sends)).values(
                state=SENT if arrived else FAILED, updated_at=now, error_text=note,
                sent_at=now if arrived else None).returning(
                c.provider_id, c.kind, c.created_by)).first()
            if row is not None and arrived:
                _mark_provider(conn, row.provider_id, row.kind, row.created_by, now)
        return row is not None

    # -- the stopped servers' sends ----------------------------------------------------------
    def settle_stale(self) -> tuple[int, int]:
        """Settle every send whose server stopped mid-way: (never left, may have left)."""
        with self.engine.begin() as conn:
            return self._settle_stale(conn)

    def _settle_stale(self, conn: Connection, *where: Any) -> tuple[int, int]:
        c = email_sends.c
        stale = _stale(utcnow(), self.replica, self.owner, self.stale_after)
        never = conn.execute(update(email_sends).where(stale, c.state == SENDING, *where).values(
            state=FAILED, error_text=NEVER_LEFT, updated_at=utcnow())).rowcount
        maybe = conn.execute(update(email_sends).where(stale, c.state == HANDING, *where).values(
            state=UNCERTAIN, error_text=MAY_HAVE_LEFT, updated_at=utcnow())).rowcount
        return int(never or 0), int(maybe or 0)

    # -- reading -----------------------------------------------------------------------------
    def get(self, send_id: int) -> Send:
        return _send(one_or_missing(self.engine, select(*_COLUMNS).where(
            email_sends.c.id == send_id), f"No email {send_id}.")._mapping)

    def visible(self, scope: Scope, send_id: int) -> Send:
        return _send(one_or_missing(self.engine, select(*_COLUMNS).where(
            email_sends.c.id == send_id, scope.visible(email_sends)),
            f"No email {send_id} in this organisation.")._mapping)

    def for_provider(self, scope: Scope, provider_id: int, kind: str | None = None
                     ) -> list[Send]:
        """This provider's emails, newest first."""
        c = email_sends.c
        query = select(*_COLUMNS).where(c.provider_id == provider_id, scope.visible(email_sends))
        if kind is not None:
            query = query.where(c.kind == kind)
        with self.engine.connect() as conn:
            return [_send(r) for r in conn.execute(query.order_by(c.id.desc())).mappings()]

    def latest_of_job(self, job_id: int, provider_id: int, kind: str) -> Send | None:
        """The latest send a job made to this provider (to settle its row after a kill)."""
        c = email_sends.c
        with self.engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(
                c.job_id == job_id, c.provider_id == provider_id, c.kind == kind).order_by(
                c.id.desc()).limit(1)).mappings().first()
        return _send(row) if row is not None else None

    def latest_for(self, provider_ids: list[int], kind: str) -> dict[int, Send]:
        """Each provider's latest send of `kind` (for a job's results)."""
        c = email_sends.c
        found: dict[int, Send] = {}
        for start in range(0, len(provider_ids), 500):
            chunk = provider_ids[start:start + 500]
            latest = select(func.max(c.id)).where(
                c.provider_id.in_(chunk), c.kind == kind).group_by(c.provider_id)
            with self.engine.connect() as conn:
                for row in conn.execute(select(*_COLUMNS).where(c.id.in_(latest))).mappings():
                    found[int(row["provider_id"])] = _send(row)
        return found

    def already_sent(self, provider_ids: list[int], kind: str) -> dict[int, int]:
        """How many sends that count each of these providers has had."""
        c = email_sends.c
        found: dict[int, int] = {}
        for start in range(0, len(provider_ids), 500):
            with self.engine.connect() as conn:
                found.update({int(p): int(n) for p, n in conn.execute(
                    select(c.provider_id, func.count()).where(
                        c.provider_id.in_(provider_ids[start:start + 500]), c.kind == kind,
                        c.state.in_(COUNTED)).group_by(c.provider_id))})
        return found

    def recent(self, scope: Scope, *, states: tuple[str, ...] = (), limit: int = 200
               ) -> list[Send]:
        """The organisation's emails, newest first."""
        c = email_sends.c
        query = select(*_COLUMNS).where(scope.visible(email_sends))
        if states:
            query = query.where(c.state.in_(states))
        with self.engine.connect() as conn:
            return [_send(r) for r in conn.execute(
                query.order_by(c.id.desc()).limit(limit)).mappings()]

    def count(self, scope: Scope, states: tuple[str, ...] = ()) -> int:
        c = email_sends.c
        query = select(func.count()).select_from(email_sends).where(scope.visible(email_sends))
        if states:
            query = query.where(c.state.in_(states))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _by_token(conn: Connection, token: str | None) -> Send | None:
    """The send an earlier click with this token made."""
    if token is None:
        return None
    row = conn.execute(select(*_COLUMNS).where(
        email_sends.c.request_token == token)).mappings().first()
    return _send(row) if row is not None else None


def _mark_provider(conn: Connection, provider_id: int, kind: str, by: str,
                   now: datetime) -> None:
    """The provider's row says it, in the same transaction: History and exports show it."""
    values: dict[str, Any] = {"invite_emailed_at": now} if kind == INVITE else \
        {"reminded_at": now, "reminded_by": by[:200]}
    conn.execute(update(providers).where(providers.c.id == provider_id).values(**values))
