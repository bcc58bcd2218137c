"""History's table: the columns a person needs first, sized for a laptop."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.practice_picker import practice_label
from components.time_zone import when
from partner_console.api.models import FIELD_LABELS
from partner_console.exports import status_label
from partner_console.signup import label as signup_label
from partner_console.storage import ProviderRow, Scope
from partner_console.storage.tables import CREATED, LINKS_LOST

# What a person needs first, in pixels, so that the first five fit a laptop's page (1366 px
# wide, sidebar open: about 950 px of table): the rest of a provider (the room link, phone,
# templates...) is in the row's details and in the exports.
TABLE_COLUMNS = {
    "Name": st.column_config.TextColumn(width=170),
    "Email": st.column_config.TextColumn(width=230),
    "Sign-up": st.column_config.TextColumn(width=150),
    "Invite emailed": st.column_config.TextColumn(width=115),
    "Invite link": st.column_config.LinkColumn(display_text="Open invite", width=100),
    "Status": st.column_config.TextColumn(width=90),
    "Created": st.column_config.TextColumn(width=135),
    FIELD_LABELS["partner_user_id"]: st.column_config.TextColumn(width=110),
    "Created by": st.column_config.TextColumn(width=120),
}


def history_table(rows: list[ProviderRow], practices: dict[str, str] | None = None,
                  scope: Scope | None = None) -> pd.DataFrame:
    """The page's table; with a platform's practices, a Practice column after the name."""
    columns = list(TABLE_COLUMNS)
    if practices and scope is not None:
        columns.insert(1, "Practice")
    return pd.DataFrame([{
        "Name": r.full_name, "Email": r.email,
        "Practice": practice_label(scope, r.practice_id, practices) if practices and scope
        else "",
        "Sign-up": signup_label(r.signup_status) if r.status in (CREATED, LINKS_LOST) else "",
        "Invite emailed": when(r.invite_emailed_at, "%Y-%m-%d") if r.invite_emailed_at else "",
        "Invite link": r.invite_url if r.active else None, "Status": status_label(r),
        "Created": when(r.created_at), FIELD_LABELS["partner_user_id"]: r.partner_user_id or "",
        "Created by": r.created_by,
    } for r in rows], columns=columns)
