"""How the suite gets Chromium and nginx on a machine without them (tests/e2e/debian.py): the
real apt runs only on a fresh machine, so here apt is a fake that knows which packages this
Debian has, and the programs appear on the fake PATH as it installs them."""

from __future__ import annotations

import contextlib

import pytest

from tests.e2e import debian

GIVES = {"chromium-headless-shell": "chromium-headless-shell", "chromium": "chromium",
         "nginx-light": "nginx", "nginx": "nginx"}


class FakeApt:
    def __init__(self, known: set[str], present: set[str]) -> None:
        self.known = known  # the packages this Debian has
        self.present = present  # the programs on the PATH
        self.calls: list[tuple[str, ...]] = []

    def apt(self, command: str, *packages: str) -> bool:
        self.calls.append((command, *packages))
        if command != "install":
            return True
        if not set(packages) <= self.known:  # apt installs nothing when one is unknown
            return False
        self.present |= {GIVES[p] for p in packages}
        return True

    def find(self, names: tuple[str, ...]) -> str | None:
        return next((f"/usr/bin/{n}" for n in names if n in self.present), None)


@pytest.fixture
def fake(monkeypatch):
    def make(known: set[str], present: set[str]) -> FakeApt:
        apt = FakeApt(known, present)
        monkeypatch.setattr(debian, "_apt", apt.apt)
        monkeypatch.setattr(debian, "find", apt.find)
        monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
        monkeypatch.setattr(debian, "_locked", lambda programs: contextlib.nullcontext())
        return apt
    return make


def test_a_fresh_machine_gets_both_programs_with_one_update_and_one_install(fake):
    apt = fake(set(GIVES), set())
    debian.install_all()
    assert apt.calls == [("update", "-qq"), ("install", "chromium-headless-shell", "nginx-light")]
    assert debian.installed("chromium") == "/usr/bin/chromium-headless-shell"
    assert debian.installed("nginx") == "/usr/bin/nginx"
    assert len(apt.calls) == 2  # found: nothing installed again


def test_a_package_this_debian_lacks_falls_back_program_by_program(fake):
    apt = fake({"chromium-headless-shell", "nginx"}, set())  # a Debian without nginx-light
    debian.install_all()
    assert apt.calls[1:] == [("install", "chromium-headless-shell", "nginx-light"),
                             ("install", "chromium-headless-shell"),
                             ("install", "nginx-light"), ("install", "nginx")]
    assert debian.installed("nginx") == "/usr/bin/nginx"


def test_the_full_browser_already_there_is_used_when_the_shell_cannot_be_had(fake):
    apt = fake(set(), {"chromium", "nginx"})
    assert debian.installed("chromium") == "/usr/bin/chromium"
    assert ("install", "chromium") not in apt.calls  # tried the shell, never reinstalled chromium
    assert ("install", "chromium-headless-shell") in apt.calls


def test_nothing_is_installed_when_the_programs_are_there_or_without_root(fake, monkeypatch):
    apt = fake(set(GIVES), {"chromium-headless-shell", "nginx"})
    debian.install_all()
    assert debian.installed("chromium") == "/usr/bin/chromium-headless-shell"
    assert apt.calls == []
    apt = fake(set(GIVES), set())
    monkeypatch.setattr(debian.os, "geteuid", lambda: 1000)
    debian.install_all()
    assert debian.installed("nginx") is None and apt.calls == []
