"""Note templates: the organisation's named catalog of Upheal note template ids (the email
texts have their own page, Email texts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from components.identity import log_activity
from components.pickers import TEMPLATE_ID_SOURCE
from components.router import page_body
from components.services import services
from components.session import current_scope, organisation_page
from components.text import safe
from partner_console.catalog_file import CSV_HEADERS, catalog_rows, read_catalog_file
from partner_console.exports import csv_bytes
from partner_console.storage import Scope
from partner_console.storage.activity import TEMPLATES
from partner_console.storage.catalog import (
    CatalogError,
    NoteTemplate,
    TemplateClash,
    check_note_template,
)

DRAFT = {"nt_name": "nt_draft_name", "nt_id": "nt_draft_id", "nt_pre": "nt_draft_pre"}


def _keep_draft(widget: str) -> None:
    """What is typed in the add form outlives a visit to another page (a widget's own state
    does not)."""
    st.session_state[DRAFT[widget]] = st.session_state.get(widget)


def _saved(prefix: str, store: Callable[[Scope, NoteTemplate], object]
           ) -> tuple[Scope, NoteTemplate] | None:
    """The form `prefix` (nt / nt_edit) checked and stored with `store`; None, with its
    problems kept for the form, when it was not."""
    scope = current_scope()
    if scope is None:
        return None
    state = st.session_state
    template, problems = check_note_template(str(state.get(f"{prefix}_name") or ""),
                                             str(state.get(f"{prefix}_id") or ""))
    if template is not None:
        template = replace(template, preselected=bool(state.get(f"{prefix}_pre")))
        try:
            store(scope, template)
        except TemplateClash as clash:
            problems = clash.problems
    state[f"{prefix}_{'add' if prefix == 'nt' else 'edit'}_errors"] = problems
    return None if problems or template is None else (scope, template)


def _add() -> None:
    saved = _saved("nt", lambda scope, t: services().catalog.add(scope, t))
    if saved is None:
        return
    scope, template = saved
    state = st.session_state
    state["nt_notice"] = ("ok", f"Added “{template.name}”.")
    log_activity(scope, TEMPLATES,
                 f"Added the note template “{template.name}” ({template.template_id}).")
    for widget, draft in DRAFT.items():  # an empty form for the next one
        state[widget] = False if widget == "nt_pre" else ""
        state.pop(draft, None)


def _save_edit(old_id: str) -> None:
    saved = _saved("nt_edit", lambda scope, t: services().catalog.replace(scope, old_id, t))
    if saved is None:
        return
    scope, template = saved
    st.session_state.pop("nt_editing", None)
    st.session_state["nt_notice"] = ("ok", "Saved.")
    log_activity(scope, TEMPLATES,
                 f"Changed the note template “{template.name}” ({template.template_id}).")


def _remove(template_id: str, name: str) -> None:
    scope = current_scope()
    if scope is not None:
        services().catalog.remove(scope, template_id)
        st.session_state["nt_notice"] = ("ok", f"Removed “{name}”.")
        log_activity(scope, TEMPLATES, f"Removed the note template “{name}” ({template_id}).")
    st.session_state.pop("nt_removing", None)


def _set_preselected(template: NoteTemplate, key: str) -> None:
    scope = current_scope()
    if scope is not None:
        chosen = bool(st.session_state.get(key))
        services().catalog.replace(scope, template.template_id, replace(
            template, preselected=chosen))
        log_activity(scope, TEMPLATES, f"{'Preselected' if chosen else 'Stopped preselecting'} "
                                       f"the note template “{template.name}”.")


def _errors(where: str, field: str) -> None:
    message = (st.session_state.get(where) or {}).get(field)
    if message:
        st.markdown(f":red[{safe(message)}]")


def _add_form() -> None:
    state = st.session_state
    for widget, draft in DRAFT.items():
        if widget not in state and draft in state:
            state[widget] = state[draft]
    with st.container(border=True, key="nt_add"):
        st.markdown("**Add a template**")
        name, template_id = st.columns([2, 3])
        with name:
            st.text_input("Name", key="nt_name", max_chars=200, placeholder="e.g. Intake",
                          on_change=_keep_draft, args=("nt_name",),
                          help="What staff will see in the template picker.")
            _errors("nt_add_errors", "name")
        with template_id:
            st.text_input("Template ID", key="nt_id", max_chars=60,
                          placeholder="e.g. 2fb81b0a-611b-11ed-9b6a-0242ac120002",
                          on_change=_keep_draft, args=("nt_id",),
                          help=TEMPLATE_ID_SOURCE)
            _errors("nt_add_errors", "template_id")
        st.checkbox("Preselect it for every new provider", key="nt_pre",
                    on_change=_keep_draft, args=("nt_pre",))
        st.button("Add template", type="primary", key="nt_add_button", on_click=_add,
                  icon=":material/add:")


def _template_list(templates: list[NoteTemplate]) -> None:
    state = st.session_state
    if not templates:
        st.info("No templates yet. Add the first one below.")
        return
    for number, template in enumerate(templates):
        with st.container(border=True, key=f"nt_row_{number}"):
            if state.get("nt_editing") == template.template_id:
                _edit_row(template)
                continue
            words, pre, edit, remove = st.columns([5, 2, 1.3, 1.5], vertical_alignment="center")
            words.markdown(f"**{safe(template.name)}**  \n`{template.template_id}`")
            pre.checkbox("Preselected", value=template.preselected, key=f"nt_pre_{number}",
                         on_change=_set_preselected, args=(template, f"nt_pre_{number}"))
            edit.button("Edit", key=f"nt_edit_{number}", icon=":material/edit:",
                        on_click=lambda t=template: state.update(
                            nt_editing=t.template_id, nt_edit_name=t.name,
                            nt_edit_id=t.template_id, nt_edit_pre=t.preselected,
                            nt_edit_errors={}))
            remove.button("Remove", key=f"nt_remove_{number}", icon=":material/delete:",
                          on_click=lambda t=template: state.update(
                              nt_removing=t.template_id))
            if state.get("nt_removing") == template.template_id:
                st.warning(f"Remove “{safe(template.name)}” from the list? Providers already "
                           "created keep their templates.")
                yes, no = st.columns([1, 4])
                yes.button("Yes, remove it", key=f"nt_remove_yes_{number}", on_click=_remove,
                           args=(template.template_id, template.name))
                no.button("Keep it", key=f"nt_remove_no_{number}",
                          on_click=lambda: state.pop("nt_removing", None))


def _edit_row(template: NoteTemplate) -> None:
    name, template_id = st.columns([2, 3])
    with name:
        st.text_input("Name", key="nt_edit_name", max_chars=200)
        _errors("nt_edit_errors", "name")
    with template_id:
        st.text_input("Template ID", key="nt_edit_id", max_chars=60)
        _errors("nt_edit_errors", "template_id")
    st.checkbox("Preselect it for every new provider", key="nt_edit_pre")
    save, cancel = st.columns([1, 4])
    save.button("Save", type="primary", key="nt_edit_save", on_click=_save_edit,
                args=(template.template_id,))
    cancel.button("Cancel", key="nt_edit_cancel",
                  on_click=lambda: st.session_state.pop("nt_editing", None))


@organisation_page("Note templates", "to see its templates")
def render(scope: Scope) -> None:
    svc = services()
    st.caption("Give each Upheal note template a name your team recognises. Preselected "
               "templates are chosen automatically for every new provider.")
    st.caption(TEMPLATE_ID_SOURCE)
    notice = st.session_state.pop("nt_notice", None)
    if notice:
        (st.success if notice[0] == "ok" else st.error)(safe(notice[1]))

    templates = svc.catalog.templates(scope)
    _template_list(templates)
    _add_form()

    with st.expander("Import or export the list as CSV"):
        st.download_button("Download templates (CSV)",
                           lambda: csv_bytes(CSV_HEADERS, catalog_rows(templates)),
            file_name="note-templates.csv", mime="text/csv", key="nt_export", on_click="ignore")
        upload = st.file_uploader("Replace the list with a CSV or Excel file",
                                  type=["csv", "xlsx"], key="nt_upload")
        if upload is not None and st.button("Replace with this file", key="nt_import"):
            try:
                imported = read_catalog_file(upload.getvalue(), upload.name)
            except CatalogError as exc:
                st.error(safe(exc))
            else:
                svc.catalog.save_templates(scope, imported)
                log_activity(scope, TEMPLATES, f"Replaced the note templates with "
                                               f"{len(imported)} from {upload.name}.")
                st.session_state["nt_notice"] = ("ok", f"Imported {len(imported)} template(s).")
                st.rerun()


page_body(render)
