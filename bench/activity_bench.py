"""B13: the activity log at 10k and 1M entries: the newest page, a page far back (keyset), an
action filter, a search matching many entries and one matching a single old entry. The 10k log
is the baseline, measured side by side in the same run; the goal is that 1M costs at most twice
as much, and every read stays under 300 ms."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert

from bench.harness import Result, median_ms
from partner_console.identity import Person
from partner_console.storage import History, fingerprint, make_engine, migrate
from partner_console.storage.activity import (
    ACTION_LABELS,
    TEMPLATES,
    Activity,
    ActivityFilter,
    _search_text,
)
from partner_console.storage.clock import utcnow
from partner_console.storage.tables import activity

SECRET = b"bench-secret"
KEY = "sandbox-demo-key"
ORG = "5a4d0b7e-0000-4000-8000-00000000c11c"
PEOPLE = [Person(f"Staff Member{n}", f"staff{n}@partner.example") for n in range(20)]
ACTIONS = list(ACTION_LABELS)


def seed(engine, count: int) -> None:
    """`count` entries, oldest first, the first of them the one rare search target."""
    key = fingerprint(SECRET, KEY)
    start = utcnow() - timedelta(minutes=count)
    batch: list[dict] = []
    with engine.begin() as conn:
        for n in range(count):
            person = PEOPLE[n % len(PEOPLE)]
            summary = ("Created Needle Quillfeather (needle@rare.example)." if n == 0 else
                       f"Created First{n} Last{n} (p{n}@clinic{n % 100}.example).")
            batch.append({"key_fingerprint": key, "organization_id": ORG,
                          "at": start + timedelta(minutes=n), "actor_name": person.name,
                          "actor_email": person.email, "action": ACTIONS[n % len(ACTIONS)],
                          "summary": summary, "search_text": _search_text(person, summary)})
            if len(batch) == 5000:
                conn.execute(insert(activity), batch)
                batch = []
        if batch:
            conn.execute(insert(activity), batch)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE activity")
        else:
            conn.exec_driver_sql("ANALYZE")


def reads(log: Activity, scope, repeat: int) -> dict[str, float]:
    first = log.page(scope)
    far = first
    for _ in range(4):  # the fifth page back
        assert far.older is not None
        far = log.page(scope, older_than=far.older)
    cursor = far.older
    assert cursor is not None
    cases: dict[str, Callable[[], object]] = {
        "newest page": lambda: log.page(scope),
        "sixth page (keyset)": lambda: log.page(scope, older_than=cursor),
        "action filter": lambda: log.page(scope, ActivityFilter(actions=(TEMPLATES,))),
        "search, many matches": lambda: log.page(scope, ActivityFilter(text="staff3@")),
        "search, one old entry": lambda: log.page(scope, ActivityFilter(text="quillfeather")),
    }
    found = log.page(scope, ActivityFilter(text="quillfeather")).entries
    assert [e.summary for e in found] == ["Created Needle Quillfeather (needle@rare.example)."]
    return {name: median_ms(run, repeat) for name, run in cases.items()}


def b13(make_url: Callable[[str], str], sizes: list[int], database: str,
        repeat: int = 5) -> list[Result]:
    measured: dict[int, dict[str, float]] = {}
    for size in sizes:
        url = make_url(f"b13_{size}")
        engine = make_engine(url)
        migrate(engine)
        began = time.perf_counter()
        seed(engine, size)
        seeded = time.perf_counter() - began
        scope = History(engine).scope_for(fingerprint(SECRET, KEY))
        measured[size] = {**reads(Activity(engine), scope, repeat), "seed_s": round(seeded, 1)}
        engine.dispose()
    small, large = measured[sizes[0]], measured[sizes[-1]]
    results = []
    for name in ("newest page", "sixth page (keyset)", "action filter", "search, many matches",
                 "search, one old entry"):
        ms, base = large[name], small[name]
        results.append(Result(
            f"B13 {database} {name}", f"activity log: {name} at {sizes[-1]:,} entries "
            f"({database})", round(ms, 1), "ms", round(base, 1),
            f"the same at {sizes[0]:,} entries", "≤ 300 ms; ≤ 2× the small log",
            ms <= 300 and ms <= 2 * max(base, 1.0),
            {"by size": {f"{s:,}": round(m[name], 1) for s, m in measured.items()},
             "seed seconds": {f"{s:,}": m["seed_s"] for s, m in measured.items()}}))
    return results
