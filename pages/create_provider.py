"""Create provider: fill the form, create on Upheal, copy the links into an email."""

from __future__ import annotations

import streamlit as st

from components.create_queue import CreateQueue, CreateRequest
from components.create_result import (
    DIALOG_TITLES,
    busy_box,
    duplicate_box,
    notice,
    result_dialog,
    result_panel,
)
from components.identity import log_activity, your_name
from components.keyboard import enter_submits
from components.practice_picker import REMEMBERED, also_in_words, practice_label
from components.provider_form import clear_form, form_values, provider_fields
from components.router import page_body
from components.services import services
from components.session import api_key, current_scope, page_scope, session_lock
from components.text import safe
from partner_console.api.models import email_suggestion, validate_provider
from partner_console.creation import BUSY, DUPLICATE, EXISTS, CreationOutcome
from partner_console.invite_email import DEFAULT_EMAIL_TEMPLATE, EMAIL_SETTING
from partner_console.storage import activity
from partner_console.storage.tables import CREATED, FAILED, LINKS_LOST, PENDING

PRACTICE = "practice"  # (with a queued create: the practice it goes to)


def _queue() -> CreateQueue:
    return CreateQueue(st.session_state, session_lock("cp_queue_lock"))


def _submit(anyway: bool = False, as_typed: str | None = None) -> None:
    """On the click, before the page draws: check the fields and queue the create. An email
    whose domain looks mistyped is asked about once (`as_typed`: the person said it is right)."""
    state = st.session_state
    state.pop("cp_notice", None)
    state.pop("cp_duplicate", None)
    state.pop("cp_busy", None)
    state.pop("cp_typo", None)
    values = form_values()
    request, errors = validate_provider(values)
    state["cp_errors"] = errors
    if request is None:
        notice("error", "Some details need fixing before the provider can be created: see the "
                        "messages under the fields.")
        return
    if current_scope() is None:
        notice("error", "Enter your organisation's API key in the sidebar first.")
        return
    suggestion = email_suggestion(request.email)
    if suggestion and as_typed != request.email:
        state["cp_typo"] = (request.email, suggestion, anyway)
        return
    # (the practice rides with the queued create; validate_provider never sees it)
    _queue().click(request.email, {**values, PRACTICE: state.get(REMEMBERED) or None}, anyway)


def _create_with(email: str, anyway: bool) -> None:
    """The person's answer to "Create with …?": the suggested address, or theirs as typed."""
    st.session_state["cp_email"] = email
    _submit(anyway=anyway, as_typed=email)


def _typo_box(typed: str, suggestion: str, anyway: bool) -> None:
    with st.container(border=True, key="cp_typo_box"):
        domain, right = typed.rpartition("@")[2], suggestion.rpartition("@")[2]
        st.warning(f"Create with **{safe(domain)}**? It looks like a typing mistake for "
                   f"**{safe(right)}**, and an invite sent to a wrong address never arrives.",
                   icon=":material/help:")
        first, second = st.columns(2)
        first.button(f"Use {safe(suggestion)} and create", key="cp_typo_fix", type="primary",
                     on_click=_create_with, args=(suggestion, anyway))
        second.button(f"Create with {safe(typed)}", key="cp_typo_keep", on_click=_create_with,
                      args=(typed, anyway))


def _create(queued: CreateRequest) -> None:
    """Runs in the page body under a spinner; makes no drawing calls of its own."""
    state = st.session_state
    values = dict(queued.values)
    practice = values.pop(PRACTICE, None)
    request, _ = validate_provider(values)
    scope = current_scope()
    if request is None or scope is None:
        return
    svc = services()
    where = practice_label(scope, practice) if practice else None
    with session_lock("cp_create_lock"):
        # One reservation per email in the database: another tab, session or replica creating
        # the same email at this moment is answered BUSY, never a second create.
        outcome = svc.creator.create(api_key(), scope, request, created_by=your_name(),
                                     token=queued.token, check_first=True,
                                     refuse_duplicate=not queued.anyway,
                                     practice_id=practice, practice_name=where)
    if outcome.status in (CREATED, LINKS_LOST, PENDING) and not outcome.repeated:
        lost = (" Upheal's answer did not arrive; History says what became of it."
                if outcome.status == PENDING else "")
        log_activity(scope, activity.CREATED, f"Created {request.first_name} "
                     f"{request.last_name} ({request.email})"
                     + (f" in {where}" if where else "") + f".{lost}")
    if outcome.status == DUPLICATE:
        state["cp_duplicate"] = outcome.row_id
    elif outcome.status == BUSY:
        state["cp_busy"] = outcome.row_id
    elif outcome.status == EXISTS:
        notice("warning", f"{request.email} already has an Upheal account, so no new "
                          "provider was created. Ask Upheal support to resend their invite "
                          "if they cannot find it.")
    elif outcome.status == FAILED and outcome.row_id is None:
        notice("error", outcome.message)  # Upheal could not be asked; nothing was sent
    else:
        also = also_in_words(scope, request.email, practice) if outcome.status == CREATED \
            else None
        _show(outcome, request.email, request.first_name, request.last_name, also)


def _show(outcome: CreationOutcome, email: str, first_name: str, last_name: str,
          also: str | None = None) -> None:
    state = st.session_state
    shown = {**outcome.__dict__, "email": email, "first_name": first_name,
             "last_name": last_name, "also": also}
    if outcome.status == FAILED:
        state["cp_errors"] = outcome.field_errors or {}
        notice("error", outcome.message)
        _queue().answered(None, clear_form=False)
    elif outcome.status == PENDING:
        _queue().answered(shown, clear_form=False)  # the panel says what happened and what next
    else:
        # The widgets are drawn already: the form is emptied on the next run.
        _queue().answered(shown, clear_form=True)
    if outcome.status in DIALOG_TITLES:
        state["cp_open_dialog"] = True


def render() -> None:
    svc = services()
    scope = page_scope("Create provider", "on the left to start", (
        "Fill in the provider's details and press **Create provider**. You will get their "
        "invite link and private room link, ready to email."))

    queue = _queue()
    if queue.form_cleared():
        clear_form()

    st.header("Provider")
    with st.container(key="cp_form"):
        provider_fields(svc, scope)
    enter_submits("cp_form", "cp_submit")

    said = st.session_state.get("cp_notice")  # (set by notice())
    if said:
        (st.error if said[0] == "error" else st.warning)(safe(said[1]))

    typo = st.session_state.get("cp_typo")
    if typo is not None:
        _typo_box(*typo)

    busy_id = st.session_state.get("cp_busy")
    if busy_id is not None and scope is not None:
        busy_box(scope, busy_id)

    duplicate_id = st.session_state.get("cp_duplicate")
    if duplicate_id is not None and scope is not None:
        duplicate_box(scope, duplicate_id, create_anyway=lambda: _submit(anyway=True))

    st.button("Create provider", type="primary", key="cp_submit", on_click=_submit,
              disabled=scope is None, icon=":material/person_add:")
    queued = queue.next()
    if queued is not None:
        who = f"{queued.values.get('first_name') or ''} {queued.values.get('last_name') or ''}"
        with st.spinner(f"Creating {safe(who)} in Upheal… If Upheal is busy this can take up "
                        "to a minute; the page will update by itself."):
            try:
                _create(queued)
            finally:  # (a run stopped before this point leaves the request to the next run)
                queue.done(queued)
        st.rerun()
    outcome = st.session_state.get("cp_outcome")
    if outcome and scope is not None:  # right under the button, where the person is looking
        template = svc.catalog.setting(scope, EMAIL_SETTING, DEFAULT_EMAIL_TEMPLATE)
        result_panel(outcome, template)
        if st.session_state.pop("cp_open_dialog", False):
            result_dialog(outcome, template)


page_body(render)
