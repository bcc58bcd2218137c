"""A tiny run of every benchmark, so `make bench` cannot rot (figures are not judged here)."""

from __future__ import annotations

import pytest

from bench.run import main

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_every_benchmark_runs_at_smoke_size(chromium_path, capsys):
    results = main(["--size", "smoke"])
    ids = {r.id.split()[0] for r in results}
    assert ids == {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12",
                   "B13", "B14"}
    for bench in ("B4", "B10"):
        assert {r.id for r in results if r.id.startswith(f"{bench} ") and "growth" in r.id
                } == {f"{bench} sqlite growth", f"{bench} postgresql growth"}
    assert all(r.value > 0 for r in results if r.unit != "x")
    assert "| B1 |" in capsys.readouterr().out
