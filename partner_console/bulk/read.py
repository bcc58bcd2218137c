"""Read a CSV or XLSX file into rows of text cells, saying what was detected.

Row numbers are the ones a person sees in their spreadsheet: the header is row 1.

Every limit is checked before the file is expanded: its size; for a workbook, each part's
uncompressed size and compression ratio and every sheet's extent (its declared dimension and
the cells it really names, scanned from the XML without building them); for a CSV, its lines
(blank ones too) and columns. Cells are capped in length. Pages read files through
`isolated.read_file_isolated`, in a child process with a memory cap and a time limit.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from defusedxml import DefusedXmlException, ElementTree
from python_calamine import CalamineError, CalamineWorkbook

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
MAX_COLUMNS = 200
MAX_LINES = 20_000  # rows of the file, blank ones included
MAX_CELL = 2_000  # characters in one cell
MAX_UNCOMPRESSED = 60 * 1024 * 1024  # a workbook's parts, all together, once unzipped
MAX_RATIO = 200  # how many times a workbook part may grow when unzipped
DELIMITERS = (",", ";", "\t")
_SPLIT = "Split it into smaller files, or save it again as CSV with only the provider columns."


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


def _utf16(data: bytes) -> str | None:
    """The UTF-16 codec when the file is UTF-16 (Excel's "Unicode Text" save): by its byte-order
    mark, or by the NUL bytes that ASCII text has at every other place."""
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    head = data[:4096]
    if len(head) >= 4 and head.count(0) * 3 >= len(head):
        odd_nuls = head[1::2].count(0)
        return "utf-16-le" if odd_nuls > head[0::2].count(0) else "utf-16-be"
    return None


def _decode(data: bytes) -> tuple[str, str]:
    utf16 = _utf16(data)
    if utf16 is not None:
        try:
            return data.decode(utf16), "utf-16"
        except UnicodeDecodeError:
            raise ImportFileError("This file looks like UTF-16 text but could not be read. "
                                  "Save it again as CSV (UTF-8) or Excel (.xlsx).") from None
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
    seen: set[str] = set()
    if len(headers_row) > MAX_COLUMNS:
        raise ImportFileError(f"The file has {len(headers_row):,} columns; at most "
                              f"{MAX_COLUMNS} can be read. {_SPLIT}")
    for index, raw in enumerate(headers_row):
        name = cell_text(raw)[:100] or f"Column {index + 1}"
        if name in seen:
            name = f"{name} ({index + 1})"
        seen.add(name)
        headers.append(name)
    rows: list[tuple[int, dict[str, str]]] = []
    blank = 0
    for offset, cells in enumerate(body):
        texts = [cell_text(c) for c in cells[:MAX_COLUMNS]]
        if any(len(t) > MAX_CELL for t in texts):
            raise ImportFileError(f"Row {first_number + offset} has a cell longer than "
                                  f"{MAX_CELL:,} characters. Check that row (a pasted "
                                  "document?) and save the file again.")
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
    if b"\x00" in data[:4096] and _utf16(data) is None:
        raise ImportFileError("This does not look like a spreadsheet. Save it as CSV or Excel "
                              "(.xlsx) and try again.")
    return _read_csv(data)


def _read_csv(data: bytes) -> ReadResult:
    text, encoding = _decode(data)
    lines_in_file = text.count("\n") + 1
    if lines_in_file > MAX_LINES:
        raise ImportFileError(f"The file has {lines_in_file:,} lines (empty ones count too); at "
                              f"most {MAX_LINES:,} can be read. {_SPLIT}")
    delimiter = _delimiter(text)
    first_line = next((line for line in text.splitlines()[:20] if line.strip()), "")
    if first_line.count(delimiter) + 1 > MAX_COLUMNS:
        raise ImportFileError(f"The file has {first_line.count(delimiter) + 1:,} columns; at most "
                              f"{MAX_COLUMNS} can be read. {_SPLIT}")
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ImportFileError(f"A cell of this file is longer than {MAX_CELL:,} "
                                  "characters. Check the file (a pasted document?) and save "
                                  "it again.") from exc
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


_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\sr="([A-Z]{1,3})(\d{1,7})"')
_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\sr="(\d{1,7})"')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\sref="[A-Z]*\d*:?([A-Z]{1,3})(\d{1,7})"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def check_workbook(data: bytes) -> None:
    """Refuse a workbook that would expand beyond the limits, from its zip directory and a scan
    of its sheets' XML (read in pieces, never built): no part or total past its unzipped
    size, no part past its compression ratio, no sheet declaring or naming a cell beyond
    MAX_LINES rows or MAX_COLUMNS columns."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ImportFileError("This file could not be opened as an Excel workbook. Save it "
                              "again as .xlsx or CSV and retry.") from exc
    if sum(p.file_size for p in parts) > MAX_UNCOMPRESSED:
        raise ImportFileError("This workbook holds far more than provider lists do once "
                              f"opened. {_SPLIT}")
    for part in parts:
        if part.file_size > 1024 * 1024 and part.file_size > MAX_RATIO * max(1, part.compress_size):
            raise ImportFileError("This workbook is packed in a way spreadsheets are not (it "
                                  f"would grow far too much when opened). {_SPLIT}")
    for part in parts:
        name = part.filename.lower()
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        rows, columns = _sheet_extent(archive, part)
        if rows > MAX_LINES or columns > MAX_COLUMNS:
            raise ImportFileError(f"A sheet of this workbook reaches row {rows:,} and column "
                                  f"{columns:,}; at most {MAX_LINES:,} rows and {MAX_COLUMNS} "
                                  f"columns can be read. {_SPLIT}")


def _sheet_extent(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> tuple[int, int]:
    rows = columns = 0
    tail = b""
    with archive.open(part) as stream:
        while chunk := stream.read(1024 * 1024):
            text = tail + chunk
            for pattern in (_DIMENSION, _CELL_REF):
                for letters, number in pattern.findall(text):
                    columns = max(columns, _column_number(letters))
                    rows = max(rows, int(number))
            for number in _ROW_REF.findall(text):
                rows = max(rows, int(number))
            if rows > MAX_LINES or columns > MAX_COLUMNS:
                break
            tail = text[-200:]  # a tag cut in two by the chunk boundary
    return rows, columns


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _first_sheet_part(archive: zipfile.ZipFile) -> str | None:
    """The zip part of the workbook's first sheet (the one calamine reads at index 0)."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    sheet = workbook.find(f"{_MAIN}sheets/{_MAIN}sheet")
    if sheet is None:
        return None
    rel_id = sheet.get(f"{_REL}id")
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{_PACKAGE_REL}Relationship"):
        if rel.get("Id") == rel_id:
            target = (rel.get("Target") or "").lstrip("/")
            return target if target.startswith("xl/") else f"xl/{target}"
    return None


def formula_cells(data: bytes) -> dict[tuple[int, int], str]:
    """The first sheet's cells that hold a formula, by (row, column) from 0, with the formula
    as a person typed it ("=HYPERLINK(…)"; "=…" for a shared one). Only called once
    check_workbook has bounded the sheet."""
    found: dict[tuple[int, int], str] = {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        part = _first_sheet_part(archive)
        if part is None:
            return found
        with archive.open(part) as stream:
            for _, element in ElementTree.iterparse(stream):
                if element.tag != f"{_MAIN}c":
                    continue
                formula = element.find(f"{_MAIN}f")
                ref = re.fullmatch(r"([A-Z]{1,3})(\d{1,7})", element.get("r") or "")
                if formula is not None and ref:
                    column = _column_number(ref.group(1).encode()) - 1
                    found[(int(ref.group(2)) - 1, column)] = "=" + (formula.text or "…")
                element.clear()
    except (KeyError, ElementTree.ParseError, DefusedXmlException, zipfile.BadZipFile,
            OSError):
        return found  # calamine's reading decides what the file holds
    return found


def _read_workbook(data: bytes) -> ReadResult:
    check_workbook(data)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (CalamineError, zipfile.BadZipFile, ValueError, IndexError, OSError) as exc:
        raise ImportFileError("This file could not be opened as an Excel workbook. Save it again "
                              "as .xlsx or CSV and retry.") from exc
    # A formula's cell reads as its last result (or nothing): show the formula, so that the
    # row is refused for what it is rather than imported under a computed or empty name.
    # (With skip_empty_area=False the rows start at A1.)
    for (row, column), formula in formula_cells(data).items():
        if row < len(sheet) and column < len(sheet[row]):
            sheet[row][column] = formula[:MAX_CELL]
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
