"""CSV and Excel exports of history rows, streamed.

In CSV files, cells that a spreadsheet would run as a formula (starting with = + - @ tab or
carriage return) get a leading apostrophe (OWASP "CSV injection"). Excel files need no guard:
a cell written as a string is never a formula. Exports never hold the key or its fingerprint.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any

import rustpy_xlsxwriter
import xlsxwriter
from babel import Locale, UnknownLocaleError
from sqlalchemy import Integer, String, case, cast, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from partner_console.api.models import FIELD_LABELS, NoteIdentifier
from partner_console.signup import SIGNUP_FILTERS, SIGNUP_LABELS
from partner_console.storage.activity import ACTION_LABELS, Activity, ActivityFilter
from partner_console.storage.history import ProviderRow
from partner_console.storage.history_reads import HistoryFilter, HistoryReads
from partner_console.storage.scope import Scope
from partner_console.storage.tables import providers
from partner_console.when import LocalTimes, local, zone_label

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_LINKS_PER_SHEET = 65_530  # Excel's own limit; later links are written as plain text
_FORMULA_STARTS = frozenset(FORMULA_PREFIXES)

STATUS_LABELS = {
    "created": "Created",
    "pending": "Outcome unknown",
    "failed": "Failed",
    "links_lost": "Created, link not returned",
    "deactivated": "Deactivated",
}


def status_label(row: ProviderRow) -> str:
    """A provider's status as staff read it: "Deactivated" once it is."""
    if row.deactivated_at is not None:
        return STATUS_LABELS["deactivated"]
    return STATUS_LABELS.get(row.status, row.status)

class first_code(FunctionElement[int]):  # noqa: N801  (an SQL function's name)
    """The code point of a text's first character (SQLite unicode(), PostgreSQL ascii())."""

    type = Integer()
    inherit_cache = True


@compiles(first_code, "sqlite")
def _first_code_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"unicode({compiler.process(element.clauses, **kw)})"


@compiles(first_code, "postgresql")
def _first_code_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"ascii({compiler.process(element.clauses, **kw)})"


_FORMULA_CODES = [ord(prefix) for prefix in FORMULA_PREFIXES]


def _guarded(column: Any) -> Any:
    """The column with the formula guard applied by the database, judged by the first
    character's code point: never by a comparison of text, whose order is the collation's
    (glibc's en_US.UTF-8 sorts "=cmd" as "cmd", after "A")."""
    return case((first_code(column).in_(_FORMULA_CODES), literal("'") + column),
                else_=column)


def _templates(column: Any) -> Any:
    """'["a", "b"]' (as json.dumps stored it) -> 'a, b' (template ids are checked UUIDs:
    nothing to guard)."""
    bare = func.replace(func.replace(func.replace(column, '["', ""), '"]', ""), '", "', ", ")
    return case((column == "[]", ""), else_=bare)


_c = providers.c
# "Signed up", "Invited, not signed up yet" (also when never checked), "No longer in Upheal";
# nothing for providers that were not created.
_SIGNUP_LABEL = case((_c.status.in_(("created", "links_lost")), case(
    SIGNUP_FILTERS, value=_c.signup_status, else_=SIGNUP_LABELS[None])), else_="")
# The status as shown: "deactivated" once a created provider is (status_label's rule).
_STATUS = case((_c.deactivated_at.is_not(None), "deactivated"), else_=_c.status)
# (header, cell) for each exported column, in order; each cell is computed by the database as
# export-ready text, so rows go straight from the cursor to the writer. Free text gets the
# formula guard; columns whose values were checked to be links, digits, tags or one of a
# fixed set cannot start with a formula character and go out as they are. Never the
# fingerprint.
COLUMNS: list[tuple[str, Any]] = [
    ("Created at (UTC)", func.substr(cast(_c.created_at, String), 1, 19)),
    ("First name", _guarded(_c.first_name)),
    ("Last name", _guarded(_c.last_name)),
    ("Email", _guarded(_c.email)),
    ("Status", case(STATUS_LABELS, value=_STATUS, else_=_c.status)),
    ("Sign-up", _SIGNUP_LABEL),
    ("Sign-up checked at (UTC)", func.substr(cast(_c.signup_checked_at, String), 1, 19)),
    ("Reminded at (UTC)", func.substr(cast(_c.reminded_at, String), 1, 19)),
    ("Reminded by", _guarded(_c.reminded_by)),
    ("Invite emailed at (UTC)", func.substr(cast(_c.invite_emailed_at, String), 1, 19)),
    ("Deactivated at (UTC)", func.substr(cast(_c.deactivated_at, String), 1, 19)),
    ("Deactivated by", _guarded(_c.deactivated_by)),
    ("Invite link", _c.invite_url),  # checked http(s) links
    ("Room link", _c.private_room_link),
    ("Your own ID", _guarded(_c.partner_user_id)),
    ("Phone country code", _guarded(_c.phone_country_code)),
    ("Phone number", _c.phone_number),  # digits
    ("Language", _c.locale),  # a checked language tag
    ("NPI", _c.national_provider_identifier),  # digits
    ("Therapy licence", _guarded(_c.therapy_licence)),
    ("Called in notes", _c.note_identifier),  # one of the 16 values
    ("Note templates", _templates(_c.default_note_template_ids)),
    ("Practice", _guarded(_c.practice_id)),  # (named by the export: _cells)
    ("Upheal user id", _guarded(_c.user_id)),
    ("Organisation id", _guarded(_c.organization_id)),
    ("Created by", _guarded(_c.created_by)),
    ("Problem", _guarded(_c.error_text)),
]
HEADERS = [header for header, _ in COLUMNS]
EXPORT_CELLS = [cell for _, cell in COLUMNS]
_PRACTICE_AT = HEADERS.index("Practice")


def _cells(practices: dict[str, str] | None) -> list[Any]:
    """The export's cells, a platform's practices by name (their ids are the organisation's
    own list: Practices page), the key's own organisation left empty."""
    cells = list(EXPORT_CELLS)
    if practices:
        cells[_PRACTICE_AT] = _guarded(case(practices, value=_c.practice_id,
                                            else_=_c.practice_id))
    return cells


def _text_cells(practices: dict[str, str] | None) -> list[Any]:
    return [func.coalesce(cell, "") for cell in _cells(practices)]  # no None to join


def _copy_cells(practices: dict[str, str] | None) -> list[Any]:
    # COPY writes an empty text as "" (to tell it from NULL); the file should not care.
    return [func.nullif(cell, "") for cell in _cells(practices)]


def neutralise(value: Any) -> str:
    """The cell as text, made inert if a spreadsheet would evaluate it."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else (
        value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value))
    if text and text[0] in _FORMULA_STARTS:
        return "'" + text
    return text


def csv_chunks(batches: Iterable[Sequence[Sequence[str | None]]], width: int
               ) -> Iterator[str]:
    """CSV text (comma-separated, "\\n" line ends, minimal quoting: exactly what `csv.writer`
    writes), one chunk per batch of rows.

    Most cells need no quoting, so a batch is first joined as it is; the join is kept when
    counting separators proves that no cell held a comma, quote or line break. Only the rows
    that fail that check, and a batch holding anything but text, go through `csv.writer`."""
    separators = width - 1
    for batch in batches:
        try:
            lines = [",".join(row) for row in batch]  # type: ignore[arg-type]
        except TypeError:  # a None or a number: the csv module writes it as csv would
            lines = []
        # (csv writes a lone empty cell as "", and rows of another width defeat the count)
        if not lines or width < 2 or any(len(row) != width for row in batch):
            if batch:
                yield _written(batch)
            continue
        text = "\n".join(lines)
        if (text.count(",") != separators * len(lines) or text.count("\n") != len(lines) - 1
                or '"' in text or "\r" in text):
            text = "\n".join([line if _plain(line, separators) else _written([row])[:-1]
                              for line, row in zip(lines, batch, strict=True)])
        yield text + "\n"


def _plain(line: str, separators: int) -> bool:
    return (line.count(",") == separators and '"' not in line and "\n" not in line
            and "\r" not in line)


def _written(rows: Iterable[Sequence[str | None]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def csv_bytes(headers: list[str], rows: Iterable[Sequence[str | None]],
              batch_size: int = 5000) -> bytes:
    """UTF-8 with a byte-order mark (so Excel opens accents and emoji right), written into
    one buffer batch by batch: memory beyond the file itself stays flat however many rows."""
    iterator = iter(rows)
    return csv_file(headers, iter(lambda: list(itertools.islice(iterator, batch_size)), []))


def csv_file(headers: list[str], batches: Iterable[Sequence[Sequence[str | None]]]) -> bytes:
    """The same, from rows already fetched in batches."""
    buffer = io.BytesIO()
    buffer.write(b"\xef\xbb\xbf")
    buffer.write(_written([[neutralise(h) for h in headers]]).encode())
    for chunk in csv_chunks(batches, len(headers)):
        buffer.write(chunk.encode())
    return buffer.getvalue()


HEADER_FILL = "#e3eeee"
WIDEST = 60  # characters: a column is as wide as its longest value (and header), up to this


class _Widths:
    """Each column as wide as its content, with a cap: tracked as rows are written (in
    constant-memory mode nothing can be read back), applied before the workbook closes."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.widths = [len(h) + 4 for h in headers]  # (room for the filter's arrow)

    def fit(self, column: int, text: str) -> None:
        self.fit_length(column, len(text))

    def fit_length(self, column: int, length: int) -> None:
        if length + 2 > self.widths[column]:
            self.widths[column] = min(WIDEST, length + 2)

    def apply(self, sheet: Any) -> None:
        for column, width in enumerate(self.widths):
            sheet.set_column(column, column, min(WIDEST, width))


def _workbook(buffer: io.BytesIO) -> tuple[Any, Any, Any]:
    """An XlsxWriter workbook in constant-memory mode that writes every string as a string
    (never a formula, a link or a number), with its header and link formats."""
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True, "in_memory": False,
                                            "strings_to_formulas": False,
                                            "strings_to_urls": False,
                                            "strings_to_numbers": False})
    return (workbook, workbook.add_format({"bold": True, "bg_color": HEADER_FILL}),
            workbook.add_format({"font_color": "#0b5cad", "underline": 1}))


def xlsx_bytes(headers: list[str], rows: Iterable[Sequence[str]], sheet: str = "Providers",
               notes: list[tuple[str, str]] | None = None, links: tuple[str, ...] = (),
               numbers: tuple[str, ...] = ()) -> bytes:
    """An Excel workbook (XlsxWriter, constant-memory mode); every cell written as a string,
    which Excel never runs as a formula, so no guard is needed (or wanted: no apostrophes);
    the columns named in `numbers` hold whole numbers written as numbers."""
    buffer = io.BytesIO()
    workbook, bold, link = _workbook(buffer)
    worksheet = workbook.add_worksheet(sheet)
    widths = _Widths(headers)
    for index, header in enumerate(headers):
        worksheet.write_string(0, index, header, bold)
    worksheet.freeze_panes(1, 0)
    linked = {headers.index(h) for h in links if h in headers}
    numeric = {headers.index(h) for h in numbers if h in headers}
    number = 0
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if not value:  # empty cells are simply left out
                continue
            widths.fit(column, value)
            if column in numeric and value.isdigit():
                worksheet.write_number(number, column, int(value))
            elif column in linked and number <= MAX_LINKS_PER_SHEET // 2:
                worksheet.write_url(number, column, value, link, string=value)
            else:
                worksheet.write_string(number, column, value)
    widths.apply(worksheet)
    if number:
        worksheet.autofilter(0, 0, number, len(headers) - 1)
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


def history_csv(history: HistoryReads, scope: Scope, filters: HistoryFilter = HistoryFilter(),
                practices: dict[str, str] | None = None) -> bytes:
    """The organisation's providers matching `filters`, as a CSV file (`practices`: a
    platform's practices' names by organisation id)."""
    if history.engine.dialect.name == "postgresql":
        return _postgresql_csv(history, scope, filters, practices)
    return csv_file(HEADERS, history.export_batches(scope, filters, _text_cells(practices)))


def _postgresql_csv(history: HistoryReads, scope: Scope, filters: HistoryFilter,
                    practices: dict[str, str] | None) -> bytes:
    """The same file, written by PostgreSQL itself (COPY ... TO STDOUT, in C), streamed into
    one buffer. The query is the export query, with its values bound by the driver."""
    compiled = history.export_query(scope, filters, _copy_cells(practices)).compile(
        history.engine, compile_kwargs={"render_postcompile": True})
    buffer = io.BytesIO()
    buffer.write(b"\xef\xbb\xbf")
    buffer.write(_written([HEADERS]).encode())
    with history.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(
                f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)",
                compiled.params) as copy:
            for chunk in copy:
                buffer.write(chunk)
    return buffer.getvalue()


# The Excel export: values Excel understands (real date-times, links, labels), no guard (a
# string cell is never a formula), internal ids last.
_XLSX_COLUMNS: list[tuple[str, Any, str]] = [  # (header, cell, kind)
    ("Created", _c.created_at, "time"),
    ("First name", _c.first_name, "text"),
    ("Last name", _c.last_name, "text"),
    ("Email", _c.email, "text"),
    ("Status", case(STATUS_LABELS, value=_STATUS, else_=_c.status), "text"),
    ("Sign-up", _SIGNUP_LABEL, "text"),
    ("Sign-up checked", _c.signup_checked_at, "time"),
    ("Reminded", _c.reminded_at, "time"),
    ("Reminded by", _c.reminded_by, "text"),
    ("Invite emailed", _c.invite_emailed_at, "time"),
    ("Deactivated", _c.deactivated_at, "time"),
    ("Deactivated by", _c.deactivated_by, "text"),
    ("Invite link", _c.invite_url, "link"),
    ("Room link", _c.private_room_link, "link"),
    ("Your own ID", _c.partner_user_id, "text"),
    ("Phone country code", _c.phone_country_code, "text"),
    ("Phone number", _c.phone_number, "text"),
    ("Language", _c.locale, "language"),
    ("NPI", _c.national_provider_identifier, "text"),
    ("Therapy licence", _c.therapy_licence, "text"),
    ("Called in notes", _c.note_identifier, "note"),
    ("Note templates", _templates(_c.default_note_template_ids), "text"),
    ("Practice", _c.practice_id, "practice"),
    ("Created by", _c.created_by, "text"),
    ("Problem", _c.error_text, "text"),
    ("Upheal user id", _c.user_id, "text"),
    ("Organisation id", _c.organization_id, "text"),
]
# Empty text is an empty cell (None), said by the database.
_XLSX_CELLS = [cell if kind == "time" else func.nullif(cell, "") for _, cell, kind in _XLSX_COLUMNS]
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm"


@cache
def language_name(tag: str) -> str:
    """'en-US' -> 'English (United States)'; the tag itself when babel does not know it."""
    try:
        return Locale.parse(tag, sep="-").get_display_name("en") or tag
    except (ValueError, TypeError, UnknownLocaleError):
        return tag


@cache
def note_label(value: str) -> str:
    """'DrLastName' -> 'Dr. + last name' (the picker's label without its example)."""
    try:
        return NoteIdentifier(value).label.split(" (e.g.")[0]
    except ValueError:
        return value


RUST_ROWS = MAX_LINKS_PER_SHEET // 2  # two link columns: beyond this, XlsxWriter's path

Progress = Callable[[int], None]  # rows prepared so far


class _TooManyLinks(Exception):
    """More rows than the count said (created meanwhile): the fast path would pass Excel's
    limit of links, so the export starts again on the path that keeps it."""


def excel_cells(history: HistoryReads, scope: Scope, filters: HistoryFilter, zone: tzinfo,
                   practices: dict[str, str] | None,
                   progress: Progress | None) -> Iterator[list[Any]]:
    """Each matching row's cells as the workbook shows them: naive date-times in `zone`,
    labels for codes, text; None for an empty cell."""
    when = LocalTimes(zone)

    def practice(value: Any) -> str:
        return (practices or {}).get(value, value)

    shown: dict[str, Callable[[Any], Any]] = {
        "time": when, "practice": practice, "language": language_name,
        "note": note_label}  # (text and links: as the database gives them)
    converted = [(index, shown[kind]) for index, (_, _, kind) in enumerate(_XLSX_COLUMNS)
                 if kind in shown]
    done = 0
    for batch in history.export_batches(scope, filters, _XLSX_CELLS):
        for row in batch:
            cells = list(row)
            for index, to in converted:
                if cells[index] is not None:
                    cells[index] = to(cells[index])
            yield cells
        done += len(batch)
        if progress is not None:
            progress(done)


def history_xlsx(history: HistoryReads, scope: Scope, filters: HistoryFilter = HistoryFilter(),
                 zone: tzinfo = UTC, practices: dict[str, str] | None = None,
                 progress: Progress | None = None) -> bytes:
    """The providers matching `filters` as an Excel workbook: times in `zone` as real
    date-times, clickable links showing their address (up to Excel's limit per sheet), labels
    rather than codes, strings never formulas, a filter on the header row, internal ids last.

    Written by rust_xlsxwriter (rustpy-xlsxwriter), about ten times XlsxWriter's speed, while
    every link fits under Excel's limit; it has no way to stop at that limit, so a larger
    export is written by XlsxWriter (constant-memory mode), which does. `progress` is told the
    rows prepared so far."""
    headers = [f"{header} ({zone_label(zone)})" if kind == "time" else header
               for header, _, kind in _XLSX_COLUMNS]
    if history.count(scope, filters, cap=RUST_ROWS) <= RUST_ROWS:
        try:
            with _collection_paused():
                return _rust_workbook(headers, excel_cells(history, scope, filters, zone,
                                                              practices, progress))
        except _TooManyLinks:
            pass
    return _xlsxwriter_workbook(headers, excel_cells(history, scope, filters, zone,
                                                        practices, progress))


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a workbook's rows are gathered (about a second): they
    are tens of thousands of new lists and dicts, none of them garbage, and each pass over them
    cost a sixth of the export. Reference counting still frees everything as usual. Collection
    resumes when the export that found it on ends (an export that overlaps it and found it off
    leaves it as it is)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _kinds() -> list[str]:
    return [kind for _, _, kind in _XLSX_COLUMNS]


def _header_widths(headers: Sequence[str]) -> _Widths:
    widths = _Widths(headers)
    for index, kind in enumerate(_kinds()):
        if kind == "time":
            widths.fit(index, "2026-12-04 10:00   ")  # (as Excel shows XLSX_TIME_FORMAT)
    return widths


def _rust_workbook(headers: list[str], cells: Iterator[list[Any]]) -> bytes:
    """The workbook in one call of rust_xlsxwriter, from rows gathered first (at most
    RUST_ROWS of them: their column widths are needed before it writes)."""
    kinds = _kinds()
    rows: list[list[Any]] = []
    for row in cells:
        if len(rows) >= RUST_ROWS:
            raise _TooManyLinks
        rows.append(row)
    if not rows:  # (a header row and its filter, as XlsxWriter writes an empty export)
        return _xlsxwriter_workbook(headers, iter(()))
    widths = _header_widths(headers)
    columns = zip(*rows, strict=True)
    for column, (kind, cells_of_column) in enumerate(zip(kinds, columns, strict=True)):
        if kind != "time":  # each column's widest text
            widths.fit_length(column, max(map(len, filter(None, cells_of_column)), default=0))
    records = list(map(dict, map(zip, itertools.repeat(headers), rows)))
    buffer = io.BytesIO()
    rustpy_xlsxwriter.write_worksheet(
        records, buffer, sheet_name="Providers", freeze_row=1, autofilter=True,
        header_format=rustpy_xlsxwriter.Format().set_bold().set_background_color(HEADER_FILL),
        column_widths=[min(WIDEST, w) for w in widths.widths],
        column_formats={h: rustpy_xlsxwriter.Format().set_num_format(XLSX_TIME_FORMAT)
                        .set_align("left") for h, kind in zip(headers, kinds, strict=True)
                        if kind == "time"},
        url_columns=[h for h, kind in zip(headers, kinds, strict=True) if kind == "link"])
    return buffer.getvalue()


def _xlsxwriter_workbook(headers: list[str], cells: Iterator[list[Any]]) -> bytes:
    """The workbook through XlsxWriter's constant-memory mode: memory flat at any size, links
    clickable up to Excel's limit and plain text after it."""
    kinds = _kinds()
    buffer = io.BytesIO()
    workbook, bold, link = _workbook(buffer)
    stamp = workbook.add_format({"num_format": XLSX_TIME_FORMAT, "align": "left"})
    sheet = workbook.add_worksheet("Providers")
    for index, header in enumerate(headers):
        sheet.write_string(0, index, header, bold)
    sheet.freeze_panes(1, 0)
    widths = _header_widths(headers)
    links = 0
    number = 0
    for number, row in enumerate(cells, start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            kind = kinds[column]
            if kind == "time":
                sheet.write_datetime(number, column, value, stamp)
                continue
            widths.fit(column, value)
            if kind == "link" and links < MAX_LINKS_PER_SHEET:
                links += 1
                sheet.write_url(number, column, value, link, string=value)
            else:
                sheet.write_string(number, column, value)
    widths.apply(sheet)
    sheet.autofilter(0, 0, max(number, 1), len(headers) - 1)
    workbook.close()
    return buffer.getvalue()


def links_text(rows: Iterable[ProviderRow]) -> str:
    """'email<TAB>invite link' lines, for pasting into a mail merge."""
    return "\n".join(f"{r.email}\t{r.invite_url}" for r in rows if r.invite_url and r.active)


# -- the activity log -------------------------------------------------------------------------
def activity_headers(zone: tzinfo) -> list[str]:
    return [f"When ({zone_label(zone)})", "Who", "Email", "What", "Details"]


def _activity_batches(log: Activity, scope: Scope, filters: ActivityFilter, zone: tzinfo
                      ) -> Iterator[list[list[str]]]:
    for batch in log.export_batches(scope, filters):
        yield [[local(e.at, zone).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name, e.actor_email,
                ACTION_LABELS.get(e.action, e.action), e.summary] for e in batch]


def activity_csv(log: Activity, scope: Scope, filters: ActivityFilter, zone: tzinfo) -> bytes:
    """The matching entries of the activity log, newest first, as CSV (formula-guarded)."""
    return csv_file(activity_headers(zone), ([[neutralise(cell) for cell in row]
                                              for row in batch]
                                             for batch in _activity_batches(log, scope, filters,
                                                                            zone)))


def activity_xlsx(log: Activity, scope: Scope, filters: ActivityFilter, zone: tzinfo) -> bytes:
    return xlsx_bytes(activity_headers(zone), itertools.chain.from_iterable(
        _activity_batches(log, scope, filters, zone)), sheet="Activity")


def sent_fields(row: ProviderRow, names: dict[str, str]) -> list[tuple[str, str]]:
    """Every field of the create request as saved, in the form's words and order, so a person
    can check what Upheal was given (`names`: the catalog's template names by id)."""
    phone = (f"{row.phone_country_code or ''} {row.phone_number}".strip()
             if row.phone_number else "")
    return [
        (FIELD_LABELS["first_name"], row.first_name), (FIELD_LABELS["last_name"], row.last_name),
        (FIELD_LABELS["email"], row.email), ("Phone", phone),
        (FIELD_LABELS["locale"], language_name(row.locale) if row.locale else ""),
        (FIELD_LABELS["national_provider_identifier"], row.national_provider_identifier or ""),
        (FIELD_LABELS["therapy_licence"], row.therapy_licence or ""),
        (FIELD_LABELS["note_identifier"], note_label(row.note_identifier)
         if row.note_identifier else ""),
        (FIELD_LABELS["default_note_template_ids"], ", ".join(
            f"{names[i]} ({i})" if i in names else i for i in row.default_note_template_ids)),
        (FIELD_LABELS["partner_user_id"], row.partner_user_id or ""),
        ("Upheal user id", row.user_id or ""),
    ]


def _searched(text: str, date_from: object, date_to: object, dated: str = "") -> list[str]:
    """The search and date range of a download's filters, in words."""
    parts = [f"search “{text.strip()}”"] if text.strip() else []
    if date_from:
        parts.append(f"{dated}{date_from} to {date_to or date_from}")
    return parts


def describe_history(filters: HistoryFilter) -> str:
    """The filters of an export, in words, for the activity log."""
    if filters == HistoryFilter():
        return "every provider"
    parts = _searched(filters.text, filters.date_from, filters.date_to, "created ")
    if filters.statuses:
        parts.append("status " + ", ".join(STATUS_LABELS.get(s, s) for s in filters.statuses))
    if filters.signups:
        parts.append("sign-up " + ", ".join(SIGNUP_FILTERS.get(s, s) for s in filters.signups))
    if filters.note_identifiers:
        parts.append("called in notes " + ", ".join(NoteIdentifier(v).label
                                                 for v in filters.note_identifiers))
    if filters.created_by:
        parts.append("created by " + ", ".join(b or "(no name)" for b in filters.created_by))
    if filters.practices:
        parts.append("practice " + ", ".join(p or "the key's own" for p in filters.practices))
    return "; ".join(parts)


def describe_activity(filters: ActivityFilter) -> str:
    """The filters of an activity download, in words, for the activity log."""
    if filters == ActivityFilter():
        return "every entry"
    parts = _searched(filters.text, None, None)
    if filters.actions:
        parts.append(", ".join(ACTION_LABELS.get(a, a) for a in filters.actions))
    return "; ".join(parts + _searched("", filters.date_from, filters.date_to))
