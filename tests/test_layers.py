"""Layers point one way: storage reads no files and knows no page; job words are defined once;
pages hold layout and calls, never a raw database engine."""

from __future__ import annotations

import ast
from pathlib import Path

from partner_console.jobs.states import JobStatus, RowState

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {node.module for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module}
    return found | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}


def test_storage_imports_nothing_above_it():
    above = ("partner_console.bulk", "partner_console.exports", "partner_console.signup",
             "partner_console.creation", "partner_console.mail", "partner_console.jobs.engine",
             "partner_console.jobs.kinds", "components", "streamlit")
    for path in (ROOT / "partner_console" / "storage").glob("*.py"):
        wrong = {m for m in _imports(path) if m.startswith(above)}
        assert not wrong, (path.name, wrong)


def test_coordination_spells_no_job_word_of_its_own():
    words = {s.value for s in JobStatus} | {s.value for s in RowState}
    tree = ast.parse((ROOT / "partner_console/storage/coordination.py").read_text("utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                and isinstance(node.value, str) and id(node) not in docstrings]
    assert not [w for w in literals if w in words]


def test_no_page_or_component_reaches_for_a_raw_engine_or_swallows_every_error():
    for path in [*(ROOT / "pages").glob("*.py"), *(ROOT / "components").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not [line for line in text.splitlines()
                    if ".engine" in line and not line.startswith(("from ", "import "))], path.name
        assert "except Exception:\n        return" not in text, path.name


def test_the_job_store_and_engine_know_no_kind_and_no_page():
    for name in ("store.py", "engine.py"):
        wrong = {m for m in _imports(ROOT / "partner_console" / "jobs" / name)
                 if m.startswith(("partner_console.bulk", "components", "streamlit",
                                  "partner_console.jobs.kinds."))}
        assert not wrong, (name, wrong)


def test_a_kind_is_one_file_registered_with_the_engine():
    from partner_console.jobs.engine import KINDS, words_of
    from partner_console.jobs.store import JobKind

    words_of(JobKind.IMPORT)  # (loads the kinds)
    assert set(KINDS) == {k.value for k in JobKind}
    assert len({KINDS[k].words.cancelled_before for k in ("import", "refresh", "emails")}) == 3
    for path in (ROOT / "partner_console" / "jobs" / "kinds").glob("[!_]*.py"):
        assert "@kind(" in path.read_text("utf-8") or "kind(JobKind" in path.read_text(
            "utf-8"), path.name
