"""Roster sync: keep Upheal in step with the practice's current list of providers."""

from __future__ import annotations

import uuid
from datetime import date

import pandas as pd
import streamlit as st

from components.excel_export import XLSX
from components.identity import log_activity, your_name
from components.job_panel import WAITING, Metric, PanelWords, job_panel
from components.practice_picker import practice_picker
from components.router import page_body
from components.services import Services, services
from components.session import api_key, current_scope, organisation_page, session_lock
from components.upload import (
    column_mapping,
    phone_country,
    uploaded,
)
from partner_console.bulk.files import results_csv, results_xlsx
from partner_console.bulk.prepare import prepare_rows
from partner_console.bulk.read import ReadResult
from partner_console.exports import csv_bytes, neutralise
from partner_console.jobs.engine import start_job
from partner_console.jobs.kinds.sync import LAST_ROWS_SETTING, create_sync
from partner_console.jobs.store import Job, JobKind, JobStatus, RowState, UnfinishedJobError
from partner_console.roster import (
    CATEGORY_HELP,
    CATEGORY_LABELS,
    CHANGED,
    CONFLICT,
    MISSING,
    NEW,
    PREVIEW_HEADERS,
    UNCHANGED,
    SyncPlan,
    plan_sync,
    preview_rows,
)
from partner_console.storage import Scope
from partner_console.storage.activity import SYNCED
from partner_console.when import in_minutes

INTRO = ("Upload the practice's current list of providers: the console shows who is new, who "
         "changed and who is missing, and sends nothing until you apply it. A blank cell keeps "
         "what History has.")

WORDS = PanelWords(
    "rows done", (Metric("Created", lambda p: p.created + p.count(RowState.LINKED),
                         "Linked: Upheal already had the email, so it was not created again."),
                  Metric("Changed", lambda p: p.count(RowState.UPDATED)),
                  Metric("Deactivated", lambda p: p.count(RowState.DEACTIVATED)),
                  Metric("Failed", lambda p: p.failed), WAITING),
    heading="Roster sync {id}", running="Syncing…", cancel="Cancel the sync",
    confirm_cancel="Cancel this sync? What was done stays done; the rest is not sent.",
    confirm_button="Yes, cancel the sync", activity=SYNCED,
    elsewhere="This sync is already running on another console server (or in another tab). "
              "Its progress is shown here as it goes.",
    last_rows="Waiting for Upheal to confirm the last rows (nothing is sent twice).")
UNFINISHED = ("Your roster was not applied: this sync was started first and has not "
              "finished, and one sync runs at a time. Let it finish (or cancel it), then "
              "upload your roster again: its preview will show what is still to change.")


def _plan(svc: Services, scope: Scope, read: ReadResult, mapping: dict[str, str | None],
          phone_code: str | None, file_practice: str | None) -> SyncPlan:
    """The plan, made once per file, mapping, phone country and practice, and kept: every
    rerun shows the same numbers, in the preview, the confirmation and the job."""
    practices = svc.practices.all(scope)
    key = (id(read), tuple(mapping.items()), phone_code, file_practice, tuple(practices))
    cached = st.session_state.get("rs_plan")
    if cached and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    with st.spinner("Comparing the roster with History…"):
        rows = prepare_rows(read, mapping, svc.catalog.templates(scope), phone_code, practices,
                            file_practice)
        plan = plan_sync(rows, list(svc.reads.iter_rows(scope)))
    st.session_state["rs_plan"] = (key, plan)
    return plan


def _apply(file_name: str) -> None:
    svc = services()
    scope = current_scope()
    cached = st.session_state.get("rs_plan")
    if scope is None or not cached:
        return
    plan: SyncPlan = cached[1]
    deactivate = bool(st.session_state.get("rs_deactivate"))
    token = st.session_state.setdefault("rs_start_token", uuid.uuid4().hex)
    with session_lock("rs_start_lock"):
        try:
            job_id, is_new = create_sync(svc.jobs, scope, created_by=your_name(),
                                         file_name=file_name, plan=plan,
                                         deactivate_missing=deactivate, start_token=token)
        except UnfinishedJobError as exc:  # a colleague's, or one left paused: shown instead
            job_id, is_new = exc.job_id, False
            st.session_state["jp_sync_notice"] = UNFINISHED
        if is_new:
            svc.catalog.set_setting(scope, LAST_ROWS_SETTING, str(plan.file_rows))
            log_activity(scope, SYNCED, f"Started a roster sync from {file_name}: "
                         + _summary(plan, deactivate) + ".")
            start_job(svc, job_id, scope, api_key(), your_name())
    st.session_state["rs_job"] = job_id
    for name in ("rs_start_token", "rs_plan", "rs_read", "rs_confirm", "rs_deactivate",
                 "rs_typed"):
        st.session_state.pop(name, None)
    st.session_state["rs_generation"] = st.session_state.get("rs_generation", 0) + 1


def _summary(plan: SyncPlan, deactivate: bool) -> str:
    counts = plan.counts
    parts = [f"{counts[NEW]} to create", f"{counts[CHANGED]} to change"]
    if deactivate:
        parts.append(f"{counts[MISSING]} to deactivate")
    return ", ".join(parts)


def _table(rows: list, *, changes: bool) -> None:  # type: ignore[type-arg]
    frame = pd.DataFrame([{
        "Row": r.row_number or "", "Name": r.name, "Email": r.email,
        ("What changes" if changes else "What to do"): r.note,
        "Can't be changed in Upheal": " ".join(r.fixed)} for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch", height=min(320, 38 + 35 * len(rows)))


def _preview(plan: SyncPlan, file_name: str) -> None:
    counts = plan.counts
    for column, (category, label) in zip(st.columns(len(CATEGORY_LABELS)),
                                         CATEGORY_LABELS.items(), strict=True):
        column.metric(label, counts[category], help=CATEGORY_HELP[category])
    for category in (NEW, CHANGED, CONFLICT, MISSING, UNCHANGED):
        rows = [r for r in plan.rows if r.category == category]
        if rows:
            with st.expander(f"{CATEGORY_LABELS[category]}: {len(rows)}",
                             expanded=category in (CHANGED, CONFLICT)):
                st.caption(CATEGORY_HELP[category])
                _table(rows, changes=category == CHANGED)
    deactivate = False
    if counts[MISSING]:
        deactivate = st.checkbox(f"Deactivate the {counts[MISSING]} provider(s) missing from "
                                 "the file", key="rs_deactivate",
                                 help="Off unless you tick it. Deactivated providers can be "
                                      "reactivated from History.")
    st.download_button("Download the changes (CSV)", lambda: csv_bytes(
        PREVIEW_HEADERS, ([neutralise(v) for v in row]
                          for row in preview_rows(plan, deactivate))),
        file_name=f"roster-changes-{date.today().isoformat()}.csv", mime="text/csv",
        key="rs_download", icon=":material/download:", on_click="ignore",
        help="Everything above, before anything is sent.")
    if plan.nothing_to_do(deactivate):
        st.success("Nothing to change: History already matches this roster.",
                   icon=":material/check_circle:")
        return
    svc = services()
    last = svc.catalog.setting(current_scope(), LAST_ROWS_SETTING, "")  # type: ignore[arg-type]
    reason = plan.looks_wrong(deactivate, int(last) if last.isdigit() else None)
    if reason:
        st.error(reason + " If it is right, type the number of providers to deactivate "
                 f"({counts[MISSING]}) to go on.", icon=":material/warning:")
        typed = st.text_input("Number of providers to deactivate", key="rs_typed")
        if typed.strip() != str(counts[MISSING]):
            return
    rate = svc.settings.rate_limit_per_minute
    sends = len(plan.to_send(deactivate))
    if st.button(f"Apply changes ({_summary(plan, deactivate)})", type="primary",
                 key="rs_apply_ask", icon=":material/sync:"):
        st.session_state["rs_confirm"] = True
    if st.session_state.get("rs_confirm"):
        with st.container(border=True, key="rs_confirm_box"):
            where = "in the SANDBOX (practice)" if svc.settings.uses_sandbox else "in Upheal"
            st.warning(f"Apply {sends} change(s) {where}: {_summary(plan, deactivate)}. At "
                       f"Upheal's limit of {rate} calls a minute it takes "
                       f"{in_minutes(sends * 2 / rate)}; it goes on if you close this tab.")
            st.button("Yes, apply the changes", key="rs_apply", type="primary",
                      on_click=_apply, args=(file_name,))


def _results(job: Job) -> None:
    rows = services().jobs.rows(job.id)
    done = [r for r in rows if r.state not in (RowState.QUEUED, RowState.SENDING)]
    if not done:
        return
    st.dataframe(pd.DataFrame([{"Row": r.line or "", "Name": r.full_name, "Email": r.email,
                                "Outcome": r.outcome, "Details": r.details} for r in rows]),
                 hide_index=True, width="stretch", height=260, key="rs_results")
    stamp = date.today().isoformat()
    left, right = st.columns(2)
    left.download_button("Download results (CSV)", lambda: results_csv(rows, named=True),
                         file_name=f"roster-sync-{job.id}-results-{stamp}.csv",
                         mime="text/csv", key="rs_results_csv", on_click="ignore")
    right.download_button("Download results (Excel)", lambda: results_xlsx(rows, named=True),
                          file_name=f"roster-sync-{job.id}-results-{stamp}.xlsx", mime=XLSX,
                          key="rs_results_xlsx", on_click="ignore")


@organisation_page("Roster sync", "to sync its roster", INTRO)
def render(scope: Scope) -> None:
    svc = services()
    job_id = st.session_state.get("rs_job")
    if job_id is None and (waiting := svc.jobs.unfinished(scope, JobKind.SYNC)) is not None:
        job_id = st.session_state["rs_job"] = waiting.id
    if job_id is not None:
        job = job_panel(job_id, "jp_sync", WORDS, _results)
        if job is None:
            st.session_state.pop("rs_job", None)
        if job is not None and job.shown_status in (JobStatus.RUNNING, JobStatus.PAUSED):
            st.caption("One sync runs at a time: a new roster can be uploaded once this one "
                       "has finished or been cancelled.")
        elif st.button("Start a new sync", key="rs_new"):
            st.session_state.pop("rs_job", None)
            st.rerun()
        return

    st.header("1. Upload the roster")
    got = uploaded("The practice's roster (Excel .xlsx or CSV), with the same columns as "
                   "the import template", "rs",
                   f"rs_upload_{st.session_state.get('rs_generation', 0)}",
                   empty="Rows are matched to History by your own ID for the provider, then "
                         "by email.")
    if got is None:
        return
    read, name = got
    st.header("2. Match the columns")
    mapping = column_mapping(read, "rs", required=False)
    if mapping is None:
        return
    phone_code = phone_country(svc, "rs", mapping)
    file_practice = practice_picker(scope, "rs_practice", "This roster is for", help=(
        "Rows are matched, and missing providers found, within this practice; a “Practice” "
        "column, when the file has one, chooses per row."))
    st.header("3. Check the changes")
    _preview(_plan(svc, scope, read, mapping, phone_code, file_practice), name)
    if st.session_state.get("rs_job") is not None:  # (applied in this run's callback)
        st.rerun()


page_body(render)
