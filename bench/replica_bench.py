"""B9: two imports with one key on two replicas (two processes, one database), against a
sandbox that enforces Upheal's per-minute limit. Side by side with the baseline of the first
release: each process pacing only itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import Result, max_in_window
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file
from partner_console.jobs.kinds.imports import create_import
from partner_console.jobs.store import JobStore
from partner_console.sandbox import Faults, SandboxApp, SandboxServer
from partner_console.storage import History, fingerprint, make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
KEY = "sandbox-demo-key"
SECRET = b"bulk-test-secret"  # tests.bulk_child's


def _job(engine, prefix: str, rows: int) -> int:
    scope = History(engine).scope_for(fingerprint(SECRET, KEY))
    data = "First name,Last name,Email\n" + "".join(
        f"{prefix}{i},Replica,{prefix.lower()}{i}@example.com\n" for i in range(rows))
    read = read_file(data.encode(), "b9.csv")
    job_id, _ = create_import(JobStore(engine), scope, created_by="bench", file_name="b9.csv",
                              rows=prepare_rows(read, auto_map(read.headers), []),
                              start_token=prefix)
    return job_id


def _run(url: str, rows: int, rate: int, shared: bool, label: str) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    sandbox = SandboxApp(rate_per_minute=rate, seed=9, faults=Faults(latency_ms=30))
    server = SandboxServer(sandbox, hang_seconds=1)
    server.start_in_thread()
    jobs = [_job(engine, f"{label}a", rows), _job(engine, f"{label}b", rows)]
    env = {**os.environ, "BULK_CHILD_LOCAL_PACER": "" if shared else "1"}
    started = time.monotonic()
    children = [subprocess.Popen(
        [sys.executable, "-m", "tests.bulk_child", url, server.base_url, str(job), str(rate),
         str(Path(url.split("///")[-1]).parent / f"journal-{label}{n}.jsonl")
         if url.startswith("sqlite") else f"/tmp/b9-journal-{label}{n}.jsonl"],  # noqa: S108
        cwd=ROOT, stdout=subprocess.DEVNULL,
        env={**env, "JOB_CHILD_REPLICA": f"b9-{label}-{n}"})
        for n, job in enumerate(jobs)]
    for child in children:
        child.wait()
    elapsed = time.monotonic() - started
    server.shutdown()
    server.server_close()
    engine.dispose()
    calls = sandbox.calls
    accepted = [c.at for c in calls if c.status != 429]
    span = (max(accepted) - min(accepted)) if len(accepted) > 1 else elapsed
    return {"calls": len(calls), "accepted": len(accepted),
            "refused_429": len(calls) - len(accepted),
            "max_accepted_in_60s": max_in_window(accepted, 60.0),
            "per_minute": len(accepted) / span * 60 if span else 0.0,
            "seconds": elapsed, "users": len(sandbox.users())}


def b9(make_url: Callable[[str], str], rows: int, rate: int) -> list[Result]:
    shared = _run(make_url("b9_shared"), rows, rate, True, "s")
    alone = _run(make_url("b9_alone"), rows, rate, False, "l")
    share = shared["per_minute"] / rate
    refused = shared["refused_429"] / max(1, shared["calls"])
    met = (share >= 0.9 and refused <= 0.01 and shared["max_accepted_in_60s"] <= rate
           and shared["users"] == 2 * rows)
    return [Result(
        "B9", f"two {rows}-row imports, one key, two server processes; Upheal's limit {rate}/min",
        round(shared["per_minute"], 1), "calls/min", float(rate), "the key's limit",
        "≥ 90 % of the limit, ≤ 1 % answered 429, ≤ limit in any 60 s", met,
        {"shared_budget": shared, "each_process_alone (first release)": alone,
         "share_of_limit": round(share, 3), "refused_share": round(refused, 4)})]
