"""One action at a time per provider, decided in the database: a change of details, a
deactivation, a reactivation or a replacement by the right email.

`begin` writes the action as running in one INSERT that the partial unique index lets through
only when no other action of the provider is running: a double click (the same token: that
action's result), a second tab or a colleague on another replica (another token: "busy") never
send it twice. An action whose server died mid-way stops holding its provider after
`stale_after` (what it sent is harmless to send again: the values are absolute, a deactivation
of a deactivated user changes nothing), and `finish` records how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from partner_console.storage.clock import utcnow
from partner_console.storage.scope import Scope
from partner_console.storage.tables import ACTION_RUNNING, provider_actions

DONE, FAILED, ABANDONED = "done", "failed", "abandoned"
NEW, REPEATED, BUSY = "new", "repeated", "busy"
STALE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Action:
    id: int
    provider_id: int
    kind: str
    state: str
    created_by: str
    created_at: datetime
    summary: str | None
    error_text: str | None


@dataclass(frozen=True)
class Begun:
    state: str  # NEW (go on), REPEATED (this click's action, maybe finished) or BUSY
    action: Action


def _action(row: object) -> Action:
    return Action(row.id, row.provider_id, row.kind, row.state, row.created_by,  # type: ignore[attr-defined]
                  row.created_at, row.summary, row.error_text)  # type: ignore[attr-defined]


@dataclass
class ProviderActions:
    engine: Engine
    stale_after: timedelta = STALE_AFTER

    def begin(self, scope: Scope, provider_id: int, kind: str, *, token: str, owner: str,
              by: str) -> Begun:
        c = provider_actions.c
        for _ in range(3):
            earlier = self._by_token(token)
            if earlier is not None:
                return Begun(REPEATED, earlier)
            now = utcnow()
            try:
                with self.engine.begin() as conn:
                    conn.execute(update(provider_actions).where(  # a dead server's action
                        c.provider_id == provider_id, c.state == ACTION_RUNNING,
                        c.updated_at < now - self.stale_after).values(
                        state=ABANDONED, updated_at=now))
                    action_id = conn.execute(insert(provider_actions).values(
                        key_fingerprint=scope.key_fingerprint,
                        organization_id=scope.organization_ids[0]
                        if len(scope.organization_ids) == 1 else None,
                        provider_id=provider_id, kind=kind, token=token[:64],
                        state=ACTION_RUNNING, owner=owner[:120], created_by=by[:200],
                        created_at=now, updated_at=now).returning(c.id)).scalar_one()
                return Begun(NEW, self.get(action_id))
            except IntegrityError:
                running = self.running(provider_id)
                if running is not None and self._by_token(token) is None:
                    return Begun(BUSY, running)
        raise RuntimeError("the provider's action could not be begun")

    def finish(self, action_id: int, state: str, *, summary: str | None = None,
               error_text: str | None = None) -> None:
        c = provider_actions.c
        with self.engine.begin() as conn:
            conn.execute(update(provider_actions).where(c.id == action_id).values(
                state=state, summary=summary, error_text=error_text, updated_at=utcnow()))

    def touch(self, action_id: int) -> None:
        """Still working on it (a long action keeps its provider)."""
        c = provider_actions.c
        with self.engine.begin() as conn:
            conn.execute(update(provider_actions).where(
                c.id == action_id, c.state == ACTION_RUNNING).values(updated_at=utcnow()))

    def get(self, action_id: int) -> Action:
        with self.engine.connect() as conn:
            return _action(conn.execute(select(provider_actions).where(
                provider_actions.c.id == action_id)).one())

    def running(self, provider_id: int) -> Action | None:
        c = provider_actions.c
        with self.engine.connect() as conn:
            row = conn.execute(select(provider_actions).where(
                c.provider_id == provider_id, c.state == ACTION_RUNNING)).first()
        return _action(row) if row is not None else None

    def latest(self, provider_id: int, limit: int = 20) -> list[Action]:
        c = provider_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(provider_actions).where(
                c.provider_id == provider_id).order_by(c.id.desc()).limit(limit)).all()
        return [_action(r) for r in rows]

    def _by_token(self, token: str) -> Action | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(provider_actions).where(
                provider_actions.c.token == token[:64])).first()
        return _action(row) if row is not None else None
