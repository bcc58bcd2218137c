"""Real child processes for the kill tests, started in milliseconds.

The kill tests start a child (`python -m tests.bulk_child ...`), SIGKILL it mid-job and start
more, about two hundred times in a run. A fresh interpreter spends most of a second importing
SQLAlchemy, httpx, pydantic and the console before it does anything. Here the children are
forked from a server process that has imported all that once (`multiprocessing`'s forkserver,
one per pytest worker): each is still a process of its own, with its own pid, database
connections and threads, killed with a real SIGKILL, and it runs the module as `python -m`
would (`runpy`, `__main__`, its own argv and environment).

`spawn` returns a `Child` with the parts of `subprocess.Popen` the tests use: `stdout`
(`readline`), `poll`, `wait` (raising `subprocess.TimeoutExpired`), `send_signal` and `pid`.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import runpy
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ("tests.bulk_child", "tests.create_child", "tests.email_child",
            "tests.refresh_child")
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload([*CHILDREN, "tests.child_warmup", "tests.server_warmup"])


def _run_module(module: str, argv: list[str], env: dict[str, str], out: Connection) -> None:
    """In the child: `python -m module argv...` with `env` and stdout into `out`."""
    os.chdir(ROOT)
    os.environ.clear()
    os.environ.update(env)
    os.dup2(out.fileno(), 1)
    out.close()
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.stdout.flush()


def _run_streamlit(argv: list[str], env: dict[str, str], log: str) -> None:
    """In the child: `python -m streamlit argv...` with `env`, in a session of its own (as
    `start_new_session`: the tests kill its whole group), its output appended to `log`."""
    os.setsid()
    os.chdir(ROOT)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    sys.argv = ["streamlit", *argv]
    runpy.run_module("streamlit", run_name="__main__", alter_sys=True)


class Forked:
    """A process forked from the forkserver, with the parts of `subprocess.Popen` the tests
    use (`pid`, `poll`, `wait` raising `subprocess.TimeoutExpired`, `terminate`, `kill`)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, args: list[str]) -> None:
        self._process = process
        process.start()
        self.pid: int = process.pid  # type: ignore[assignment]
        self.args = args

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, signal: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signal)

    def terminate(self) -> None:
        if self._process.exitcode is None:
            self._process.terminate()

    def kill(self) -> None:
        if self._process.exitcode is None:
            self._process.kill()

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode


class Server(Forked):
    """A `streamlit run` server (tests/server_warmup.py has what its forkserver loaded)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__(_context.Process(target=_run_streamlit,
                                          args=(list(argv), dict(env), str(log)),
                                          name="streamlit", daemon=True),
                         ["streamlit", *argv])


class Child(Forked):
    """One running child (see the module's docstring), its output in `stdout`."""

    def __init__(self, module: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        if module not in CHILDREN:
            raise ValueError(f"{module} is not preloaded: add it to CHILDREN")
        reader, writer = _context.Pipe(duplex=False)
        super().__init__(_context.Process(
            target=_run_module, args=(module, list(argv), dict(env or os.environ), writer),
            name=module, daemon=True),  # (one a failed test left running ends with its worker)
            [module, *argv])
        writer.close()  # the child holds the only writer: its end is the reader's end of file
        self.stdout = io.TextIOWrapper(io.FileIO(os.dup(reader.fileno()), "r"))
        reader.close()

    def wait(self, timeout: float | None = None) -> int:
        code = super().wait(timeout)
        self.stdout.close()
        return code


def spawn(module: str, *argv: str, env: dict[str, str] | None = None) -> Child:
    """`python -m module argv...` as a forked child (see the module's docstring)."""
    return Child(module, list(argv), env)
