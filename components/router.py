"""The router and the frame every page shares.

Streamlit runs the very first request of a fresh server through its legacy `pages/` folder
navigation until some run calls `st.navigation`; a bookmarked page opened first after a restart
would then run bare, without the frame. Each page therefore starts with `ensure_router()`.
"""

from __future__ import annotations

import streamlit as st

from components.frame import render_frame

_router_ran = False


def run_app() -> None:
    global _router_ran
    _router_ran = True
    st.set_page_config(page_title="Partner Console", page_icon=":material/stethoscope:",
                       layout="wide")
    page = st.navigation([
        st.Page("pages/create_provider.py", title="Create provider",
                icon=":material/person_add:", default=True),
        st.Page("pages/bulk_import.py", title="Bulk import", icon=":material/upload_file:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
        st.Page("pages/note_templates.py", title="Note templates",
                icon=":material/description:"),
    ])
    render_frame()
    page.run()


def ensure_router() -> None:
    """Called first by every page: if the page was started without the router, route now."""
    if not _router_ran:
        run_app()
        st.stop()
