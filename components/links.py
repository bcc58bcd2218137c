"""Copy boxes for links and the invite email (st.code has a built-in copy button)."""

from __future__ import annotations

import streamlit as st

from partner_console.invite_email import render_email


def copy_box(label: str, value: str | None) -> None:
    st.markdown(f"**{label}**")
    if value:
        st.code(value, language=None, wrap_lines=True)
    else:
        st.caption("Not available.")


def invite_email_box(template: str, *, email: str, first_name: str, last_name: str,
                     invite_link: str, room_link: str | None, sender_name: str,
                     key: str) -> None:
    message = render_email(template, first_name=first_name, last_name=last_name,
                           invite_link=invite_link, room_link=room_link or "(not available)",
                           sender_name=sender_name)
    st.markdown("**Ready-to-send email** – copy it, or open it in your email app")
    st.code(message.text, language=None, wrap_lines=True)
    st.link_button("Open in email app", message.mailto(email), icon=":material/mail:")
