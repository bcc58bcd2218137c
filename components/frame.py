"""The picture frame every page shares: the sidebar with key, environment, organisation, name."""

from __future__ import annotations

import streamlit as st

from components.identity import YOUR_NAME, organisation_label, signed_in
from components.links import name_copy_buttons
from components.services import services
from components.session import (
    ACCEPTED,
    API_KEY,
    KEY_CHECK,
    KEY_REFUSED,
    api_key,
    check_key,
    current_scope,
    forget_key,
)
from components.signin import who_panel
from components.text import safe

KEY_INPUT = "api_key_input"
NAME_INPUT = "your_name_input"
PRACTICE_KEY = "sandbox-demo-key"


def _keep_key() -> None:
    value = str(st.session_state.get(KEY_INPUT) or "").strip()
    st.session_state[KEY_INPUT] = ""  # the box is emptied; the key lives in server memory only
    if value:
        forget_key()
        st.session_state[API_KEY] = value
        check_key()  # checked as it is entered: a refused key is not kept


def _forget_key() -> None:
    paused = services().runners.pause_all_with_key(api_key())
    if paused:
        st.session_state["key_forgotten_paused"] = paused
    forget_key()
    st.session_state.pop(KEY_REFUSED, None)
    st.session_state[KEY_INPUT] = ""


def _use_practice_key() -> None:
    forget_key()
    st.session_state[API_KEY] = PRACTICE_KEY
    check_key()


def _check_again() -> None:
    check_key(force=True)


def _keep_name() -> None:
    st.session_state[YOUR_NAME] = " ".join(str(st.session_state.get(NAME_INPUT) or "").split())


def _test_key() -> None:
    verdict = check_key(force=True)  # a refused key is forgotten, with its sentence
    if verdict == ACCEPTED:
        st.session_state["key_test"] = ("ok", "The key works.")
    elif verdict:
        st.session_state["key_test"] = ("error", st.session_state[KEY_CHECK][2])


# - On a phone the sidebar starts closed: what matters from it is repeated above the page.
# - The copy button of a code box is hidden until the mouse is over it, which hides it from
#   the keyboard (Tab skips what is not visible) and from staff who do not know to hover:
#   it is always shown, so a long link or text wraps before it rather than under it.
# - Staff who set "reduce motion" on their computer (motion can make people with vestibular
#   disorders unwell; WCAG 2.3.3) get no animations: Streamlit's spinners, fades and slides end
#   at once, where it ignores the setting (its delays stay: nothing dims on a quick rerun).
FRAME_CSS = """<style>
@media (min-width: 768px) { .st-key-pc_phone_notice { display: none; } }
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation-duration: 0.01ms !important;
    animation-iteration-count: 1 !important; transition-duration: 0.01ms !important;
    scroll-behavior: auto !important; } }
[data-testid="stCode"] > div:has([data-testid="stElementToolbarButton"]) {
  visibility: visible !important; opacity: 1 !important; }
[data-testid="stCode"] pre { padding-right: 3.25rem !important; }
</style>"""
# Where the sidebar covers the page (narrow windows), choosing a page closes it. Streamlit does
# so only for a browser that calls itself a phone; a phone asking for the desktop site, or a
# narrow window, kept the sidebar over the page it had just chosen.
CLOSE_SIDEBAR = """<script>
(() => {
  if (window.__pcCloseSidebar) return;
  window.__pcCloseSidebar = true;
  document.addEventListener('click', (event) => {
    if (!event.target.closest('[data-testid="stSidebarNavLink"]')) return;
    if (window.innerWidth >= 768) return;  // (the sidebar sits beside the page there)
    setTimeout(() => {
      const sidebar = document.querySelector('[data-testid="stSidebar"]');
      if (!sidebar || sidebar.getAttribute('data-collapsed') !== 'false') return;
      const holder = sidebar.querySelector('[data-testid="stSidebarCollapseButton"]');
      const close = holder && (holder.querySelector('button') || holder);
      if (close) close.click();
    }, 50);
  }, true);
})();
</script>"""


def render_frame() -> None:
    svc = services()
    settings = svc.settings
    st.html(FRAME_CSS)
    if settings.uses_sandbox:
        with st.container(key="pc_phone_notice"):
            st.warning("**SANDBOX – practice mode, links are not real.**",
                       icon=":material/science:")
    person = signed_in()
    if YOUR_NAME not in st.session_state:
        st.session_state[YOUR_NAME] = ""
        st.session_state[NAME_INPUT] = ""
    with st.sidebar:
        who_panel(_forget_key)
        if settings.uses_sandbox:
            st.warning("**SANDBOX – practice mode, links are not real.** Nothing here reaches "
                       "Upheal; never email these links to a real provider.",
                       icon=":material/science:")
        else:
            st.info(f"Connected to Upheal at **{settings.api_host}**", icon=":material/link:")

        if api_key() and check_key() == ACCEPTED:
            st.success("API key accepted", icon=":material/key:")
            label = organisation_label(current_scope())
            if label:
                st.caption(f"Organisation: **{safe(label)}**")
            left, right = st.columns(2)
            left.button("Test key", on_click=_test_key, key="test_key",
                        help="Asks Upheal a harmless question to see whether the key works.")
            right.button("Forget key", on_click=_forget_key, key="forget_key",
                         help="Removes the key from this browser session.")
            result = st.session_state.get("key_test")
            if result:
                (st.success if result[0] == "ok" else st.error)(safe(result[1]))
        elif api_key():  # kept, but Upheal could not be asked
            words = (st.session_state.get(KEY_CHECK) or ("", "", ""))[2]
            st.warning(safe(words), icon=":material/cloud_off:")
            left, right = st.columns(2)
            left.button("Check the key again", on_click=_check_again, key="check_key_again")
            right.button("Forget key", on_click=_forget_key, key="forget_key")
        else:
            refused = st.session_state.get(KEY_REFUSED)
            if refused:
                st.error(safe(refused), icon=":material/key_off:")
            paused = st.session_state.pop("key_forgotten_paused", 0)
            if paused:
                st.info(f"The key is forgotten. {paused} running import(s) were paused; enter "
                        "the key again and press Resume to finish them.")
            st.text_input("API key", type="password", key=KEY_INPUT, on_change=_keep_key,
                          placeholder="Paste your organisation's key",
                          help="Your administrator gives you this key. It is kept only while "
                               "this browser tab is open, never saved.")
            if settings.uses_sandbox:
                st.caption("Practising? Use the key `sandbox-demo-key`.")
                st.button("Use the practice key", on_click=_use_practice_key,
                          key="use_practice_key")
        name_copy_buttons()
        st.html(CLOSE_SIDEBAR, unsafe_allow_javascript=True, width="content")
        if person is None:  # signed in, records carry the person's own name and email
            st.text_input("Your name", key=NAME_INPUT, on_change=_keep_name,
                          help="Saved with each provider you create, so colleagues know who "
                               "did it.")
        if svc.journal_waiting:
            st.error(f"{svc.journal_waiting} invite link(s) are waiting to be saved to the "
                     "history database. They are safe in the journal file; tell your "
                     "administrator the database needs attention.")
