"""An import's results under its progress panel: each row's outcome and links, the results
as CSV and Excel, the rows to fix (refused by Upheal or by the preview), and the offer to
email the invites it created."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from components.email_jobs import offer as email_offer
from components.excel_export import XLSX
from components.services import Services
from components.session import current_scope
from components.time_zone import when
from partner_console.bulk.files import fix_up_csv, results_csv, results_xlsx
from partner_console.jobs.store import Job, JobStatus, RowState
from partner_console.storage.sends import FAILED, INVITE, SENT, Send


def import_results(svc: Services, job: Job) -> None:
    _results_table(svc, job)
    _email_offer(svc, job)


def _results_table(svc: Services, job: Job) -> None:
    rows = svc.jobs.rows(job.id)
    done = [r for r in rows if r.state not in (RowState.QUEUED, RowState.SENDING)]
    if not done:
        return
    emailed = svc.sends.latest_for([r.provider_id for r in rows if r.provider_id], INVITE)
    table = pd.DataFrame([{
        "Row": r.row_number, "Name": r.full_name, "Email": r.email, "Outcome": r.outcome,
        "Details": r.details, "Invite email": _emailed(emailed.get(r.provider_id or 0)),
        "Invite link": r.invite_url or "", "Room link": r.private_room_link or "",
    } for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", height=280, key="bi_results",
                 column_config={
                     "Invite link": st.column_config.LinkColumn(display_text="Open invite"),
                     "Room link": st.column_config.LinkColumn(display_text="Open room")})
    stamp = date.today().isoformat()
    left, middle, right = st.columns(3)
    left.download_button("Download results (CSV)", lambda: results_csv(rows),
                         file_name=f"import-{job.id}-results-{stamp}.csv", mime="text/csv",
                         key="bi_results_csv", on_click="ignore")
    middle.download_button("Download results (Excel)", lambda: results_xlsx(rows),
                           file_name=f"import-{job.id}-results-{stamp}.xlsx", mime=XLSX,
                           key="bi_results_xlsx", on_click="ignore")
    failed = [r for r in rows if r.state == RowState.FAILED]
    if failed:
        headers = list(failed[0].cells)
        right.download_button(
            f"Download the {len(failed)} row(s) to fix",
            lambda: fix_up_csv(headers, [(r.cells, r.message or "") for r in failed]),
            file_name=f"import-{job.id}-to-fix.csv", mime="text/csv", key="bi_failed",
            on_click="ignore", help="The rows as you uploaded them, with a Problem column. "
                                    "Fix them, save, and upload the file again.")


def _emailed(send: Send | None) -> str:
    if send is None:
        return ""
    if send.state == SENT:
        return f"Emailed {when(send.sent_at or send.created_at)}"
    return send.label if send.state != FAILED else f"Not sent: {send.error_text or ''}"


def _email_offer(svc: Services, job: Job) -> None:
    """After an import: email the invites of the providers it created."""
    scope = current_scope()
    if scope is None or job.shown_status not in (JobStatus.FINISHED, JobStatus.CANCELLED):
        return
    created = [(r.provider_id, r.email, r.full_name) for r in svc.jobs.rows(job.id, (
        RowState.CREATED,)) if r.provider_id is not None]
    if created or st.session_state.get(f"ej_job_import{job.id}"):
        st.markdown("**Email the invites**: each provider created gets the organisation's "
                    "invite email at their own address.")
        email_offer(scope, created, f"import{job.id}")
