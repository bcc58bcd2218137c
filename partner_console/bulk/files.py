"""Files the bulk import offers: the template, the per-row results, the rows to fix."""

from __future__ import annotations

from partner_console.bulk.columns import COLUMNS, HEADERS
from partner_console.bulk.jobs import ROW_STATE_LABELS, JobRow
from partner_console.exports import csv_bytes, neutralise, xlsx_bytes

PROBLEM = "Problem"
RESULT_HEADERS = ["Row", "Outcome", "First name", "Last name", "Email", "Invite link",
                  "Room link", "Details"]


def template_notes() -> list[tuple[str, str]]:
    return [(c.header, c.notes) for c in COLUMNS]


def _example() -> list[str]:
    return [c.example for c in COLUMNS]


def template_csv() -> bytes:
    return csv_bytes(HEADERS, [_example()])


def template_xlsx() -> bytes:
    return xlsx_bytes(HEADERS, [_example()], notes=template_notes())


def _result_rows(rows: list[JobRow]) -> list[list[str]]:
    def name(row: JobRow, field: str) -> str:
        return str((row.request or {}).get(field) or "")

    return [[neutralise(v) for v in (
        row.row_number, ROW_STATE_LABELS.get(row.state, row.state),
        name(row, "firstName"), name(row, "lastName"), row.email, row.invite_url,
        row.private_room_link, row.message)] for row in rows]


def results_csv(rows: list[JobRow]) -> bytes:
    return csv_bytes(RESULT_HEADERS, _result_rows(rows))


def results_xlsx(rows: list[JobRow]) -> bytes:
    return xlsx_bytes(RESULT_HEADERS, _result_rows(rows), sheet="Results")


def fix_up_csv(headers: list[str], rows: list[tuple[dict[str, str], str]]) -> bytes:
    """The rows as they were uploaded, plus a Problem column: fix, save, upload again.
    (An earlier Problem column is replaced, so a file can go round several times.)"""
    kept = [h for h in headers if h != PROBLEM]
    return csv_bytes(kept + [PROBLEM], ([neutralise(cells.get(h, "")) for h in kept]
                                        + [neutralise(problem)] for cells, problem in rows))
