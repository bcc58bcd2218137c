"""Read a CSV or XLSX file into rows of text cells, saying what was detected.

Row numbers are the ones a person sees in their spreadsheet: the header is row 1.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
DELIMITERS = (",", ";", "\t")


class ImportFileError(ValueError):
    """The file cannot be imported; the message says why in plain words."""


@dataclass
class ReadResult:
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, {header: cell text})
    file_format: str  # "csv" or "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)


def cell_text(value: object) -> str:
    """A cell as a person would read it: 1234567893.0 -> '1234567893', dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return " ".join(str(value).replace("\ufeff", "").split())


def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else "windows-1252"
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _delimiter(text: str) -> str:
    sample = [line for line in text.splitlines()[:20] if line.strip()]
    if not sample:
        return ","
    header = sample[0]
    return max(DELIMITERS, key=lambda d: (header.count(d), -DELIMITERS.index(d)))


def _table(headers_row: list[str], body: list[list[Any]], first_number: int
           ) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[str]]:
    notes: list[str] = []
    headers: list[str] = []
    for index, raw in enumerate(headers_row):
        name = cell_text(raw) or f"Column {index + 1}"
        if name in headers:
            name = f"{name} ({index + 1})"
        headers.append(name)
    rows: list[tuple[int, dict[str, str]]] = []
    blank = 0
    for offset, cells in enumerate(body):
        texts = [cell_text(c) for c in cells]
        if not any(texts):
            blank += 1
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError(f"The file has more than {MAX_ROWS:,} providers. Split it into "
                                  "smaller files and import them one after another.")
        rows.append((first_number + offset, {h: (texts[i] if i < len(texts) else "")
                                             for i, h in enumerate(headers)}))
    if blank:
        notes.append(f"{blank} empty row(s) were skipped.")
    return headers, rows, notes


def read_file(data: bytes, filename: str) -> ReadResult:
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB. Split it "
                              "into smaller files.")
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if data[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm", ".xls", ".ods")):
        return _read_workbook(data)
    if b"\x00" in data[:4096]:
        raise ImportFileError("This does not look like a spreadsheet. Save it as CSV or Excel "
                              "(.xlsx) and try again.")
    return _read_csv(data)


def _read_csv(data: bytes) -> ReadResult:
    text, encoding = _decode(data)
    delimiter = _delimiter(text)
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ImportFileError("This file could not be read as CSV. Save it again as CSV or "
                              "Excel (.xlsx) and retry.") from exc
    skipped = 0
    while lines and not any(cell.strip() for cell in lines[0]):
        lines.pop(0)
        skipped += 1
    if not lines:
        raise ImportFileError("The file is empty.")
    headers, rows, notes = _table(lines[0], lines[1:], 2 + skipped)
    if not rows:
        raise ImportFileError("The file has column headings but no providers under them.")
    return ReadResult(headers, rows, "csv", encoding, delimiter, notes)


def _read_workbook(data: bytes) -> ReadResult:
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (CalamineError, zipfile.BadZipFile, ValueError, IndexError, OSError) as exc:
        raise ImportFileError("This file could not be opened as an Excel workbook. Save it again "
                              "as .xlsx or CSV and retry.") from exc
    skipped = 0
    while sheet and not any(cell_text(c) for c in sheet[0]):
        sheet.pop(0)
        skipped += 1
    if not sheet:
        raise ImportFileError("The first sheet of the workbook is empty.")
    headers, rows, notes = _table([cell_text(c) for c in sheet[0]], sheet[1:], 2 + skipped)
    if not rows:
        raise ImportFileError("The file has column headings but no providers under them.")
    return ReadResult(headers, rows, "xlsx", None, None, notes)
