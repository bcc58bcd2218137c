"""Email one provider their invite (or a reminder) from the console: a preview with the
organisation's text, editable; a second send only when confirmed; "may have been sent" for a
person to decide. Every send goes through mail/sender.py; this only draws and asks.

Session keys are `es_<what>_<where>_<provider id>`, dropped with the key (deps.forget_key).
"""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

from components.actions import decided
from components.identity import log_activity, sender_name, your_name
from components.services import services
from components.session import session_lock
from components.text import safe
from components.time_zone import when, zone_name
from partner_console.mail.sender import ALREADY, BUSY, compose
from partner_console.storage import ProviderRow, Scope
from partner_console.storage.activity import EMAILED, REMINDED
from partner_console.storage.sends import (
    COUNTED,
    FAILED,
    INVITE,
    SENT,
    UNCERTAIN,
    Send,
)

WHAT = {INVITE: "invite", "reminder": "reminder"}


def practice_note() -> str:
    return ("Practice: kept on the Emails page, never sent." if services().mailer.practice
            else "")


def _key(what: str, where: str, provider_id: int) -> str:
    return f"es_{what}_{where}_{provider_id}"


def last_sent_words(send: Send) -> str:
    at = f"{when(send.sent_at or send.created_at)} {zone_name()}"
    by = f" by {send.created_by}" if send.created_by else ""
    if send.state == UNCERTAIN:
        return f"may have been sent on {at}{by}"
    return f"emailed on {at}{by}"


def _send(scope: Scope, provider: ProviderRow, kind: str, where: str, confirmed: int) -> None:
    """The click, before the page draws: one send per click (its token), under the session's
    lock, so a double click or a fast rerun shows the first click's result. The token of a
    send that went out stays until the panel is opened again: a double click's second click
    that comes after the first has finished still gets "Emailed to", not "Nothing was sent"."""
    state = st.session_state
    token = state.setdefault(_key("token", where, provider.id), uuid.uuid4().hex)
    subject = str(state.get(_key("subject", where, provider.id)) or "")
    body = str(state.get(_key("body", where, provider.id)) or "")
    problem = ("The subject is empty: write one, or press “Reset the text”." if not
               subject.strip() else
               "The email text no longer holds the invite link, so the provider could not sign "
               "up: put it back, or press “Reset the text”."
               if provider.invite_url and provider.invite_url not in body else "")
    if problem:
        state[_key("result", where, provider.id)] = {"status": FAILED, "words": problem}
        return
    with session_lock("email_send_lock"):
        result = services().mailer.send(scope, provider, kind, subject=subject, body=body,
                                        created_by=your_name(), confirmed=confirmed,
                                        token=token)
    if result.status not in (SENT, UNCERTAIN):
        state.pop(_key("token", where, provider.id), None)  # pressing again is a new send
    if result.status in (SENT, UNCERTAIN):
        maybe = "" if result.status == SENT else " (it may not have arrived: the mail server " \
            "did not answer)"
        log_activity(scope, EMAILED if kind == INVITE else REMINDED,
                     f"Emailed the {kind} to {provider.full_name} ({provider.email}){maybe}.",
                     once=token)
    state[_key("result", where, provider.id)] = {
        "status": result.status, "words": result.words,
        "previous": last_sent_words(result.previous) if result.previous else ""}
    if result.status in (SENT, UNCERTAIN):
        state.pop(_key("open", where, provider.id), None)
        state.pop(_key("again", where, provider.id), None)


def _decide(scope: Scope, send_id: int, arrived: bool) -> None:
    decided(scope, send_id, arrived)


def _reset_text(provider: ProviderRow, kind: str, where: str, scope: Scope) -> None:
    mail = compose(services().catalog, scope, provider, kind, sender_name())
    st.session_state[_key("subject", where, provider.id)] = mail.subject
    st.session_state[_key("body", where, provider.id)] = mail.body


def _open(scope: Scope, provider: ProviderRow, kind: str, where: str) -> None:
    st.session_state[_key("open", where, provider.id)] = True
    st.session_state.pop(_key("result", where, provider.id), None)
    st.session_state.pop(_key("token", where, provider.id), None)  # a send of its own
    _reset_text(provider, kind, where, scope)


def _show_result(result: dict[str, Any], to: str) -> None:
    status = result["status"]
    note = practice_note()
    if status == SENT:
        st.success(f"Emailed to {safe(to)}." + (f" {note}" if note else ""),
                   icon=":material/mark_email_read:")
    elif status == UNCERTAIN:
        st.warning(safe(result["words"]), icon=":material/help:")
    elif status == ALREADY:
        st.info(f"Nothing was sent: this was already {safe(result['previous'])}. Tick "
                "“Send it again” to send another.", icon=":material/info:")
    elif status == BUSY:
        st.info(safe(result["words"]), icon=":material/hourglass_top:")
    else:
        st.error(safe(result["words"]), icon=":material/error:")


def send_panel(scope: Scope, provider: ProviderRow, where: str, kind: str = INVITE) -> None:
    """"Email the invite to <address>": its last sends, the preview and the send."""
    if not provider.invite_url:
        return
    svc = services()
    what = WHAT[kind]
    sends = svc.sends.for_provider(scope, provider.id, kind)
    counted = [s for s in sends if s.state in COUNTED]
    latest = sends[0] if sends else None
    result = st.session_state.get(_key("result", where, provider.id))
    with st.container(border=True, key=f"es_panel_{where}"):
        if result:
            _show_result(result, provider.email)
        if latest is not None and latest.state == UNCERTAIN:
            st.warning(f"The last {what} email to {safe(provider.email)} "
                       f"{safe(last_sent_words(latest))}: the mail server did not confirm it. "
                       "Ask the provider whether it arrived.", icon=":material/help:")
            yes, no = st.columns(2)
            yes.button("It arrived", key=f"es_arrived_{where}", on_click=_decide,
                       args=(scope, latest.id, True))
            no.button("It did not arrive", key=f"es_lost_{where}", on_click=_decide,
                      args=(scope, latest.id, False))
        elif counted:
            st.caption(f"The {what} was {safe(last_sent_words(counted[0]))}"
                       + (f", {len(counted)} times in all." if len(counted) > 1 else "."))
        elif latest is not None and latest.state == FAILED and not result:
            st.caption(f"The last try was not sent: {safe(latest.error_text or '')}")
        open_key = _key("open", where, provider.id)
        label = f"Email the {what} to {provider.email}"
        if not st.session_state.get(open_key):
            # (a callback, not st.rerun: inside the result dialog only the dialog reruns)
            st.button(label, key=f"es_open_{where}", icon=":material/send:",
                      type="primary" if not counted else "secondary", on_click=_open,
                      args=(scope, provider, kind, where))
            return
        st.markdown(f"**{safe(label)}**")
        note = practice_note()
        if note:
            st.caption(f":orange-background[{note}]")
        st.text_input("Subject", key=_key("subject", where, provider.id), max_chars=300)
        st.text_area("Email text", key=_key("body", where, provider.id), height=260,
                     help="Edit it for this provider if you like; the organisation's text is "
                          "on Email texts.")
        confirmed = 0
        if counted:
            st.warning(f"This {what} was already {safe(last_sent_words(counted[0]))}.",
                       icon=":material/warning:")
            if st.checkbox("Send it again", key=_key("again", where, provider.id)):
                confirmed = len(counted)
        left, middle, right = st.columns([2, 2, 3])
        left.button("Send now" if not note else "Send (practice)", type="primary",
                    key=f"es_send_{where}", icon=":material/send:", on_click=_send,
                    args=(scope, provider, kind, where, confirmed),
                    disabled=bool(counted) and not confirmed)
        middle.button("Reset the text", key=f"es_reset_{where}", on_click=_reset_text,
                      args=(provider, kind, where, scope), type="tertiary")
        right.button("Close", key=f"es_close_{where}", type="tertiary",
                     on_click=lambda: st.session_state.pop(open_key, None))
