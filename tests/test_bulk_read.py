from __future__ import annotations

import io
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner_console.bulk.columns import auto_map, missing_required
from partner_console.bulk.prepare import (
    DUPLICATE_IN_FILE,
    EXAMPLE,
    IN_HISTORY,
    IN_UPHEAL,
    INVALID,
    READY,
    Earlier,
    classify,
    counts,
    prepare_rows,
)
from partner_console.bulk.read import MAX_ROWS, ImportFileError, read_file
from partner_console.storage.catalog import NoteTemplate

DATA = Path(__file__).parent / "samples"


def load(name: str):
    read = read_file((DATA / name).read_bytes(), name)
    return read, prepare_rows(read, auto_map(read.headers), [])


def test_utf8_bom_and_semicolons():
    read, rows = load("bom_semicolons.csv")
    assert (read.file_format, read.encoding, read.delimiter) == ("csv", "utf-8", ";")
    assert read.headers == ["First Name", "Last Name", "E-mail", "NPI", "Phone"]
    assert [r.status for r in rows] == [READY, READY]
    zoe = rows[0].request
    assert (zoe.first_name, zoe.last_name, zoe.phone_country_code) == ("Zoë", "Müller", "+49")
    assert rows[1].request.phone_number == "4155552671"


def test_windows_1252_names_are_read_right():
    read, rows = load("windows1252.csv")
    assert read.encoding == "windows-1252"
    assert [(r.request.first_name, r.request.last_name) for r in rows] == [
        ("Zoë", "Müller"), ("François", "Dubé")]
    assert rows[0].request.therapy_licence == "Psychologue diplômée"


def test_blank_lines_tabs_extra_columns_and_spreadsheet_row_numbers():
    read, rows = load("blank_lines_extra_columns.tsv")
    assert read.delimiter == "\t" and "2 empty row(s) were skipped." in read.notes
    mapping = auto_map(read.headers)
    assert mapping["Department"] is None  # extra column: left for the person to map or ignore
    assert [r.row_number for r in rows] == [3, 6]  # header is on row 2 of that file
    assert [r.request.note_identifier.value for r in rows] == ["DrLastName",
                                                               "PeerSupportSpecialist"]


def test_excel_mangled_numbers_are_read_back():
    read, rows = load("excel_mangled.xlsx")
    assert read.file_format == "xlsx"
    jane = rows[0].request
    assert jane.national_provider_identifier == "1234567893"
    assert (jane.phone_number, jane.phone_country_code) == ("4155552671", "+1")
    assert rows[0].cells["Start date"].startswith("2026-01-05")
    assert [r.row_number for r in rows] == [2, 4]


def test_missing_required_columns_are_named():
    read = read_file((DATA / "missing_required.csv").read_bytes(), "missing_required.csv")
    assert missing_required(auto_map(read.headers)) == ["Last name"]


def test_duplicates_within_the_file_and_invalid_rows_say_why():
    _, rows = load("duplicates_and_errors.csv")
    assert [r.status for r in rows] == [READY, DUPLICATE_IN_FILE, DUPLICATE_IN_FILE, INVALID,
                                        INVALID]
    assert rows[1].note == "Same email as row 2." and "row 2" in rows[2].note
    assert "NPI: " in rows[3].problem and "last digit" in rows[3].problem
    assert rows[4].problem.startswith("First name: This is required")
    assert counts(rows)[READY] == 1


def test_classifying_twice_gives_the_same_rows_and_never_changes_what_it_was_given():
    data = ("First name,Last name,Email\nJane,Smith,Jane.Smith@example.com\nA,B,a@example.com\n"
            "C,D,c@example.com\nE,F,e@example.com\nA,Again,a@example.com\n")
    read = read_file(data.encode(), "p.csv")
    rows = prepare_rows(read, auto_map(read.headers), [])
    before = [(r.status, r.note) for r in rows]
    earlier = {"a@example.com": Earlier("2026-11-29", "https://invite.example/a")}
    first = classify(rows, earlier, {"c@example.com"})
    second = classify(first, {}, set())  # a classified list keeps what it was told
    again = classify(rows, earlier, {"c@example.com"})
    assert [(r.status, r.note) for r in rows] == before  # the prepared rows are untouched
    assert [r.status for r in first] == [EXAMPLE, IN_HISTORY, IN_UPHEAL, READY,
                                         DUPLICATE_IN_FILE]
    assert [(r.status, r.note) for r in again] == [(r.status, r.note) for r in first]
    assert [r.status for r in second] == [r.status for r in first]
    assert "2026-11-29" in first[1].note and "https://invite.example/a" in first[1].note
    kept = classify(rows, earlier, set(), keep_example=True)
    assert [r.status for r in kept][:3] == [READY, IN_HISTORY, READY]


@pytest.mark.parametrize("cached", ["", "Click"])
def test_a_formula_cell_is_refused_for_what_it_is_whatever_excel_last_computed(cached):
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["First name", "Last name", "Email"])
    sheet.write_formula(1, 0, '=HYPERLINK("https://evil.example","Click")', None, cached)
    sheet.write_row(1, 1, ["Lee", "ann@example.com"])
    sheet.write_row(2, 0, ["Bo", "Kim", "bo@example.com"])
    book.close()
    read = read_file(data.getvalue(), "p.xlsx")
    rows = prepare_rows(read, auto_map(read.headers), [])
    assert [r.status for r in rows] == [INVALID, READY]
    assert "spreadsheet formula" in rows[0].problem and "HYPERLINK" in rows[0].problem
    assert "required" not in rows[0].problem
    csv_rows = prepare_rows(*(lambda r: (r, auto_map(r.headers)))(read_file(
        b"First name;Last name;Email\n=1+1;Lee;ann@example.com\n", "p.csv")), [])
    assert csv_rows[0].status == INVALID and "spreadsheet formula" in csv_rows[0].problem


def test_templates_by_catalog_name_or_id():
    catalog = [NoteTemplate("Intake", "2fb81b0a-611b-11ed-9b6a-0242ac120002")]
    data = (b"First name,Last name,Email,Note templates\n"
            b"A,B,a@example.com,intake; d290f1ee-6c54-4b01-90e6-d701748f0852\n"
            b"C,D,c@example.com,Unknown template\n")
    read = read_file(data, "t.csv")
    rows = prepare_rows(read, auto_map(read.headers), catalog)
    assert rows[0].request.default_note_template_ids == [
        "2fb81b0a-611b-11ed-9b6a-0242ac120002", "d290f1ee-6c54-4b01-90e6-d701748f0852"]
    assert rows[1].status == INVALID and "neither a template name" in rows[1].problem


@pytest.mark.parametrize(("name", "data", "words"), [
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"\n\n  \n", "empty"),
    ("headers.csv", b"First name,Last name,Email\n", "no providers"),
    ("not_a_spreadsheet.csv", (DATA / "not_a_spreadsheet.csv").read_bytes(), "spreadsheet"),
    ("fake.xlsx", b"PK\x03\x04 this is not really a zip", "Excel workbook"),
    ("huge.csv", b"a" * (6 * 1024 * 1024), "larger than"),
])
def test_unreadable_files_get_a_plain_message(name, data, words):
    with pytest.raises(ImportFileError, match=words):
        read_file(data, name)


def test_more_than_5000_rows_is_refused():
    data = "First name,Last name,Email\n" + "".join(
        f"A,B,a{i}@example.com\n" for i in range(MAX_ROWS + 1))
    with pytest.raises(ImportFileError, match="more than 5,000"):
        read_file(data.encode(), "big.csv")


cells = st.one_of(st.text(max_size=40), st.integers(min_value=-10**15, max_value=10**15),
                  st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
                  st.dates())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(cells, min_size=1, max_size=6), min_size=1, max_size=8))
def test_random_workbooks_give_rows_or_plain_errors_never_crashes(table):
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, ["First name", "Last name", "Email", "NPI", "Phone", "Name in notes"])
        for number, row in enumerate(table, start=1):
            for column, value in enumerate(row):
                if value is None:
                    continue
                if hasattr(value, "isoformat"):
                    sheet.write_string(number, column, value.isoformat())
                else:
                    sheet.write(number, column, value)
    try:
        read = read_file(buffer.getvalue(), "random.xlsx")
    except ImportFileError:
        return
    for row in prepare_rows(read, auto_map(read.headers), []):
        assert row.status in (READY, INVALID, DUPLICATE_IN_FILE)
        assert (row.request is None) == bool(row.errors)
        assert all(isinstance(m, str) and m for m in row.errors.values())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: t.encode("utf-8")))
def test_random_bytes_give_rows_or_plain_errors_never_crashes(data):
    try:
        read = read_file(data, "random.csv")
    except ImportFileError as exc:
        assert str(exc)
        return
    prepare_rows(read, auto_map(read.headers), [])


def test_numbers_without_a_country_code_are_read_in_the_files_default_country():
    data = (b"First name,Last name,Email,Phone\n"
            b"A,B,a@example.com,(415) 555-2671\n"
            b"C,D,c@example.com,+44 20 7946 0958\n")
    read = read_file(data, "people.csv")
    without = prepare_rows(read, auto_map(read.headers), [])
    assert without[0].status == "invalid"  # no country: it cannot be read
    rows = prepare_rows(read, auto_map(read.headers), [], default_calling_code="+1")
    assert [(r.request.phone_number, r.request.phone_country_code) for r in rows] == [
        ("4155552671", "+1"), ("2079460958", "+44")]


def test_languages_by_name_in_a_file_and_the_template_shows_names():
    from partner_console.bulk.files import template_csv

    data = ("First name,Last name,Email,Language\nAna,Ruiz,ana@example.com,Spanish (Mexico)\n"
            "Luc,Roy,luc@example.com,français\nKim,Lee,kim@example.com,Elvish\n").encode()
    read = read_file(data, "p.csv")
    rows = prepare_rows(read, auto_map(read.headers), [])
    assert [r.request.locale if r.request else r.status for r in rows] == ["es-MX", "fr", INVALID]
    assert "Spanish" in rows[2].problem  # the error says how to write one
    template = read_file(template_csv(), "t.csv")
    assert template.rows[0][1]["Language"] == "English (United States)"
    example = prepare_rows(template, auto_map(template.headers), [])[0]
    assert example.request is not None and example.request.locale == "en-US"
