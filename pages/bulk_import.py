"""Bulk import: a whole practice from a spreadsheet: template, upload, map, check, import."""

from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from components.email_send import practice_note
from components.excel_export import XLSX
from components.identity import log_activity, your_name
from components.import_results import import_results
from components.job_panel import WAITING, Metric, PanelWords, job_panel
from components.practice_picker import practice_label, practice_names, practice_picker
from components.router import page_body
from components.services import Services, services
from components.session import api_key, current_scope, scope_or_prompt, session_lock
from components.text import safe
from components.time_zone import when
from components.upload import (
    column_mapping,
    phone_country,
    uploaded,
)
from partner_console.api.errors import ApiError
from partner_console.bulk.files import (
    fix_up_csv,
    template_csv,
    template_xlsx,
)
from partner_console.bulk.prepare import (
    EXAMPLE,
    IN_HISTORY,
    IN_UPHEAL,
    INVALID,
    READY,
    ROW_STATUS_LABELS,
    PreparedRow,
    classify_with_history,
    counts,
    emails_in_upheal,
    prepare_rows,
)
from partner_console.bulk.read import ReadResult
from partner_console.jobs.engine import start_job
from partner_console.jobs.kinds.imports import create_import
from partner_console.jobs.store import JobKind, JobStatus
from partner_console.messages import explain
from partner_console.storage import Scope
from partner_console.storage.activity import IMPORTED
from partner_console.when import in_minutes

PREVIEW_CHECK_LIMIT = 200  # larger files are checked row by row during the import
WORDS = PanelWords(
    "rows done", (Metric("Created", lambda p: p.created),
                  Metric("Failed", lambda p: p.failed, "Sent to Upheal, which refused them."),
                  Metric("Not sent", lambda p: p.not_sent, "Refused by the check before "
                         "sending, already created, or cancelled before their turn."), WAITING),
    heading="Import {id}", running="Importing…", cancel="Cancel import",
    confirm_cancel="Cancel this import? Providers already created stay created; the rest are "
                   "not sent.", confirm_button="Yes, cancel the import",
    elsewhere="This import is already running on another console server (or in another tab). "
              "Its progress is shown here as it goes.", activity=IMPORTED,
    last_rows="Waiting for Upheal to confirm the last rows (nothing is sent twice).")


def _prepare(svc: Services, scope: Scope, read: ReadResult,
             mapping: dict[str, str | None], phone_code: str | None,
             file_practice: str | None = None) -> list[PreparedRow]:
    """The rows as the import will treat them, classified once per file, mapping, templates,
    check with Upheal and example choice, and kept: every rerun shows the same numbers."""
    catalog = svc.catalog.templates(scope)
    practices = svc.practices.all(scope)
    cache_key = (id(read), tuple(mapping.items()), tuple(catalog), phone_code, file_practice,
                 tuple(practices))
    cached = st.session_state.get("bi_prepared")
    if cached and cached[0] == cache_key:
        rows: list[PreparedRow] = cached[1]
    else:
        rows = prepare_rows(read, mapping, catalog, phone_code, practices, file_practice)
        st.session_state["bi_prepared"] = (cache_key, rows)
    in_upheal: set[str] = st.session_state.get("bi_in_upheal", set())
    keep_example = bool(st.session_state.get("bi_keep_example"))
    decided_key = (cache_key, frozenset(in_upheal), keep_example)
    decided = st.session_state.get("bi_classified")
    if decided and decided[0] == decided_key:
        return list(decided[1])
    classified = classify_with_history(svc.history, scope, rows, in_upheal, keep_example,
                                       lambda at: when(at, "%Y-%m-%d"),
                                       {p.org_id: p.name for p in practices})
    st.session_state["bi_classified"] = (decided_key, classified)
    return classified


def _check_with_upheal(rows: list[PreparedRow]) -> None:
    """Ask Upheal about each ready row (paced like an import), with a progress bar."""
    svc = services()
    scope = current_scope()
    if scope is None:
        return
    emails = [r.request.email for r in rows if r.status == READY and r.request is not None]
    bar = st.progress(0.0, text="Checking with Upheal…")
    try:
        found = emails_in_upheal(
            svc.client, api_key(), emails, svc.background_pacing(),
            lambda done, total: bar.progress(done / total, text=f"Checked {done} of {total}"),
            practices=set(practice_names(scope)))
        st.session_state["bi_in_upheal"] = set(st.session_state.get("bi_in_upheal", set())) | found
        st.session_state["bi_check_done"] = (
            f"Checked {len(emails)} row(s) with Upheal: "
            + (f"{len(found)} already have an account and will be skipped." if found else
               "none has an Upheal account yet."))
    except ApiError as exc:
        st.session_state["bi_check_error"] = explain(exc)
    st.rerun()


def _start(file_name: str) -> None:
    """The confirmed click: one job per click (the start token), started on the server."""
    svc = services()
    scope = current_scope()
    prepared: list[PreparedRow] = (st.session_state.get("bi_classified") or (None, []))[1]
    if scope is None or not prepared:
        return
    token = st.session_state.setdefault("bi_start_token", uuid.uuid4().hex)
    with session_lock("bi_start_lock"):
        job_id, is_new = create_import(svc.jobs, scope, created_by=your_name(),
                                       file_name=file_name, rows=prepared, start_token=token,
                                       send_invites=bool(st.session_state.get("bi_email")))
        if is_new:
            emailing = ", emailing each invite as it is created" if \
                st.session_state.get("bi_email") else ""
            practice = st.session_state.get("bi_practice")
            where = f" into {practice_label(scope, practice)}" if practice else ""
            log_activity(scope, IMPORTED, f"Started an import of {len(prepared)} provider(s) "
                                          f"from {file_name}{where}{emailing}.")
            start_job(svc, job_id, scope, api_key(), your_name())
    st.session_state["bi_job"] = job_id
    st.session_state.pop("bi_start_token", None)
    for key in ("bi_read", "bi_prepared", "bi_classified", "bi_confirm", "bi_in_upheal",
                "bi_keep_example"):
        st.session_state.pop(key, None)
    st.session_state["bi_uploader_generation"] = st.session_state.get(
        "bi_uploader_generation", 0) + 1


def _job_panel(job_id: int) -> None:
    svc = services()

    if job_panel(job_id, "jp_import", WORDS, lambda job: import_results(svc, job)) is None:
        st.session_state.pop("bi_job", None)


def _preview(rows: list[PreparedRow], read: ReadResult, file_name: str) -> None:
    tally = counts(rows)
    short = {READY: "Ready", INVALID: "Needs fixing", "duplicate_in_file": "Repeated",
             IN_HISTORY: "Already in History", IN_UPHEAL: "Has Upheal account",
             EXAMPLE: "Example row"}
    statuses = list(short.items())
    for first in range(0, len(statuses), 3):  # two rows of three: every label whole at 1280 px
        for column, (status, label) in zip(st.columns(3), statuses[first:first + 3],
                                           strict=True):
            column.metric(label, tally[status], help=ROW_STATUS_LABELS[status])
    st.dataframe(pd.DataFrame([{
        "Row": r.row_number, "Status": ROW_STATUS_LABELS[r.status],
        "Name": " ".join(str(r.values.get(f) or "") for f in ("first_name", "last_name")),
        "Email": r.values.get("email", ""), "What to do": r.problem,
    } for r in rows]), hide_index=True, width="stretch", height=300, key="bi_preview")
    st.caption("Rows that are not “Ready” are left out of the import and listed in its "
               "results. Each ready row is also checked with Upheal just before it is sent: "
               "anyone who already has an account is skipped.")
    if tally[EXAMPLE] or st.session_state.get("bi_keep_example"):
        st.checkbox("Import the example row too", key="bi_keep_example",
                    help="The template's own example (Jane Smith, jane.smith@example.com) is "
                         "left out unless you tick this.")
    invalid = [r for r in rows if r.status == INVALID]
    if invalid:
        st.download_button(f"Download the {len(invalid)} row(s) that need fixing",
                           lambda: fix_up_csv(read.headers, [(r.cells, r.problem)
                                                             for r in invalid]),
                           file_name="rows-to-fix.csv", mime="text/csv", key="bi_fix_rows",
                           on_click="ignore")
    ready = tally[READY]
    if not ready:
        st.warning("No row is ready to import.")
        return
    problem = st.session_state.pop("bi_check_error", None)
    if problem:
        st.error(safe(problem))
    checked = st.session_state.pop("bi_check_done", None)
    if checked:
        st.success(checked, icon=":material/manage_search:")
    if ready <= PREVIEW_CHECK_LIMIT and st.button(
            "Check which already have an Upheal account", key="bi_check",
            icon=":material/manage_search:",
            help="Optional: asks Upheal about each ready row now. The import checks each row "
                 "again just before sending it."):
        _check_with_upheal(rows)
    rate = services().settings.rate_limit_per_minute
    minutes = ready * 2 / rate
    if st.button(f"Start import of {ready} provider(s)", type="primary", key="bi_start_ask",
                 icon=":material/upload:"):
        st.session_state["bi_confirm"] = True
    if st.session_state.get("bi_confirm"):
        with st.container(border=True, key="bi_confirm_box"):
            where = "in the SANDBOX (practice)" if services().settings.uses_sandbox else \
                "in Upheal"
            st.warning(f"This creates {ready} provider(s) {where}; it cannot be undone. At "
                       f"Upheal's limit of {rate} calls a minute it takes "
                       f"{in_minutes(minutes)}.")
            note = practice_note()
            st.checkbox("Email each provider their invite as soon as they are created",
                        key="bi_email", help=f"At most {services().settings.emails_per_minute} "
                        "emails a minute; the organisation's invite text (Email texts)."
                        + (f" {note}" if note else ""))
            st.button("Yes, start the import", key="bi_start", type="primary",
                      on_click=_start, args=(file_name,))


def render() -> None:
    svc = services()
    st.title("Bulk import")
    st.caption("Create a whole practice at once from a spreadsheet. Nothing is sent until you "
               "check the rows and press Start.")
    st.header("1. Get the template")
    left, right = st.columns(2)
    left.download_button("Download template (Excel)", template_xlsx,
                         file_name="provider-import-template.xlsx", mime=XLSX,
                         key="bi_template_xlsx", icon=":material/table_view:", on_click="ignore")
    right.download_button("Download template (CSV)", template_csv,
                          file_name="provider-import-template.csv", mime="text/csv",
                          key="bi_template_csv", icon=":material/description:", on_click="ignore")
    st.caption("Your own spreadsheet works too: columns such as “First Name”, “E-mail” or "
               "“NPI” are recognised, and you can match the rest below.")

    scope = scope_or_prompt("to import")
    if scope is None:
        return

    job_id = st.session_state.get("bi_job")
    if job_id is None:
        unfinished = [j for j in svc.jobs.jobs(scope, kind=JobKind.IMPORT)
                      if j.shown_status in (JobStatus.RUNNING, JobStatus.PAUSED)]
        if unfinished:
            job_id = st.session_state["bi_job"] = unfinished[0].id
    if job_id is not None:
        _job_panel(job_id)
        if st.button("Start a new import", key="bi_new"):
            st.session_state.pop("bi_job", None)
            st.rerun()
        return

    st.header("2. Upload your file")
    generation = st.session_state.get("bi_uploader_generation", 0)
    got = uploaded("Spreadsheet (Excel .xlsx or CSV), up to 5,000 providers", "bi",
                   f"bi_upload_{generation}")
    if got is None:
        return
    read, name = got

    st.header("3. Match the columns")
    mapping = column_mapping(read, "bi")
    if mapping is None:
        return

    st.header("4. Check the rows")
    phone_code = phone_country(svc, "bi", mapping)
    file_practice = practice_picker(scope, "bi_practice", "Create these providers in", help=(
        "A “Practice” column, when the file has one, chooses per row (by name or "
        "organisation id); this is for the rows without one."))
    _preview(_prepare(svc, scope, read, mapping, phone_code, file_practice), read, name)


page_body(render)
