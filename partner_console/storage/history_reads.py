"""History's reads: search, pages, counts, exports and Overview's numbers.

A search is read through an index on both databases (SQLite's FTS5 trigram table, PostgreSQL's
pg_trgm), newest first, and counted no further than a cap, so a page costs the same at a
thousand providers or a million (docs/BENCHMARKS.md, B4 and B10).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Integer, and_, column, func, or_, select
from sqlalchemy import table as sql_table
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from partner_console.storage import onboarding
from partner_console.storage.history import ROW_COLUMNS, ProviderRow
from partner_console.storage.scope import Scope
from partner_console.storage.search import TRIGRAM, folded, fts_phrase, normalise, starts_with
from partner_console.storage.tables import (
    CREATED,
    DEACTIVATED,
    FAILED,
    INVITED,
    LINKS_LOST,
    PENDING,
    built,
    providers,
)


@dataclass(frozen=True)
class HistoryFilter:
    text: str = ""
    date_from: date | None = None
    date_to: date | None = None
    statuses: tuple[str, ...] = ()
    note_identifiers: tuple[str, ...] = ()
    created_by: tuple[str, ...] = ()
    signups: tuple[str, ...] = ()  # signup.py statuses; "invited" includes never checked
    invited_before: datetime | None = None  # created before this (naive UTC)
    practices: tuple[str, ...] = ()  # a platform's practices ("": the key's own organisation)

    @property
    def substring(self) -> str:
        """The folded search, when it is long enough for the trigram indexes (search.py)."""
        text = folded(self.text)
        return text if len(text) >= TRIGRAM else ""

    def conditions(self, dialect: str, fts: bool | None = None,
                   practice_rows: bool = False) -> list[Any]:
        """The filters as SQL conditions. A substring search is FTS5's MATCH on SQLite (its
        matches joined to their rows: HistoryReads.matching) unless `fts` is False, and LIKE
        '%…%' otherwise (pg_trgm's GIN index serves it on PostgreSQL). With `practice_rows`
        the chosen practices' rows are named by their own index (id IN …), so that SQLite
        starts from them rather than from a wider index (HistoryReads._few_practice_rows)."""
        found: list[Any] = []
        c = providers.c
        if self.substring:
            if dialect == "sqlite" if fts is None else fts:
                found.append(_FTS.c.providers_search.op("MATCH")(fts_phrase(self.substring)))
            else:
                found.append(c.search_text.like(f"%{self.substring}%"))
        elif words := normalise(self.text):  # one or two characters: the start of a field
            found.append(or_(*(starts_with(column, words, dialect) for column in (
                c.name_normalized, c.last_name_normalized, c.email_normalized,
                c.partner_user_id_normalized))))
        if self.date_from:
            found.append(providers.c.created_at >= datetime.combine(self.date_from,
                                                                    datetime.min.time()))
        if self.date_to:
            found.append(providers.c.created_at < datetime.combine(
                self.date_to + timedelta(days=1), datetime.min.time()))
        if self.statuses:  # "deactivated" is a created provider deactivated since
            stored = [s for s in self.statuses if s != DEACTIVATED]
            shown = [and_(c.status.in_(stored), or_(c.status != CREATED,
                                                     c.deactivated_at.is_(None)))] \
                if stored else []
            if DEACTIVATED in self.statuses:
                shown.append(c.deactivated_at.is_not(None))
            found.append(or_(*shown))
        if self.note_identifiers:
            found.append(providers.c.note_identifier.in_(self.note_identifiers))
        if self.created_by:
            found.append(providers.c.created_by.in_(self.created_by))
        if self.signups:
            wanted = [c.signup_status.in_(self.signups)]
            if INVITED in self.signups:
                wanted.append(c.signup_status.is_(None))
            # (a deactivated provider is no longer waiting to sign up: Follow up leaves them)
            found.append(and_(c.status.in_((CREATED, LINKS_LOST)), c.deactivated_at.is_(None),
                              or_(*wanted)))
        if self.invited_before is not None:
            found.append(c.created_at < self.invited_before)
        if self.practices:
            chosen = [p for p in self.practices if p]
            if practice_rows:  # (only the chosen practices: no "" among them)
                found.append(c.id.in_(select(c.id).where(c.practice_id.in_(chosen))))
            else:
                practice: Any = c.practice_id
                if dialect == "sqlite" and self.statuses == (DEACTIVATED,):
                    # Start from the deactivated's partial index (few rows, and no statistics
                    # while there are none), not from the practices' rows.
                    practice = _off_index(practice)
                found.append(or_(*([practice.in_(chosen)] if chosen else []),
                                 *([practice.is_(None)] if "" in self.practices else [])))
        return found


def _off_index(column: Any) -> Any:
    """`+column`: SQLite's documented way to keep a term from being served by an index, so
    that its planner starts from another."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


COUNT_CAP = 10_000  # beyond this, "10,000+": an exact count would cost a scan of every row
# A search counts its matches no further than this ("1,000+ providers"): counting is reading
# every match, and a search that finds more is refined, not paged through.
SEARCH_COUNT_CAP = 1_000


def count_cap(filters: HistoryFilter) -> int:
    return SEARCH_COUNT_CAP if filters.text.strip() else COUNT_CAP


@dataclass(frozen=True)
class HistoryPage:
    rows: list[ProviderRow]
    total: int  # exact up to cap; cap + 1 means "more than cap"
    page: int
    page_size: int
    cap: int = COUNT_CAP

    @property
    def more_than_cap(self) -> bool:
        return self.total > self.cap

    @property
    def total_text(self) -> str:
        return f"{self.cap:,}+" if self.more_than_cap else f"{self.total:,}"

    @property
    def page_count(self) -> int:
        return max(1, -(-min(self.total, self.cap) // self.page_size))


# SQLite's FTS5 trigram index of search_text (migration 6): its rowid is the provider's id.
_FTS = sql_table("providers_search", column("rowid", Integer), column("providers_search"))
built(_FTS)


def _fts_search(filters: HistoryFilter, dialect: str) -> bool:
    return dialect == "sqlite" and bool(filters.substring)


# Practices holding at most this many rows are read from their own rows (SQLite), not from a
# wider index: a practice of a hundredth of a 1M history took 150 ms of FTS matches to find
# its thousand for a search, and 600 ms of the sign-up index for Overview's waiting count.
SMALL_PRACTICES = 20_000


def newest_first(filters: HistoryFilter, matches: int, dialect: str,
                 fts: bool | None = None) -> Any:
    """Newest first. On SQLite a substring search reads FTS5's matches in descending rowid
    order, which is the index's own order: a page costs the same at any size. Elsewhere, for
    a search with at most its count cap of matches, "id + 0" keeps the planner from walking the
    primary key hoping for early matches (a scan of every row when the matches are old): the
    indexes find them and they are sorted. With more matches they are dense, and walking
    newest-first finds a page at once."""
    if _fts_search(filters, dialect) if fts is None else fts:
        return _FTS.c.rowid.desc()
    if filters.text.strip() and matches <= count_cap(filters):
        return (providers.c.id + 0).desc()
    return providers.c.id.desc()


@dataclass
class HistoryReads:
    engine: Engine

    def matching(self, columns: list[Any], scope: Scope, filters: HistoryFilter,
                 newest_first_of: int | None = None) -> Any:
        """SELECT `columns` of the rows in `scope` matching `filters`: unordered, or newest
        first when `newest_first_of` says how many match (0: not counted; newest_first)."""
        dialect = self.engine.dialect.name
        few = self._few_practice_rows(filters)
        fts = _fts_search(filters, dialect) and not few
        query = select(*columns)
        if fts:  # FTS5 drives: its matches, joined to their rows
            query = query.select_from(_FTS.join(providers, providers.c.id == _FTS.c.rowid))
        query = query.where(scope.visible(providers),
                            *filters.conditions(dialect, fts, practice_rows=few))
        if newest_first_of is not None:
            query = query.order_by(newest_first(filters, newest_first_of, dialect, fts))
        return query

    def _few_practice_rows(self, filters: HistoryFilter) -> bool:
        """Whether the filters choose only practices that hold few rows (SMALL_PRACTICES,
        counted by their index no further), so that their rows are where a read starts
        (SQLite: its planner knows only the average practice, which a platform's practices
        are far from)."""
        chosen = [p for p in filters.practices if p]
        if self.engine.dialect.name != "sqlite" or not chosen or \
                len(chosen) < len(filters.practices):  # (none, or the key's own among them)
            return False
        if filters.statuses == (DEACTIVATED,):  # fewer still: their partial index (migration 14)
            return False
        rows = select(providers.c.id).where(providers.c.practice_id.in_(chosen)).limit(
            SMALL_PRACTICES + 1)
        with self.engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(rows.subquery())).scalar_one()
        return bool(held <= SMALL_PRACTICES)

    def overview(self, scope: Scope, weeks: int = 26, practice: str | None = onboarding.ALL
                 ) -> onboarding.Overview:
        """Overview's numbers for the organisation, or one of its practices (onboarding.py's
        aggregates)."""
        return onboarding.overview(self.engine, scope, weeks=weeks, practice=practice)

    def search(self, scope: Scope, filters: HistoryFilter = HistoryFilter(), page: int = 1,
               page_size: int = 50) -> HistoryPage:
        """One page, newest first (ids grow with time, so the newest are read straight off the
        primary key), and a count that stops one past its cap (count_cap)."""
        total = self.count(scope, filters)
        with self.engine.connect() as conn:
            cap = count_cap(filters)
            pages = max(1, -(-min(total, cap) // page_size))
            page = min(max(1, page), pages)
            rows = conn.execute(self.matching(ROW_COLUMNS, scope, filters, total).limit(
                page_size).offset((page - 1) * page_size)).mappings().all()
        return HistoryPage([ProviderRow.from_mapping(r) for r in rows], total, page, page_size,
                           cap)

    def count(self, scope: Scope, filters: HistoryFilter, cap: int | None = None) -> int:
        """How many rows match, counting no further than cap + 1 (so it costs the same at a
        thousand rows or a million)."""
        cap = count_cap(filters) if cap is None else cap
        capped = self.matching([providers.c.id], scope, filters).limit(cap + 1)
        if filters == HistoryFilter():  # read at most cap + 1 entries, newest first
            capped = capped.order_by(providers.c.id.desc())
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(capped.subquery())
                                    ).scalar_one())

    def iter_rows(self, scope: Scope, filters: HistoryFilter = HistoryFilter(),
                  batch_size: int = 2000) -> Iterator[ProviderRow]:
        """Every matching row, newest first, fetched in batches (exports stay flat in memory)."""
        query = self.matching(ROW_COLUMNS, scope, filters, newest_first_of=0)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(query).mappings()
            for row in result:
                yield ProviderRow.from_mapping(row)

    def export_query(self, scope: Scope, filters: HistoryFilter, cells: list[Any]) -> Any:
        """The query behind an export: `cells` (column expressions) of every matching row,
        newest first."""
        return self.matching(cells, scope, filters, newest_first_of=0)

    def export_batches(self, scope: Scope, filters: HistoryFilter, cells: list[Any],
                       batch_size: int = 5000) -> Iterator[Sequence[Sequence[Any]]]:
        """Every matching row as a plain tuple of the values of `cells`, in batches: no
        per-row objects, so a 100k-row export stays quick and flat in memory. The cells must
        need no conversion from the driver's values (exports ask for text)."""
        query = self.export_query(scope, filters, cells)
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                # sqlite3 steps the statement as rows are fetched, and nothing has been
                # read ahead of its cursor: read the tuples straight from it.
                cursor = conn.execute(query).cursor
                while batch := cursor.fetchmany(batch_size):
                    yield batch
            else:  # a server-side cursor, read through SQLAlchemy
                result = conn.execution_options(yield_per=batch_size).execute(query)
                yield from result.partitions()

    def practices_of_email(self, scope: Scope, email: str, other_than: str | None
                           ) -> list[str | None]:
        """The other practices (None: the key's own organisation) where this email is a
        provider too: an email may be in each practice once, each its own Upheal account."""
        with self.engine.connect() as conn:
            found = conn.execute(select(providers.c.practice_id).distinct().where(
                providers.c.email_normalized == email.strip().lower(),
                providers.c.status.notin_([FAILED, PENDING]), scope.visible(providers))).scalars()
            return sorted({p or None for p in found} - {other_than or None},
                          key=lambda p: p or "")

    def creators(self, scope: Scope, limit: int = 200) -> list[str]:
        """Who created rows here: one index probe per distinct name (a loose index scan),
        not a pass over every row."""
        names: list[str] = []
        with self.engine.connect() as conn:
            while len(names) < limit:
                query = select(func.min(providers.c.created_by)).where(scope.visible(providers))
                if names:
                    query = query.where(providers.c.created_by > names[-1])
                name = conn.execute(query).scalar()
                if name is None:
                    break
                names.append(name)
        return names

