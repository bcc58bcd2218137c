"""Email many: "Email the invites to N providers" (History, after an import) and "Email
reminders to N" (Follow up), as a background job like an import (bulk/emailing.py): it runs on
the server at the deployment's messages-per-minute pace, one runner across replicas, Pause,
Resume and Cancel, and goes on when the tab is closed. This draws the offer, the confirmation
and the job's progress and results; each job kind's rows are sent by the runner.
"""

from __future__ import annotations

import uuid
from datetime import date

import pandas as pd
import streamlit as st

from components.deps import (
    Services,
    current_scope,
    log_activity,
    pause_job,
    services,
    session_lock,
    your_name,
)
from components.email_send import practice_note
from components.text import safe
from partner_console.bulk.emailing import JOB_OF_KIND, KIND_OF_JOB, build_email_runner
from partner_console.bulk.jobs import (
    DONE_EMAILED,
    DONE_UNCERTAIN,
    PAUSED,
    QUEUED,
    RUNNING,
    Job,
)
from partner_console.exports import csv_bytes, neutralise
from partner_console.storage import NotFoundError, Scope
from partner_console.storage.activity import EMAILED, REMINDED
from partner_console.storage.coordination import CANCEL
from partner_console.storage.sends import INVITE

WHAT = {INVITE: "invites", "reminder": "reminders"}


def _run(svc: Services, scope: Scope, job_id: int, kind: str) -> bool:
    runner = build_email_runner(job_id=job_id, scope=scope, created_by=your_name(),
                                store=svc.jobs, history=svc.history, catalog=svc.catalog,
                                mailer=svc.mailer, owner=svc.owner, kind=kind,
                                leases=svc.leases)
    return svc.runners.start(runner)


def _start(where: str, kind: str, providers: list[tuple[int, str, str, dict[str, int]]]
           ) -> None:
    svc = services()
    scope = current_scope()
    if scope is None or not providers:
        return
    token = st.session_state.setdefault(f"ej_token_{where}", uuid.uuid4().hex)
    with session_lock("email_job_start_lock"):  # one click, one job (the token), on any rerun
        running = unfinished(svc, scope, kind)
        if running is not None:  # a colleague's, another tab's, or paused by a restart
            st.session_state[f"ej_job_{where}"] = running.id
            st.session_state[f"ej_notice_{where}"] = (
                f"Earlier {WHAT[kind]} for your organisation are not finished yet"
                + (f" ({running.created_by}'s)" if running.created_by else "")
                + ": resume or cancel them first. Nothing was started twice.")
            return
        job_id, is_new = svc.jobs.create_for_providers(
            scope, kind=JOB_OF_KIND[kind], created_by=your_name(), start_token=token,
            file_name=f"{WHAT[kind].capitalize()} to {len(providers)} provider(s)",
            providers=providers)
        if is_new:
            log_activity(scope, EMAILED if kind == INVITE else REMINDED,
                         f"Started emailing the {WHAT[kind]} to {len(providers)} provider(s).")
            _run(svc, scope, job_id, kind)
    st.session_state[f"ej_job_{where}"] = job_id
    for name in (f"ej_token_{where}", f"ej_confirm_{where}"):
        st.session_state.pop(name, None)


def unfinished(svc: Services, scope: Scope, kind: str) -> Job | None:
    """The organisation's latest email job of this kind, if it is running or paused."""
    jobs = svc.jobs.jobs(scope, limit=1, kind=JOB_OF_KIND[kind])
    return jobs[0] if jobs and jobs[0].shown_status in (RUNNING, PAUSED) else None


def offer(scope: Scope, candidates: list[tuple[int, str, str]], where: str,
          kind: str = INVITE) -> None:
    """The button for `candidates` ((provider id, email, name) with an invite link), the
    confirmation, then the job's progress. A job running or paused (after a restart, in
    another tab) is shown instead, with Resume."""
    svc = services()
    job_id = st.session_state.get(f"ej_job_{where}")
    if job_id is None and (waiting := unfinished(svc, scope, kind)) is not None:
        job_id = st.session_state[f"ej_job_{where}"] = waiting.id
    if job_id is not None:
        job_panel(job_id, where)
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
        with st.container(border=True, key=f"ej_confirm_box_{where}"):
            note = practice_note()
            st.warning(f"Send {len(chosen)} email(s), one to each provider's own address? "
                       f"At {per_minute} a minute it takes "
                       f"{'under a minute' if minutes < 1 else f'about {minutes:.0f} minutes'}"
                       "; it goes on if you close this tab." + (f" {note}" if note else ""))
            st.button("Yes, send them", key=f"ej_start_{where}", type="primary",
                      on_click=_start, args=(where, kind, [
                          (p, e, n, {"confirmed": counts.get(p, 0) if again else 0})
                          for p, e, n in chosen]))


def _resume(job_id: int, kind: str, where: str) -> None:
    scope = current_scope()
    if scope is not None and not _run(services(), scope, job_id, kind):
        st.session_state[f"ej_notice_{where}"] = ("These emails are already being sent by "
                                                  "another console server.")


def _cancel(job_id: int) -> None:
    services().leases.ask(job_id, CANCEL)


def job_panel(job_id: int, where: str) -> None:
    """An email job's progress, controls and per-row results."""
    svc = services()
    scope = current_scope()
    if scope is None:
        return
    try:
        job = svc.jobs.get(scope, job_id)
    except NotFoundError:
        st.session_state.pop(f"ej_job_{where}", None)
        return
    kind = KIND_OF_JOB.get(job.kind, INVITE)
    live = job.live  # as drawn now (Job.live reads the clock each time)

    @st.fragment(run_every=1.0 if live else None)
    def progress() -> None:
        current = svc.jobs.get(scope, job_id)
        p = svc.jobs.progress(job_id)
        status = "sending" if current.live else current.shown_status
        st.progress(p.done / p.total if p.total else 1.0,
                    text=f"{safe(current.file_name)}: {p.done} of {p.total} done ({status})")
        a, b, c, d = st.columns(4)
        a.metric("Emailed", p.counts.get(DONE_EMAILED, 0))
        b.metric("May have been sent", p.counts.get(DONE_UNCERTAIN, 0),
                 help="The mail server took the message but did not confirm it. See Emails.")
        c.metric("Not sent", p.failed + p.skipped)
        d.metric("Waiting", p.total - p.done)
        if current.live:
            rate = svc.jobs.rows_a_minute(job_id)
            st.caption(f"{rate:.0f} a minute · it keeps going if you close this tab")
        if current.live != live:
            st.rerun(scope="app")  # started or stopped: redraw the buttons and results

    with st.container(border=True, key=f"ej_panel_{where}"):
        notice = st.session_state.pop(f"ej_notice_{where}", None)
        if notice:
            st.info(safe(notice))
        progress()
        if job.shown_status == PAUSED:
            why = next((r.message for r in svc.jobs.rows(job_id, (QUEUED,)) if r.message), None)
            if why:
                st.error(f"Paused: {safe(why)}", icon=":material/error:")
            elif job.stop_reason:
                st.info(job.stop_reason, icon=":material/info:")
        buttons = st.columns(4)
        if live:
            buttons[0].button("Pause", key=f"ej_pause_{where}", on_click=pause_job,
                              args=(job_id,), icon=":material/pause:")
        elif job.shown_status == PAUSED:
            buttons[0].button("Resume", key=f"ej_resume_{where}", on_click=_resume,
                              args=(job_id, kind, where), type="primary",
                              icon=":material/play_arrow:")
            buttons[1].button("Cancel", key=f"ej_cancel_{where}", on_click=_cancel,
                              args=(job_id,), icon=":material/stop:")
        _results(svc, job_id, where, live)


def _results(svc: Services, job_id: int, where: str, live: bool) -> None:
    rows = [r for r in svc.jobs.rows(job_id) if r.state not in ("queued", "sending")]
    if not rows or live:
        return
    table = pd.DataFrame([{"Name": r.full_name, "Email": r.email, "Outcome": r.outcome,
                           "Details": r.details} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", height=240, key=f"ej_rows_{where}")
    st.download_button(
        "Download the results (CSV)", lambda: csv_bytes(
            ["Name", "Email", "Outcome", "Details"],
            ([neutralise(v) for v in (r.full_name, r.email, r.outcome, r.details)]
             for r in rows)),
        file_name=f"emails-{job_id}-{date.today().isoformat()}.csv", mime="text/csv",
        key=f"ej_csv_{where}", on_click="ignore")
