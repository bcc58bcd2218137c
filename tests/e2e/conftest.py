"""Browser tests: `streamlit run` on a free port, driven by Playwright in Debian's Chromium.

Like Streamlit's own e2e conftest: poll /_stcore/health, wait for the script to stop running,
find things by label and role, no fixed sleeps. Chromium is installed with apt when missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from partner_console.sandbox import SandboxApp, SandboxServer
from tests.children import Server
from tests.conftest import IN_CI
from tests.e2e.debian import installed

ROOT = Path(__file__).resolve().parents[2]
# `--js-flags=--no-opt`: no optimising compiler (TurboFan) for a page that lives seconds. It
# compiled Streamlit's hot functions on background threads for pages closed before the
# compiled code paid back: the same create, History and Bulk import steps took 7-17 % less of
# Chromium's CPU (the medians of six rounds side by side, 2026-12-07), fewer of them on its
# compiler threads (1.7 CPU-seconds where they had taken 2.4).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--js-flags=--no-opt"]


def ensure_chromium() -> str | None:
    """Debian's Chromium, installed with apt when missing (as root; tests/e2e/debian.py): its
    headless shell, else the full browser; None when unavailable."""
    return installed("chromium")


def chromium_args(path: str) -> list[str]:
    """The launch arguments for the Chromium at `path`: the full browser runs headless only
    when told (the shell always does)."""
    return CHROMIUM_ARGS if "headless-shell" in path else ["--headless=new", *CHROMIUM_ARGS]


def launch_chromium(playwright, path: str | None = None):
    """Chromium launched by Playwright from Debian's package (`ensure_chromium`)."""
    path = path or ensure_chromium()
    if path is None:
        raise RuntimeError("Chromium is missing and could not be installed with apt-get")
    return playwright.chromium.launch(executable_path=path, args=chromium_args(path))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = ensure_chromium()
    if path is None:
        if IN_CI:
            pytest.fail("Chromium is missing and could not be installed with apt-get")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


class CalmBrowser:
    """The browser as staff who set "reduce motion" on their computer have it: the console
    ends every animation at once for them (components/frame.py), and with nothing moving
    Chromium draws a page far less often: about 15 % less of its CPU in these tests. A
    test that shows the console as most people see it (the newcomer's) opens its pages with
    `reduced_motion="no-preference"`."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def __getattr__(self, name: str):
        return getattr(self._browser, name)

    def new_context(self, **options):
        return self._browser.new_context(**{"reduced_motion": "reduce", **options})

    def new_page(self, **options):
        return self._browser.new_page(**{"reduced_motion": "reduce", **options})


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium_path)
        yield CalmBrowser(browser)
        browser.close()


@pytest.fixture(autouse=True)
def _pages_closed_after_each_test(request):
    """A page left open keeps its session's fragments running on a server the next test may
    share: every context a test opened is closed when it ends (after a failure's screenshots)."""
    yield
    if "browser" in request.fixturenames:
        browser = request.getfixturevalue("browser")
        for context in list(browser.contexts):
            with contextlib.suppress(PlaywrightError):
                context.close()


def local_get(url: str, **options) -> httpx.Response:
    """GET from a server on loopback, over plain HTTP. Without `verify=False`, httpx reads the
    whole CA bundle for each call (20 ms of CPU), although http:// has nothing to verify, and
    a server's start polls its health every 0.2 s."""
    return httpx.get(url, verify=False, **options)  # noqa: S501


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    def __init__(self, url: str, data_dir: Path, process: Server, log: Path,
                 tmp_path: Path, env_extra: dict[str, str], port: int) -> None:
        self.url = url
        self.data_dir = data_dir
        self.process = process
        self.log = log
        self.tmp_path = tmp_path
        self.env_extra = env_extra
        self.port = port
        # Behind nginx (tests/e2e/proxy.py): the proxy, and this replica's name there ("a" or
        # "b"). `url` stays the replica's own address (health, restarts).
        self.proxy = None
        self.replica: str | None = None

    @property
    def entry(self) -> str:
        """Where a person opens the console: the proxy's address when there is one."""
        return self.proxy.url if self.proxy is not None else self.url

    def context(self, browser, **options):
        """A browser context whose requests reach this replica (through the proxy, pinned by
        its cookie, when the app is behind one)."""
        context = browser.new_context(**options)
        if self.replica is not None:
            context.add_cookies([{"name": "console_replica", "value": self.replica,
                                  "url": self.entry}])
        return context


def start_app(tmp_path: Path, env_extra: dict[str, str], port: int | None = None) -> RunningApp:
    port = port or free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    data_dir = tmp_path / "data"
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "PARTNER_CONSOLE_DATA_DIR": str(data_dir),
           "DATABASE_URL": f"sqlite:///{data_dir / 'console.db'}",
           "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_HEADLESS": "true",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **env_extra}
    env.pop("UPHEAL_API_BASE_URL", None) if "UPHEAL_API_BASE_URL" not in env_extra else None
    # `python -m streamlit run serve.py`, forked with Streamlit and the libraries loaded
    # (tests/children.py): a process of its own, killed with its group as a crash would.
    process = Server(["run", str(ROOT / "serve.py"), "--server.address", "127.0.0.1"], env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if local_get(url + "/_stcore/health", timeout=1).status_code == 200:
                return RunningApp(url, data_dir, process, log, tmp_path, env_extra, port)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("streamlit did not start:\n" + log.read_text()[-2000:])


def stop_app(app: RunningApp) -> None:
    app.process.terminate()
    try:
        app.process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait(10)


def kill(app: RunningApp) -> None:
    """SIGKILL the real `streamlit run` process group, as a crash or an OOM kill would."""
    os.killpg(app.process.pid, signal.SIGKILL)
    app.process.wait(10)


def kill_and_restart(app: RunningApp) -> RunningApp:
    """SIGKILL the real server and start the same one again (same port, so the same replica
    name). The same RunningApp is returned, now holding the new process, so fixtures stop
    what is running."""
    kill(app)
    return restart(app)


def restart(app: RunningApp) -> RunningApp:
    """Start a killed server again, on its port."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the port is free once the kernel lets go of it
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tornado does
                s.bind(("127.0.0.1", app.port))
            break
        except OSError:
            time.sleep(0.1)
    restarted = start_app(app.tmp_path, app.env_extra, port=app.port)
    app.process = restarted.process  # the caller's teardown stops the running one
    if app.proxy is not None:  # nginx sends this replica's browsers to it again
        app.proxy.wait_for_route(app.replica, app.port)
    return app


@pytest.fixture
def loopback_sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxApp(rate_per_minute=10_000, seed=5), hang_seconds=2)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


def wait_for_app_run(page, timeout: float = 30_000) -> None:
    """Until the page's script run is over. A click's run starts when the server answers it:
    a moment first, so that the run a step just asked for is the one waited for (as
    Streamlit's own e2e tests do, after)."""
    page.wait_for_timeout(100)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout)


FAILURES = ROOT / "build" / "e2e-failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of each open page and its app's files in
    build/e2e-failures/, and the end of the app's log in the failure report (CI shows it)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    browser, tmp_path = item.funcargs.get("browser"), item.funcargs.get("tmp_path")
    FAILURES.mkdir(parents=True, exist_ok=True)
    for c, context in enumerate(browser.contexts if browser is not None else []):
        for p, page in enumerate(context.pages):
            with contextlib.suppress(PlaywrightError):  # a page already closed
                page.screenshot(path=str(FAILURES / f"{item.name}-{c}-{p}.png"), full_page=True)
    if tmp_path is not None:
        shutil.copytree(tmp_path, FAILURES / item.name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.png"))
        for log in sorted(tmp_path.rglob("*.log")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            report.sections.append((f"last lines of {log.name}", tail))
