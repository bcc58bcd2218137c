"""Partner Console: the router and the frame every page shares."""

import streamlit as st

from components.frame import render_frame

st.set_page_config(page_title="Partner Console", page_icon=":material/stethoscope:", layout="wide")

pages = [
    st.Page("pages/create_provider.py", title="Create provider", icon=":material/person_add:",
            default=True),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/note_templates.py", title="Note templates", icon=":material/description:"),
]
page = st.navigation(pages)
render_frame()
page.run()
