"""Nothing lost, nothing twice: processes killed (SIGKILL) at random moments, then resumed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from partner_console.api.client import UphealClient
from partner_console.creation import ProviderCreator
from partner_console.sandbox import Faults
from partner_console.storage import LinkJournal, fingerprint
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING
from tests import children
from tests.bulk_child import KEY, SECRET
from tests.helpers import HistoryForTests
from tests.report import record
from tests.test_bulk_job import RATE, assert_guarantees, new_job, runner_for, spreadsheet

SOAK = os.environ.get("SOAK", "") not in ("", "0")
KILLS = 100 if SOAK else 20
PROVIDERS = 400 if SOAK else 120


pytestmark = pytest.mark.sandbox(rate_per_minute=100_000, seed=21,
                                 faults=Faults(latency_ms=40, lost_response_rate=0.1))  # (the `served` fixture's)


def run_child(args: list[str], kill_after: float | None) -> bool:
    """Run a child; SIGKILL it after `kill_after` seconds. True if it was killed mid-run."""
    child = children.spawn(*args)
    assert child.stdout.readline().strip() in ("ready", "started")
    if kill_after is None:
        child.wait(300)
        return False
    try:
        child.wait(kill_after)
        return False
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        return True


def test_single_creates_killed_at_random_moments_lose_nothing_and_make_nothing_twice(
        served, database_url, engine, tmp_path):
    sandbox, server = served
    rng = random.Random(4)
    journal = str(tmp_path / "journal.jsonl")
    args = ["tests.create_child", database_url, server.base_url, journal, "0", str(PROVIDERS)]
    kills = 0
    while kills < KILLS:
        if run_child(args, kill_after=rng.uniform(0.05, 0.35)):
            kills += 1
        else:
            break  # finished before the kill: everything is done
    run_child(args, kill_after=None)  # the last pass completes whatever is left
    assert kills >= KILLS

    history = HistoryForTests(engine)
    scope = history.scope_for(fingerprint(SECRET, KEY))
    client = UphealClient(server.base_url, timeout=5)
    # Every child is dead and the sandbox answers in milliseconds: Upheal can tell at once.
    creator = ProviderCreator(client, history, LinkJournal(Path(journal)), settle_after=0)
    for row in history.pending(scope):  # "Check with Upheal" for anything still unknown
        creator.settle(KEY, scope, row.id)
    rows = list(history.iter_rows(scope))
    users = {u["email"]: u for u in sandbox.users()}
    kept = [r for r in rows if r.status in (CREATED, LINKS_LOST)]
    by_email = Counter(r.email for r in kept)
    assert len(users) == PROVIDERS  # everyone got created
    assert set(by_email) == set(users) and max(by_email.values()) == 1  # once each, all found
    assert not [r for r in rows if r.status == PENDING]
    assert not any("already exists" in (r.error_text or "") for r in rows)
    for row in kept:
        assert row.user_id == users[row.email]["userId"]
        if row.status == CREATED:
            assert row.invite_url == users[row.email]["inviteUrl"]
    statuses = Counter(r.status for r in rows)
    record(f"kill loop: single creates ({engine.dialect.name})", kills=kills,
           providers=PROVIDERS, created_with_links=statuses[CREATED],
           created_links_lost_settled=statuses[LINKS_LOST],
           abandoned_attempts_settled_not_created=statuses[FAILED], lost_links=0,
           duplicates=0, lost_response_rate=0.1)


def test_bulk_import_killed_again_and_again_finishes_with_the_guarantees(
        served, database_url, engine, tmp_path):
    sandbox, server = served
    rng = random.Random(9)
    total = 150 if SOAK else 80
    store, history, scope, job_id = new_job(engine, spreadsheet(total))
    args = ["tests.bulk_child", database_url, server.base_url, str(job_id), str(RATE),
            str(tmp_path / "journal.jsonl")]
    kills = 0
    for _ in range(20 if SOAK else 5):
        if store.progress(job_id).done >= total:
            break
        if run_child(args, kill_after=rng.uniform(0.3, 1.2)):
            kills += 1
    runner = runner_for(engine, server, store, history, scope, job_id, tmp_path)
    runner.start()
    runner.join(120)
    states = assert_guarantees(sandbox, store, history, scope, job_id, total)
    assert kills >= (3 if not SOAK else 10)
    record(f"kill loop: bulk import ({engine.dialect.name})", kills=kills, rows=total,
           created=states["created"], links_lost=states["links_lost"],
           failed=states["failed"], skipped=states["skipped"], lost_links=0, duplicates=0)
