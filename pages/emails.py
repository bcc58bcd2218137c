"""Emails: every invite and reminder the console sent for the organisation, newest first; in
practice mode (the sandbox, or no mail server set up) they are kept here and never leave the
machine. Emails that "may have been sent" wait here for a person."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.actions import decided
from components.router import page_body
from components.services import services
from components.session import current_scope, scope_or_prompt
from components.tables import picked
from components.text import safe
from components.time_zone import when, zone_name
from partner_console.storage.sends import FAILED, SENT, STATE_LABELS, UNCERTAIN, Send

SHOWN = 200
KINDS = {"invite": "Invite", "reminder": "Reminder"}
FILTERS = {"all": "All", UNCERTAIN: "May have been sent", SENT: "Sent", FAILED: "Not sent"}


def _decide(send_id: int, arrived: bool) -> None:
    scope = current_scope()
    if scope is not None and decided(scope, send_id, arrived):
        st.session_state["em_notice"] = "Recorded: " + (
            "it arrived." if arrived else "it did not arrive; you can send it again from "
                                          "History.")


def render() -> None:
    svc = services()
    practice = svc.mailer.practice
    st.title("Emails")  # (one name, as in the navigation; practice mode says so below)
    if practice:
        st.warning("**Practice: not sent.** In practice mode the console keeps each email here "
                   "instead of sending it, so nothing reaches anyone. "
                   + ("(The sandbox always does.)" if svc.settings.uses_sandbox else
                      "To send for real, your administrator sets SMTP_URL and "
                      "INVITE_EMAIL_FROM."), icon=":material/science:")
    else:
        st.caption(f"Sent through {safe(svc.settings.smtp.shown if svc.settings.smtp else '')} "
                   f"from {safe(svc.settings.email_from)}.")
    scope = scope_or_prompt("to see its emails")
    if scope is None:
        return
    notice = st.session_state.pop("em_notice", None)
    if notice:
        st.success(safe(notice))
    uncertain = svc.sends.count(scope, (UNCERTAIN,))
    if uncertain:
        st.warning(f"{uncertain} email(s) may have been sent: the mail server took them but "
                   "did not confirm. Ask each provider, then record what they say.",
                   icon=":material/help:")
    chosen = st.segmented_control("Show", list(FILTERS), format_func=lambda f: FILTERS.get(f, f),
                                  default="all", key="em_filter")
    states = () if chosen in (None, "all") else (chosen,)
    sends = svc.sends.recent(scope, states=states, limit=SHOWN)
    if not sends:
        st.info("No emails yet. Send an invite from Create provider or History."
                if not states else "No emails of this kind.")
        return
    table = pd.DataFrame([{
        f"When ({zone_name()})": when(s.sent_at or s.created_at), "To": s.to_email,
        "What": KINDS.get(s.kind, s.kind), "Subject": s.subject,
        "Outcome": ("Practice: not sent" if s.transport == "outbox" and s.state == SENT
                    else STATE_LABELS.get(s.state, s.state)),
        "By": s.created_by, "Details": s.error_text or "",
    } for s in sends])
    message = picked(table, sends, "em_table", "Select an email to read it.")
    if message is not None:
        _message(message)


def _message(send: Send) -> None:
    with st.container(border=True, key="em_message"):
        if send.transport == "outbox":
            st.caption(":orange-background[Practice: not sent]")
        st.markdown(f"**To:** {safe(send.to_email)}  \n**Subject:** {safe(send.subject)}  \n"
                    f"**Message id:** {safe(send.message_id)}")  # (escapes only outside code)
        st.code(send.body, language=None, wrap_lines=True)
        if send.state == UNCERTAIN:
            st.warning(safe(send.error_text or ""), icon=":material/help:")
            yes, no = st.columns(2)
            yes.button("It arrived", key="em_arrived", on_click=_decide, args=(send.id, True))
            no.button("It did not arrive", key="em_lost", on_click=_decide,
                      args=(send.id, False))


page_body(render)
