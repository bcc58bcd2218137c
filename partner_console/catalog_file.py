"""The note-template catalog as a file: exported as CSV, imported from CSV or Excel (read by the
bulk reader, in its isolated child). Above both storage and the bulk reader, so that storage
reads no files."""

from __future__ import annotations

from partner_console.bulk.isolated import read_file_isolated
from partner_console.bulk.read import ImportFileError
from partner_console.exports import neutralise
from partner_console.storage.catalog import CatalogError, NoteTemplate, check_templates

CSV_HEADERS = ["Name", "Template id", "Preselected"]


def catalog_rows(templates: list[NoteTemplate]) -> list[list[str]]:
    """The catalog as export rows; names carry the formula guard (template ids are UUIDs)."""
    return [[neutralise(t.name), t.template_id, "yes" if t.preselected else "no"]
            for t in templates]


def read_catalog_file(data: bytes, filename: str) -> list[NoteTemplate]:
    """A catalog from a CSV or Excel file with the columns Name and Template id (and
    optionally Preselected); read by the bulk reader, so encodings and separators are detected."""
    try:
        read = read_file_isolated(data, filename)
    except ImportFileError as exc:
        raise CatalogError(str(exc)) from None
    columns = {h.strip().lower().replace("_", " "): h for h in read.headers}
    name_col = columns.get("name")
    id_col = columns.get("template id") or columns.get("id")
    if name_col is None or id_col is None:
        raise CatalogError("The file needs the columns “Name” and “Template id”.")
    pre_col = columns.get("preselected")
    return check_templates([{
        "name": cells[name_col], "template_id": cells[id_col],
        "preselected": pre_col is not None
        and cells[pre_col].strip().lower() in ("yes", "true", "1", "y", "x"),
    } for _, cells in read.rows])
