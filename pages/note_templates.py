"""Note templates: the organisation's named catalog of template ids, and the invite email text."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.deps import current_scope, scope_or_prompt, services
from components.router import page_body
from components.text import safe
from partner_console.exports import csv_bytes
from partner_console.invite_email import (
    DEFAULT_EMAIL_TEMPLATE,
    EMAIL_SETTING,
    PLACEHOLDERS,
    check_template,
)
from partner_console.storage.catalog import (
    CSV_HEADERS,
    CatalogError,
    catalog_rows,
    check_templates,
    read_catalog_file,
)


def _save(edited: pd.DataFrame) -> None:
    scope = current_scope()
    if scope is None:
        return
    try:
        templates = check_templates(edited.to_dict("records"))
    except CatalogError as exc:
        st.session_state["nt_notice"] = ("error", str(exc))
        return
    services().catalog.save_templates(scope, templates)
    st.session_state["nt_notice"] = ("ok", f"Saved {len(templates)} template(s).")
    st.session_state.pop("nt_editor", None)


def render() -> None:
    svc = services()
    st.title("Note templates")
    scope = scope_or_prompt("to see its templates")
    if scope is None:
        return
    st.caption("Give each Upheal note template a name your team recognises. Ticked "
               "(“preselected”) templates are chosen automatically for every new provider.")
    notice = st.session_state.pop("nt_notice", None)
    if notice:
        (st.success if notice[0] == "ok" else st.error)(safe(notice[1]))

    templates = svc.catalog.templates(scope)
    frame = pd.DataFrame([{"name": t.name, "template_id": t.template_id,
                           "preselected": t.preselected} for t in templates],
                         columns=["name", "template_id", "preselected"])
    frame["preselected"] = frame["preselected"].astype(bool)
    edited = st.data_editor(
        frame, key="nt_editor", num_rows="dynamic", hide_index=True, width="stretch",
        column_config={
            "name": st.column_config.TextColumn("Name", required=True, max_chars=200),
            "template_id": st.column_config.TextColumn(
                "Template id", required=True, max_chars=36,
                help="Looks like 2fb81b0a-611b-11ed-9b6a-0242ac120002"),
            "preselected": st.column_config.CheckboxColumn("Preselected", default=False),
        })
    st.button("Save templates", type="primary", key="nt_save", on_click=_save, args=(edited,))

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
                st.session_state["nt_notice"] = ("ok", f"Imported {len(imported)} template(s).")
                st.rerun()

    st.divider()
    st.header("Invite email")
    st.caption("The email text offered after each provider is created. Placeholders: "
               + ", ".join("`{" + p + "}`" for p in PLACEHOLDERS) + ".")
    current = svc.catalog.setting(scope, EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE)
    text = st.text_area("Email text", current, height=320, key="nt_email")
    save, reset = st.columns([1, 5])
    if save.button("Save email text", key="nt_email_save"):
        problem = check_template(text)
        if problem:
            st.error(safe(problem))
        else:
            svc.catalog.set_setting(scope, EMAIL_SETTING, text)
            st.success("Saved.")
    if reset.button("Restore the default text", key="nt_email_reset"):
        svc.catalog.set_setting(scope, EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE)
        st.session_state.pop("nt_email", None)
        st.rerun()


page_body(render)
