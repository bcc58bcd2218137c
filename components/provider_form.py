"""The Create provider form's fields: every field of Upheal's create, with plain labels, help
under each box (never a "?" in its label, so Tab goes from box to box) and each field's error
under it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.pickers import NOT_SET, note_identifier_picker, template_picker
from components.practice_picker import practice_picker
from components.services import Services
from components.text import safe
from partner_console.api.models import FIELD_LABELS, email_suggestion, template_ids_from
from partner_console.choices import (
    calling_code,
    choice_for_region,
    country_choices,
    picker_locales,
)
from partner_console.storage import Scope

FIELDS = {  # widget key -> request field
    "cp_first_name": "first_name",
    "cp_last_name": "last_name",
    "cp_email": "email",
    "cp_phone_number": "phone_number",
    "cp_locale": "locale",
    "cp_npi": "national_provider_identifier",
    "cp_licence": "therapy_licence",
    "cp_partner_user_id": "partner_user_id",
}
COUNTRIES = dict(country_choices())
LOCALES = picker_locales()  # searchable by the English name or the language's own
NO_LOCALE = ""


def form_values() -> dict[str, Any]:
    """What the form holds, as the create's fields (before they are checked)."""
    state = st.session_state
    values: dict[str, Any] = {field: state.get(key) for key, field in FIELDS.items()}
    number = str(state.get("cp_phone_number") or "").strip()
    # A number typed with its + country code keeps its own country; the picker (preselected
    # with the default country) is for numbers typed as people read them.
    values["phone_country_code"] = None if number.startswith(("+", "00")) else \
        calling_code(state.get("cp_phone_country"))
    note = state.get("cp_note_identifier")
    values["note_identifier"] = None if note in (None, NOT_SET) else note
    values["default_note_template_ids"] = template_ids_from(
        list(state.get("cp_templates") or []), str(state.get("cp_template_extra") or ""))
    return values


def clear_form() -> None:
    # Explicit empty values: popping a widget's key does not reset what the browser shows.
    for key in (*FIELDS, "cp_template_extra"):
        st.session_state[key] = ""
    st.session_state["cp_locale"] = NO_LOCALE  # (the phone country stays as chosen)
    st.session_state["cp_note_identifier"] = NOT_SET
    st.session_state.pop("cp_templates", None)  # back to the catalog's preselection


def field_error(field: str) -> None:
    message = (st.session_state.get("cp_errors") or {}).get(field)
    if message:
        st.markdown(f":red[{safe(message)}]")


def provider_fields(svc: Services, scope: Scope | None) -> None:
    if scope is not None:  # (a platform's practice: only when the organisation keeps some)
        practice_picker(scope, "cp_practice", help="Which of your practices the provider "
                        "joins. The Practices page keeps the list.")
    first, last, mail = st.columns(3)
    with first:
        st.text_input("First name", key="cp_first_name", max_chars=200)
        st.caption("As the provider wants to be addressed.")
        field_error("first_name")
    with last:
        st.text_input("Last name", key="cp_last_name", max_chars=200)
        field_error("last_name")
    with mail:
        st.text_input("Email", key="cp_email", max_chars=320)
        st.caption("Their Upheal sign-in: the invite is meant for this address.")
        field_error("email")
        suggestion = email_suggestion(str(st.session_state.get("cp_email") or ""))
        if suggestion:  # a suggestion here; Create asks before using the address as typed
            st.caption(f"Did you mean **{safe(suggestion)}**?")
            st.button("Use this address", key="cp_use_suggestion", type="tertiary",
                      on_click=lambda: st.session_state.update(cp_email=suggestion))

    with st.expander("Contact details (optional)"):
        country, number = st.columns([2, 3])
        if "cp_phone_country" not in st.session_state:
            st.session_state["cp_phone_country"] = choice_for_region(
                svc.settings.default_phone_country)
        with country:
            st.selectbox("Phone country", list(COUNTRIES), key="cp_phone_country",
                         format_func=lambda c: COUNTRIES.get(c, c),
                         placeholder="Choose a country")
            st.caption("Numbers typed without a + country code are read in this country.")
        with number:
            st.text_input("Phone number", key="cp_phone_number",
                          placeholder="(415) 555-2671 or +1 415 555 2671")
            field_error("phone_number")
        st.selectbox("Language", [NO_LOCALE, *LOCALES], key="cp_locale",
                     format_func=lambda t: LOCALES.get(t, "Upheal's default"))
        st.caption("The language Upheal uses with this provider. Type to search, e.g. "
                   "“Spanish” or “español”.")
        field_error("locale")

    with st.expander("Professional details (optional)"):
        npi, licence = st.columns(2)
        with npi:
            st.text_input("NPI (National Provider Identifier)", key="cp_npi", max_chars=14,
                          placeholder="10 digits")
            st.caption("US providers' 10-digit number. The last digit is a check digit, so "
                       "typing mistakes are caught.")
            field_error("national_provider_identifier")
        with licence:
            st.text_input("Therapy licence", key="cp_licence", placeholder="e.g. LCSW")
            st.caption("Their licence type or number.")
            field_error("therapy_licence")

    st.subheader("Notes (optional)", anchor=False)
    with st.container(key="cp_notes"):
        note_identifier_picker("cp_note_identifier",
                               str(st.session_state.get("cp_first_name") or ""),
                               str(st.session_state.get("cp_last_name") or ""))
        field_error("note_identifier")
        catalog = svc.catalog.templates(scope) if scope is not None else []
        template_picker("cp_templates", "cp_template_extra", catalog)
        field_error("default_note_template_ids")

    with st.expander(f"{FIELD_LABELS['partner_user_id']} (optional)"):
        st.text_input(f"{FIELD_LABELS['partner_user_id']} for this provider",
                      key="cp_partner_user_id")
        st.caption("For example their staff number in your own system. Upheal recognises "
                   "them by it.")
        field_error("partner_user_id")
