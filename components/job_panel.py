"""One panel for every background job (an import, a sign-up refresh, an email job): its
progress, drawn from the database by a fragment that redraws itself while the job runs, Pause /
Resume / Cancel, why it is paused, and (once it stopped) the kind's results.

The job runs on the server (partner_console/jobs/engine.py): closing the tab does not stop it,
and the panel on any replica shows the same job. What differs by kind is said in `PanelWords`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from components.identity import log_activity
from components.services import services
from components.session import api_key, current_scope
from components.text import safe
from components.time_zone import when, zone_name
from partner_console.jobs.engine import cancel_job, pause_job, start_job, title
from partner_console.jobs.store import Job, JobStatus, Progress, RowState
from partner_console.storage import NotFoundError
from partner_console.when import in_minutes

STOPPING = "stopping"


@dataclass(frozen=True)
class Metric:
    label: str
    value: Callable[[Progress], int]
    help: str | None = None


@dataclass(frozen=True)
class PanelWords:
    """What a kind's panel says."""

    verb: str  # "rows done", "done", "checked": in "12 of 40 …"
    metrics: tuple[Metric, ...] = ()
    heading: str | None = None  # "Import {id}" (then ": Importing…", ": Paused"...)
    running: str = "Running…"
    cancel: str = "Cancel"
    confirm_cancel: str | None = None  # asked before a cancel, when it matters
    confirm_button: str = "Yes, cancel"
    elsewhere: str = "This job is already running on another console server (or in another " \
                     "tab). Its progress is shown here as it goes."
    needs_key: bool = True  # resuming calls Upheal: only with the key entered
    activity: str | None = None  # the activity log's action for Pause / Resume / Cancel
    last_rows: str | None = None  # said while the last rows wait for an outcome


WAITING = Metric("Waiting", lambda p: p.waiting)


def _logged(key: str, job_id: int, words: PanelWords, what: str) -> None:
    scope = current_scope()
    if scope is None or words.activity is None:
        return
    try:
        job = services().jobs.get(scope, job_id)
    except NotFoundError:  # (gone with its organisation's data: nothing to log)
        return
    log_activity(scope, words.activity, f"{what} the {_named(job)}.")


def _named(job: Job) -> str:
    return f"import of {job.file_name}" if job.kind == "import" else title(job).lower()


def _resume(key: str, job_id: int, words: PanelWords) -> None:
    scope = current_scope()
    if scope is None:
        return
    if not start_job(services(), job_id, scope, api_key(), _by()):
        st.session_state[f"{key}_notice"] = words.elsewhere
    else:
        _logged(key, job_id, words, "Resumed")


def _by() -> str:
    from components.identity import your_name

    return your_name()


def _pause(key: str, job_id: int, words: PanelWords) -> None:
    pause_job(services(), job_id)
    _logged(key, job_id, words, "Paused")


def _cancel(key: str, job_id: int, words: PanelWords) -> None:
    scope = current_scope()
    if scope is None:
        return
    cancel_job(services(), scope, job_id)
    st.session_state.pop(f"{key}_cancel_ask", None)
    _logged(key, job_id, words, "Cancelled")


def job_panel(job_id: int, key: str, words: PanelWords,
              results: Callable[[Job], None] | None = None) -> Job | None:
    """Draw the job's panel (state keys start with `key`); the job as drawn, or None when it
    is not this organisation's (any more)."""
    svc = services()
    scope = current_scope()
    if scope is None:
        return None
    try:
        job = svc.jobs.get(scope, job_id)
    except NotFoundError:
        return None
    live = job.live  # as drawn now (Job.live reads the clock each time)
    status = JobStatus.RUNNING if live else job.shown_status
    if job.control and live:
        status = STOPPING

    # The page's own run draws the whole panel from one reading of the job. Read again there,
    # a job that ended in between restarted the run, and the click of a button drawn after
    # the panel (Email the invites) was lost. The fragment's own runs read afresh and redraw
    # the page when the job has started, stopped or been asked to stop.
    drawing_the_page = True  # (set False below: the fragment's later runs see that)

    @st.fragment(run_every=1.0 if live else None)
    def progress() -> None:
        if drawing_the_page:
            current, now_live = job, live
        else:
            current = svc.jobs.get(scope, job_id)
            now_live = current.live
        p = svc.jobs.progress(job_id)
        shown = STOPPING if current.control and now_live else (
            JobStatus.RUNNING if now_live else current.shown_status)
        by = f" by {safe(current.created_by)}" if current.created_by else ""
        st.markdown(f"**{safe(title(current))}** · started{by} on "
                    f"{when(current.created_at)} {zone_name()}")
        st.progress(p.done / p.total if p.total else 1.0,
                    text=f"{p.done} of {p.total} {words.verb} ({shown})")
        if words.metrics:
            for column, metric in zip(st.columns(len(words.metrics)), words.metrics,
                                      strict=True):
                column.metric(metric.label, metric.value(p), help=metric.help)
        if p.failed and not words.metrics:
            st.caption(f"{p.failed} could not be done now; see the results.")
        if now_live:
            rate = svc.jobs.rows_a_minute(job_id)  # 0 until two rows are done
            pace = (f"{rate:.0f} a minute · {in_minutes(p.waiting / rate)} left" if rate
                    else "Working out how long it will take")
            st.caption(f"{pace} · it keeps going if you close this tab")
            if words.last_rows and p.count(RowState.SENDING) and not p.count(RowState.QUEUED):
                st.caption(words.last_rows)
        if now_live != live or (current.control is None) != (job.control is None):
            st.rerun(scope="app")  # started, stopped or asked to stop: redraw the panel

    with st.container(border=True, key=f"{key}_panel"):
        if words.heading:
            labels = {JobStatus.RUNNING: words.running, JobStatus.PAUSED: "Paused",
                      JobStatus.CANCELLED: "Cancelled", JobStatus.FINISHED: "Finished",
                      STOPPING: "Stopping…"}
            st.header(f"{words.heading.replace('{id}', str(job.id))}: "
                      f"{labels.get(status, status)}")
        # "Running elsewhere" stays while the job runs (the panel redraws as it goes).
        notice = st.session_state.get(f"{key}_notice") if live else \
            st.session_state.pop(f"{key}_notice", None)
        if notice:
            st.info(safe(notice), icon=":material/info:")
        if status == JobStatus.PAUSED:
            why = next((r.message for r in svc.jobs.rows(job_id, (RowState.QUEUED,))
                        if r.message), None)
            if why:  # the kind paused itself for a fault a person must see
                st.error(f"Paused: {safe(why)}", icon=":material/error:")
            elif job.stop_reason:
                st.info(job.stop_reason, icon=":material/info:")
        try:
            progress()
        finally:
            drawing_the_page = False
        _buttons(job, key, words, status)
        if results is not None and not live:
            results(job)
    return job


def _buttons(job: Job, key: str, words: PanelWords, status: str) -> None:
    buttons = st.columns(4)
    if status == JobStatus.RUNNING:
        buttons[0].button("Pause", key=f"{key}_pause", on_click=_pause,
                          args=(key, job.id, words), icon=":material/pause:")
    if status == JobStatus.PAUSED:
        if api_key() or not words.needs_key:
            buttons[0].button("Resume", key=f"{key}_resume", on_click=_resume,
                              args=(key, job.id, words), type="primary",
                              icon=":material/play_arrow:")
        else:
            st.info("Enter the API key in the sidebar to resume this job.")
    if status not in (JobStatus.RUNNING, JobStatus.PAUSED):
        return
    if words.confirm_cancel is None:
        if status == JobStatus.PAUSED:
            buttons[1].button(words.cancel, key=f"{key}_cancel", on_click=_cancel,
                              args=(key, job.id, words), icon=":material/stop:")
        return
    if buttons[1].button(words.cancel, key=f"{key}_cancel_ask_button", icon=":material/stop:"):
        st.session_state[f"{key}_cancel_ask"] = True
    if st.session_state.get(f"{key}_cancel_ask"):
        st.warning(words.confirm_cancel)
        st.button(words.confirm_button, key=f"{key}_cancel", on_click=_cancel,
                  args=(key, job.id, words))
