"""B7 (cold start until /_stcore/health answers) and B8 (server memory, History open at 100k
rows in 5 sessions), each against a one-line Streamlit app measured in the same run."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.harness import Result

ROOT = Path(__file__).resolve().parent.parent
ONE_LINE = "import streamlit as st\nst.write('Hello')\n"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(script: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/_stcore/health", timeout=1).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.perf_counter() - started > 90:
            raise RuntimeError(f"{script} did not start")
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _one_line_script() -> Path:
    path = Path(tempfile.mkdtemp()) / "one_line.py"
    path.write_text(ONE_LINE)
    return path


def b7(rounds: int) -> list[Result]:
    env = {"PARTNER_CONSOLE_DATA_DIR": tempfile.mkdtemp()}
    blank = _one_line_script()
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        for script, into in ((ROOT / "app.py", ours), (blank, theirs)):
            process, _, seconds = start(script, env)
            into.append(seconds)
            stop(process)
    console, baseline = statistics.median(ours), statistics.median(theirs)
    return [Result("B7", "cold start: streamlit run app.py until /_stcore/health answers",
                   console, "s", baseline, "one-line app", "ratio <= 1.5",
                   console <= 1.5 * baseline)]


def b8(database_url: str, sessions: int, open_history: Callable[..., None],
       chromium: str, chromium_args: list[str]) -> list[Result]:
    from playwright.sync_api import sync_playwright

    env = {"PARTNER_CONSOLE_DATA_DIR": tempfile.mkdtemp(), "DATABASE_URL": database_url,
           "PARTNER_CONSOLE_SECRET": "bench-secret"}
    figures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=chromium_args)
        for name, script in (("console", ROOT / "app.py"), ("baseline", _one_line_script())):
            process, url, _ = start(script, env)
            try:
                pages = []
                for _ in range(sessions):
                    page = browser.new_context(viewport={"width": 1280, "height": 800}
                                               ).new_page()
                    page.goto(url)
                    if name == "console":
                        open_history(page)
                    else:
                        page.get_by_text("Hello").wait_for()
                    pages.append(page)
                time.sleep(1)
                figures[name] = rss_mb(process.pid)
                for page in pages:
                    page.context.close()
            finally:
                stop(process)
        browser.close()
    above = figures["console"] - figures["baseline"]
    return [Result("B8", f"server memory, History open in {sessions} sessions",
                   figures["console"], "MB", figures["baseline"], "one-line app",
                   "<= 300 MB above it", above <= 300, {"above_baseline_mb": above})]
