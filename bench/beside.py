"""A background job on one key beside a member of staff's own calls (B11, B14): a seeded
History, the job's runner paced as a background caller, and a person checking someone by hand
now and then through the same key's budget."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from bench.seed import seed_history
from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.jobs.engine import Parts, Runner
from partner_console.jobs.store import JobStore
from partner_console.storage import History, LinkJournal, fingerprint, make_engine, migrate
from partner_console.storage.coordination import KeyPacing, Leases, RateBudget
from partner_console.storage.scope import Scope

KEY = "sandbox-demo-key"
ORG = "5a4d0b7e-0000-4000-8000-00000000c11c"


def seeded(name: str, providers: int, secret: bytes) -> tuple[Path, Engine, str]:
    """A new SQLite database in a folder of its own, holding `providers` seeded providers of
    KEY's organisation: the folder, the engine and the key's fingerprint."""
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder / f'{name}.db'}")
    migrate(engine)
    fp = fingerprint(secret, KEY)
    seed_history(engine, providers, fp, ORG)
    return folder, engine, fp


def background_runner(engine: Engine, store: JobStore, history: History, name: str,
                      base_url: str, budget: RateBudget, secret: bytes, job_id: int,
                      scope: Scope, folder: Path) -> Runner:
    """The job's runner as a replica would start it: paced as a background caller."""
    client = UphealClient(base_url, timeout=5, retry=RetryPolicy(max_attempts=5))
    return Parts(store, Leases(engine), name, history=history,
                 journal=LinkJournal(folder / "j.jsonl"), client=client,
                 pacing=KeyPacing(budget, secret, background=True)).runner(
        job_id, scope, api_key=KEY, by="bench")


@contextmanager
def a_person_checking(base_url: str, budget: RateBudget, secret: bytes, every: float,
                      clock: Callable[[], float] = time.monotonic) -> Iterator[list[float]]:
    """A member of staff checking someone by hand every `every` seconds on KEY, until the
    block ends; yields the times of their calls (by `clock`), filled in as they are made."""
    stop = threading.Event()
    calls: list[float] = []

    def person() -> None:
        own = UphealClient(base_url, timeout=5, pacing=KeyPacing(budget, secret))
        while not stop.wait(every):
            own.check_user(KEY, "someone@example.com")
            calls.append(clock())

    helper = threading.Thread(target=person, daemon=True)
    helper.start()
    try:
        yield calls
    finally:
        stop.set()
        helper.join(10)
