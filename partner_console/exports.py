"""CSV and Excel exports of history rows, streamed, with the formula guard.

Cells that a spreadsheet would run as a formula (starting with = + - @ tab or carriage return)
get a leading apostrophe (OWASP "CSV injection"). Exports never hold the key or its fingerprint.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import xlsxwriter

from partner_console.storage.history import ProviderRow

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

STATUS_LABELS = {
    "created": "Created",
    "pending": "Outcome unknown",
    "failed": "Failed",
    "links_lost": "Created, link not returned",
}

# (header, value) for each exported column, in order.
COLUMNS: list[tuple[str, Callable[[ProviderRow], Any]]] = [
    ("Created at (UTC)", lambda r: r.created_at.strftime("%Y-%m-%d %H:%M:%S")),
    ("First name", lambda r: r.first_name),
    ("Last name", lambda r: r.last_name),
    ("Email", lambda r: r.email),
    ("Status", lambda r: STATUS_LABELS.get(r.status, r.status)),
    ("Invite link", lambda r: r.invite_url),
    ("Room link", lambda r: r.private_room_link),
    ("Your reference", lambda r: r.partner_user_id),
    ("Phone country code", lambda r: r.phone_country_code),
    ("Phone number", lambda r: r.phone_number),
    ("Language", lambda r: r.locale),
    ("NPI", lambda r: r.national_provider_identifier),
    ("Therapy licence", lambda r: r.therapy_licence),
    ("Name in notes", lambda r: r.note_identifier),
    ("Note templates", lambda r: ", ".join(r.default_note_template_ids)),
    ("Upheal user id", lambda r: r.user_id),
    ("Organisation id", lambda r: r.organization_id),
    ("Created by", lambda r: r.created_by),
    ("Problem", lambda r: r.error_text),
]
HEADERS = [name for name, _ in COLUMNS]


def neutralise(value: Any) -> str:
    """The cell as text, made inert if a spreadsheet would evaluate it."""
    if value is None:
        return ""
    text = value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def table_rows(rows: Iterable[ProviderRow]) -> Iterator[list[str]]:
    for row in rows:
        yield [neutralise(get(row)) for _, get in COLUMNS]


def csv_bytes(headers: list[str], rows: Iterable[list[str]]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens accents and emoji correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in headers])
    writer.writerows(rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def xlsx_bytes(headers: list[str], rows: Iterable[list[str]], sheet: str = "Providers",
               notes: list[tuple[str, str]] | None = None) -> bytes:
    """An Excel workbook (XlsxWriter, constant-memory mode); every cell written as text."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True, "in_memory": False,
                                            "strings_to_formulas": False,
                                            "strings_to_urls": False,
                                            "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True, "bg_color": "#e3eeee"})
    worksheet = workbook.add_worksheet(sheet)
    worksheet.write_row(0, 0, [neutralise(h) for h in headers], bold)
    worksheet.freeze_panes(1, 0)
    for index, width in enumerate(min(max(len(h) + 4, 14), 48) for h in headers):
        worksheet.set_column(index, index, width)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            worksheet.write_string(number, column, value)
    if notes:
        help_sheet = workbook.add_worksheet("Notes")
        help_sheet.set_column(0, 0, 28)
        help_sheet.set_column(1, 1, 100)
        help_sheet.write_row(0, 0, ["Column", "What to put there"], bold)
        for number, (column_name, text) in enumerate(notes, start=1):
            help_sheet.write_string(number, 0, column_name)
            help_sheet.write_string(number, 1, text)
    workbook.close()
    return buffer.getvalue()


def history_csv(rows: Iterable[ProviderRow]) -> bytes:
    return csv_bytes(HEADERS, table_rows(rows))


def history_xlsx(rows: Iterable[ProviderRow]) -> bytes:
    return xlsx_bytes(HEADERS, table_rows(rows))


def links_text(rows: Iterable[ProviderRow]) -> str:
    """'email<TAB>invite link' lines, for pasting into a mail merge."""
    return "\n".join(f"{r.email}\t{r.invite_url}" for r in rows if r.invite_url)
