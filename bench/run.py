"""`make bench`: every benchmark, a JSON of results (bench/results/<size>.json) and a table.

    python -m bench.run [--size full|smoke] [--only B1,B4] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from bench import (
    activity_bench,
    api_bench,
    files_bench,
    history_bench,
    mail_bench,
    refresh_bench,
    replica_bench,
    roster_bench,
    server_bench,
)
from bench.harness import Result, save, table

SIZES: dict[str, dict[str, Any]] = {
    "full": {"b1": 200, "b2": 1000, "b3": 200, "b4": [10_000, 100_000, 1_000_000],
             "b4_repeat": 5, "b5": 100_000, "b6": 5000, "b7": 5, "b8_rows": 100_000,
             "b8_sessions": 5, "b9_rows": 150, "b9_rate": 300,
             "b11": (300, 120.0, 3.0),  # rate per minute, seconds, a person's call every
             "b12": (300, 600), "b13": [10_000, 1_000_000],  # messages, the limit per minute
             # history, roster rows, changed, repeat, rate, seconds, a person's call every
             "b14": (10_000, 1000, 100, 5, 300, 120.0, 3.0)},
    "smoke": {"b1": 5, "b2": 10, "b3": 4, "b4": [60, 120, 240], "b4_repeat": 1, "b5": 200,
              "b6": 50, "b7": 1, "b8_rows": 50, "b8_sessions": 1, "b9_rows": 8,
              "b9_rate": 1200, "b11": (1200, 3.0, 0.5),
              "b12": (20, 1200), "b13": [400, 2000], "b14": (300, 60, 40, 1, 1200, 20.0, 0.5)},
}


def _database_makers(names: list[str]) -> tuple[dict[str, Callable[[str], str]], list[object]]:
    makers: dict[str, Callable[[str], str]] = {}
    servers: list[object] = []
    if "sqlite" in names:
        folder = tempfile.mkdtemp()
        makers["sqlite"] = lambda label: f"sqlite:///{folder}/{label}.db"
    if "postgres" in names:
        from tests.pg import start_postgres

        server = start_postgres()
        servers.append(server)
        makers["postgresql"] = lambda label: server.create_database(label.lower())
    return makers, servers


def _open_history(page: object) -> None:
    from tests.e2e.conftest import wait_for_app_run
    from tests.e2e.steps import enter_key, go

    wait_for_app_run(page)
    enter_key(page, history_bench.KEY)
    go(page, "History", "provider(s) · page")


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=list(SIZES), default="full")
    parser.add_argument("--only", default="B1,B2,B4,B5,B6,B7,B8,B9,B10,B11,B12,B13,B14",
                        help="which benchmarks (B3 runs with B2)")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    only = {name.strip().upper() for name in args.only.split(",")}
    makers, servers = _database_makers(args.databases.split(","))
    results: list[Result] = []
    try:
        if "B1" in only:
            results += api_bench.b1(size["b1"])
        if "B2" in only:
            results += api_bench.b2_b3(size["b2"], size["b3"])
        for database, make_url in makers.items():
            if "B4" in only or "B10" in only:  # one seeded history for both
                results += history_bench.b4(make_url, size["b4"], database, size["b4_repeat"],
                                            history="B4" in only, overview="B10" in only)
            if "B5" in only:
                results += history_bench.b5(make_url, size["b5"], database)
            if "B13" in only:
                results += activity_bench.b13(make_url, size["b13"], database)
        if "B6" in only:
            results += files_bench.b6(size["b6"])
        if "B7" in only:
            results += server_bench.b7(size["b7"])
        if "B8" in only:
            from tests.e2e.conftest import chromium_args, ensure_chromium

            chromium = ensure_chromium()
            if chromium is None:
                raise SystemExit("B8 needs Chromium (apt-get install chromium)")
            url = history_bench.seeded_url(next(iter(makers.values())), size["b8_rows"], "b8")
            results += server_bench.b8(url, size["b8_sessions"], _open_history, chromium,
                                       chromium_args(chromium))
        if "B11" in only:
            results += refresh_bench.b11(*size["b11"])
        if "B12" in only:
            results += mail_bench.b12(*size["b12"])
        if "B14" in only:
            results += roster_bench.b14(*size["b14"])
        if "B9" in only:  # on PostgreSQL when there is one: replicas share one server
            make_url = makers.get("postgresql") or next(iter(makers.values()))
            results += replica_bench.b9(make_url, size["b9_rows"], size["b9_rate"])
    finally:
        for server in servers:
            server.stop()  # type: ignore[attr-defined]
    path = save(results, args.size)
    print(table(results))
    print(f"\nresults: {path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
