"""Email texts: the organisation's invite and reminder email texts, with a preview."""

from __future__ import annotations

import streamlit as st

from components.identity import log_activity, your_name
from components.router import page_body
from components.services import services
from components.session import current_scope, organisation_page
from components.text import safe
from partner_console.invite_email import (
    DEFAULT_EMAIL_TEMPLATE,
    DEFAULT_REMINDER_TEMPLATE,
    EMAIL_SETTING,
    PLACEHOLDERS,
    REMINDER_SETTING,
    TEXT_LIMIT,
    check_template,
    render_email,
)
from partner_console.storage import Scope
from partner_console.storage.activity import EMAIL_TEXTS

# (title, what it is for, the setting, its default, the widget key)
TEXTS = [
    ("Invite email", "The text offered after each provider is created, and the one bulk "
     "imports and History send.", EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE, "et_email"),
    ("Reminder email", "The text offered on Follow up, for providers who have not signed up "
     "yet.", REMINDER_SETTING, DEFAULT_REMINDER_TEMPLATE, "et_reminder"),
]
PLACEHOLDER_WORDS = {
    "first_name": "the provider's first name", "last_name": "their last name",
    "invite_link": "their invite link", "room_link": "their private room link",
    "sender_name": "your name (from the sidebar)",
}
EXAMPLE = {"first_name": "Jane", "last_name": "Smith",
           "invite_link": "https://app.upheal.io/invite/example",
           "room_link": "https://app.upheal.io/room/example"}


@organisation_page("Email texts", "to see its email texts")
def render(scope: Scope) -> None:
    st.caption("The texts the console offers when it emails a provider. Each email can still "
               "be changed before it is sent.")
    with st.expander("Placeholders: the words in braces that are filled in for each provider"):
        st.markdown("\n".join(f"- `{{{name}}}`: {PLACEHOLDER_WORDS[name]}"
                              for name in PLACEHOLDERS)
                    + "\n\nA first line “Subject: …” gives the email's subject.")
    for tab, (title, purpose, setting, default, key) in zip(
            st.tabs([title for title, *_ in TEXTS]), TEXTS, strict=True):
        with tab:
            _editor(title, purpose, setting, default, key)


def _editor(title: str, purpose: str, setting: str, default: str, key: str) -> None:
    svc = services()
    scope = current_scope()
    assert scope is not None
    st.caption(purpose)
    current = svc.catalog.setting(scope, setting, default)
    stale = check_template(current) if current != default else None
    if stale:
        st.warning(f"The saved {title.lower()} text can no longer be used: {safe(stale)} "
                   "Until it is fixed and saved, emails use the default text.",
                   icon=":material/warning:")
    text = st.text_area(f"{title} text", current[:TEXT_LIMIT], height=320, key=key,
                        max_chars=TEXT_LIMIT)
    problem = check_template(text)
    save, reset = st.columns([2, 5])
    if save.button(f"Save the {title.lower()}", key=f"{key}_save", type="primary"):
        if problem:
            st.error(safe(problem))
        else:
            svc.catalog.set_setting(scope, setting, text)
            log_activity(scope, EMAIL_TEXTS, f"Changed the {title.lower()} text.")
            st.success("Saved.")
    if reset.button("Restore the default text", key=f"{key}_reset"):
        svc.catalog.set_setting(scope, setting, default)
        log_activity(scope, EMAIL_TEXTS, f"Restored the default {title.lower()} text.")
        st.session_state.pop(key, None)
        st.rerun()
    if problem:
        st.caption(f"Preview: not until the text is fixed. {safe(problem)}")
        return
    example = render_email(text, sender_name=your_name(), **EXAMPLE)
    st.markdown(f"**Preview, for Jane Smith:** {safe(example.subject)}")
    st.code(example.body, language=None, wrap_lines=True)


page_body(render)
