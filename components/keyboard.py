"""Enter in a text box of a form presses the form's button, as in any web form.

The console's forms are plain widgets (not `st.form`), so that previews follow what is typed;
Streamlit's text box only commits its value on Enter. One small script, drawn under the form,
listens for Enter in the form's text boxes (never in a drop-down, whose Enter picks an
option) and, once Streamlit has taken the value, clicks the button. The form and button are
found by the container keys Streamlit puts in class names (`st-key-<key>`).
"""

from __future__ import annotations

import json
import re

import streamlit as st

ENTER_SUBMITS = """<script>
(() => {
  const forms = (window.__pcEnterForms = window.__pcEnterForms || {});
  Object.assign(forms, __FORMS__);
  if (window.__pcEnterSubmits) return;
  window.__pcEnterSubmits = true;
  document.addEventListener('keydown', (event) => {
    const box = event.target;
    if (event.key !== 'Enter' || event.isComposing || event.shiftKey || event.altKey
        || event.ctrlKey || event.metaKey) return;
    if (!(box instanceof HTMLInputElement) || box.getAttribute('role') === 'combobox'
        || !['text', 'email', 'tel', 'search', ''].includes(box.type)) return;
    for (const [form, button] of Object.entries(forms)) {
      if (!box.closest('.st-key-' + form)) continue;
      // After Streamlit's own Enter handler has committed the box's value.
      setTimeout(() => {
        const target = document.querySelector('.st-key-' + button + ' button');
        if (target && !target.disabled) target.click();
      }, 60);
      return;
    }
  }, true);
})();
</script>"""


def enter_submits(form_key: str, button_key: str) -> None:
    """Enter in a text box inside the container `form_key` clicks the button `button_key`."""
    for key in (form_key, button_key):
        if not re.fullmatch(r"[a-z0-9_]+", key):
            raise ValueError(f"not a plain widget key: {key!r}")
    st.html(ENTER_SUBMITS.replace("__FORMS__", json.dumps({form_key: button_key})),
            unsafe_allow_javascript=True, width="content")
