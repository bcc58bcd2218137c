"""B1 (create round trip vs raw httpx.post), B2 (paced bulk import), B3 (one row at a time)."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.harness import Result
from partner_console.api.client import UphealClient
from partner_console.api.models import validate_provider
from partner_console.api.pacing import Pacer
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.config import Settings
from partner_console.creation import ProviderCreator
from partner_console.jobs.engine import Parts
from partner_console.jobs.kinds.imports import create_import
from partner_console.jobs.store import CREATED_STATES, JobStore
from partner_console.sandbox import Faults, SandboxApp, SandboxServer
from partner_console.storage import History, LinkJournal, fingerprint, make_engine, migrate
from partner_console.storage.coordination import Leases

KEY = "sandbox-demo-key"


def _served(rate: int, latency_ms: float = 0) -> SandboxServer:
    server = SandboxServer(SandboxApp(rate_per_minute=rate, faults=Faults(latency_ms=latency_ms)))
    server.start_in_thread()
    return server


def _history(folder: Path) -> History:
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    migrate(engine)
    return History(engine)


def b1(creates: int) -> list[Result]:
    server = _served(10**7)
    folder = Path(tempfile.mkdtemp())
    history = _history(folder)
    client = UphealClient(server.base_url)
    creator = ProviderCreator(client, history, LinkJournal(folder / "journal.jsonl"))
    scope = history.scope_for(fingerprint(b"bench", KEY))
    url = server.base_url + "users/providers"
    kept_alive = httpx.Client()
    console = raw = pooled = 0.0
    for i in range(creates):  # side by side, one of each in turn
        values = {"first_name": "Jane", "last_name": f"Console{i}",
                  "email": f"console{i}@example.com", "national_provider_identifier":
                  "1234567893", "phone_number": "+1 415 555 2671", "note_identifier": "Coach"}
        start = time.perf_counter()
        request, _ = validate_provider(values)
        assert request is not None
        outcome = creator.create(KEY, scope, request, created_by="bench")
        console += time.perf_counter() - start
        assert outcome.status == "created"
        body = {**request.to_json(), "email": f"raw{i}@example.com"}
        start = time.perf_counter()
        response = httpx.post(url, json=body, headers={"Authorization": KEY})
        raw += time.perf_counter() - start
        assert response.status_code == 200
        body["email"] = f"pooled{i}@example.com"
        start = time.perf_counter()
        response = kept_alive.post(url, json=body, headers={"Authorization": KEY})
        pooled += time.perf_counter() - start
        assert response.status_code == 200
    server.shutdown()
    kept_alive.close()
    return [Result("B1", f"{creates} creates: validation + client + history write, sandbox on "
                   "loopback", console / creates * 1000, "ms each", raw / creates * 1000,
                   "raw httpx.post", "ratio <= 1.10", console <= 1.10 * raw,
                   {"reused_httpx_client_ms": pooled / creates * 1000,
                    "ratio_to_reused_client": console / pooled})]


def _import(rows: int, rate: int, latency_ms: float, workers: int) -> dict[str, float]:
    server = _served(rate, latency_ms)
    folder = Path(tempfile.mkdtemp())
    history = _history(folder)
    scope = history.scope_for(fingerprint(b"bench", KEY))
    data = "First name,Last name,Email\n" + "".join(
        f"Bulk{i},Bench,bulk{i}@example.com\n" for i in range(rows))
    read = read_file(data.encode(), "bench.csv")
    store = JobStore(history.engine)
    job_id, _ = create_import(store, scope, created_by="bench", file_name="bench.csv",
                              rows=prepare_rows(read, auto_map(read.headers), []),
                              start_token=f"bench-{rows}-{workers}")
    runner = Parts(store, Leases(store.engine), "bench#1", history=history,
                   journal=LinkJournal(folder / "journal.jsonl"),
                   client=UphealClient(server.base_url, timeout=10), pacing=Pacer(rate),
                   settings=Settings(settle_after_seconds=1.0)).runner(
        job_id, scope, api_key=KEY, by="bench", workers=workers)
    start = time.perf_counter()
    runner.start()
    runner.join()
    elapsed = time.perf_counter() - start
    states = Counter(r.state for r in store.rows(job_id))
    users = server.app.users()
    calls = len(server.app.calls)
    server.shutdown()
    created = sum(states[s] for s in CREATED_STATES)
    return {"seconds": elapsed, "calls": calls, "calls_per_minute": calls / elapsed * 60,
            "rows_per_minute": rows / elapsed * 60, "created": created,
            "duplicates": len(users) - len({u["email"] for u in users}),
            "lost": len(users) - created, "refused_429": sum(
                1 for c in server.app.calls if c.status == 429)}


def b2_b3(rows: int, sequential_rows: int, rate: int = 3000,
          latency_ms: float = 100) -> list[Result]:
    paced = _import(rows, rate, latency_ms, workers=6)
    one_by_one = _import(sequential_rows, rate, latency_ms, workers=1)
    share = paced["calls_per_minute"] / rate
    return [
        Result("B2", f"bulk import of {rows:,} rows, sandbox at {rate:,} calls/min with "
               f"{latency_ms:.0f} ms latency", paced["calls_per_minute"], "calls/min", rate,
               "rate-limit ceiling", ">= 90% of the ceiling, 0 duplicates, 0 lost",
               share >= 0.9 and paced["duplicates"] == 0 and paced["lost"] == 0, paced),
        Result("B3", f"the same import one row at a time ({sequential_rows:,} rows)",
               one_by_one["rows_per_minute"], "rows/min", paced["rows_per_minute"],
               "B2 rows/min", "report the speed-up", True,
               {**one_by_one, "speed_up_of_B2": paced["rows_per_minute"] /
                one_by_one["rows_per_minute"]}),
    ]
