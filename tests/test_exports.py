"""The CSV writer's fast path writes exactly what the csv module writes."""

from __future__ import annotations

import csv
import gc
import io
import itertools
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from partner_console.exports import (
    FORMULA_PREFIXES,
    csv_bytes,
    csv_chunks,
    history_csv,
    history_xlsx,
)
from tests.helpers import HistoryForTests
from tests.workbooks import formulas

cell = st.one_of(st.none(), st.text(alphabet=st.sampled_from('ab ,"\r\n\té='), max_size=6),
                 st.text(max_size=4))


@st.composite
def table(draw):
    """Rows of one width, now and then one of another width."""
    width = draw(st.integers(min_value=1, max_value=5))
    rows_ = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=30))
    if rows_ and draw(st.booleans()):
        rows_.insert(draw(st.integers(0, len(rows_))), draw(st.lists(cell, max_size=6)))
    return width, rows_


def written_by_csv(rows_: list[list[str | None]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows_)
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(table(), st.integers(min_value=1, max_value=7))
@example((3, [["a", "b"], ["x,y", "c", "d"]]), 7)  # a short row hiding a comma from the count
@example((1, [[""], ["a"]]), 2)  # a lone empty cell, which csv writes as ""
def test_fast_csv_equals_the_csv_module(width_and_rows, batch_size):
    width, rows_ = width_and_rows
    batches = [rows_[i:i + batch_size] for i in range(0, len(rows_), batch_size)]
    assert "".join(csv_chunks(batches, width)) == written_by_csv(rows_)


def test_rows_needing_quotes_among_plain_ones_are_quoted_and_read_back():
    data = [["Jane", "Smith", "Created", ""]] * 3 + [["Ann", 'LCSW "senior"', "Created, link "
                                                      "not returned", "two\nlines"]]
    file = csv_bytes(["First", "Last", "Status", "Note"], data, batch_size=2)
    assert file.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(file.decode("utf-8-sig"), newline="")))
    assert read == [["First", "Last", "Status", "Note"], *data]


# -- the formula guard is a property of the bytes, whatever the database's collation --------------
FORMULAS = ["=HYPERLINK(\"http://evil\",\"x\")", "=cmd|' /C calc'!A0", "+SUM(A1:A9)", "-2+3",
            "@cmd", "\tTAB", "\rCR", "=1+1"]
formula_text = st.one_of(st.sampled_from(FORMULAS), st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12))


@pytest.fixture(params=["C", "en-US", "en-US-u-ka-shifted"])
def collated_engine(request, postgres_server):
    """A PostgreSQL database in the C collation, or an ICU one. Hosted servers mostly use a
    natural-language collation; glibc's en_US.UTF-8 ignores punctuation at first, so "=cmd"
    sorts as "cmd", after "A" (ICU's "ka-shifted" variant does the same: this machine has no
    glibc locales but does have ICU)."""
    import psycopg

    from partner_console.storage import make_engine, migrate

    name = f"coll_{request.param.replace('-', '_').lower()}_{os.getpid()}_{next(_counter)}"
    options = ("LOCALE 'C'" if request.param == "C" else
               f"LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE '{request.param}'")
    with psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=postgres "
                         "dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 {options}')
    engine = make_engine(postgres_server.url(name))
    migrate(engine)
    yield engine
    engine.dispose()


_counter = itertools.count()


def _history_with(engine, names: list[str]):
    from partner_console.api.models import CreatedProvider, validate_provider
    from partner_console.storage import fingerprint

    history = HistoryForTests(engine)
    fp = fingerprint(b"s", "k")
    scope = history.scope_for(fp)
    for i, name in enumerate(names):
        values = {"first_name": name or "x", "last_name": name or "y",
                  "email": f"f{i}@example.com", "therapy_licence": name or None,
                  "partner_user_id": name or None}
        request, errors = validate_provider(values)
        if request is None:  # a name that is a formula is refused: the other fields keep it
            request, errors = validate_provider({**values, "first_name": "x", "last_name": "y"})
        if request is None:
            continue
        row_id, _ = history.record_pending(scope, request, created_by=name)
        history.complete(row_id, fp, CreatedProvider(
            user_id=f"u{i}", invite_url=f"https://x.test/i/{i}", private_room_link=None))
    return history, history.scope_for(fp)


def _cells(csv_file: bytes, xlsx_file: bytes) -> list[str]:
    """The CSV's cells, after checking that the workbook holds no formula at all (its cells
    are strings, kept exactly as typed: no apostrophes there)."""
    import pandas as pd

    assert formulas(xlsx_file) == []
    frame = pd.read_csv(io.BytesIO(csv_file), dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    return [str(c) for c in frame.to_numpy().ravel()]


def test_no_exported_cell_is_a_formula_in_any_collation(collated_engine):
    import pandas as pd

    history, scope = _history_with(collated_engine, FORMULAS)
    workbook = history_xlsx(history, scope)
    cells = _cells(history_csv(history, scope), workbook)
    assert [c for c in cells if c[:1] in FORMULA_PREFIXES] == []
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells  # kept, made inert
    excel = pd.read_excel(io.BytesIO(workbook), dtype=str, keep_default_na=False,
                          engine="calamine").to_numpy().ravel().tolist()
    assert "=HYPERLINK(\"http://evil\",\"x\")" in excel  # as typed: a string, not a formula


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(formula_text, min_size=1, max_size=6))
def test_any_text_through_every_history_export_on_both_databases_is_inert(names, engine):
    _any_text_is_inert(names, engine)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(formula_text, min_size=1, max_size=6))
def test_any_text_through_history_exports_in_every_collation_is_inert(names, collated_engine):
    _any_text_is_inert(names, collated_engine)


def _any_text_is_inert(names, engine):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM email_reservations"))
        conn.execute(text("DELETE FROM providers"))
    history, scope = _history_with(engine, names)
    cells = _cells(history_csv(history, scope), history_xlsx(history, scope))
    assert [c for c in cells if c[:1] in FORMULA_PREFIXES] == []


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(formula_text, min_size=1, max_size=5))
def test_import_results_fix_up_files_and_the_catalog_are_inert_too(texts):
    import pandas as pd

    from partner_console.bulk.files import fix_up_csv, results_csv, results_xlsx
    from partner_console.catalog_file import catalog_rows
    from partner_console.jobs.store import JobRow
    from partner_console.storage.catalog import NoteTemplate

    rows = [JobRow(i, i + 2, "failed", t, {"Name": t}, {"firstName": t, "lastName": t}, t, None,
                   None, None) for i, t in enumerate(texts)]
    files = [results_csv(rows), fix_up_csv(["Name"], [({"Name": t}, t) for t in texts]),
             csv_bytes(["Name", "Template id", "Preselected"], catalog_rows(
                 [NoteTemplate(t, "2fb81b0a-611b-11ed-9b6a-0242ac120002", False)
                  for t in texts]))]
    cells = [str(c) for f in files for c in pd.read_csv(
        io.BytesIO(f), dtype=str, keep_default_na=False, encoding="utf-8-sig").to_numpy().ravel()]
    assert [c for c in cells if c[:1] in FORMULA_PREFIXES] == []
    workbook = results_xlsx(rows)
    assert formulas(workbook) == []
    excel = pd.read_excel(io.BytesIO(workbook), dtype=str, keep_default_na=False,
                          engine="calamine")
    assert list(excel["Name"]) == texts  # the uploaded values, exactly as they were


def test_a_rows_details_show_every_field_that_was_sent_in_the_forms_words():
    from datetime import datetime

    from partner_console.api.models import FIELD_LABELS
    from partner_console.exports import sent_fields
    from partner_console.storage import ProviderRow

    at = datetime(2026, 12, 4, 9, 0)
    row = ProviderRow(
        id=1, created_at=at, updated_at=at, created_by="Ann", organization_id="org",
        status="created", source="form", email="rosa@example.com", first_name="Rosa",
        last_name="Díaz", partner_user_id="emp-0042", phone_number="4155552671",
        phone_country_code="+1", locale="es-MX",
        default_note_template_ids=["2fb81b0a-611b-11ed-9b6a-0242ac120002", "d290f1ee-6c54"],
        national_provider_identifier="1234567893", therapy_licence="LCSW",
        note_identifier="DrLastName", user_id="u-1", invite_url="https://x.test/i",
        private_room_link=None, error_text=None)
    shown = dict(sent_fields(row, {"2fb81b0a-611b-11ed-9b6a-0242ac120002": "Intake"}))
    assert shown == {
        "First name": "Rosa", "Last name": "Díaz", "Email": "rosa@example.com",
        "Phone": "+1 4155552671", "Language": "Spanish (Mexico)", "NPI": "1234567893",
        "Therapy licence": "LCSW", "Called in notes": "Dr. + last name",
        "Note templates": "Intake (2fb81b0a-611b-11ed-9b6a-0242ac120002), d290f1ee-6c54",
        "Your own ID": "emp-0042", "Upheal user id": "u-1"}
    # every field of the create request has its line (phone: number and country as one)
    assert set(FIELD_LABELS.values()) - {"Phone number", "Phone country"} <= set(shown)
    blank = dict(sent_fields(ProviderRow(**{**row.__dict__, "phone_number": None,
                                            "locale": None, "note_identifier": None,
                                            "default_note_template_ids": []}), {}))
    assert blank["Phone"] == blank["Language"] == blank["Note templates"] == ""


def test_excel_columns_are_as_wide_as_their_content_and_row_numbers_are_numbers(engine):
    import pandas as pd
    from python_calamine import CalamineWorkbook

    from partner_console.api.models import validate_provider
    from partner_console.bulk.files import results_xlsx
    from partner_console.exports import WIDEST
    from partner_console.jobs.store import JobRow
    from tests.workbooks import column_widths

    long_email = "siobhan.oconnor-fitzgerald@northside-practice.example.com"
    history, scope = _history_with(engine, ["Siobhan"])
    request, _ = validate_provider({"first_name": "Al", "last_name": "Bo", "email": long_email})
    history.record_pending(scope, request, created_by="Ann")
    workbook = history_xlsx(history, scope)
    headers = list(pd.read_excel(io.BytesIO(workbook), engine="calamine").columns)
    widths = column_widths(workbook)
    assert widths[headers.index("Email")] >= len(long_email)  # never cut at 15 characters
    assert widths[headers.index("Last name")] < 20  # and short columns stay short
    assert max(widths.values()) <= WIDEST + 1
    rows = [JobRow(i, i + 2, "failed", "x", {"Email": long_email * 3}, {}, "Created", None,
                   None, None) for i in range(3)]
    results = results_xlsx(rows)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(results)).get_sheet_by_index(0).to_python()
    assert [row[0] for row in sheet[1:]] == [2, 3, 4]  # numbers, not text
    assert all(isinstance(row[0], (int, float)) for row in sheet[1:])
    widths = column_widths(results)
    assert widths[sheet[0].index("Email")] == WIDEST + 0.7109375  # capped (Excel's padding)


def test_an_exports_filters_are_described_in_words_for_the_activity_log():
    from datetime import date

    from partner_console.exports import describe_activity, describe_history
    from partner_console.storage import HistoryFilter
    from partner_console.storage.activity import ActivityFilter

    assert describe_history(HistoryFilter()) == "every provider"
    assert describe_history(HistoryFilter(
        text=" oconnor ", date_from=date(2026, 11, 1), statuses=("created",),
        note_identifiers=("Coach",), created_by=("", "Ann"))) == (
        "search “oconnor”; created 2026-11-01 to 2026-11-01; status Created; called in notes "
        "Coach; created by (no name), Ann")
    assert describe_activity(ActivityFilter()) == "every entry"
    assert describe_activity(ActivityFilter(text="zoe", actions=("emailed",))) == \
        "search “zoe”; Email"


def test_excel_links_stop_at_excels_limit_whichever_writer_writes(engine, monkeypatch):
    """rust_xlsxwriter writes the workbook while every link fits under Excel's limit per
    sheet; past it (or when rows arrive after the count), XlsxWriter writes it and stops
    making links at the limit. Limits made small here: the logic is the same."""
    import pandas as pd
    import rustpy_xlsxwriter

    import partner_console.exports as exports
    import partner_console.storage.history_reads as history_reads
    from partner_console.api.models import CreatedProvider, validate_provider
    from partner_console.storage import fingerprint
    from tests.workbooks import hyperlinks

    history = HistoryForTests(engine)
    fp = fingerprint(b"s", "k")
    scope = history.scope_for(fp)
    for i in range(9):
        request, _ = validate_provider({"first_name": f"N{i}", "last_name": "Link",
                                        "email": f"n{i}@example.com"})
        row_id, _ = history.record_pending(scope, request, created_by="Ann")
        history.complete(row_id, fp, CreatedProvider(
            user_id=f"u{i}", invite_url=f"https://x.test/i/{i}",
            private_room_link=f"https://x.test/r/{i}"))
    written = []
    real = rustpy_xlsxwriter.write_worksheet
    monkeypatch.setattr(rustpy_xlsxwriter, "write_worksheet",
                        lambda *a, **k: written.append(1) or real(*a, **k))

    steps: list[int] = []

    def exported(reads) -> tuple[pd.DataFrame, list[str]]:
        steps.clear()
        workbook = exports.history_xlsx(reads, scope, progress=steps.append)
        assert steps and steps[-1] == 9  # told of the rows as they were prepared
        return pd.read_excel(io.BytesIO(workbook), engine="calamine"), hyperlinks(workbook)

    frame, links = exported(history.reads)  # all fits: the fast writer, every link
    assert written == [1] and len(frame) == 9 and len(links) == 18
    monkeypatch.setattr(exports, "MAX_LINKS_PER_SHEET", 10)
    monkeypatch.setattr(exports, "RUST_ROWS", 5)
    monkeypatch.setattr(history_reads, "COUNT_CAP", 3)  # (History's counts stop early)
    reads, reads_of_rows = history.reads, []
    real_batches = reads.export_batches
    monkeypatch.setattr(reads, "export_batches",
                        lambda *a, **k: reads_of_rows.append(1) or real_batches(*a, **k))
    frame, links = exported(reads)  # past the limit: XlsxWriter, links up to it
    assert written == [1] and len(frame) == 9 and len(links) == 10
    assert reads_of_rows == [1]  # straight to XlsxWriter: the rows were not read twice
    assert list(frame["Invite link"]) == [f"https://x.test/i/{i}" for i in range(8, -1, -1)]

    class Undercounted(type(history.reads)):  # rows created between the count and the export
        def count(self, *args, **kwargs):
            return 3

    frame, links = exported(Undercounted(engine))
    assert written == [1] and len(frame) == 9 and len(links) == 10  # started again, capped
    # The fast path pauses cyclic garbage collection while it gathers rows; it is on again
    # afterwards, also when the fast path gave up (above) or the export failed.
    assert gc.isenabled()
    monkeypatch.setattr(rustpy_xlsxwriter, "write_worksheet", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(exports, "RUST_ROWS", 50)
    with pytest.raises(ZeroDivisionError):
        exports.history_xlsx(history.reads, scope)
    assert gc.isenabled()
    monkeypatch.setattr(exports, "RUST_ROWS", 5)
    gc.disable()  # (found off, it is left off)
    try:
        exports.history_xlsx(Undercounted(engine), scope)  # (the fast path gives up)
        assert not gc.isenabled()
    finally:
        gc.enable()
