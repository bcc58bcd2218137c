"""Email many: "Email the invites to N providers" (History, after an import) and "Email
reminders to N" (Follow up), as a background job (jobs/kinds/emails.py): it runs on the server
at the deployment's messages-per-minute pace, one runner across replicas, Pause, Resume and
Cancel, and goes on when the tab is closed. This draws the offer and the confirmation; the
job's progress and results are the job panel's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date

import pandas as pd
import streamlit as st

from components.email_send import practice_note
from components.identity import log_activity, your_name
from components.job_panel import WAITING, Metric, PanelWords, job_panel
from components.services import Services, services
from components.session import api_key, current_scope, session_lock
from partner_console.exports import csv_bytes, neutralise
from partner_console.jobs.engine import start_job
from partner_console.jobs.kinds.emails import JOB_OF_EMAIL, create_email_job
from partner_console.jobs.store import Job, RowState
from partner_console.storage import Scope
from partner_console.storage.activity import EMAILED, REMINDED
from partner_console.storage.sends import INVITE
from partner_console.when import in_minutes

WHAT = {INVITE: "invites", "reminder": "reminders"}
WORDS = {kind: PanelWords(
    "done", (Metric("Emailed", lambda p: p.count(RowState.EMAILED)),
             Metric("May have been sent", lambda p: p.count(RowState.UNCERTAIN),
                    "The mail server took the message but did not confirm it. See Emails."),
             Metric("Not sent", lambda p: p.failed + p.skipped), WAITING),
    running="Sending…", needs_key=False, elsewhere="These emails are already being sent by "
                                                  "another console server.",
    activity=EMAILED if kind == INVITE else REMINDED) for kind in WHAT}


def _start(where: str, kind: str, providers: list[tuple[int, str, str, dict[str, int]]]
           ) -> None:
    svc = services()
    scope = current_scope()
    if scope is None or not providers:
        return
    token = st.session_state.setdefault(f"ej_token_{where}", uuid.uuid4().hex)
    with session_lock("email_job_start_lock"):  # one click, one job (the token), on any rerun
        running = svc.jobs.unfinished(scope, JOB_OF_EMAIL[kind])
        if running is not None:  # a colleague's, another tab's, or paused by a restart
            st.session_state[f"ej_job_{where}"] = running.id
            st.session_state[f"jp_{where}_notice"] = (
                f"Earlier {WHAT[kind]} for your organisation are not finished yet"
                + (f" ({running.created_by}'s)" if running.created_by else "")
                + ": resume or cancel them first. Nothing was started twice.")
            return
        job_id, is_new = create_email_job(svc.jobs, scope, email_kind=kind,
                                          created_by=your_name(), start_token=token,
                                          providers=providers)
        if is_new:
            log_activity(scope, EMAILED if kind == INVITE else REMINDED,
                         f"Started emailing the {WHAT[kind]} to {len(providers)} provider(s).")
            start_job(svc, job_id, scope, api_key(), your_name())
    st.session_state[f"ej_job_{where}"] = job_id
    for name in (f"ej_token_{where}", f"ej_confirm_{where}"):
        st.session_state.pop(name, None)


def offer(scope: Scope, candidates: list[tuple[int, str, str]], where: str,
          kind: str = INVITE) -> None:
    """The button for `candidates` ((provider id, email, name) with an invite link), the
    confirmation, then the job's progress. A job running or paused (after a restart, in
    another tab) is shown instead, with Resume."""
    svc = services()
    job_id = st.session_state.get(f"ej_job_{where}")
    if job_id is None and (waiting := svc.jobs.unfinished(scope, JOB_OF_EMAIL[kind])) is not None:
        job_id = st.session_state[f"ej_job_{where}"] = waiting.id
    if job_id is not None:
        if job_panel(job_id, f"jp_{where}", WORDS[kind],
                     results=lambda job: _results(svc, job, where)) is None:
            st.session_state.pop(f"ej_job_{where}", None)
        if st.button("Done", key=f"ej_done_{where}", type="tertiary"):
            st.session_state.pop(f"ej_job_{where}", None)
            st.rerun()
        return
    if not candidates:
        return
    what = WHAT[kind]
    counts = svc.sends.already_sent([c[0] for c in candidates], kind)
    fresh = [c for c in candidates if not counts.get(c[0])]
    again = st.checkbox(f"Also the {len(candidates) - len(fresh)} already sent their "
                        f"{what[:-1]} (they get another)", key=f"ej_again_{where}") \
        if len(fresh) < len(candidates) else False
    chosen = candidates if again else fresh
    if not chosen:
        st.caption(f"Every one of them was already sent their {what[:-1]}.")
        return
    if st.button(f"Email the {what} to {len(chosen)} provider(s)", key=f"ej_ask_{where}",
                 icon=":material/forward_to_inbox:"):
        st.session_state[f"ej_confirm_{where}"] = True
    if st.session_state.get(f"ej_confirm_{where}"):
        per_minute = svc.settings.emails_per_minute
        minutes = len(chosen) / per_minute
        in_several = sum(1 for n in Counter(e.lower() for _, e, _ in chosen).values() if n > 1)
        twice = ((" 1 person here is a provider" if in_several == 1 else
                  f" {in_several} people here are providers")
                 + " in more than one practice: they get one email per practice, each with "
                   "that practice's invite link." if in_several else "")
        with st.container(border=True, key=f"ej_confirm_box_{where}"):
            note = practice_note()
            st.warning(f"Send {len(chosen)} email(s), one to each provider's own address? "
                       f"At {per_minute} a minute it takes "
                       f"{in_minutes(minutes)}"
                       "; it goes on if you close this tab." + twice
                       + (f" {note}" if note else ""))
            st.button("Yes, send them", key=f"ej_start_{where}", type="primary",
                      on_click=_start, args=(where, kind, [
                          (p, e, n, {"confirmed": counts.get(p, 0) if again else 0})
                          for p, e, n in chosen]))


def _results(svc: Services, job: Job, where: str) -> None:
    rows = [r for r in svc.jobs.rows(job.id) if r.state not in (RowState.QUEUED,
                                                                 RowState.SENDING)]
    if not rows:
        return
    table = pd.DataFrame([{"Name": r.full_name, "Email": r.email, "Outcome": r.outcome,
                           "Details": r.details} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", height=240, key=f"ej_rows_{where}")
    st.download_button(
        "Download the results (CSV)", lambda: csv_bytes(
            ["Name", "Email", "Outcome", "Details"],
            ([neutralise(v) for v in (r.full_name, r.email, r.outcome, r.details)]
             for r in rows)),
        file_name=f"emails-{job.id}-{date.today().isoformat()}.csv", mime="text/csv",
        key=f"ej_csv_{where}", on_click="ignore")
