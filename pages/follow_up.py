"""Follow up: providers invited a while ago who have not signed up yet, oldest first, with a
ready reminder email and a record of who reminded whom."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.email_jobs import offer as email_offer
from components.email_send import send_panel
from components.identity import log_activity, sender_name, your_name
from components.links import copy_box, invite_email_box
from components.practice_picker import practice_label, practice_names
from components.router import page_body
from components.services import services
from components.session import current_scope, organisation_page
from components.signups import auto_refresh, last_checked_line
from components.tables import picked
from components.text import safe
from components.time_zone import person_zone, when, zone_name
from partner_console.invite_email import DEFAULT_REMINDER_TEMPLATE, REMINDER_SETTING
from partner_console.signup import INVITED
from partner_console.signup import label as signup_label
from partner_console.storage import HistoryFilter, ProviderRow, Scope
from partner_console.storage.activity import REMINDED
from partner_console.storage.clock import utcnow
from partner_console.storage.history_reads import COUNT_CAP
from partner_console.storage.sends import REMINDER
from partner_console.when import invited_before

SHOWN_AT_MOST = 200


def _reminded(row_ids: list[int]) -> None:
    scope = current_scope()
    if scope is None:
        return
    count = services().history.mark_reminded(scope, row_ids, your_name())
    if count:
        log_activity(scope, REMINDED, f"Recorded a reminder sent by hand to {count} "
                                      "provider(s).")
    st.session_state["fu_notice"] = f"Recorded: {count} reminder(s) sent by you today."
    st.session_state.pop("fu_all_ask", None)


@organisation_page("Follow up", "to see who has not signed up yet")
def render(scope: Scope) -> None:
    svc = services()
    auto_refresh(svc, scope)
    st.caption("Providers who were invited a while ago and have not signed up yet, oldest "
               "first. Send each a reminder, then record it here.")
    last_checked_line(svc, scope)
    notice = st.session_state.pop("fu_notice", None)
    if notice:
        st.success(safe(notice))
    days = st.columns([2, 3])[0].number_input(
        "Invited at least this many days ago", min_value=0, max_value=365, value=3, step=1,
        key="fu_days")
    cutoff = invited_before(int(days), utcnow(), person_zone())
    filters = HistoryFilter(signups=(INVITED,), invited_before=cutoff)
    waiting = svc.follow_up.oldest_first(scope, filters, limit=SHOWN_AT_MOST)
    if not waiting:
        invited = svc.reads.count(scope, HistoryFilter(invited_before=cutoff), cap=1)
        if not invited and not svc.reads.count(scope, HistoryFilter(), cap=1):
            st.info("Nobody has been invited yet. The providers you create appear here until "
                    "they sign up.")
        elif not invited:
            st.info(f"Nobody was invited {int(days)} or more day(s) ago yet, so nobody has "
                    "waited that long. Lower the number of days to see more recent invites.")
        else:
            st.info("Nobody is waiting: every provider invited that long ago has signed up (as "
                    "far as Upheal last said).")
        return
    total = svc.reads.count(scope, filters)
    more = f" (the {SHOWN_AT_MOST} oldest shown)" if total > SHOWN_AT_MOST else ""
    shown = f"{COUNT_CAP:,}+" if total > COUNT_CAP else f"{total:,}"
    st.markdown(f"**{shown} provider(s) waiting**{more}")
    now = utcnow()
    practices = practice_names(scope)
    table = pd.DataFrame([{
        "Name": r.full_name, "Email": r.email,
        **({"Practice": practice_label(scope, r.practice_id, practices)} if practices else {}),
        f"Invited ({zone_name()})": when(r.created_at, "%Y-%m-%d"),
        "Waiting (days)": (now - r.created_at).days,
        "Sign-up": signup_label(r.signup_status),
        "Last checked": when(r.signup_checked_at) if r.signup_checked_at else "never",
        "Reminded": (f"{when(r.reminded_at, '%Y-%m-%d')} by {r.reminded_by or '(no name)'}"
                     if r.reminded_at else ""),
    } for r in waiting])
    chosen = picked(table, waiting, "fu_table", "Select a provider to see their reminder email.")
    if chosen is not None:
        _reminder(chosen)
    _everyone(scope, waiting)


def _reminder(row: ProviderRow) -> None:
    svc = services()
    scope = current_scope()
    assert scope is not None
    with st.container(border=True, key="fu_details"):
        st.markdown(f"## {safe(row.full_name)}")
        if row.reminded_at:
            st.caption(f"Reminded {when(row.reminded_at, '%Y-%m-%d')} by "
                       f"{safe(row.reminded_by) or '(no name)'}.")
        template = svc.catalog.setting(scope, REMINDER_SETTING, DEFAULT_REMINDER_TEMPLATE)
        invite_email_box(template, email=row.email, first_name=row.first_name,
                         last_name=row.last_name, invite_link=row.invite_url or "",
                         room_link=row.private_room_link, sender_name=sender_name(),
                         where="reminder", fallback=DEFAULT_REMINDER_TEMPLATE)
        st.button("I sent this reminder", key="fu_sent", type="primary",
                  on_click=_reminded, args=([row.id],), icon=":material/done:",
                  help="When you sent it from your own email program: records that you did.")
        send_panel(scope, row, "reminder", kind=REMINDER)


def _everyone(scope: Scope, waiting: list[ProviderRow]) -> None:
    st.divider()
    st.header("Everyone on this list")
    with_links = [r for r in waiting if r.invite_url]
    copy_box("Email and invite link of each, one per line (for a mail merge)",
             "\n".join(f"{r.email}\t{r.invite_url}" for r in with_links), "links", "follow_up")
    st.markdown("**Or let the console email the reminders**")
    email_offer(scope, [(r.id, r.email, r.full_name) for r in with_links],
                "follow_up", kind=REMINDER)
    if st.button(f"Record a reminder for all {len(waiting)}", key="fu_all"):
        st.session_state["fu_all_ask"] = True
    if st.session_state.get("fu_all_ask"):
        st.warning(f"Record that you reminded all {len(waiting)} provider(s) today?")
        st.button("Yes, record it", key="fu_all_yes", on_click=_reminded,
                  args=([r.id for r in waiting],))


page_body(render)
