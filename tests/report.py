"""Figures measured by the reliability suite, appended to build/reliability.jsonl.

docs/RELIABILITY.md quotes them; `python -m tests.report` prints the latest run as a table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "build" / "reliability.jsonl"


def record(check: str, **figures: object) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    line = json.dumps({"check": check, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures},
                      default=str)
    with REPORT.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def main() -> None:
    if not REPORT.exists():
        sys.exit("no figures yet: run make test")
    latest: dict[str, dict[str, object]] = {}
    for line in REPORT.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        latest[str(entry["check"])] = entry
    for check, entry in sorted(latest.items()):
        figures = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("check", "at"))
        print(f"{check}: {figures}  ({entry['at']})")


if __name__ == "__main__":
    main()
