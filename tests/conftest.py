from __future__ import annotations

import functools
import itertools
import os
import subprocess
from collections.abc import Iterator

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
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    return server.create_database(name)


@pytest.fixture
def engine(database_url):
    from partner_console.storage import make_engine, migrate

    eng = make_engine(database_url)
    migrate(eng)
    yield eng
    eng.dispose()


# The longest tests first, so that neither worker is left with one of them at the end while
# the other idles (xdist hands tests out in collection order).
LONGEST_FIRST = ("tests/e2e/test_resume_race_browser.py", "tests/e2e/test_replicas_browser.py",
                 "tests/test_resume_race.py", "tests/e2e/test_security_browser.py",
                 "tests/e2e/test_bench_smoke.py", "tests/e2e/test_signin_browser.py",
                 "tests/e2e/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return next((n for n, prefix in enumerate(LONGEST_FIRST) if path.startswith(prefix)),
                    len(LONGEST_FIRST))

    items.sort(key=rank)
