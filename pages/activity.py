"""Activity: who did what in the console, and when, for this organisation."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from components.excel_export import XLSX
from components.identity import person
from components.router import page_body
from components.services import services
from components.session import organisation_page
from components.tables import picked
from components.text import safe
from components.time_zone import person_zone, when, zone_name
from partner_console.exports import activity_csv, activity_xlsx, describe_activity
from partner_console.storage import Scope
from partner_console.storage.activity import (
    ACTION_LABELS,
    EXPORTED,
    ActivityFilter,
    logged,
)

INTRO = ("Who did what in the console, and when: providers created, imports, exports, checks "
         "with Upheal, emails, reminders and template changes.")

PAGE_SIZE = 50


def _filters() -> ActivityFilter:
    text = st.text_input("Search", key="ac_search",
                         placeholder="Any part of a name, an email, a file name…",
                         help="Finds entries whose person or details contain what you type, "
                              "whatever the capitals or accents.")
    left, right = st.columns(2)
    actions = left.multiselect("What", list(ACTION_LABELS), key="ac_actions",
                               format_func=lambda a: ACTION_LABELS.get(a, a),
                               placeholder="Everything")
    dates = right.date_input("Between", value=[], key="ac_dates", max_value=date.today(),
                             format="YYYY-MM-DD")
    date_from = dates[0] if len(dates) >= 1 else None
    date_to = dates[1] if len(dates) == 2 else date_from
    return ActivityFilter(text=text, actions=tuple(actions), date_from=date_from,
                          date_to=date_to)


def _older(cursor: int) -> None:
    st.session_state.setdefault("ac_cursors", []).append(cursor)


def _newer() -> None:
    cursors = st.session_state.get("ac_cursors") or []
    if cursors:
        cursors.pop()


@organisation_page("Activity", "to see its activity", INTRO)
def render(scope: Scope) -> None:
    svc = services()
    filters = _filters()
    if filters.too_short:
        st.info("Type three or more letters to search.")
        return
    state = st.session_state
    if state.get("ac_filters") != filters:  # new filters: start again from the newest
        state["ac_filters"] = filters
        state["ac_cursors"] = []
    cursors: list[int] = state.setdefault("ac_cursors", [])
    page = svc.activity.page(scope, filters, cursors[-1] if cursors else None, PAGE_SIZE)
    if not page.entries:
        st.info("Nothing has been done here yet: what you and your colleagues do appears here."
                if filters == ActivityFilter() and not cursors
                else "No entries match these filters.")
    else:
        first = len(cursors) * PAGE_SIZE + 1
        st.caption(f"Entries {first:,}–{first + len(page.entries) - 1:,}, newest first · "
                   f"times in {zone_name()} · select an entry to read all of it")
        entry = picked(pd.DataFrame([{
            "When": when(e.at), "Who": e.who,
            "What": ACTION_LABELS.get(e.action, e.action), "Details": e.summary,
        } for e in page.entries]), page.entries, "ac_table", column_config={
            "When": st.column_config.TextColumn(width="small"),
            "Who": st.column_config.TextColumn(width="small"),
            "What": st.column_config.TextColumn(width="small"),
            "Details": st.column_config.TextColumn(width="large")})
        if entry is not None:
            with st.container(border=True, key="ac_entry"):
                st.markdown(f"**{safe(ACTION_LABELS.get(entry.action, entry.action))}** · "
                            f"{when(entry.at)} {zone_name()} · {safe(entry.who)}")
                st.markdown(safe(entry.summary))
    if cursors or page.older is not None:
        with st.container(horizontal=True, key="ac_paging"):
            if cursors:
                st.button("Newer entries", key="ac_newer", on_click=_newer,
                          icon=":material/arrow_back:")
            if page.older is not None:
                st.button("Older entries", key="ac_older", on_click=_older,
                          args=(page.older,), icon=":material/arrow_forward:")

    if not page.entries:
        return  # (nothing to download)
    st.divider()
    st.header("Export")
    st.caption("Downloads hold every entry matching the search and filters above.")
    who, described, zone = person(), describe_activity(filters), person_zone()
    stamp = date.today().isoformat()
    downloads = st.container(horizontal=True, key="ac_downloads")
    downloads.download_button("Download CSV", logged(
        svc.activity, scope, who, EXPORTED, f"Downloaded the activity log as CSV ({described}).",
        lambda: activity_csv(svc.activity, scope, filters, zone)),
        file_name=f"activity-{stamp}.csv", mime="text/csv", key="ac_csv",
        icon=":material/description:", on_click="ignore")
    downloads.download_button("Download Excel", logged(
        svc.activity, scope, who, EXPORTED,
        f"Downloaded the activity log as Excel ({described}).",
        lambda: activity_xlsx(svc.activity, scope, filters, zone)),
        file_name=f"activity-{stamp}.xlsx",
        mime=XLSX,
        key="ac_xlsx", icon=":material/table_view:", on_click="ignore")


page_body(render)
