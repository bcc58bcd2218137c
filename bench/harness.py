"""Timing, results and the printed table shared by every benchmark."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    id: str
    what: str
    value: float
    unit: str
    baseline: float | None
    baseline_what: str
    goal: str
    met: bool
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def max_in_window(times: list[float], seconds: float) -> int:
    """The most events inside any window of `seconds` (times in seconds, any order)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cores": os.cpu_count(), "system": platform.platform(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def save(results: list[Result], size: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{size}.json"
    path.write_text(json.dumps({"machine": machine(), "size": size,
                                "results": [asdict(r) | {"ratio": r.ratio} for r in results]},
                               indent=2, default=str))
    return path


def table(results: list[Result]) -> str:
    lines = ["| # | what | value | baseline | ratio | goal | met |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "–"
        base = f"{r.baseline:.3g} ({r.baseline_what})" if r.baseline is not None else \
            r.baseline_what or "–"
        lines.append(f"| {r.id} | {r.what} | {r.value:.3g} {r.unit} | {base} | {ratio} | "
                     f"{r.goal} | {'yes' if r.met else 'NO'} |")
    return "\n".join(lines)
