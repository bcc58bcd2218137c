"""deploy/nginx.conf run for real in front of two `streamlit run` replicas: Debian's nginx
(installed with apt when missing, as Chromium is), the deployment's own configuration with only
the upstream addresses and the port it listens on substituted.

A browser context reaches one replica on purpose with the cookie the configuration offers for
it (`console_replica=a|b`, RunningApp.context); without it, nginx keeps a browser on one replica
by its address (every test browser has the same one).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import free_port, local_get
from tests.e2e.debian import installed

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "nginx.conf"


def ensure_nginx() -> str:
    """Debian's nginx (nginx-light where it exists), installed with apt when missing; a skip
    (a failure in CI) when it cannot be had."""
    path = installed("nginx")
    if path is None:
        if IN_CI:
            pytest.fail("nginx is missing and could not be installed with apt-get")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return path


def rendered(port: int, a: str, b: str) -> str:
    """deploy/nginx.conf with the replicas at `a` and `b` (host:port) and the listening port
    `port`: nothing else of it changes."""
    text = CONFIG.read_text(encoding="utf-8")
    text = text.replace("console-a:8501", a).replace("console-b:8501", b)
    return re.sub(r"listen 8080;", f"listen 127.0.0.1:{port};", text)


class Proxy:
    def __init__(self, folder: Path, port: int, a: str, b: str, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (folder / name).mkdir(exist_ok=True)
        self.access = folder / "logs" / "access.log"
        self._probes = 0
        # Where a server run by hand keeps its temporary files and its logs: the test's own
        # folder, added at the top of the http block; the deployment's directives unchanged.
        own = "".join(f"\n    {kind}_temp_path {folder / kind};" for kind in (
            "client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # Which replica answered each request (for wait_for_route and the tests' reports).
        own += ("\n    log_format routed '$request_uri $status $upstream_addr';"
                f"\n    access_log {self.access} routed;")
        conf = rendered(port, a, b).replace("http {", "http {" + own, 1)
        (folder / "nginx.conf").write_text(conf, encoding="utf-8")
        self.log = folder / "logs" / "error.log"
        self.process = subprocess.Popen(
            [ensure_nginx(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e",
             str(self.log), "-g", f"daemon off; pid {folder / 'nginx.pid'};"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx did not start: " + self.log.read_text()[-2000:]
                                   if self.log.exists() else "nginx did not start")
            try:
                local_get(self.url + "/_stcore/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not answer")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def answered_by(self, replica: str | None) -> int | None:
        """The port of the replica that answers a request pinned to `replica` now."""
        self._probes += 1
        probe = f"/_stcore/health?probe={self._probes}"
        cookies = {"console_replica": replica} if replica else {}
        try:
            local_get(self.url + probe, cookies=cookies, timeout=30)
        except httpx.HTTPError:
            return None
        # nginx writes a request's log line once the answer is sent, so the client can read
        # the answer first: wait for the line (on a busy machine, a moment).
        deadline = time.monotonic() + 10
        while True:
            for line in reversed(self.access.read_text(encoding="utf-8").splitlines()):
                if line.startswith(probe + " "):
                    tried = line.split(" ", 2)[2]  # "a:1, b:2" when the first failed
                    last = tried.split(",")[-1].strip()
                    return int(last.rsplit(":", 1)[1]) if ":" in last else None
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def ports_seen(self) -> set[int]:
        """Every replica that answered a request so far (by its port)."""
        seen = set()
        for line in self.access.read_text(encoding="utf-8").splitlines():
            for tried in line.split(" ", 2)[2].split(","):
                if ":" in tried.strip():
                    seen.add(int(tried.strip().rsplit(":", 1)[1]))
        return seen

    def wait_for_route(self, replica: str | None, port: int, timeout: float = 30) -> None:
        """Until nginx sends `replica`'s browsers to `port` (after a failure it tries the
        replica again once fail_timeout has passed)."""
        deadline = time.monotonic() + timeout
        while (answered := self.answered_by(replica)) != port:
            if time.monotonic() > deadline:
                raise AssertionError(f"nginx sends {replica!r} to {answered}, not {port}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def behind_nginx(folder: Path, apps, host: str = "127.0.0.1", port: int = 0) -> Proxy:
    """nginx in front of the two replicas `apps` (RunningApps, or not yet started: then
    `port`s must be theirs): each app learns the proxy's address and its name there."""
    first, second = apps
    proxy = Proxy(folder, port or free_port(), f"127.0.0.1:{first.port}",
                  f"127.0.0.1:{second.port}", host)
    for letter, app in zip("ab", apps, strict=True):
        app.proxy, app.replica = proxy, letter
    return proxy
