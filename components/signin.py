"""Sign-in with the company account (optional): Streamlit's own `st.login` (OpenID Connect),
on when the deployment's secrets hold an `[auth]` section, off (exactly as before) without one.

When on, nothing of the console is drawn before sign-in: no pages, no key box, no data. People
outside PARTNER_CONSOLE_ALLOWED_EMAILS are told so, and see nothing more.
"""

from __future__ import annotations

import logging

import streamlit as st

from components.identity import auth_section, signed_in
from components.services import services
from components.session import api_key, forget_key
from components.text import safe
from partner_console.identity import (
    Person,
    auth_problem,
    email_is_verified,
    provider_label,
    providers_of,
)
from partner_console.storage.activity import SIGN_IN_REFUSED

CLOSED_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none; }
</style>"""


def gate(paths: list[str]) -> bool:
    """True when the console may be drawn for this session: sign-in is off, or the person is
    signed in and allowed. Otherwise this draws the one thing they may see, at the address of
    any page (`paths`: a bookmark opens it too), and returns False."""
    section = auth_section()
    if section is None:
        return True
    problem = auth_problem(section)
    if problem is not None:
        words = (f"Sign-in is switched on for this console but not set up correctly: "
                 f"{safe(problem)} Tell your administrator.")
        _closed(paths, lambda: st.error(words, icon=":material/lock:"))
        return False
    try:
        logged_in = bool(st.user.is_logged_in)
    except Exception:
        logged_in = False
    if not logged_in:
        _closed(paths, lambda: _sign_in(section))
        return False
    person = signed_in()
    settings = services().settings
    email = person.email if person else ""
    if not email:
        words = ("Your company account did not tell the console your email address, so it "
                 "cannot let you in. Ask your administrator.")
        why = "no email address"
    elif not settings.allowed_emails.allows(email):
        words = (f"You are signed in as {safe(email)}, and this account is not allowed to use "
                 "the Partner Console. Ask your administrator to add it, or sign out and use "
                 "another account.")
        why = "not on the allow list"
    elif not email_is_verified(st.user.to_dict(), settings.trusted_email_providers):
        words = (f"Your company account could not confirm that the address {safe(email)} is "
                 "really yours (it is not marked as verified), so the console cannot let you "
                 "in with it. Ask your administrator.")
        why = "address not confirmed by the identity provider"
    else:
        return True
    _log_refusal(person, why)
    _closed(paths, lambda: _refused(words))
    return False


def _log_refusal(person, why: str) -> None:  # type: ignore[no-untyped-def]
    """A refused sign-in, in the activity log once per session (never the token)."""
    if st.session_state.get("pc_refusal_logged") == why:
        return
    st.session_state["pc_refusal_logged"] = why
    try:
        services().activity.record(None, person or Person(""), SIGN_IN_REFUSED,
                                   f"Sign-in refused: {why}.")
    except Exception:  # the refusal stands; only its log entry is missing
        logging.getLogger(__name__).exception("a refused sign-in could not be logged")


def _closed(paths: list[str], draw) -> None:  # type: ignore[no-untyped-def]
    """One page only, whatever the address asked for: the sign-in or the refusal."""
    page = st.navigation([st.Page(draw, title="Partner Console", url_path=path or None,
                                  default=not path, icon=":material/lock:")
                          for path in ["", *paths]], position="hidden")
    st.html(CLOSED_CSS)
    page.run()


def _sign_in(section: dict) -> None:  # type: ignore[type-arg]
    st.title("Partner Console")
    st.write("Sign in with your company account to use the console.")
    for name in providers_of(section):
        if st.button(provider_label(name), key=f"sign_in_{name}", type="primary",
                     icon=":material/login:"):
            st.login(None if name == "default" else name)


def _refused(words: str) -> None:
    st.title("Partner Console")
    st.error(words, icon=":material/block:")
    if st.button("Sign out", key="sign_out_refused", icon=":material/logout:"):
        st.logout()


def who_panel(pause_and_forget) -> None:  # type: ignore[no-untyped-def]
    """The sidebar's "Signed in as" line and Sign out (which forgets the key first)."""
    person = signed_in()
    if person is None:
        return
    with st.container(key="pc_signed_in"):
        st.markdown(f"Signed in as **{safe(person.name or person.email)}**")
        if person.name and person.email:
            st.caption(safe(person.email))
        st.button("Sign out", key="sign_out", icon=":material/logout:",
                  on_click=_sign_out, args=(pause_and_forget,),
                  help="Signs you out of the console and forgets the API key.")


def _sign_out(pause_and_forget) -> None:  # type: ignore[no-untyped-def]
    """Forget the key (pausing the imports it runs, as Forget key does), then sign out."""
    if api_key():
        pause_and_forget()
    forget_key()
    st.logout()
