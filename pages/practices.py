"""Practices: a platform partner's practices, each an organisation in Upheal its key can create
providers in. Upheal has no list of them, so the organisation keeps it here."""

from __future__ import annotations

import streamlit as st

from components.identity import log_activity, organisation_label
from components.router import page_body
from components.services import services
from components.session import current_scope, organisation_page
from components.text import safe
from partner_console.exports import csv_bytes, neutralise
from partner_console.storage import Scope
from partner_console.storage.activity import PRACTICES
from partner_console.storage.practices import (
    CSV_HEADERS,
    ORG_ID_EXAMPLE,
    Practice,
    PracticeClash,
    check_practice,
    read_practices_csv,
)

INTRO = ("For platforms that run several practices, each an organisation in Upheal: add each "
         "practice once, then choose it when creating, importing or syncing providers. A "
         "partner with one organisation needs nothing here.")

WHERE_IDS_COME_FROM = ("An organisation id comes from Upheal: it is in the answer to each "
                       "provider created in that practice (History › What was sent to Upheal "
                       "shows it for the key's own), or ask your Upheal contact for your "
                       "practices' ids.")


def _own_org() -> str | None:
    scope = current_scope()
    return scope.organization_ids[0] if scope and len(scope.organization_ids) == 1 else None


def _save(prefix: str, replacing: str | None) -> None:
    scope = current_scope()
    if scope is None:
        return
    state = st.session_state
    practice, problems = check_practice(str(state.get(f"{prefix}_name") or ""),
                                        str(state.get(f"{prefix}_org") or ""))
    if practice is not None:
        try:
            if replacing is None:
                services().practices.add(scope, practice, _own_org())
            else:
                services().practices.replace(scope, replacing, practice, _own_org())
        except PracticeClash as clash:
            problems = clash.problems
    state[f"{prefix}_errors"] = problems
    if problems or practice is None:
        return
    if replacing is None:
        state["pr_notice"] = f"Added “{practice.name}”."
        log_activity(scope, PRACTICES, f"Added the practice “{practice.name}” "
                                       f"({practice.org_id}).")
        state["pr_name"] = state["pr_org"] = ""
    else:
        state.pop("pr_editing", None)
        state["pr_notice"] = "Saved."
        log_activity(scope, PRACTICES, f"Changed the practice “{practice.name}” "
                                       f"({practice.org_id}).")


def _remove(practice: Practice) -> None:
    scope = current_scope()
    if scope is not None:
        services().practices.remove(scope, practice.org_id)
        st.session_state["pr_notice"] = f"Removed “{practice.name}”."
        log_activity(scope, PRACTICES, f"Removed the practice “{practice.name}” "
                                       f"({practice.org_id}).")
    st.session_state.pop("pr_removing", None)


def _errors(prefix: str, field: str) -> None:
    message = (st.session_state.get(f"{prefix}_errors") or {}).get(field)
    if message:
        st.markdown(f":red[{safe(message)}]")


def _fields(prefix: str) -> None:
    name, org = st.columns([2, 3])
    with name:
        st.text_input("Name", key=f"{prefix}_name", max_chars=200,
                      placeholder="e.g. Northside Therapy",
                      help="What staff will see in the Practice picker.")
        _errors(prefix, "name")
    with org:
        st.text_input("Organisation id", key=f"{prefix}_org", max_chars=60,
                      placeholder=f"e.g. {ORG_ID_EXAMPLE}", help=WHERE_IDS_COME_FROM)
        _errors(prefix, "org_id")


def _list(practices: list[Practice], own: str) -> None:
    state = st.session_state
    with st.container(border=True, key="pr_own"):
        st.markdown(f"**{safe(own)}** (this key's own)  \nAlways the first choice.")
    for number, practice in enumerate(practices):
        with st.container(border=True, key=f"pr_row_{number}"):
            if state.get("pr_editing") == practice.org_id:
                _fields("pr_edit")
                save, cancel = st.columns([1, 4])
                save.button("Save", type="primary", key="pr_edit_save", on_click=_save,
                            args=("pr_edit", practice.org_id))
                cancel.button("Cancel", key="pr_edit_cancel",
                              on_click=lambda: state.pop("pr_editing", None))
                continue
            words, edit, remove = st.columns([6, 1.3, 1.5], vertical_alignment="center")
            words.markdown(f"**{safe(practice.name)}**  \n`{practice.org_id}`")
            edit.button("Edit", key=f"pr_edit_{number}", icon=":material/edit:",
                        on_click=lambda p=practice: state.update(
                            pr_editing=p.org_id, pr_edit_name=p.name, pr_edit_org=p.org_id,
                            pr_edit_errors={}))
            remove.button("Remove", key=f"pr_remove_{number}", icon=":material/delete:",
                          on_click=lambda p=practice: state.update(pr_removing=p.org_id))
            if state.get("pr_removing") == practice.org_id:
                st.warning(f"Remove “{safe(practice.name)}” from the list? Providers already "
                           "created there stay in Upheal and in History.")
                yes, no = st.columns([1, 4])
                yes.button("Yes, remove it", key=f"pr_remove_yes_{number}", on_click=_remove,
                           args=(practice,))
                no.button("Keep it", key=f"pr_remove_no_{number}",
                          on_click=lambda: state.pop("pr_removing", None))


@organisation_page("Practices", "to see its practices", INTRO)
def render(scope: Scope) -> None:
    svc = services()
    st.caption(WHERE_IDS_COME_FROM)
    notice = st.session_state.pop("pr_notice", None)
    if notice:
        st.success(safe(notice))
    practices = svc.practices.all(scope)
    _list(practices, organisation_label(scope) or "Your organisation")
    with st.container(border=True, key="pr_add"):
        st.markdown("**Add a practice**")
        _fields("pr")
        st.button("Add practice", type="primary", key="pr_add_button", on_click=_save,
                  args=("pr", None), icon=":material/add:")
    with st.expander("Import or export the list as CSV"):
        st.download_button("Download practices (CSV)", lambda: csv_bytes(
            CSV_HEADERS, ([neutralise(p.name), p.org_id] for p in practices)),
            file_name="practices.csv", mime="text/csv", key="pr_export", on_click="ignore")
        upload = st.file_uploader("Replace the list with a CSV file (Name, Organisation id)",
                                  type=["csv"], key="pr_upload")
        if upload is not None and st.button("Replace with this file", key="pr_import"):
            found, problems = read_practices_csv(upload.getvalue()[:1_000_000])
            if problems:
                st.error(safe(" ".join(problems[:5])) + (
                    f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
            else:
                svc.practices.save_all(scope, found)
                log_activity(scope, PRACTICES, f"Replaced the practices with {len(found)} "
                                               f"from {upload.name}.")
                st.session_state["pr_notice"] = f"Imported {len(found)} practice(s)."
                st.rerun()


page_body(render)
