"""A tiny run of every benchmark, so `make bench` cannot rot (figures are not judged here).
In a process of its own, as `make bench` runs it (its browser is its own, too)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_smoke_size(chromium_path, tmp_path):
    run = subprocess.run([sys.executable, "-m", "bench.run", "--size", "smoke"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| B1 |" in run.stdout
    results = json.loads((ROOT / "bench" / "results" / "smoke.json").read_text())["results"]
    ids = {r["id"].split()[0] for r in results}
    assert ids == {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12",
                   "B13", "B14"}
    for bench in ("B4", "B10"):
        assert {r["id"] for r in results if r["id"].startswith(f"{bench} ")
                and "growth" in r["id"]} == {f"{bench} sqlite growth",
                                             f"{bench} postgresql growth"}
    assert all(r["value"] > 0 for r in results if r["unit"] != "x")
