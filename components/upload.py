"""A practice's spreadsheet, as Bulk import and Roster sync take it: uploaded, read once in a
child process (a hostile file slows only the person who sent it), its columns matched to the
provider's fields, and the country of phone numbers written without one."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.services import Services
from components.text import safe
from partner_console.bulk.columns import MAPPABLE, auto_map, missing_required
from partner_console.bulk.isolated import read_file_isolated
from partner_console.bulk.read import ImportFileError, ReadResult
from partner_console.choices import calling_code, choice_for_region, country_choices

IGNORE = "(ignore this column)"
COUNTRIES = dict(country_choices())
FIELD_NAMES = {c.field: c.header for c in MAPPABLE}
KINDS = ["xlsx", "csv", "tsv", "txt"]


def uploaded(label: str, prefix: str, key: str, empty: str | None = None
             ) -> tuple[ReadResult, str] | None:
    """The file uploader, and the file it holds read (what was found said under it), with
    the file's name; None while there is no file (`empty` said then) or when it cannot be read
    (said why)."""
    upload = st.file_uploader(label, type=KINDS, key=key)
    if upload is None:
        if empty:
            st.caption(empty)
        return None
    read = read_upload(upload, prefix)
    if isinstance(read, str):
        file_error(read)
        return None
    st.caption(detected(read))
    return read, upload.name


def read_upload(upload: Any, prefix: str) -> ReadResult | str:
    """The uploaded file, read once per file (kept in the session); or a message."""
    cache = st.session_state.get(f"{prefix}_read")
    if cache and cache[0] == upload.file_id:
        return cache[1]
    try:
        with st.spinner("Reading the file…"):
            result: ReadResult | str = read_file_isolated(upload.getvalue(), upload.name)
    except ImportFileError as exc:
        result = str(exc)
    st.session_state[f"{prefix}_read"] = (upload.file_id, result)
    return result


def detected(read: ReadResult) -> str:
    """"Read 30 row(s) from a CSV (utf-8, separated by commas) file. …"""
    kind = "an Excel" if read.file_format == "xlsx" else (
        f"a CSV ({read.encoding}, separated by "
        f"{ {',': 'commas', ';': 'semicolons', chr(9): 'tabs'}[read.delimiter or ','] })")
    return f"Read {len(read.rows)} row(s) from {kind} file. " + " ".join(read.notes)


def column_mapping(read: ReadResult, prefix: str, *, required: bool = True
                   ) -> dict[str, str | None] | None:
    """Each heading's field, guessed and changeable; None (said why) when a required one is
    not matched."""
    guessed = auto_map(read.headers)
    options = [IGNORE, *FIELD_NAMES]
    mapping: dict[str, str | None] = {}
    columns = st.columns(3)
    for index, header in enumerate(read.headers):
        key = f"{prefix}_map_{index}"
        if key not in st.session_state or st.session_state.get(f"{prefix}_map_for") != \
                read.headers:
            st.session_state[key] = guessed[header] or IGNORE
        choice = columns[index % 3].selectbox(
            f"“{header}”", options, key=key,
            format_func=lambda f: f if f == IGNORE else FIELD_NAMES[f])
        mapping[header] = None if choice == IGNORE else choice
    st.session_state[f"{prefix}_map_for"] = read.headers
    missing = missing_required(mapping) if required else [
        FIELD_NAMES["email"]] if "email" not in mapping.values() and \
        "partner_user_id" not in mapping.values() else []
    if missing:
        st.error("Choose which column holds: " + ", ".join(missing) + ".")
        return None
    return mapping


def phone_country(svc: Services, prefix: str, mapping: dict[str, str | None]) -> str | None:
    """The calling code numbers without a country code are read in, for this file."""
    if "phone_number" not in mapping.values():
        return None
    key = f"{prefix}_phone_country"
    if key not in st.session_state:
        st.session_state[key] = choice_for_region(svc.settings.default_phone_country)
    st.selectbox("Phone numbers without a country code are read as", list(COUNTRIES),
                 key=key, format_func=lambda c: COUNTRIES.get(c, c),
                 help="Numbers written with + and their country code keep their own country.")
    return calling_code(st.session_state.get(key))


def file_error(message: str) -> None:
    st.error(safe(message))
