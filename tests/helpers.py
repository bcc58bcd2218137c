"""Shortcuts the tests share: History with its reads and Follow up's questions at hand, and
the write-ahead shortcuts the console itself never needs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from partner_console.api.models import ProviderRequest
from partner_console.storage import FollowUp, History, HistoryReads, ProviderRow, Scope
from partner_console.storage.errors import EmailReservedError
from partner_console.storage.history import NEW, ROW_COLUMNS
from partner_console.storage.tables import FAILED, PENDING, providers


def record_pending(history: History, scope: Scope, request: ProviderRequest, *,
                   created_by: str, source: str = "form", token: str | None = None
                   ) -> tuple[int, bool]:
    """A create's write-ahead row (History.reserve): (row id, True), or (the earlier row,
    False) for a token seen before; EmailReservedError while the email is being created."""
    reserved = history.reserve(scope, request, created_by=created_by, source=source,
                               token=token)
    if reserved.holder is not None:
        raise EmailReservedError(reserved.holder)
    return reserved.row_id, reserved.state == NEW


def find_by_email(history: History, scope: Scope, email: str) -> list[ProviderRow]:
    """The organisation's rows of this email (not failed ones), newest first."""
    with history.engine.connect() as conn:
        rows = conn.execute(select(*ROW_COLUMNS).where(
            providers.c.email_normalized == email.strip().lower(),
            providers.c.status != FAILED, scope.visible(providers)
        ).order_by(providers.c.id.desc())).mappings().all()
    return [ProviderRow.from_mapping(r) for r in rows]


def pending(history: History, scope: Scope) -> list[ProviderRow]:
    """The organisation's creates whose outcome is not known yet, oldest first."""
    with history.engine.connect() as conn:
        rows = conn.execute(select(*ROW_COLUMNS).where(
            scope.visible(providers), providers.c.status == PENDING
        ).order_by(providers.c.id)).mappings().all()
    return [ProviderRow.from_mapping(r) for r in rows]


class HistoryForTests(History):
    """History, with History's reads (HistoryReads) and Follow up's questions (FollowUp) and
    the shortcuts above as methods, so a test reads as the story it tells."""

    @property
    def reads(self) -> HistoryReads:
        return HistoryReads(self.engine)

    @property
    def follow_up(self) -> FollowUp:
        return FollowUp(self.reads)

    def __getattr__(self, name: str) -> Any:
        for owner in (HistoryReads, FollowUp):
            if hasattr(owner, name):
                return getattr(self.reads if owner is HistoryReads else self.follow_up, name)
        raise AttributeError(name)

    def record_pending(self, scope: Scope, request: ProviderRequest, **kwargs: Any
                       ) -> tuple[int, bool]:
        return record_pending(self, scope, request, **kwargs)

    def find_by_email(self, scope: Scope, email: str) -> list[ProviderRow]:
        return find_by_email(self, scope, email)

    def pending(self, scope: Scope) -> list[ProviderRow]:
        return pending(self, scope)


# -- runners on explicit parts (the console builds them from its services: jobs.engine.start_job)
def _parts(store: Any, leases: Any, owner: str, **parts: Any) -> Any:
    from partner_console.jobs.engine import Parts
    from partner_console.storage.coordination import Leases

    return Parts(jobs=store, leases=leases or Leases(store.engine), owner=owner, **parts)


def build_runner(*, job_id: int, api_key: str, scope: Scope, created_by: str, store: Any,
                 history: History, journal: Any, client: Any, pacing: Any, owner: str,
                 settle_after: float, workers: int = 6, leases: Any = None, mailer: Any = None,
                 catalog: Any = None) -> Any:
    """An import's runner (not started)."""
    from partner_console.config import Settings

    parts = _parts(store, leases, owner, history=history, journal=journal, client=client,
                   pacing=pacing, mailer=mailer, catalog=catalog,
                   settings=Settings(settle_after_seconds=settle_after))
    return parts.runner(job_id, scope, api_key=api_key, by=created_by, workers=workers)


def build_refresh_runner(*, job_id: int, api_key: str, scope: Scope, created_by: str,
                         store: Any, history: History, journal: Any, client: Any, pacing: Any,
                         owner: str, workers: int = 6, leases: Any = None) -> Any:
    """A sign-up refresh's runner (not started)."""
    parts = _parts(store, leases, owner, history=history, journal=journal, client=client,
                   pacing=pacing)
    return parts.runner(job_id, scope, api_key=api_key, by=created_by, workers=workers)


def build_email_runner(*, job_id: int, scope: Scope, created_by: str, store: Any,
                       history: History, catalog: Any, mailer: Any, owner: str,
                       leases: Any = None, workers: int = 2) -> Any:
    """An email job's runner (not started); the job's kind says invites or reminders."""
    parts = _parts(store, leases, owner, history=history, catalog=catalog, mailer=mailer)
    return parts.runner(job_id, scope, by=created_by, workers=workers)


def wait_until(condition: Callable[[], Any], timeout: float = 60.0,
               what: str = "timed out") -> None:
    """Until `condition()` holds; an AssertionError saying `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
