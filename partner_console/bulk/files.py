"""Files the bulk import offers: the template, the per-row results, the rows to fix."""

from __future__ import annotations

from partner_console.bulk.columns import COLUMNS, HEADERS
from partner_console.exports import csv_bytes, neutralise, xlsx_bytes
from partner_console.jobs.store import JobRow

PROBLEM = "Problem"
RESULT_HEADERS = ["Row", "Outcome", "Invite link", "Room link", "Details"]
NAMED_HEADERS = ["Name", "Email"]


def template_notes() -> list[tuple[str, str]]:
    return [(c.header, c.notes) for c in COLUMNS]


def _example() -> list[str]:
    return [c.example for c in COLUMNS]


def template_csv() -> bytes:
    return csv_bytes(HEADERS, [_example()])


def template_xlsx() -> bytes:
    return xlsx_bytes(HEADERS, [_example()], notes=template_notes())


def result_headers(rows: list[JobRow], named: bool = False) -> list[str]:
    """Row and Outcome (with `named`, the provider's Name and Email: a roster sync's rows
    include providers who are not in the file), the file's own columns as uploaded, then the
    links and details."""
    first = RESULT_HEADERS[:2] + (NAMED_HEADERS if named else [])
    uploaded = [h for h in next((r.cells for r in rows if r.cells), {})
                if h not in RESULT_HEADERS and h not in first]
    return first + uploaded + RESULT_HEADERS[2:]


def _result_rows(rows: list[JobRow], headers: list[str], named: bool) -> list[list[str]]:
    """Every row with the values it was uploaded with, whatever became of it."""
    uploaded = headers[4 if named else 2:-3]
    return [[str(row.line or ""), row.outcome] + ([row.full_name, row.email] if named else [])
            + [str(row.cells.get(h, "")) for h in uploaded]
            + [row.invite_url or "", row.private_room_link or "", row.details] for row in rows]


def results_csv(rows: list[JobRow], named: bool = False) -> bytes:
    headers = result_headers(rows, named)
    return csv_bytes(headers, ([neutralise(v) for v in row]
                               for row in _result_rows(rows, headers, named)))


def results_xlsx(rows: list[JobRow], named: bool = False) -> bytes:
    """The same as an Excel workbook: strings as uploaded (a string cell is never a formula)."""
    headers = result_headers(rows, named)
    return xlsx_bytes(headers, _result_rows(rows, headers, named), sheet="Results",
                      links=("Invite link", "Room link"), numbers=("Row",))


def fix_up_csv(headers: list[str], rows: list[tuple[dict[str, str], str]]) -> bytes:
    """The rows as they were uploaded, plus a Problem column: fix, save, upload again.
    (An earlier Problem column is replaced, so a file can go round several times.)"""
    kept = [h for h in headers if h != PROBLEM]
    return csv_bytes(kept + [PROBLEM], ([neutralise(cells.get(h, "")) for h in kept]
                                        + [neutralise(problem)] for cells, problem in rows))
