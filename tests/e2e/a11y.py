"""axe-core (from the npm registry) run in the page through Playwright.

`ensure_axe()` installs a pinned axe-core into build/axe once per machine (workers share one
install under a file lock). `violations(page)` runs it on the whole page and returns what it
found, less the framework's own known issues below.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
AXE_VERSION = "4.10.3"
AXE_DIR = ROOT / "build" / "axe"
AXE_FILE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

# Streamlit's own markup, not the console's content; each was looked at (2026-11-29,
# Streamlit 1.67) and cannot be changed from a Streamlit app:
KNOWN_FRAMEWORK_ISSUES: dict[str, tuple[str, ...]] = {
    # st.file_uploader's drop zone: a <section role="presentation"> with an aria-label
    "presentation-role-conflict": ('data-testid="stFileUploaderDropzone"',),
}


def ensure_axe() -> str:
    """The text of axe.min.js, installed with npm when missing."""
    if not AXE_FILE.exists():
        npm = shutil.which("npm")
        if npm is None:
            if IN_CI:
                pytest.fail("npm is missing: axe-core cannot be installed")
            pytest.skip("npm is not installed")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        with open(AXE_DIR / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not AXE_FILE.exists():
                subprocess.run([npm, "install", "--prefix", str(AXE_DIR), "--no-audit",
                                "--no-fund", "--silent", f"axe-core@{AXE_VERSION}"],
                               check=True, capture_output=True, timeout=300)
    return AXE_FILE.read_text()


def _known(rule: str, target: str) -> bool:
    return any(part in target for part in KNOWN_FRAMEWORK_ISSUES.get(rule, ()))


def violations(page, state: str) -> list[dict[str, Any]]:
    """axe's violations on the page now, each with the state it was found in."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=ensure_axe())
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({rule: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                      html: n.html.slice(0, 200),
                                      why: n.failureSummary.slice(0, 300)}))}));
    }""")
    kept = []
    for violation in found:
        nodes = [n for n in violation["nodes"]
                 if not _known(violation["rule"], n["target"] + n["html"])]
        if nodes:
            kept.append({**violation, "nodes": nodes, "state": state})
    return kept
