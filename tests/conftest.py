from __future__ import annotations

import functools
import gc
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from partner_console.api.client import RetryPolicy, UphealClient
from partner_console.sandbox import Faults, SandboxApp, SandboxServer, SandboxTransport

DEMO_KEY = "sandbox-demo-key"
SECOND_KEY = "sandbox-second-org-key"
FORBIDDEN_KEY = "sandbox-forbidden-key"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _components_scanned_once() -> None:
    """AppTest scans every installed distribution's metadata for Streamlit components before
    each run of a test's app (70 ms of CPU; a `streamlit run` server scans once, at its
    start). The installed packages do not change while the tests run: one scan a process."""
    from streamlit.components.v2 import manifest_scanner

    manifest_scanner.scan_component_manifests = functools.cache(
        manifest_scanner.scan_component_manifests)


_components_scanned_once()

# Each pytest worker collects young objects every 10,000 allocations instead of 700. The
# AppTest runs and in-process jobs keep a large heap alive, and a full collection walked all
# of it about once a minute: tests/test_pages.py took 14.4-14.5 CPU-seconds where it took
# 16.2-17.2 (the worker's collector 0.5 s instead of 1.9-2.0), side by side (2026-12-08).
# Only the test workers: a server's page runs showed no difference.
gc.set_threshold(10_000, 10, 10)


class Sleeps(list[float]):
    """An injected sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def sandbox() -> SandboxApp:
    return SandboxApp(rate_per_minute=100_000, faults=Faults(), seed=7)


@pytest.fixture
def client(sandbox: SandboxApp, sleeps: Sleeps) -> Iterator[UphealClient]:
    c = UphealClient("https://sandbox.invalid/api/", transport=SandboxTransport(sandbox),
                     sleep=sleeps, retry=RetryPolicy(max_attempts=8))
    yield c
    c.close()


@pytest.fixture
def sandbox_server(sandbox: SandboxApp) -> Iterator[SandboxServer]:
    server = SandboxServer(sandbox, hang_seconds=1.0)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[SandboxApp, SandboxServer]]:
    """The sandbox served on loopback: (its app, its server). A test or module sets it up with
    `pytest.mark.sandbox(...)`: SandboxApp's options, and hang_seconds (how long a "hang"
    fault holds an answer)."""
    marker = request.node.get_closest_marker("sandbox")
    options = dict(marker.kwargs) if marker else {}
    hang = options.pop("hang_seconds", 0.5)
    options.setdefault("rate_per_minute", 100_000)
    app = SandboxApp(**options)
    server = SandboxServer(app, hang_seconds=hang)
    server.start_in_thread()
    yield app, server
    server.shutdown()
    server.server_close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI nothing may be skipped: a skip fails the run."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and reporter is not None:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; skips are failures here.",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- databases: every storage test runs on SQLite and on a real PostgreSQL ------------------------
@pytest.fixture(scope="session")
def postgres_server():
    from tests.pg import start_postgres

    try:
        server = start_postgres()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL could not be started: {exc}")
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    yield server
    server.stop()


_db_counter = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """A database of the test's own: empty, or with today's tables when the test also takes
    `engine` (then a copy of one migrated once per worker: migrating each test's database
    cost about 0.1 s of CPU, in a few hundred tests)."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "history.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("postgres_server")
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    return server.create_database(name, template=server.migrated if migrated else None)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Path:
    from partner_console.storage import make_engine, migrate

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(database_url):
    from partner_console.storage import make_engine, migrate

    eng = make_engine(database_url)
    migrate(eng)  # (already done: this checks that it is current)
    yield eng
    eng.dispose()


# Seconds a test of each module takes on two busy cores (their mean in a full run, 2026-12-07).
# Only the order of the run depends on them: a module not listed counts as quick.
SECONDS_PER_TEST = {
    "tests/e2e/test_resume_race_browser.py": 120, "tests/e2e/test_bench_smoke.py": 84,
    "tests/test_resume_race.py": 35, "tests/e2e/test_signin_browser.py": 27,
    "tests/e2e/test_security_browser.py": 27, "tests/e2e/test_replicas_browser.py": 23,
    "tests/e2e/test_after_invite_browser.py": 16, "tests/e2e/test_email_browser.py": 15,
    "tests/test_reliability_kill.py": 15, "tests/e2e/test_practices_browser.py": 14,
    "tests/e2e/test_newcomer_browser.py": 13, "tests/e2e/test_bulk_browser.py": 12,
    "tests/e2e/test_browser.py": 10, "tests/test_replicas.py": 7, "tests/test_bulk_job.py": 5,
    "tests/test_email_job.py": 4, "tests/test_pages_roster.py": 2.4, "tests/test_sync_job.py": 2.2,
    "tests/test_backup.py": 1.7, "tests/test_when.py": 1.5, "tests/test_reliability_faults.py": 1.4,
    "tests/test_text.py": 1.2, "tests/test_signup.py": 1.1, "tests/test_pages.py": 0.9,
    "tests/test_coordination.py": 0.7, "tests/test_changes.py": 0.6, "tests/test_exports.py": 0.5,
    "tests/test_practices.py": 0.5, "tests/test_storage.py": 0.45, "tests/test_choices.py": 0.4,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The run's order. xdist hands tests out in this order, to whichever worker is free.
    - The longest first, so that no worker is left with one at the end while the others idle.
    - The browser tests woven among the others, in proportion to their time. A browser test
      keeps a core busy (Chromium, a `streamlit run`); most others spend their time waiting for
      paced calls, killed children or a sandbox. Run in two blocks, the browser block fought
      over two cores and the other block left them half idle."""
    def seconds(item: pytest.Item) -> float:
        return SECONDS_PER_TEST.get(item.nodeid.split("::")[0], 0.1)

    by_length = sorted(items, key=lambda item: -seconds(item))
    browser = [item for item in by_length if item.nodeid.startswith("tests/e2e/")]
    in_browser = set(browser)
    others = [item for item in by_length if item not in in_browser]
    totals = (sum(map(seconds, browser)) or 1, sum(map(seconds, others)) or 1)
    done = [0.0, 0.0]
    woven: list[pytest.Item] = []
    while browser or others:
        take_browser = bool(browser) and (not others or done[0] / totals[0] <= done[1] / totals[1])
        item = (browser if take_browser else others).pop(0)
        done[0 if take_browser else 1] += seconds(item)
        woven.append(item)
    items[:] = woven
