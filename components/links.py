"""Copy boxes for links and the invite email (st.code has a built-in copy button).

Every copy button on a page is called "Copy to clipboard" by Streamlit, which tells a screen
reader nothing. Each box sits in a container keyed `pc_copy_<what>_<where>`, and one small
script (COPY_NAMES, drawn once by the frame) names its button "Copy invite link", "Copy room
link", "Copy subject" or "Copy email", and again after Streamlit sets "Copied".
"""

from __future__ import annotations

import json

import streamlit as st

from components.text import safe
from partner_console.invite_email import DEFAULT_EMAIL_TEMPLATE, render_email

WHAT = {"invite": "invite link", "room": "room link", "subject": "subject", "email": "email",
        "links": "links"}

COPY_NAMES = """<script>
(() => {
  if (window.__pcCopyNames) return;
  window.__pcCopyNames = true;
  const what = __WHAT__;
  const name = () => {
    document.querySelectorAll('[class*="st-key-pc_copy_"]').forEach((box) => {
      const found = /st-key-pc_copy_([a-z]+)_/.exec(box.className);
      const thing = found && what[found[1]];
      if (!thing) return;
      box.querySelectorAll('.stCode button').forEach((button) => {
        const label = button.getAttribute('aria-label');
        if (label === 'Copy to clipboard') button.setAttribute('aria-label', 'Copy ' + thing);
        if (label === 'Copied') button.setAttribute('aria-label', 'Copied the ' + thing);
      });
    });
  };
  new MutationObserver(name).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label']});
  name();
})();
</script>""".replace("__WHAT__", json.dumps(WHAT))


def name_copy_buttons() -> None:
    """Draw the naming script (once per run; it installs itself once per browser tab)."""
    st.html(COPY_NAMES, unsafe_allow_javascript=True, width="content")


def copy_box(label: str, value: str | None, what: str, where: str) -> None:
    """`label` in bold, then `value` with its copy button (named after `what`: a key of WHAT);
    `where` tells boxes of one page apart."""
    with st.container(key=f"pc_copy_{what}_{where}"):
        st.markdown(f"**{label}**")
        if value:
            st.code(value, language=None, wrap_lines=True)
        else:
            st.caption("Not available.")


def invite_email_box(template: str, *, email: str, first_name: str, last_name: str,
                     invite_link: str, room_link: str | None, sender_name: str,
                     where: str, fallback: str = DEFAULT_EMAIL_TEMPLATE) -> None:
    """The ready email: its subject and its text in two copy boxes (the text is what goes in
    the message body, with no "Subject:" line), and the whole of it for the email app."""
    message = render_email(template, first_name=first_name, last_name=last_name,
                           invite_link=invite_link, room_link=room_link or "(not available)",
                           sender_name=sender_name, fallback=fallback)
    st.markdown(f"**Ready-to-send email to {safe(email)}** – copy the subject and the text, or "
                "open it in your email app")
    copy_box("Subject", message.subject, "subject", where)
    copy_box("Email text", message.body, "email", where)
    st.link_button("Open in email app", message.mailto(email), icon=":material/mail:")
