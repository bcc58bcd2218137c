"""The README is for staff and first-time operators; the rest lives in docs/, and stays true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["docs/DEPLOY.md", "docs/CONFIGURATION.md", "docs/HOW-IT-WORKS.md"]


def test_the_readme_is_short_and_points_at_the_operator_and_developer_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.split()) < 1000
    for doc in DOCS:
        assert f"]({doc})" in readme and (ROOT / doc).is_file(), doc
    for word in ("make run", "make test", "sandbox-demo-key", "UPHEAL_API_BASE_URL"):
        assert word in readme
    for internal in ("lease", "HMAC", "keyset", "B13", "migration"):  # (docs/ has those)
        assert internal not in readme, internal


def test_every_setting_the_console_reads_is_documented():
    code = "\n".join(p.read_text(encoding="utf-8") for p in
                     [*(ROOT / "partner_console").rglob("*.py"), *(ROOT / "components").rglob(
                         "*.py")])
    # a setting is read by its name in quotes: "UPHEAL_API_BASE_URL", "PARTNER_CONSOLE_SECRET"
    read = set(re.findall(r"[\"']((?:UPHEAL|PARTNER_CONSOLE|SMTP|INVITE|SANDBOX)_[A-Z_]+|"
                          r"DATABASE_URL)[\"']", code))
    read -= set(re.findall(r"^([A-Z_]+) *[:=]", code, re.MULTILINE))  # (constants in __all__)
    documented = (ROOT / "docs/CONFIGURATION.md").read_text(encoding="utf-8")
    assert read and not {name for name in read if f"`{name}`" not in documented}


def test_links_between_the_docs_lead_somewhere():
    for doc in ["README.md", *DOCS]:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (ROOT / doc).parent.joinpath(target).exists(), (doc, target)


def test_the_layout_in_the_docs_names_every_module_of_the_tree():
    text = (ROOT / "docs/HOW-IT-WORKS.md").read_text(encoding="utf-8")
    layout = text.split("## Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"[\w<>]+", layout))
    modules = {p.stem for folder in ("partner_console", "components", "bench")
               for p in (ROOT / folder).rglob("*.py") if not p.stem.startswith("__")}
    folders = {p.name for p in (ROOT / "partner_console").rglob("*") if p.is_dir()
               and p.name != "__pycache__"}
    assert modules and not {m for m in modules if m not in named
                            and not m.endswith("_bench")}
    assert folders and not folders - named
