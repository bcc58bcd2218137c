from __future__ import annotations

import io

import pytest
import xlsxwriter

from partner_console.catalog_file import CSV_HEADERS, catalog_rows, read_catalog_file
from partner_console.exports import csv_bytes
from partner_console.storage import fingerprint
from partner_console.storage.catalog import (
    Catalog,
    CatalogError,
    NoteTemplate,
    check_templates,
)
from tests.helpers import HistoryForTests

INTAKE = "2fb81b0a-611b-11ed-9b6a-0242ac120002"
PROGRESS = "d290f1ee-6c54-4b01-90e6-d701748f0852"


def test_catalog_csv_with_bom_and_semicolons_is_read():
    data = ("\ufeffName;Template id;Preselected\nIntake;" + INTAKE.upper() + ";yes\n"
            "Progress note;" + PROGRESS + ";\n").encode()
    assert read_catalog_file(data, "t.csv") == [NoteTemplate("Intake", INTAKE, True),
                                                NoteTemplate("Progress note", PROGRESS, False)]


def test_catalog_export_reads_back_the_same():
    templates = [NoteTemplate("Intake", INTAKE, True), NoteTemplate("=cmd", PROGRESS)]
    exported = csv_bytes(CSV_HEADERS, catalog_rows(templates))
    assert read_catalog_file(exported, "note-templates.csv")[0] == templates[0]


def test_catalog_from_excel():
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, ["name", "id"])
        sheet.write_row(1, 0, ["Intake", INTAKE])
    assert read_catalog_file(buffer.getvalue(), "t.xlsx") == [NoteTemplate("Intake", INTAKE)]


@pytest.mark.parametrize(("data", "words"), [
    (b"Title,Code\nA,B\n", "columns"),
    (b"", "empty"),
    (f"Name,Template id\nIntake,{INTAKE}\nIntake,{PROGRESS}\n".encode(), "already called"),
    (f"Name,Template id\nIntake,{INTAKE}\nOther,{INTAKE}\n".encode(), "already in the list"),
    (b"Name,Template id\nIntake,not-an-id\n", "not a template id"),
    (f"Name,Template id\n,{INTAKE}\n".encode(), "name"),
])
def test_bad_catalog_files_say_which_line_and_why(data, words):
    with pytest.raises(CatalogError, match=words):
        read_catalog_file(data, "t.csv")


def test_blank_lines_are_dropped():
    assert check_templates([{"name": " ", "template_id": ""}]) == []


def test_catalog_is_saved_per_organisation(engine):
    history = HistoryForTests(engine)
    catalog = Catalog(engine)
    a = history.scope_for(fingerprint(b"s", "key-a"))
    b = history.scope_for(fingerprint(b"s", "key-b"))
    catalog.save_templates(a, [NoteTemplate("Intake", INTAKE, True)])
    assert catalog.templates(a) == [NoteTemplate("Intake", INTAKE, True)]
    assert catalog.templates(b) == []
    catalog.save_templates(a, [])
    assert catalog.templates(a) == []
    catalog.set_setting(a, "invite_email", "one")
    catalog.set_setting(a, "invite_email", "two")
    assert catalog.setting(a, "invite_email", "default") == "two"
    assert catalog.setting(b, "invite_email", "default") == "default"
