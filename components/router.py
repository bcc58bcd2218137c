"""The router and the frame every page shares.

Streamlit runs the requests of a fresh server through its legacy `pages/` folder navigation
until some run calls `st.navigation`; a bookmarked page opened first after a restart would then
run bare, without the frame. Each page therefore ends with `page_body(render)`, which routes
when this very run did not come through the router. That is known per run, on the run's own
thread, never per process: two people reconnecting to a restarted server start their first runs
together, and one of them may be cut before it reaches `st.navigation` (its tab closed), so the
server stays in the legacy mode for the next people too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import streamlit as st

from components.frame import render_frame
from components.session import drop_key_bound
from components.signin import gate

log = logging.getLogger(__name__)

_this_run = threading.local()  # .routed: the page running now was started by the router
# (file under pages/, title, icon): the first is the home page.
PAGES = [
    ("create_provider", "Create provider", "person_add"),
    ("overview", "Overview", "monitoring"),
    ("bulk_import", "Bulk import", "upload_file"),
    ("roster_sync", "Roster sync", "sync"),
    ("history", "History", "history"),
    ("follow_up", "Follow up", "notifications"),
    ("emails", "Emails", "outgoing_mail"),
    ("note_templates", "Note templates", "description"),
    ("practices", "Practices", "domain"),
    ("email_texts", "Email texts", "edit_note"),
    ("activity", "Activity", "manage_history"),
]


def run_app() -> None:
    st.set_page_config(page_title="Partner Console", page_icon=":material/stethoscope:",
                       layout="wide")
    pages = [st.Page(f"pages/{name}.py", title=title, icon=f":material/{icon}:",
                     default=name == "create_provider") for name, title, icon in PAGES]
    if not gate([name for name, _, _ in PAGES[1:]]):
        return  # sign-in on, and nobody allowed signed in: nothing more is drawn
    page = st.navigation(pages)
    render_frame()
    _this_run.routed = True
    try:
        page.run()
    finally:
        _this_run.routed = False


def page_body(render: Callable[[], None]) -> None:
    """Every page's last line. If the page was started without the router, route now; else
    draw it, and if drawing fails, say so in a sentence and keep the page usable (never
    Streamlit's generic error box)."""
    if not getattr(_this_run, "routed", False):
        run_app()
        st.stop()
    try:
        render()
    except Exception:
        log.exception("a page stopped")
        # leftover state is the usual cause: start afresh
        drop_key_bound(st.session_state)  # type: ignore[arg-type]
        st.error("Something went wrong on this page, so it was reset. Please try again; if it "
                 "happens again, tell your administrator.", icon=":material/error:")
        st.button("Reload the page", key="router_reload")
