"""The activity log: who did what, and when, for one organisation.

One row per action (a provider created, an import started or finished, an export, a settle, an
email, a reminder, a template change), scoped like History. Pages are read newest first off the
primary key, in keyset pages ("older than entry N"), so the first page and every later one cost
the same at a thousand entries or a million. Searches use the trigram indexes of migration 11
(SQLite FTS5, PostgreSQL pg_trgm), as History's do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Integer, column, func, insert, or_, select
from sqlalchemy import table as sql_table

from partner_console.identity import Person
from partner_console.storage.clock import utcnow
from partner_console.storage.scope import Scope
from partner_console.storage.search import TRIGRAM, folded, fts_phrase
from partner_console.storage.tables import activity, built

CREATED, IMPORTED, EXPORTED, SETTLED = "created", "imported", "exported", "settled"
EMAILED, REMINDED, TEMPLATES, EMAIL_TEXTS = "emailed", "reminded", "templates", "email_texts"
SIGN_IN_REFUSED = "signin_refused"
CHANGED, DEACTIVATED, REACTIVATED, SYNCED = "changed", "deactivated", "reactivated", "synced"
PRACTICES = "practices"
# Entries of the deployment rather than of an organisation (a refused sign-in happens before
# any key): written under this fingerprint, which no key's HMAC can be (it is not hex), and
# shown in every organisation's log on the deployment.
DEPLOYMENT = "deployment"
ACTION_LABELS = {
    CREATED: "Created a provider",
    IMPORTED: "Import",
    EXPORTED: "Export",
    SETTLED: "Checked with Upheal",
    EMAILED: "Email",
    REMINDED: "Reminder",
    TEMPLATES: "Templates",
    EMAIL_TEXTS: "Email texts",
    SIGN_IN_REFUSED: "Sign-in refused",
    CHANGED: "Changed a provider",
    DEACTIVATED: "Deactivated",
    REACTIVATED: "Reactivated",
    SYNCED: "Roster sync",
    PRACTICES: "Practices",
}
SUMMARY_LIMIT = 2000
T = TypeVar("T")
FEW = 1000  # a search with at most this many matches is read through its index, then sorted

_FTS = sql_table("activity_search", column("rowid", Integer), column("activity_search"))
built(_FTS)


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime  # naive UTC
    actor_name: str
    actor_email: str
    action: str
    summary: str

    @property
    def who(self) -> str:
        return Person(self.actor_name, self.actor_email).label or "(no name)"


@dataclass(frozen=True)
class ActivityFilter:
    text: str = ""
    actions: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None

    @property
    def substring(self) -> str:
        """The folded search; searches shorter than the trigram indexes serve are not run."""
        text = folded(self.text)
        return text if len(text) >= TRIGRAM else ""

    @property
    def too_short(self) -> bool:
        return bool(self.text.strip()) and not self.substring

    def conditions(self, dialect: str) -> list[Any]:
        c = activity.c
        found: list[Any] = []
        if self.substring:
            if dialect == "sqlite":
                found.append(_FTS.c.activity_search.op("MATCH")(fts_phrase(self.substring)))
            else:
                found.append(c.search_text.like(f"%{self.substring}%"))
        if self.actions:
            found.append(c.action.in_(self.actions))
        if self.date_from:
            found.append(c.at >= datetime.combine(self.date_from, datetime.min.time()))
        if self.date_to:
            found.append(c.at < datetime.combine(self.date_to + timedelta(days=1),
                                                 datetime.min.time()))
        return found


@dataclass(frozen=True)
class ActivityPage:
    entries: list[Entry]
    older: int | None  # the cursor of the next (older) page; None at the oldest


def _search_text(person: Person, summary: str) -> str:
    return " | ".join(part for part in (folded(person.name), folded(person.email),
                                        folded(summary)) if part)


_COLUMNS = [activity.c.id, activity.c.at, activity.c.actor_name, activity.c.actor_email,
            activity.c.action, activity.c.summary]


@dataclass
class Activity:
    engine: Engine

    def record(self, scope: Scope | None, person: Person, action: str, summary: str,
               conn: Connection | None = None) -> None:
        """One entry (`scope` None: the deployment's, shown to every organisation). Given
        `conn`, it is written in that transaction, with the change it records."""
        assert action in ACTION_LABELS, action
        scope = scope or Scope(DEPLOYMENT)
        summary = " ".join(summary.split())[:SUMMARY_LIMIT]
        values = {
            "key_fingerprint": scope.key_fingerprint,
            "organization_id": scope.organization_ids[0] if len(scope.organization_ids) == 1
            else None,
            "at": utcnow(), "actor_name": " ".join(person.name.split())[:200],
            "actor_email": person.email.strip()[:320], "action": action, "summary": summary,
            "search_text": _search_text(person, summary),
        }
        if conn is not None:
            conn.execute(insert(activity).values(**values))
            return
        with self.engine.begin() as own:
            own.execute(insert(activity).values(**values))

    def _query(self, columns: list[Any], scope: Scope, filters: ActivityFilter) -> Any:
        dialect = self.engine.dialect.name
        query = select(*columns)
        if dialect == "sqlite" and filters.substring:  # FTS5 drives: its matches, newest first
            query = query.select_from(_FTS.join(activity, activity.c.id == _FTS.c.rowid))
        return query.where(or_(scope.visible(activity),
                                   activity.c.key_fingerprint == DEPLOYMENT),
                           *filters.conditions(dialect))

    def _order(self, filters: ActivityFilter, scope: Scope | None = None) -> Any:
        """Newest first. SQLite's FTS5 yields a search's matches newest first itself. On
        PostgreSQL a search with few matches is read through the trigram index and sorted
        ("id + 0" keeps the planner from walking every entry newest first looking for them);
        with many, walking newest first finds a page at once."""
        if self._key(filters) is _FTS.c.rowid:
            return _FTS.c.rowid.desc()
        if filters.substring and scope is not None and self._few(scope, filters):
            return (activity.c.id + 0).desc()
        return activity.c.id.desc()

    def _key(self, filters: ActivityFilter) -> Any:
        """What pages are ordered and cut by: the entry's id (FTS5's rowid when it drives)."""
        if self.engine.dialect.name == "sqlite" and filters.substring:
            return _FTS.c.rowid
        return activity.c.id

    def _few(self, scope: Scope, filters: ActivityFilter) -> bool:
        capped = self._query([activity.c.id], scope, filters).limit(FEW + 1)
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(capped.subquery())
                                    ).scalar_one()) <= FEW

    def page(self, scope: Scope, filters: ActivityFilter = ActivityFilter(),
             older_than: int | None = None, size: int = 50) -> ActivityPage:
        """Up to `size` entries, newest first, older than entry `older_than` when given."""
        if filters.too_short:
            return ActivityPage([], None)
        query = self._query(_COLUMNS, scope, filters)
        if older_than is not None:
            query = query.where(self._key(filters) < older_than)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(self._order(filters, scope)).limit(
                size + 1)).all()
        entries = [Entry(*row) for row in rows[:size]]
        return ActivityPage(entries, entries[-1].id if len(rows) > size else None)

    def export_batches(self, scope: Scope, filters: ActivityFilter = ActivityFilter(),
                       batch_size: int = 5000) -> Iterator[Sequence[Entry]]:
        """Every matching entry, newest first, in batches (flat in memory at any size)."""
        if filters.too_short:
            return
        query = self._query(_COLUMNS, scope, filters).order_by(self._order(filters, scope))
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(query)
            for part in result.partitions():
                yield [Entry(*row) for row in part]


def logged(log: Activity, scope: Scope, person: Person, action: str, summary: str,
           make: Callable[[], T]) -> Callable[[], T]:
    """`make`, recording `summary` when it is called: for a download made on its click (it
    runs outside the page, so everything it needs is taken in now)."""
    def made() -> T:
        value = make()
        try:
            log.record(scope, person, action, summary)
        except Exception:  # the file is made; a log that cannot be written does not stop it
            logging.getLogger(__name__).exception("an activity entry could not be written")
        return value
    return made
