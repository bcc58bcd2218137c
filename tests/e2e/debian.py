"""Debian's programs the browser and proxy tests drive, Chromium and nginx, installed with apt
when missing (as root).

Only the standard library: `make test` runs this file with the machine's own Python, in the
background, while it sets up the virtual environment, so that a fresh machine's installs take
none of the tests' time. The tests' fixtures wait for it (a lock per program) and install
what is still missing themselves (`installed`).

Without the packages Debian only recommends: with Chromium's (a printer dialog, Samba, Avahi,
GTK's bindings, Perl's web libraries) its install was 115 packages and took 38 s, and nothing
here uses them; Chromium and nginx with what they depend on are 23 packages and about 10 s."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# Each program: the names it may have on the PATH and the package that gives them, best first.
# Chromium's headless shell is the same Chromium built for headless use only (as Playwright's
# own headless runs use): side by side, a page load cost it about a third less CPU than the full
# browser, which is taken when the shell cannot be had.
PROGRAMS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "chromium": [(("chromium-headless-shell",), "chromium-headless-shell"),
                 (("chromium", "chromium-browser"), "chromium")],
    "nginx": [(("nginx",), "nginx-light"), (("nginx",), "nginx")],
}


def find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                        else None)
        if found:
            return found
    return None


def installed(program: str) -> str | None:
    """The program's path: its best package installed with apt when that is missing (as
    root), else a lesser one the machine has; None when there is none. pytest-xdist workers
    all get here at once: one installs, the others wait for it."""
    choices = PROGRAMS[program]
    if find(choices[0][0]) is None and os.geteuid() == 0:
        with _locked([program]):
            _install_missing([program])
    return next((path for names, _ in choices if (path := find(names))), None)


def install_all() -> None:
    """Every program the tests need, with one `apt-get update` and one install."""
    if os.geteuid() == 0:
        with _locked(sorted(PROGRAMS)):
            _install_missing(sorted(PROGRAMS))


def _install_missing(programs: list[str]) -> None:
    """The best package of each program that lacks it, in one install; one by one, down the
    choices, when that fails (a package this Debian does not have). The caller holds the locks."""
    missing = [p for p in programs if find(PROGRAMS[p][0][0]) is None]
    if not missing:
        return
    _apt("update", "-qq")
    if _apt("install", *(PROGRAMS[p][0][1] for p in missing)):
        return
    for program in missing:
        for names, package in PROGRAMS[program]:
            if find(names) is None:
                _apt("install", package)
            if find(names) is not None:
                break


def _apt(command: str, *arguments: str) -> bool:
    options = ["-y", "-qq", "--no-install-recommends"] if command == "install" else []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", command, *options,
                           *arguments], env=env, capture_output=True, text=True)
    if done.returncode != 0:  # (shown with a failing test's output, or in build/apt.log)
        sys.stderr.write(f"apt-get {command} {' '.join(arguments)}:\n{done.stderr}")
    return done.returncode == 0


@contextlib.contextmanager
def _locked(programs: list[str]) -> Iterator[None]:
    """The programs' locks, always taken in name order (no two holders wait for each other)."""
    with contextlib.ExitStack() as stack:
        for program in sorted(programs):
            lock = stack.enter_context(open(f"/tmp/partner-console-{program}.lock", "w"))  # noqa: S108
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


if __name__ == "__main__":
    install_all()
