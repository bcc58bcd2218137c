"""Partner Console: the router and the frame every page shares."""

import streamlit as st

from components.frame import render_frame

st.set_page_config(page_title="Partner Console", page_icon="🩺", layout="wide")

pages = [
    st.Page("pages/create_provider.py", title="Create provider", icon="➕", default=True),
    st.Page("pages/history.py", title="History", icon="🗂️"),
    st.Page("pages/note_templates.py", title="Note templates", icon="📝"),
]
page = st.navigation(pages)
render_frame()
page.run()
