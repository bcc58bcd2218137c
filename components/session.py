"""One browser session's own state: its API key, Upheal's verdict on it, its scope, and what
pages keep about the organisation's data (dropped with the key).

The API key lives only in st.session_state (a plain key, so it survives page changes). It is
never an argument of a cached function and never set on the shared client.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, MutableMapping
from typing import Any

import streamlit as st

from components.services import services
from partner_console.api.errors import ApiError, AuthenticationError
from partner_console.messages import explain
from partner_console.storage import Scope, fingerprint

API_KEY = "api_key"  # plain session key holding the key (never a widget key)
KEY_CHECK = "api_key_check"  # (key fingerprint, ACCEPTED | UNCHECKED, words): Upheal's verdict
KEY_REFUSED = "api_key_refused"  # the sentence shown after a key Upheal refused
ACCEPTED, UNCHECKED = "accepted", "unchecked"
REFUSED_WORDS = ("This API key was not accepted by Upheal. Check that you pasted the whole "
                 "key.")
_KEY_PROBE = "key-test@partner-console.invalid"  # a harmless question: "does this email exist?"
_lock_guard = threading.Lock()


def api_key() -> str:
    return str(st.session_state.get(API_KEY) or "")


def check_key(force: bool = False) -> str:
    """Upheal's verdict on this session's key, asked once per key (one harmless call in the
    key's budget) or again when `force`d: ACCEPTED or UNCHECKED (Upheal could not be asked);
    a refused key is forgotten at once ("" then, with KEY_REFUSED saying why)."""
    key = api_key()
    if not key:
        return ""
    svc = services()
    key_fingerprint = fingerprint(svc.secret, key)
    known = st.session_state.get(KEY_CHECK)
    if known and known[0] == key_fingerprint and not force:
        return str(known[1])
    try:
        svc.client.check_user(key, _KEY_PROBE)
        verdict = (key_fingerprint, ACCEPTED, "")
    except AuthenticationError:
        forget_key()
        st.session_state[KEY_REFUSED] = REFUSED_WORDS
        return ""
    except ApiError as exc:
        verdict = (key_fingerprint, UNCHECKED, "The key could not be checked: " + explain(exc))
    st.session_state[KEY_CHECK] = verdict
    st.session_state.pop(KEY_REFUSED, None)
    return verdict[1]


# What pages keep in the session about one organisation's data (a row shown as a duplicate,
# a result, an import, a notice): it must not outlive the key it was made with. Whole panels'
# state is dropped by prefix: the email panels (email_send.py, email_jobs.py) and every job
# panel (job_panel.py, keyed "jp_...").
KEY_BOUND_STATE = ("cp_duplicate", "cp_busy", "cp_outcome", "cp_notice", "cp_errors", "cp_typo",
                   "cp_open_dialog", "bi_job", "bi_read", "bi_prepared", "bi_classified",
                   "bi_keep_example", "bi_confirm",
                   "bi_in_upheal", "bi_check_error", "bi_check_done",
                   "bi_start_token", "hi_refresh_job", "hi_auto_started",
                   "rs_job", "rs_plan", "rs_read", "rs_confirm", "rs_start_token", "rs_typed",
                   "hi_notice", "hi_page",
                   "nt_editing", "nt_removing", "nt_add_errors", "nt_edit_errors", "nt_notice",
                   "nt_draft_name", "nt_draft_id", "nt_draft_pre",
                   "pr_editing", "pr_removing", "pr_errors", "pr_edit_errors", "pr_notice",
                   "practice_choice")
KEY_BOUND_PREFIXES = ("es_", "ej_", "jp_", "pa_")


def drop_key_bound(target: MutableMapping[str, Any]) -> None:
    """Forget what pages keep about the organisation's data (KEY_BOUND_STATE, and the panels'
    state by prefix)."""
    for name in [*KEY_BOUND_STATE, *(n for n in list(target.keys())
                                     if str(n).startswith(KEY_BOUND_PREFIXES))]:
        if name in target:
            del target[name]


def forget_key(state: MutableMapping[str, Any] | None = None) -> None:
    """Drop the key and everything this session learned with it."""
    target: Any = st.session_state if state is None else state
    for name in (API_KEY, KEY_CHECK, "key_test"):
        if name in target:
            del target[name]
    drop_key_bound(target)


def current_scope() -> Scope | None:
    """This session's scope, once Upheal has accepted its key: nothing of an organisation is
    read, searched or shown for a key Upheal has not accepted."""
    key = api_key()
    if not key or check_key() != ACCEPTED:
        return None
    svc = services()
    return svc.history.scope_for(fingerprint(svc.secret, key))


def session_lock(name: str) -> threading.Lock:
    """A lock shared by every run of this browser session (fast reruns can overlap)."""
    with _lock_guard:
        lock = st.session_state.get(name)
        if lock is None:
            lock = threading.Lock()
            st.session_state[name] = lock
        return lock


def scope_or_prompt(purpose: str) -> Scope | None:
    """This session's scope, or what to do about the key (e.g. purpose "to see its
    templates"): paste one, paste the whole one, or check it again."""
    scope = current_scope()
    if scope is not None:
        return scope
    refused = st.session_state.get(KEY_REFUSED)
    known = st.session_state.get(KEY_CHECK)
    if refused:
        st.error(f"{refused} Paste it again in the sidebar {purpose} (on a phone, open it "
                 "with the **»** button at the top left).", icon=":material/key_off:")
    elif api_key() and known and known[1] == UNCHECKED:
        st.warning(f"{known[2]} Nothing of your organisation is shown until Upheal has "
                   "accepted the key: press “Check the key again” in the sidebar.",
                   icon=":material/cloud_off:")
    else:
        st.info(f"Paste your organisation's API key in the sidebar {purpose}. On a phone, "
                "open the sidebar with the **»** button at the top left.",
                icon=":material/key:")
    return None


def page_scope(title: str, purpose: str, caption: str | None = None) -> Scope | None:
    """A page's title (and the line under it), then this session's scope, or what to do about
    the key (nothing else of the organisation is drawn without one)."""
    st.title(title)
    if caption:
        st.caption(caption)
    return scope_or_prompt(purpose)


def organisation_page(title: str, purpose: str, caption: str | None = None
                      ) -> Callable[[Callable[[Scope], None]], Callable[[], None]]:
    """A page that shows only the organisation's data: its title (and the line under it), then
    the page drawn for this session's scope, or only what to do about the key."""
    def page(draw: Callable[[Scope], None]) -> Callable[[], None]:
        @functools.wraps(draw)
        def render() -> None:
            scope = page_scope(title, purpose, caption)
            if scope is not None:
                draw(scope)
        return render
    return page
