"""The note-identifier picker (with its live preview) and the note-template picker."""

from __future__ import annotations

import streamlit as st

from components.text import safe
from partner_console.api.models import FIELD_LABELS, NoteIdentifier, template_ids_from
from partner_console.storage.catalog import NoteTemplate

NOT_SET = "Upheal's default"
# Where a template id comes from: Upheal has not yet said where its admins see them.
# Upheal's material has no list of templates (../shared/api-contract.md); where an admin sees
# the ids (its template settings, we believe) is to be confirmed with Upheal.
TEMPLATE_ID_SOURCE = ("Template IDs come from Upheal: ask your Upheal contact for the IDs of "
                      "your organisation's note templates.")


def note_identifier_picker(key: str, first_name: str, last_name: str) -> str | None:
    options = [NOT_SET, *[item.value for item in NoteIdentifier]]
    choice = st.selectbox(
        FIELD_LABELS["note_identifier"], options, key=key,
        format_func=lambda v: v if v == NOT_SET else NoteIdentifier(v).label)
    name = safe(f"{first_name} {last_name}".strip()) or "this provider"
    if choice and choice != NOT_SET:
        preview = NoteIdentifier(choice).preview(first_name, last_name)
        st.caption(f"AI notes will call {name}: **{safe(preview)}**")
        return str(choice)
    st.caption(f"AI notes will name {name} the way Upheal does by default.")
    return None


def template_picker(key: str, extra_key: str, catalog: list[NoteTemplate]) -> list[str]:
    """Returns the chosen template ids (catalog choices plus any typed-in ids)."""
    by_id = {t.template_id: t for t in catalog}
    if key not in st.session_state:
        st.session_state[key] = [t.template_id for t in catalog if t.preselected]
    chosen = st.multiselect(
        "Note templates", list(by_id), key=key,
        format_func=lambda i: by_id[i].name if i in by_id else i,
        placeholder="Choose from your organisation's templates" if catalog
        else "No templates saved yet: add them on the Note templates page")
    st.caption("The note templates this provider starts with. Your organisation keeps the "
               "list on the Note templates page.")
    extra = st.text_input("Template ID not in your list", key=extra_key,
                          placeholder="e.g. 2fb81b0a-611b-11ed-9b6a-0242ac120002")
    st.caption(f"{TEMPLATE_ID_SOURCE} Separate several with commas.")
    return template_ids_from(chosen, extra)
