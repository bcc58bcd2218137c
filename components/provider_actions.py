"""After the invite, in a provider's details on History: change details, replace a mistyped
email, deactivate and reactivate (partner_console/changes.py does each in Upheal, once).

Each click carries a token kept until its result is shown: a double click (or a fast rerun of
the same click) reaches the first click's action and shows its result; a colleague at the same
provider is told so. Deactivation is confirmed first, naming the provider.
"""

from __future__ import annotations

import uuid

import streamlit as st

from components.identity import person
from components.services import services
from components.session import api_key, current_scope, session_lock
from components.text import safe
from components.time_zone import when
from partner_console.api.models import FIELD_LABELS, NoteIdentifier
from partner_console.changes import CANNOT_CHANGE, wanted_change
from partner_console.storage import NotFoundError, ProviderRow
from partner_console.storage.tables import CREATED, LINKS_LOST

NOT_SET = "Upheal's default"


def _token(row_id: int, kind: str) -> str:
    return st.session_state.setdefault(f"pa_token_{kind}_{row_id}", uuid.uuid4().hex)


def _done(row_id: int, kind: str, ok: bool, words: str) -> None:
    st.session_state[f"pa_result_{row_id}"] = (ok, words)
    for name in (f"pa_token_{kind}_{row_id}", f"pa_confirm_{kind}_{row_id}"):
        st.session_state.pop(name, None)
    if ok:
        st.session_state.pop(f"pa_open_{row_id}", None)
        for field in ("first", "last", "templates", "note", "npi", "licence", "email"):
            st.session_state.pop(f"pa_{field}_{row_id}", None)  # shown afresh from History


def _change(row_id: int) -> None:
    scope = current_scope()
    if scope is None:
        return
    svc = services()
    try:
        row = svc.history.get(scope, row_id)
    except NotFoundError:
        return
    state = st.session_state
    identifier = state.get(f"pa_note_{row_id}")
    change, errors = wanted_change(row, {
        "first_name": state.get(f"pa_first_{row_id}"),
        "last_name": state.get(f"pa_last_{row_id}"),
        "default_note_template_ids": list(state.get(f"pa_templates_{row_id}") or []),
        "national_provider_identifier": state.get(f"pa_npi_{row_id}"),
        "therapy_licence": state.get(f"pa_licence_{row_id}"),
        "note_identifier": None if identifier in (None, NOT_SET) else identifier,
    })
    state[f"pa_errors_{row_id}"] = errors
    if errors:
        return
    with session_lock(f"pa_lock_{row_id}"):
        outcome = svc.changer.change(api_key(), scope, row_id, change, person(),
                                     _token(row_id, "change"))
    _done(row_id, "change", outcome.ok, outcome.words)


def _switch(row_id: int, active: bool) -> None:
    """Deactivate (active=False) or reactivate (True) the provider, once per click."""
    scope = current_scope()
    if scope is None:
        return
    changer = services().changer
    switch, action = ((changer.reactivate, "reactivate") if active
                      else (changer.deactivate, "deactivate"))
    with session_lock(f"pa_lock_{row_id}"):
        outcome = switch(api_key(), scope, row_id, person(), _token(row_id, action))
    _done(row_id, action, outcome.ok, outcome.words)


def _replace(row_id: int) -> None:
    scope = current_scope()
    if scope is None:
        return
    email = str(st.session_state.get(f"pa_email_{row_id}") or "")
    with session_lock(f"pa_lock_{row_id}"):
        outcome = services().changer.replace_email(api_key(), scope, row_id, email, person(),
                                                   _token(row_id, "replace"))
    _done(row_id, "replace", outcome.ok, outcome.words)
    # (History's first row is now the new provider: the result is said at the page's top too)
    st.session_state["hi_notice"] = ("ok" if outcome.ok else "error", outcome.words)
    if not outcome.ok:  # offered again, with the same token: a repeat is not a second create
        st.session_state.pop(f"pa_token_replace_{row_id}", None)
        st.session_state[f"pa_open_{row_id}"] = "replace"


def after_invite(row: ProviderRow) -> None:
    """The actions a created provider has, and the last action's result."""
    if row.status not in (CREATED, LINKS_LOST):
        return
    result = st.session_state.pop(f"pa_result_{row.id}", None)
    if result is not None:
        (st.success if result[0] else st.error)(safe(result[1]),
                                                icon=":material/check_circle:" if result[0]
                                                else ":material/error:")
    if row.replaced_by or row.replaces:
        _replacement_note(row)
    if not row.active:
        st.info(f"Deactivated in Upheal on {when(row.deactivated_at)} by "  # type: ignore[arg-type]
                f"{safe(row.deactivated_by or '') or '(no name)'}. Their invite and room links "
                "no longer work.", icon=":material/person_off:")
        st.button("Reactivate", key=f"pa_reactivate_{row.id}", on_click=_switch,
                  args=(row.id, True), icon=":material/person_add:",
                  help="Upheal makes the provider active again.")
        return
    opened = st.session_state.get(f"pa_open_{row.id}")
    with st.container(horizontal=True, key=f"pa_buttons_{row.id}"):
        for kind, label, icon in (("change", "Change details", "edit"),
                                  ("replace", "Replace with the right email", "alternate_email"),
                                  ("deactivate", "Deactivate", "person_off")):
            if st.button(label, key=f"pa_open_{kind}_{row.id}", icon=f":material/{icon}:",
                         type="primary" if opened == kind else "secondary"):
                st.session_state[f"pa_open_{row.id}"] = None if opened == kind else kind
                st.rerun()
    if opened == "change":
        _change_form(row)
    elif opened == "replace":
        _replace_form(row)
    elif opened == "deactivate":
        with st.container(border=True, key=f"pa_deactivate_box_{row.id}"):
            st.warning(f"Deactivate {safe(row.full_name)} ({safe(row.email)}) in Upheal? Their "
                       "invite and room links stop working and they cannot sign in. You can "
                       "reactivate them later.")
            st.button(f"Yes, deactivate {safe(row.full_name)}", key=f"pa_deactivate_{row.id}",
                      on_click=_switch, args=(row.id, False), type="primary")


def _replacement_note(row: ProviderRow) -> None:
    svc = services()
    scope = current_scope()
    other_id = row.replaced_by or row.replaces
    if scope is None or other_id is None:
        return
    try:
        other = svc.history.get(scope, other_id)
    except NotFoundError:
        return
    if row.replaced_by:
        st.caption(f"Replaced by {safe(other.email)} (created {when(other.created_at)}): "
                   "search for it in History.")
    else:
        st.caption(f"Replaces {safe(other.email)}, which had a mistyped email and is "
                   "deactivated.")


def _change_form(row: ProviderRow) -> None:
    svc = services()
    scope = current_scope()
    if scope is None:
        return
    errors: dict[str, str] = st.session_state.get(f"pa_errors_{row.id}") or {}
    with st.container(border=True, key=f"pa_change_{row.id}"):
        st.markdown("**Change details**: only what you change is sent to Upheal.")
        first, last = st.columns(2)
        first.text_input(FIELD_LABELS["first_name"], value=row.first_name,
                         key=f"pa_first_{row.id}")
        _error(first, errors, "first_name")
        last.text_input(FIELD_LABELS["last_name"], value=row.last_name, key=f"pa_last_{row.id}")
        _error(last, errors, "last_name")
        catalog = {t.template_id: t.name for t in svc.catalog.templates(scope)}
        current = row.default_note_template_ids
        st.multiselect("Note templates", list(dict.fromkeys([*current, *catalog])),
                       default=current, key=f"pa_templates_{row.id}",
                       format_func=lambda i: catalog.get(i, i),
                       placeholder="No note templates")
        _error(st, errors, "default_note_template_ids")
        options = [NOT_SET, *[i.value for i in NoteIdentifier]]
        st.selectbox(FIELD_LABELS["note_identifier"], options, key=f"pa_note_{row.id}",
                     index=options.index(row.note_identifier)
                     if row.note_identifier in options else 0,
                     format_func=lambda v: v if v == NOT_SET else NoteIdentifier(v).label)
        npi, licence = st.columns(2)
        npi.text_input(FIELD_LABELS["national_provider_identifier"],
                       value=row.national_provider_identifier or "", key=f"pa_npi_{row.id}")
        _error(npi, errors, "national_provider_identifier")
        licence.text_input(FIELD_LABELS["therapy_licence"], value=row.therapy_licence or "",
                           key=f"pa_licence_{row.id}")
        _error(licence, errors, "therapy_licence")
        email, phone = st.columns(2)
        email.text_input("Email", value=row.email, disabled=True, key=f"pa_fixed_email_{row.id}")
        phone.text_input("Phone", value=" ".join(p for p in (row.phone_country_code,
                                                             row.phone_number) if p),
                         disabled=True, key=f"pa_fixed_phone_{row.id}")
        st.caption(CANNOT_CHANGE + " An NPI or licence left empty is kept as it is.")
        st.button("Save changes", key=f"pa_save_{row.id}", on_click=_change, args=(row.id,),
                  type="primary", icon=":material/save:")


def _replace_form(row: ProviderRow) -> None:
    with st.container(border=True, key=f"pa_replace_{row.id}"):
        st.markdown(f"**Replace with the right email**: {safe(row.email)} is deactivated in "
                    "Upheal, and the provider is created again with the right address and the "
                    "same details. They get a new invite link.")
        st.text_input("The right email", key=f"pa_email_{row.id}",
                      placeholder="e.g. jane.smith@example.com")
        wanted = str(st.session_state.get(f"pa_email_{row.id}") or "").strip()
        if wanted:
            st.warning(f"Deactivate {safe(row.email)} and create {safe(wanted)} for "
                       f"{safe(row.full_name)}?")
            st.button("Yes, replace the email", key=f"pa_replace_go_{row.id}",
                      on_click=_replace, args=(row.id,), type="primary")


def _error(where: object, errors: dict[str, str], name: str) -> None:
    if name in errors:
        where.error(safe(errors[name]))  # type: ignore[attr-defined]
