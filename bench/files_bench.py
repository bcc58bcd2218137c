"""B6: read and validate a 5,000-row spreadsheet, CSV and XLSX, against pandas read_csv."""

from __future__ import annotations

import io
import time

import pandas as pd
import xlsxwriter

from bench.harness import Result
from partner_console.bulk.columns import auto_map
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import read_file

HEADERS = ["First Name", "Last Name", "E-mail", "Phone", "NPI", "Note identifier",
           "Therapy licence", "Language", "Employee ID"]


def _rows(count: int) -> list[list[object]]:
    return [[f"Name{i}", "Müller", f"person{i}@example.com", "+1 415 555 2671", 1234567893,
             "Dr. + last name", "LCSW", "en-US", f"emp-{i}"] for i in range(count)]


def b6(rows: int) -> list[Result]:
    data = _rows(rows)
    csv_bytes = pd.DataFrame(data, columns=HEADERS).to_csv(index=False).encode()
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, HEADERS)
        for number, row in enumerate(data, start=1):
            sheet.write_row(number, 0, row)
    xlsx_bytes = buffer.getvalue()

    def ours(content: bytes, name: str) -> float:
        start = time.perf_counter()
        read = read_file(content, name)
        prepared = prepare_rows(read, auto_map(read.headers), [])
        elapsed = time.perf_counter() - start
        assert sum(1 for r in prepared if r.status == "ready") == rows
        return elapsed

    start = time.perf_counter()
    pd.read_csv(io.BytesIO(csv_bytes))
    pandas_s = time.perf_counter() - start
    csv_s, xlsx_s = ours(csv_bytes, "b6.csv"), ours(xlsx_bytes, "b6.xlsx")
    return [Result(f"B6 {kind}", f"read + validate {rows:,} rows ({kind})", seconds, "s",
                   pandas_s, "pandas read_csv", "<= 3 s", seconds <= 3)
            for kind, seconds in (("CSV", csv_s), ("XLSX", xlsx_s))]
