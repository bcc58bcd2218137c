"""Sign-up status in History: refresh it for the providers shown, as a background job.

A refresh is a job like an import (bulk/run.py RefreshRunner): one runner across replicas,
paced in the key's shared budget with people's own calls first, Pause and Resume, and it goes
on when the tab is closed. This panel starts it and draws its progress from the database.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import streamlit as st

from components.deps import (
    Services,
    api_key,
    current_scope,
    pause_job,
    services,
    session_lock,
    when,
    your_name,
)
from components.text import safe
from partner_console.bulk.jobs import REFRESH, RUNNING
from partner_console.bulk.run import build_refresh_runner
from partner_console.storage import HistoryFilter, NotFoundError, Scope
from partner_console.storage.clock import utcnow
from partner_console.storage.coordination import CANCEL

AUTO_SETTING = "signup_auto_refresh_hours"  # 0: off
AUTO_DEFAULT = "1"  # on unless the organisation turns it off: every hour, when a page opens
MAX_PER_REFRESH = 5_000
AUTO_AT_MOST = 1_000  # an automatic refresh never asks about more than this many at once


def candidates(svc: Services, scope: Scope, filters: HistoryFilter, *, include_signed_up: bool,
               checked_before_hours: float | None = None, limit: int = MAX_PER_REFRESH
               ) -> list[tuple[int, str, str]]:
    """The providers a refresh of `filters` asks about (History.to_refresh)."""
    before = utcnow() - timedelta(hours=checked_before_hours) if checked_before_hours else None
    return svc.history.to_refresh(scope, filters, include_signed_up=include_signed_up,
                                  checked_before=before, limit=limit)


def start_refresh(svc: Services, scope: Scope, providers: list[tuple[int, str, str]],
                  token: str) -> int:
    job_id, is_new = svc.jobs.create_refresh(scope, created_by=your_name(),
                                             providers=providers, start_token=token)
    if is_new:
        _run(svc, scope, job_id)
    return job_id


def _run(svc: Services, scope: Scope, job_id: int) -> bool:
    runner = build_refresh_runner(job_id=job_id, api_key=api_key(), scope=scope,
                                  created_by=your_name(), store=svc.jobs, history=svc.history,
                                  journal=svc.journal, client=svc.client,
                                  pacing=svc.background_pacing(), owner=svc.owner,
                                  leases=svc.leases)
    return svc.runners.start(runner)


def latest_refresh(svc: Services, scope: Scope) -> int | None:
    jobs = svc.jobs.jobs(scope, limit=1, kind=REFRESH)
    return jobs[0].id if jobs else None


def auto_refresh(svc: Services, scope: Scope) -> None:
    """When History, Overview or Follow up opens: unless the organisation turned it off, check
    the providers not checked in the last N hours (AUTO_DEFAULT; at most AUTO_AT_MOST, one
    refresh at a time, once per visit of a session)."""
    hours = _auto_hours(svc, scope)
    if hours <= 0 or st.session_state.get("hi_auto_started"):
        return
    latest = latest_refresh(svc, scope)
    if latest is not None and svc.jobs.get(scope, latest).live:
        return
    providers = candidates(svc, scope, HistoryFilter(), include_signed_up=False,
                           checked_before_hours=hours, limit=AUTO_AT_MOST)
    st.session_state["hi_auto_started"] = True  # once per visit of this session
    if providers:
        with session_lock("hi_refresh_lock"):
            st.session_state["hi_refresh_job"] = start_refresh(svc, scope, providers,
                                                               auto_token(scope, hours))


def auto_token(scope: Scope, hours: float) -> str:
    """One automatic refresh per organisation per period of `hours`, decided by the database:
    replicas (and sessions) opening a page at once reach the same start token, and the job
    table's unique start token lets one of them create the job."""
    seconds = (utcnow() - datetime(1970, 1, 1)).total_seconds()  # (naive UTC, whatever the zone)
    period = int(seconds // max(60.0, hours * 3600))
    org = ",".join(scope.organization_ids) or "-"
    digest = hashlib.sha256(f"{scope.key_fingerprint}:{org}:{period}".encode()).hexdigest()
    return f"auto-{digest}"[:64]  # (the column holds 64)


def last_checked_line(svc: Services, scope: Scope) -> None:
    """When sign-ups were last asked of Upheal, and whether that happens by itself."""
    checked = svc.history.last_signup_check(scope)
    hours = _auto_hours(svc, scope)
    when_text = f"last checked with Upheal {when(checked)}" if checked else \
        "not checked with Upheal yet"
    auto = (f" It is checked again by itself when this page opens, at most every "
            f"{hours:g} hour(s) (History › Automatic refresh)." if hours else
            " Automatic checks are off (History › Automatic refresh).")
    st.caption(f"Sign-up status: {when_text}.{auto}")


def _auto_hours(svc: Services, scope: Scope) -> float:
    """The organisation's automatic-refresh setting, in hours (0: off)."""
    try:
        return max(0.0, float(svc.catalog.setting(scope, AUTO_SETTING, AUTO_DEFAULT)))
    except ValueError:
        return 0.0


def _cancel(job_id: int) -> None:
    services().leases.ask(job_id, CANCEL)


def _resume(job_id: int) -> None:
    scope = current_scope()
    if scope is not None and not _run(services(), scope, job_id):
        st.session_state["hi_notice"] = ("warning", "This refresh is already running on "
                                                    "another console server.")


def refresh_panel(filters: HistoryFilter) -> None:
    """The button for the providers shown, and the latest refresh's progress."""
    svc = services()
    scope = current_scope()
    if scope is None:
        return
    with st.container(border=True, key="hi_refresh"):
        st.markdown("**Sign-up status**: asks Upheal which of the providers shown have "
                    "finished signing up. It runs on the server at the key's pace, after "
                    "your own creates, and goes on if you close this tab.")
        last_checked_line(svc, scope)
        include = st.checkbox("Also check providers already signed up", key="hi_refresh_all")
        left, right = st.columns([2, 3], vertical_alignment="center")
        if left.button("Refresh sign-up status", key="hi_refresh_start",
                       icon=":material/refresh:"):
            with session_lock("hi_refresh_lock"):  # (a double click waits, then sees the job)
                running = latest_refresh(svc, scope)
                if running is not None and svc.jobs.get(scope, running).live:
                    st.session_state["hi_refresh_job"] = running
                    st.session_state["hi_notice"] = ("warning", "A refresh is already running "
                                                                "for your organisation; its "
                                                                "progress is shown below.")
                elif providers := candidates(svc, scope, filters, include_signed_up=include):
                    st.session_state["hi_refresh_job"] = start_refresh(svc, scope, providers,
                                                                       uuid.uuid4().hex)
                else:
                    st.session_state["hi_notice"] = ("ok", "Nobody to check: every provider "
                                                           "shown has signed up (or none was "
                                                           "created).")
            st.rerun()
        hours = _auto_hours(svc, scope)
        with right.popover("Automatic refresh", icon=":material/schedule:"):
            chosen = st.number_input(
                "When History, Overview or Follow up opens, check providers not checked "
                "for this many hours "
                "(0: never)", min_value=0, max_value=24 * 30, step=1, value=int(hours),
                key="hi_auto_hours")
            if st.button("Save", key="hi_auto_save"):
                svc.catalog.set_setting(scope, AUTO_SETTING, str(int(chosen)))
                st.session_state["hi_notice"] = ("ok", "Automatic refresh " + (
                    f"every {int(chosen)} hour(s) when a page opens." if chosen else "is off."))
                st.rerun()
        job_id = st.session_state.get("hi_refresh_job") or latest_refresh(svc, scope)
        if job_id is not None:
            _progress(job_id)


def _progress(job_id: int) -> None:
    svc = services()
    scope = current_scope()
    assert scope is not None
    try:
        job = svc.jobs.get(scope, job_id)
    except NotFoundError:
        st.session_state.pop("hi_refresh_job", None)
        return

    live = job.live  # as drawn now (Job.live reads the clock each time)

    @st.fragment(run_every=1.0 if live else None)
    def progress() -> None:
        current = svc.jobs.get(scope, job_id)
        p = svc.jobs.progress(job_id)
        status = RUNNING if current.live else current.shown_status
        st.progress(p.done / p.total if p.total else 1.0,
                    text=f"{safe(current.file_name)}: {p.done} of {p.total} checked "
                         f"({status})")
        if p.failed:
            st.caption(f"{p.failed} could not be checked now; their status is left as it "
                       "was.")
        if current.live != live:
            st.rerun(scope="app")  # finished: the table shows the new statuses

    progress()
    if live:
        st.button("Pause", key="hi_refresh_pause", on_click=pause_job, args=(job_id,))
    elif job.shown_status == "paused":
        if job.stop_reason:
            st.caption(job.stop_reason)
        st.button("Resume", key="hi_refresh_resume", on_click=_resume, args=(job_id,))
        st.button("Cancel", key="hi_refresh_cancel", on_click=_cancel, args=(job_id,))
