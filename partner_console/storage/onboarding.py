"""How onboarding is going, from aggregates kept as rows change (so Overview reads a few dozen
rows at any history size, never the providers table).

- `onboarding_weeks`: per key, organisation, practice and week (Monday, UTC), how many
  providers were created and how many signed up.
- `signup_days`: per key, organisation and practice, how many signed up after how many days
  (the median comes from it). Practice "" is the key's own organisation; a platform's
  practices each have theirs, so Overview reads one practice as quickly as all.

History adds to them in the same transaction as the change they count: a provider becoming
created (or "created, link not returned"), and a provider first seen signed up. `rebuild`
recomputes them from the providers table (migration 9, benchmarks' seeded histories).
Organisation "" stands for "not known yet", and moves when the organisation is learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update

from partner_console.storage.clock import stored_time
from partner_console.storage.scope import Scope
from partner_console.storage.tables import onboarding_weeks, providers, signup_days

COUNTED = ("created", "links_lost")


def week_of(moment: datetime | str) -> str:
    """The Monday (UTC) of a stored time's week, as 'YYYY-MM-DD'."""
    value = stored_time(moment)
    return (value.date() - timedelta(days=value.weekday())).isoformat()


def _add(conn: Connection, table: Table, keys: dict[str, Any], **amounts: int) -> None:
    """Add `amounts` to the row with `keys` (made when missing; safe when two add at once)."""
    where = [table.c[k] == v for k, v in keys.items()]
    values = {k: table.c[k] + v for k, v in amounts.items()}
    if conn.execute(update(table).where(*where).values(**values)).rowcount:
        return
    from partner_console.storage.engine import insert_ignore

    if not insert_ignore(conn, table, {**keys, **amounts}):
        conn.execute(update(table).where(*where).values(**values))


def count_created(conn: Connection, key_fingerprint: str, organization_id: str | None,
                  created_at: datetime, practice_id: str | None = None) -> None:
    _add(conn, onboarding_weeks, {"key_fingerprint": key_fingerprint,
                                  "organization_id": organization_id or "",
                                  "practice_id": practice_id or "",
                                  "week": week_of(created_at)}, created=1, signed_up=0)


def count_signed_up(conn: Connection, key_fingerprint: str, organization_id: str | None,
                    created_at: datetime, signed_up_at: datetime,
                    practice_id: str | None = None) -> None:
    org, practice = organization_id or "", practice_id or ""
    _add(conn, onboarding_weeks, {"key_fingerprint": key_fingerprint, "organization_id": org,
                                  "practice_id": practice, "week": week_of(signed_up_at)},
         created=0, signed_up=1)
    days = max(0, (signed_up_at - created_at).days)
    _add(conn, signup_days, {"key_fingerprint": key_fingerprint, "organization_id": org,
                             "practice_id": practice, "days": days}, n=1)


def move_to_organisation(conn: Connection, key_fingerprint: str, organization_id: str) -> None:
    """A key's organisation was learned: its "not known yet" counts become that
    organisation's."""
    for table, key_column, amounts in ((onboarding_weeks, "week", ("created", "signed_up")),
                                       (signup_days, "days", ("n",))):
        unknown = conn.execute(select(table).where(
            table.c.key_fingerprint == key_fingerprint, table.c.organization_id == "")).all()
        for row in unknown:
            _add(conn, table, {"key_fingerprint": key_fingerprint,
                               "organization_id": organization_id,
                               "practice_id": row.practice_id,
                               key_column: getattr(row, key_column)},
                 **{a: getattr(row, a) for a in amounts})
        conn.execute(delete(table).where(table.c.key_fingerprint == key_fingerprint,
                                         table.c.organization_id == ""))


def rebuild(conn: Connection) -> None:
    """Recompute both tables from the providers table."""
    conn.execute(delete(onboarding_weeks))
    conn.execute(delete(signup_days))
    weeks: dict[tuple[str, str, str, str], list[int]] = {}
    days: dict[tuple[str, str, str, int], int] = {}
    rows = conn.execute(select(providers.c.key_fingerprint, providers.c.organization_id,
                               providers.c.practice_id, providers.c.created_at,
                               providers.c.signed_up_at).where(
        providers.c.status.in_(COUNTED))).yield_per(20_000)
    for fp, org, practice, created_at, signed_up_at in rows:
        org, practice = org or "", practice or ""
        weeks.setdefault((fp, org, practice, week_of(created_at)), [0, 0])[0] += 1
        if signed_up_at is not None:
            signed, created = stored_time(signed_up_at), stored_time(created_at)
            weeks.setdefault((fp, org, practice, week_of(signed)), [0, 0])[1] += 1
            key = (fp, org, practice, max(0, (signed - created).days))
            days[key] = days.get(key, 0) + 1
    if weeks:
        conn.execute(insert(onboarding_weeks), [
            {"key_fingerprint": fp, "organization_id": org, "practice_id": practice,
             "week": week, "created": c, "signed_up": s}
            for (fp, org, practice, week), (c, s) in weeks.items()])
    if days:
        conn.execute(insert(signup_days), [
            {"key_fingerprint": fp, "organization_id": org, "practice_id": practice, "days": d,
             "n": n} for (fp, org, practice, d), n in days.items()])


@dataclass(frozen=True)
class Overview:
    weeks: list[tuple[date, int, int]]  # (Monday, created, signed up), oldest first
    created: int
    signed_up: int
    median_days: float | None

    @property
    def signup_rate(self) -> float | None:
        return self.signed_up / self.created if self.created else None


ALL = "*"  # Overview of every practice (and the key's own organisation) at once


def overview(engine: Engine, scope: Scope, weeks: int = 26, today: date | None = None,
             practice: str | None = ALL) -> Overview:
    """All-time totals, the median days to sign up, and the last `weeks` weeks: of `practice`
    (None: the key's own organisation; ALL: everything)."""
    today = today or datetime.utcnow().date()  # noqa: DTZ003  (stored times are naive UTC)
    first = week_of(datetime.combine(today - timedelta(weeks=weeks - 1), datetime.min.time()))
    wanted_weeks = [scope.visible(onboarding_weeks)]
    wanted_days = [scope.visible(signup_days)]
    if practice != ALL:
        wanted_weeks.append(onboarding_weeks.c.practice_id == (practice or ""))
        wanted_days.append(signup_days.c.practice_id == (practice or ""))
    with engine.connect() as conn:
        totals = conn.execute(select(
            func.coalesce(func.sum(onboarding_weeks.c.created), 0),
            func.coalesce(func.sum(onboarding_weeks.c.signed_up), 0)).where(
            *wanted_weeks)).one()
        recent = conn.execute(select(
            onboarding_weeks.c.week, func.sum(onboarding_weeks.c.created),
            func.sum(onboarding_weeks.c.signed_up)).where(
            *wanted_weeks, onboarding_weeks.c.week >= first).group_by(
            onboarding_weeks.c.week)).all()
        spread = conn.execute(select(signup_days.c.days, func.sum(signup_days.c.n)).where(
            *wanted_days).group_by(signup_days.c.days)).all()
    by_week = {w: (int(c), int(s)) for w, c, s in recent}
    shown = []
    monday = date.fromisoformat(first)
    for _ in range(weeks):
        created, signed = by_week.get(monday.isoformat(), (0, 0))
        shown.append((monday, created, signed))
        monday += timedelta(weeks=1)
    return Overview(shown, int(totals[0]), int(totals[1]), _median(
        [(int(d), int(n)) for d, n in spread]))


def _median(spread: list[tuple[int, int]]) -> float | None:
    """The median of a histogram [(value, how many)]."""
    total = sum(n for _, n in spread)
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]  # the two middle positions (equal when odd)
    found: list[int] = []
    seen = 0
    for value, n in sorted(spread):
        while middle and middle[0] < seen + n:
            found.append(value)
            middle.pop(0)
        seen += n
    return (found[0] + found[1]) / 2
