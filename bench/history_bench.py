"""B4 (History page script runs at 10k/100k/1M rows) and B5 (exports of 100k rows)."""

from __future__ import annotations

import io
import os
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select, text
from streamlit.testing.v1 import AppTest

from bench.harness import Result, median_ms
from bench.seed import SMALL_PRACTICE, seed_history
from components.signups import AUTO_SETTING
from partner_console import exports
from partner_console.exports import (
    EXPORT_CELLS,
    HEADERS,
    excel_cells,
    history_csv,
    history_xlsx,
)
from partner_console.storage import (
    History,
    HistoryFilter,
    HistoryReads,
    fingerprint,
    make_engine,
    migrate,
)
from partner_console.storage.catalog import Catalog
from partner_console.storage.engine import refresh_statistics
from partner_console.storage.tables import providers

ROOT = Path(__file__).resolve().parent.parent
KEY = "sandbox-demo-key"
SECRET = "bench-secret"  # noqa: S105  (a benchmark constant, not a credential)
ORG = "5a4d0b7e-0000-4000-8000-00000000c11c"
BLANK_APP = "import streamlit as st\nst.write('')\n"


def seeded_url(make_url: Callable[[str], str], rows: int, label: str,
               practices: bool = False) -> str:
    url = make_url(label)
    engine = make_engine(url)
    migrate(engine)
    key = fingerprint(SECRET.encode(), KEY)
    seed_history(engine, rows, key, ORG, practices=practices)
    # The page's runs alone: the automatic sign-up check the first History run would start
    # (AUTO_AT_MOST providers, paced, minutes long) would run in this process beside them.
    # B11 measures a refresh.
    Catalog(engine).set_setting(History(engine).scope_for(key), AUTO_SETTING, "0")
    if engine.dialect.name == "postgresql":
        # As autovacuum leaves a History that grew over months. Otherwise it starts on the rows
        # just seeded while the runs are timed, and they measure it (a core of two).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()
    return url


def _history_app(url: str, data_dir: str) -> AppTest:
    os.environ.update({"DATABASE_URL": url, "PARTNER_CONSOLE_SECRET": SECRET,
                       "PARTNER_CONSOLE_DATA_DIR": data_dir})
    os.environ.pop("UPHEAL_API_BASE_URL", None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["api_key"] = KEY
    at.run()
    at.switch_page("pages/history.py")
    return at


def history_runs(url: str, rows: int, repeat: int, first: int = 0) -> dict[str, list[float]]:
    """The ms of each of `repeat` rounds (numbered from `first`) of: first render, four
    searches, a page change, then a practice filter and a search within it (each a full
    script run). The searches: one provider by part of its
    reference (the same answer at every size), part of a last name typed without its accent
    ("ulle" in Müller: a tenth of the rows), a full name last name first ("smith jane": a
    hundredth) and an email domain (every row). The practice: the platform's small one (a
    hundredth of the rows), searched for "ulle" (a thousandth)."""
    data_dir = tempfile.mkdtemp()
    timings: dict[str, list[float]] = {"first render": [], "search": [],
                                       "search part of a name": [], "search full name": [],
                                       "search email domain": [],
                                       "page change": [], "practice filter": [],
                                       "practice filter and search": []}
    for i in range(first, first + repeat):
        at = _history_app(url, data_dir)
        start = time.perf_counter()
        at.run()
        timings["first render"].append((time.perf_counter() - start) * 1000)
        assert not at.exception, at.exception
        # one provider, by the end of its reference: the same answer at every history size
        for step, words in (("search", f"p-{(i * 7919 + 17) % rows:07d}"),
                            ("search part of a name", "ulle"),
                            ("search full name", "smith jane"),
                            ("search email domain", "example.com")):
            at.text_input(key="hi_search").input(words)
            start = time.perf_counter()
            at.run()
            timings[step].append((time.perf_counter() - start) * 1000)
            assert not at.exception, at.exception
        at.text_input(key="hi_search").input("")
        at.run()
        at.number_input(key="hi_page").set_value(2)
        start = time.perf_counter()
        at.run()
        timings["page change"].append((time.perf_counter() - start) * 1000)
        at.multiselect(key="hi_practice").set_value([SMALL_PRACTICE])
        start = time.perf_counter()
        at.run()
        timings["practice filter"].append((time.perf_counter() - start) * 1000)
        assert not at.exception, at.exception
        at.text_input(key="hi_search").input("ulle")
        start = time.perf_counter()
        at.run()
        timings["practice filter and search"].append((time.perf_counter() - start) * 1000)
        assert not at.exception, at.exception
    return timings


def overview_runs(url: str, repeat: int) -> dict[str, list[float]]:
    """The ms of the Overview page's runs (each a full script run, as a manager opens it), for
    every practice, then read for the platform's small practice."""
    data_dir = tempfile.mkdtemp()
    times: dict[str, list[float]] = {"every practice": [], "one practice": []}
    for _ in range(repeat):
        at = _history_app(url, data_dir)
        at.switch_page("pages/overview.py")
        for step in times:
            if step == "one practice":
                at.selectbox(key="ov_practice").set_value(SMALL_PRACTICE)
            start = time.perf_counter()
            at.run()
            times[step].append((time.perf_counter() - start) * 1000)
            assert not at.exception, at.exception
            assert any("Providers created" in m.label for m in at.metric)
    return times


def _p50s(timings: dict[str, list[float]]) -> dict[str, float]:
    return {k: sorted(v)[len(v) // 2] for k, v in timings.items()}


def blank_run_ms(repeat: int) -> float:
    path = Path(tempfile.mkdtemp()) / "blank.py"
    path.write_text(BLANK_APP)
    at = AppTest.from_file(str(path))
    at.run()
    return median_ms(at.run, repeat)


def b4(make_url: Callable[[str], str], sizes: list[int], database: str,
       repeat: int, history: bool = True, overview: bool = False) -> list[Result]:
    """B4 (History) and B10 (Overview) on the same seeded histories."""
    blank = blank_run_ms(repeat * 3)
    urls = {rows: seeded_url(make_url, rows, f"b4_{rows}", practices=True) for rows in sizes}
    pages: dict[int, dict[str, list[float]]] = {rows: {} for rows in sizes}
    overviews: dict[int, dict[str, list[float]]] = {rows: {} for rows in sizes}
    # The sizes in turn, a round of each at a time: one size after the other, the growth ratios
    # compared runs made minutes apart, and this machine's speed drifts within minutes.
    for i in range(repeat):
        for rows in sizes:
            if history:
                for step, ms in history_runs(urls[rows], rows, 1, first=i).items():
                    pages[rows].setdefault(step, []).extend(ms)
            if overview:
                for step, ms in overview_runs(urls[rows], 2).items():
                    overviews[rows].setdefault(step, []).extend(ms)
    by_size = {rows: _p50s(pages[rows]) for rows in sizes} if history else {}
    overview_ms = {rows: _p50s(overviews[rows]) for rows in sizes} if overview else {}
    results = b10(overview_ms, database, blank, sizes) if overview else []
    if not history:
        return results
    middle = sizes[1] if len(sizes) > 1 else sizes[0]
    for rows, runs in by_size.items():
        worst = max(runs.values())
        results.append(Result(
            f"B4 {database} {rows:,}", f"History page runs at {rows:,} rows ({database}): "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in runs.items()),
            worst, "ms (slowest p50)", blank, "blank page run",
            "p50 <= 150 ms" if rows in (middle, sizes[-1]) else "",
            worst <= 150 or rows not in (middle, sizes[-1]),
            runs))
    if len(sizes) >= 3:
        small, large = by_size[sizes[0]], by_size[sizes[-1]]
        growth = max(large[k] / small[k] for k in small)
        results.append(Result(
            f"B4 {database} growth", f"History runs at {sizes[-1]:,} vs {sizes[0]:,} rows "
            f"({database}), worst of the three", growth, "x", None,
            "", "<= 2x", growth <= 2.0, {"small": small, "large": large}))
    return results


def b10(runs: dict[int, dict[str, float]], database: str, blank: float,
        sizes: list[int]) -> list[Result]:
    """Overview's slowest p50 (every practice, or one) at each size, and its growth."""
    by_size = {rows: max(ms.values()) for rows, ms in runs.items()}
    results = [Result(
        f"B10 {database} {rows:,}", f"Overview page run at {rows:,} rows ({database}): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in runs[rows].items()), ms,
        "ms (slowest p50)", blank, "blank page run", "p50 <= 300 ms" if rows == sizes[-1]
        else "", ms <= 300 or rows != sizes[-1], runs[rows]) for rows, ms in by_size.items()]
    if len(sizes) >= 2:
        growth = max(runs[sizes[-1]][k] / runs[sizes[0]][k] for k in runs[sizes[0]])
        results.append(Result(
            f"B10 {database} growth", f"Overview run at {sizes[-1]:,} vs {sizes[0]:,} rows "
            f"({database}), worst of the two", growth, "x", None, "", "<= 2x", growth <= 2.0))
    return results


def excel_side_by_side(reads: HistoryReads, scope: Any, rows: int) -> tuple[float, float]:
    """Our Excel export and pandas' to_excel of the same cells (gathered outside the timing),
    alternated: the median of three runs (one at more than 30,000 rows, where pandas alone
    takes half a minute)."""
    headers = [header for header, _, _ in exports._XLSX_COLUMNS]
    frame = pd.DataFrame(list(excel_cells(reads, scope, HistoryFilter(), UTC, None, None)),
                         columns=headers)
    times: dict[str, list[float]] = {"ours": [], "pandas": []}
    for _ in range(3 if rows <= 30_000 else 1):
        start = time.perf_counter()
        xlsx = history_xlsx(reads, scope, HistoryFilter())
        times["ours"].append(time.perf_counter() - start)
        start = time.perf_counter()
        with warnings.catch_warnings():  # (pandas links every URL, past Excel's 65,530)
            warnings.simplefilter("ignore")
            frame.to_excel(io.BytesIO(), index=False, engine="xlsxwriter")
        times["pandas"].append(time.perf_counter() - start)
    assert len(pd.read_excel(io.BytesIO(xlsx), engine="calamine")) == rows
    ours, theirs = (sorted(times[k])[len(times[k]) // 2] for k in ("ours", "pandas"))
    return ours, theirs


def kept_as_the_console_keeps_it(url: str) -> HistoryReads:
    """A seeded history with the planner's statistics the console keeps: it analyses the
    tables when a server starts and after each import (storage.engine.refresh_statistics),
    so a history of thousands of rows always has them."""
    engine = make_engine(url)
    refresh_statistics(engine)
    return HistoryReads(engine)


def b5(make_url: Callable[[str], str], rows: int, database: str) -> list[Result]:
    url = seeded_url(make_url, rows, f"b5_{rows}")
    history = kept_as_the_console_keeps_it(url)
    scope = History(history.engine).scope_for(fingerprint(SECRET.encode(), KEY))
    everything = HistoryFilter()

    def ours_csv() -> bytes:
        return history_csv(history, scope, everything)

    def baseline_csv() -> bytes:  # pandas to_csv of the same frame (built outside the timing)
        return frame.to_csv(index=False).encode("utf-8")

    frame = pd.DataFrame([tuple(row) for batch in history.export_batches(
        scope, everything, EXPORT_CELLS) for row in batch], columns=HEADERS)
    times: dict[str, list[float]] = {"csv": [], "pandas": []}
    for _ in range(3):
        for name, run in (("csv", ours_csv), ("pandas", baseline_csv)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    csv_s, pandas_s = (sorted(times[k])[1] for k in ("csv", "pandas"))
    plain = select(*(providers.c[name] for name in (
        "created_at", "first_name", "last_name", "email", "status", "invite_url",
        "private_room_link", "partner_user_id", "phone_country_code", "phone_number", "locale",
        "national_provider_identifier", "therapy_licence", "note_identifier",
        "default_note_template_ids", "user_id", "organization_id", "created_by",
        "error_text"))).order_by(providers.c.id.desc())
    start = time.perf_counter()
    with history.engine.connect() as conn:  # what a pandas-based export would do, unguarded
        pd.read_sql(plain, conn).to_csv(index=False)
    pandas_from_db_s = time.perf_counter() - start
    xlsx_s, pandas_xlsx_s = excel_side_by_side(history, scope, rows)
    fast_rows = min(rows, 30_000)  # the most an export has on rust_xlsxwriter's path is 32,765
    fast = history if fast_rows == rows else kept_as_the_console_keeps_it(seeded_url(
        make_url, fast_rows, f"b5_fast_{fast_rows}"))
    fast_s, pandas_fast_s = excel_side_by_side(
        fast, History(fast.engine).scope_for(fingerprint(SECRET.encode(), KEY)), fast_rows)

    small_url = seeded_url(make_url, rows // 10, f"b5_{rows // 10}")
    small = kept_as_the_console_keeps_it(small_url)

    def peak_mb(source: HistoryReads) -> float:
        """Peak traced memory of one whole export, beyond the file it returns."""
        scope_here = History(source.engine).scope_for(fingerprint(SECRET.encode(), KEY))
        tracemalloc.start()
        data = history_csv(source, scope_here, everything)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return (peak - len(data)) / 1e6

    small_peak, large_peak = peak_mb(small), peak_mb(history)
    return [
        Result(f"B5 {database} CSV", f"CSV export of {rows:,} rows ({database})", csv_s, "s",
               pandas_s, "pandas to_csv", "<= 1.5x", csv_s <= 1.5 * pandas_s,
               {"pandas_read_sql_and_to_csv_s": pandas_from_db_s,
                "ratio_to_read_sql_and_to_csv": csv_s / pandas_from_db_s}),
        Result(f"B5 {database} Excel", f"Excel export of {rows:,} rows ({database}): date-times, "
               "links up to Excel's limit, labels (XlsxWriter: past the limit)", xlsx_s, "s",
               pandas_xlsx_s, "pandas to_excel (XlsxWriter) of the same cells", "<= 0.1x",
               xlsx_s <= 0.1 * pandas_xlsx_s),
        Result(f"B5 {database} Excel {fast_rows:,}", f"Excel export of {fast_rows:,} rows "
               f"({database}), every link clickable (rust_xlsxwriter)", fast_s, "s",
               pandas_fast_s, "pandas to_excel (XlsxWriter) of the same cells", "<= 0.1x",
               fast_s <= 0.1 * pandas_fast_s),
        Result(f"B5 {database} memory", f"CSV export working memory beyond the file itself, "
               f"{rows:,} vs {rows // 10:,} rows ({database})", large_peak, "MB", small_peak,
               f"at {rows // 10:,} rows", "flat (<= 2x the 10x smaller export)",
               large_peak <= 2 * max(small_peak, 1.0)),
    ]
