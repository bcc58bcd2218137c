"""What a create on the Create provider page comes to: its result (a dialog over the page, then
a panel under the button), a colleague's create of the same email being followed, and an
email already in the history with its existing links."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from components.actions import check_with_upheal
from components.email_send import send_panel
from components.identity import sender_name
from components.links import copy_box, invite_email_box
from components.services import services
from components.session import current_scope
from components.text import safe
from components.time_zone import when
from partner_console.invite_email import DEFAULT_EMAIL_TEMPLATE, EMAIL_SETTING
from partner_console.storage import NotFoundError, Scope
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING


def notice(kind: str, text: str) -> None:
    """A sentence the page shows under the form on its next run ("error" or "warning")."""
    st.session_state["cp_notice"] = (kind, text)


DIALOG_TITLES = {CREATED: "Provider created", LINKS_LOST: "Created, but the links are missing",
                 PENDING: "Not confirmed yet"}


def result_dialog(outcome: dict[str, Any], email_template: str) -> None:
    """The outcome of a create, where it cannot be missed: a dialog over the page (focus moves
    into it), whatever part of the form the person had scrolled to. The same result stays on
    the page under the button once the dialog is closed."""

    def body() -> None:
        _result_body(outcome, email_template, "dialog")
        if st.button("Back to the form", key="cp_dialog_close",
                     icon=":material/arrow_back:"):
            st.rerun()

    st.dialog(DIALOG_TITLES.get(outcome["status"], "Result"), width="large")(body)()


def result_panel(outcome: dict[str, Any], email_template: str) -> None:
    with st.container(border=True, key="cp_result"):
        _result_body(outcome, email_template, "panel")
        st.button("Done – create another provider", key="cp_dismiss",
                  on_click=lambda: st.session_state.pop("cp_outcome", None))


def _result_body(outcome: dict[str, Any], email_template: str, where: str) -> None:
    name = safe(f"{outcome['first_name']} {outcome['last_name']}")
    status = outcome["status"]
    if status == CREATED:
        st.success(f"**{name}** was created in Upheal. Send them the invite link below.",
                   icon=":material/check_circle:")
        if not outcome.get("saved", True):
            st.warning("The history database did not answer, so these links are kept in the "
                       "journal file and will be added to History when the console restarts. "
                       "Copy them now to be safe.")
        if outcome.get("also"):  # the same person in another of the platform's practices
            st.info(safe(outcome["also"]), icon=":material/group:")
        left, right = st.columns(2)
        with left:
            copy_box("Invite link (send this to the provider)", outcome["invite_url"],
                     "invite", where)
        with right:
            copy_box("Private room link", outcome["private_room_link"], "room", where)
        scope = current_scope()
        if scope is not None and outcome.get("row_id") is not None and outcome.get("saved", True):
            with contextlib.suppress(NotFoundError):
                send_panel(scope, services().history.get(scope, outcome["row_id"]), where)
        invite_email_box(email_template, email=outcome["email"],
                         first_name=outcome["first_name"], last_name=outcome["last_name"],
                         invite_link=outcome["invite_url"],
                         room_link=outcome["private_room_link"], sender_name=sender_name(),
                         where=where)
    elif status == LINKS_LOST:
        st.warning(f"**{name}** was created in Upheal, but its invite link could not be "
                   "fetched from Upheal yet. Try again in a moment; if it keeps failing, ask "
                   "Upheal to resend the invite.", icon=":material/warning:")
        if outcome.get("message") and "Try again in a few minutes" in outcome["message"]:
            st.caption(safe(outcome["message"]))
        st.button("Fetch the links again", key=f"cp_fetch_links_{where}", on_click=_settle,
                  args=(outcome["row_id"],), type="primary")
    elif status == PENDING:
        st.warning(f"We could not confirm whether **{name}** was created. Nothing will be "
                   "sent twice.", icon=":material/hourglass_top:")
        if outcome.get("message"):
            st.caption(safe(outcome["message"]))  # why, and when to ask
        st.button("Check with Upheal", key=f"cp_settle_{where}", on_click=_settle,
                  args=(outcome["row_id"],), type="primary")
    elif status == FAILED:
        st.info(f"**{name}**: {safe(outcome['message'])}", icon=":material/info:")


def _settle(row_id: int) -> None:
    outcome, problem = check_with_upheal(row_id)
    if outcome is None:
        notice("error", problem or "")
        return
    current = st.session_state.get("cp_outcome") or {}
    st.session_state["cp_outcome"] = {**current, **outcome.__dict__}  # its message: what next
    st.session_state.pop("cp_notice", None)


def busy_box(scope: Scope, row_id: int) -> None:
    """Someone else is creating this email: follow their create until it settles."""
    svc = services()

    @st.fragment(run_every=1.0)
    def follow() -> None:
        try:
            row = svc.history.get(scope, row_id)
        except NotFoundError:  # their create never went out (the email was known to Upheal)
            st.session_state.pop("cp_busy", None)
            st.rerun(scope="app")
            return
        if row.status == PENDING:
            who = safe(row.created_by) or "A colleague"
            st.warning(f"{who} is creating **{safe(row.full_name)}** ({safe(row.email)}) right "
                       "now, so it was not created a second time. Their result appears here "
                       "when it is ready.", icon=":material/group:")
            if svc.creator.seconds_until_settle(row) == 0:
                st.caption("Upheal has not confirmed it yet. You can ask it now.")
                st.button("Check with Upheal", key="cp_busy_settle", on_click=_settle_busy,
                          args=(row_id,))
            return
        st.session_state.pop("cp_busy", None)
        if row.status in (CREATED, LINKS_LOST):
            st.session_state["cp_duplicate"] = row_id
        else:
            notice("warning", f"{row.created_by or 'A colleague'}'s create of {row.email} did "
                              "not go through. You can create the provider now.")
        st.rerun(scope="app")

    with st.container(border=True, key="cp_busy_box"):
        follow()


def _settle_busy(row_id: int) -> None:
    outcome, problem = check_with_upheal(row_id)
    if outcome is None:
        notice("error", problem or "")
    elif outcome.status == PENDING and outcome.message:
        notice("warning", outcome.message)


def duplicate_box(scope: Scope, row_id: int, create_anyway: Callable[[], Any]) -> None:
    """The email is in the history already: the earlier provider's links and email text, and
    "Create anyway" for a new provider who shares the address."""
    svc = services()
    earlier = svc.history.get(scope, row_id)
    with st.container(border=True, key="cp_duplicate_box"):
        by = f" by {safe(earlier.created_by)}" if earlier.created_by.strip() else ""
        st.warning(f"**{safe(earlier.full_name)}** ({safe(earlier.email)}) was already "
                   f"created on {when(earlier.created_at, '%d %b %Y')}{by}. "
                   "You probably want to send their existing invite again:",
                   icon=":material/content_copy:")
        left, right = st.columns(2)
        with left:
            copy_box("Their invite link", earlier.invite_url, "invite", "duplicate")
        with right:
            copy_box("Their room link", earlier.private_room_link, "room", "duplicate")
        if earlier.invite_url:
            invite_email_box(
                svc.catalog.setting(scope, EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE),
                email=earlier.email, first_name=earlier.first_name,
                last_name=earlier.last_name, invite_link=earlier.invite_url,
                room_link=earlier.private_room_link, sender_name=sender_name(),
                where="duplicate")
        st.divider()
        st.caption("Only if this really is a new provider who shares the address: Upheal "
                   "will be asked to create them again.")
        st.button("Create anyway", key="cp_create_anyway", on_click=create_anyway,
                  type="tertiary", icon=":material/warning:")
