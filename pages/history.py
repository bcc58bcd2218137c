"""History: every provider this organisation created, with both links, search, filters, export."""

from __future__ import annotations

from datetime import date

import streamlit as st

from components.actions import check_with_upheal
from components.email_jobs import offer as email_offer
from components.email_send import send_panel
from components.excel_export import excel_download
from components.history_table import TABLE_COLUMNS, history_table
from components.identity import person, sender_name
from components.links import copy_box, invite_email_box
from components.practice_picker import practice_label, practice_names
from components.provider_actions import after_invite
from components.router import page_body
from components.services import services
from components.session import current_scope, organisation_page
from components.signups import auto_refresh, refresh_panel
from components.tables import picked
from components.text import safe
from components.time_zone import person_zone, when, zone_name
from partner_console.api.models import FIELD_LABELS, NoteIdentifier
from partner_console.exports import (
    STATUS_LABELS,
    describe_history,
    history_csv,
    links_text,
    sent_fields,
    status_label,
)
from partner_console.invite_email import DEFAULT_EMAIL_TEMPLATE, EMAIL_SETTING
from partner_console.jobs.store import JobKind
from partner_console.signup import SIGNUP_FILTERS
from partner_console.signup import label as signup_label
from partner_console.storage import HistoryFilter, NotFoundError, Scope
from partner_console.storage.activity import EXPORTED, logged
from partner_console.storage.tables import CREATED, LINKS_LOST, PENDING

PAGE_SIZE = 50


def _settle(row_id: int) -> None:
    """"Check with Upheal" (an unknown outcome) or "Fetch the links again" (links lost)."""
    outcome, problem = check_with_upheal(row_id)
    if outcome is None:
        st.session_state["hi_notice"] = ("error", problem or "")
    elif outcome.status in (PENDING, LINKS_LOST) and outcome.message:
        st.session_state["hi_notice"] = ("warning", outcome.message)  # not yet: says when
    else:
        st.session_state["hi_notice"] = ("ok", f"Upheal says: {STATUS_LABELS[outcome.status]}.")


def _filters(creators: list[str], practices: dict[str, str]) -> HistoryFilter:
    text = st.text_input("Search", key="hi_search",
                         placeholder="Any part of a name, email or your own ID",
                         help="Finds providers whose name, email or own ID contains what "
                              "you type, whatever the capitals, accents or punctuation "
                              "(“oconnor” finds O'Connor). A full name works in either order.")
    # (the dates' box is the widest: its "YYYY-MM-DD – YYYY-MM-DD" placeholder is never cut)
    col_dates, col_status, col_signup, col_note, col_by = st.columns([1.7, 1, 1, 1, 1])
    dates = col_dates.date_input("Created between", value=[], key="hi_dates",
                                 max_value=date.today(), format="YYYY-MM-DD")
    statuses = col_status.multiselect("Status", list(STATUS_LABELS), key="hi_status",
                                      format_func=lambda s: STATUS_LABELS.get(s, s),
                                      placeholder="Any status")
    signups = col_signup.multiselect("Sign-up", list(SIGNUP_FILTERS), key="hi_signup",
                                     format_func=lambda s: SIGNUP_FILTERS.get(s, s),
                                     placeholder="Any")
    notes = col_note.multiselect(FIELD_LABELS["note_identifier"], [n.value for n in NoteIdentifier],
                                 key="hi_note", format_func=lambda v: NoteIdentifier(v).label,
                                 placeholder="Any")
    by = col_by.multiselect("Created by", creators, key="hi_by",
                            format_func=lambda v: v or "(no name)", placeholder="Anyone")
    date_from = dates[0] if len(dates) >= 1 else None
    date_to = dates[1] if len(dates) == 2 else date_from
    chosen: list[str] = []
    if practices:
        scope = current_scope()
        chosen = st.multiselect("Practice", ["", *practices], key="hi_practice",
                                format_func=lambda p: practice_label(scope, p, practices)
                                if scope else p, placeholder="Every practice")
    return HistoryFilter(text=text, date_from=date_from, date_to=date_to,
                         statuses=tuple(statuses), note_identifiers=tuple(notes),
                         created_by=tuple(by), signups=tuple(signups),
                         practices=tuple(chosen))


@organisation_page("History", "to see its providers")
def render(scope: Scope) -> None:
    svc = services()
    notice = st.session_state.pop("hi_notice", None)
    if notice:
        show = {"ok": st.success, "warning": st.warning}.get(notice[0], st.error)
        show(safe(notice[1]))

    auto_refresh(svc, scope)
    practices = practice_names(scope)
    filters = _filters(svc.reads.creators(scope), practices)
    pending = svc.reads.count(scope, HistoryFilter(statuses=(PENDING,)), cap=99)
    if pending:
        shown = "99+" if pending > 99 else str(pending)
        st.warning(f"{shown} provider(s) have an unknown outcome (the console stopped or "
                   "Upheal did not answer). Open one below and press “Check with Upheal”.")

    page_number = int(st.session_state.get("hi_page", 1))
    page = svc.reads.search(scope, filters, page=page_number, page_size=PAGE_SIZE)
    if page.total == 0:
        st.info("No providers match. Providers you create appear here." if filters ==
                HistoryFilter() else "No providers match these filters.")
        return

    st.caption(f"{page.total_text} provider(s) · page {page.page} of {page.page_count} · "
               f"times in {zone_name()} · select a row to see its links, its email and "
               "everything sent to Upheal")
    chosen = picked(history_table(page.rows, practices, scope), page.rows, "hi_table",
                    column_config={**TABLE_COLUMNS,
                                   "Practice": st.column_config.TextColumn(width=150)})
    if page.page_count > 1:
        st.number_input("Page", min_value=1, max_value=page.page_count, step=1, key="hi_page")
    if chosen is not None:
        _details(chosen.id)
    refresh_panel(filters)
    _email_many(scope, filters)

    st.divider()
    st.header("Export")
    st.caption(f"Downloads hold every provider matching the search and filters above. The "
               f"Excel file's times are in {zone_name()}, as on this page; the CSV's are in "
               "UTC, for other systems (its name and column headers say so).")
    csv_col, xlsx_col, links_col = st.columns(3)
    stamp = date.today().isoformat()
    who, described = person(), describe_history(filters)
    csv_col.download_button("Download CSV", logged(svc.activity, scope, who, EXPORTED,
        f"Downloaded the History as CSV ({described}).", lambda: history_csv(
        svc.reads, scope, filters, practices)), file_name=f"providers-{stamp}-times-in-UTC.csv",
        mime="text/csv", key="hi_csv", icon=":material/description:", on_click="ignore")
    with xlsx_col:
        excel_download(svc, scope, filters, person_zone(), practices, who, described,
                       f"providers-{stamp}.xlsx", page.total, page.cap)
    if links_col.toggle("Copy all links", key="hi_copy_all",
                        help="Email and invite link of every matching provider, one per line."):
        st.code(links_text(svc.reads.iter_rows(scope, filters)) or "(no invite links)",
                language=None)


def _email_many(scope: Scope, filters: HistoryFilter) -> None:
    """Email the invites to the providers matching the search and filters."""
    with st.container(border=True, key="hi_email_many"):
        if st.toggle("Email the invites to the providers shown", key="hi_email_toggle",
                     help="Each provider gets the organisation's invite email at their own "
                          "address, sent from the server at a steady pace.") or \
                st.session_state.get("ej_job_history") or \
                services().jobs.unfinished(scope, JobKind.EMAILS) is not None:
            candidates = services().follow_up.with_invite_links(scope, filters)
            if not candidates:
                st.caption("None of the providers shown has an invite link to send.")
            email_offer(scope, candidates, "history")


NOT_GIVEN = ":gray[not given]"


def _details(row_id: int) -> None:
    svc = services()
    scope = current_scope()
    assert scope is not None
    try:
        row = svc.history.get(scope, row_id)
    except NotFoundError:
        return
    with st.container(border=True, key="hi_details"):
        st.markdown(f"## {safe(row.full_name)}")
        where = f" · in {safe(practice_label(scope, row.practice_id))}" if row.practice_id \
            else ""
        st.caption(f"{safe(row.email)} · {status_label(row)}{where} · added "
                   f"on {when(row.created_at)} {zone_name()} by "
                   f"{safe(row.created_by) or '(no name)'}")
        if row.status in (CREATED, LINKS_LOST):
            checked = (f"checked {when(row.signup_checked_at)}" if row.signup_checked_at
                       else "not checked yet")
            reminded = (f" · reminded {when(row.reminded_at, '%Y-%m-%d')} by "
                        f"{safe(row.reminded_by) or '(no name)'}" if row.reminded_at else "")
            st.markdown(f"**Sign-up:** {signup_label(row.signup_status)} ({checked}){reminded}")
            if row.invite_emailed_at:
                st.markdown(f"**Invite emailed on** {when(row.invite_emailed_at)}")
        if row.error_text:
            st.warning(safe(row.error_text))
        with st.expander("What was sent to Upheal", expanded=row.status != CREATED):
            st.markdown("  \n".join(f"**{label}:** {safe(value) if value else NOT_GIVEN}"
                                     for label, value in sent_fields(row, {
                                         t.template_id: t.name
                                         for t in svc.catalog.templates(scope)})))
        after_invite(row)
        if row.status == PENDING:
            st.button("Check with Upheal", key="hi_settle", on_click=_settle, args=(row.id,),
                      type="primary")
        if row.status == LINKS_LOST:
            st.button("Fetch the links again", key="hi_fetch_links", on_click=_settle,
                      args=(row.id,), type="primary")
        if row.status == CREATED and row.active:
            left, right = st.columns(2)
            with left:
                copy_box("Invite link", row.invite_url, "invite", "history")
            with right:
                copy_box("Private room link", row.private_room_link, "room", "history")
            template = svc.catalog.setting(scope, EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE)
            invite_email_box(template, email=row.email, first_name=row.first_name,
                             last_name=row.last_name, invite_link=row.invite_url or "",
                             room_link=row.private_room_link, sender_name=sender_name(),
                             where="history")
            send_panel(scope, row, "history")


page_body(render)
