"""Sign-up status in History: refresh it for the providers shown, as a background job.

A refresh is a job like an import (jobs/kinds/refresh.py): one runner across replicas,
paced in the key's shared budget with people's own calls first, Pause and Resume, and it goes
on when the tab is closed. This panel starts it and draws its progress from the database.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import streamlit as st

from components.identity import your_name
from components.job_panel import PanelWords, job_panel
from components.services import Services, services
from components.session import api_key, current_scope, session_lock
from components.time_zone import when
from partner_console.jobs.engine import start_job
from partner_console.jobs.kinds.refresh import create_refresh
from partner_console.jobs.store import JobKind
from partner_console.storage import HistoryFilter, Scope
from partner_console.storage.clock import utcnow

AUTO_SETTING = "signup_auto_refresh_hours"  # 0: off
AUTO_DEFAULT = "1"  # on unless the organisation turns it off: every hour, when a page opens
MAX_PER_REFRESH = 5_000
AUTO_AT_MOST = 1_000  # an automatic refresh never asks about more than this many at once
WORDS = PanelWords("checked", running="Checking…",
                   elsewhere="This refresh is already running on another console server.")


def candidates(svc: Services, scope: Scope, filters: HistoryFilter, *, include_signed_up: bool,
               checked_before_hours: float | None = None, limit: int = MAX_PER_REFRESH
               ) -> list[tuple[int, str, str]]:
    """The providers a refresh of `filters` asks about (History.to_refresh)."""
    before = utcnow() - timedelta(hours=checked_before_hours) if checked_before_hours else None
    return svc.follow_up.to_refresh(scope, filters, include_signed_up=include_signed_up,
                                    checked_before=before, limit=limit)


def start_refresh(svc: Services, scope: Scope, providers: list[tuple[int, str, str]],
                  token: str) -> int:
    job_id, is_new = create_refresh(svc.jobs, scope, created_by=your_name(),
                                    providers=providers, start_token=token)
    if is_new:
        start_job(svc, job_id, scope, api_key(), your_name())
    return job_id


def latest_refresh(svc: Services, scope: Scope) -> int | None:
    jobs = svc.jobs.jobs(scope, limit=1, kind=JobKind.REFRESH)
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
    checked = svc.follow_up.last_signup_check(scope)
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
    if job_panel(job_id, "jp_refresh", WORDS) is None:
        st.session_state.pop("hi_refresh_job", None)
