"""The page/deps layer: process-wide services (cached) and the per-session key and scope.

The API key lives only in st.session_state (a plain key, so it survives page changes). It is
never an argument of a cached function and never set on the shared client.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

import streamlit as st

from components.text import safe
from partner_console.api.client import UphealClient
from partner_console.api.errors import ApiError, AuthenticationError
from partner_console.bulk.jobs import JobStore
from partner_console.bulk.run import JobRegistry
from partner_console.config import ConfigError, Settings, load_settings
from partner_console.connection import build_client
from partner_console.creation import CreationOutcome, ProviderCreator, replay_journal
from partner_console.exports import STATUS_LABELS
from partner_console.identity import Person, person_from_claims
from partner_console.mail.sender import Mailer, transport_for
from partner_console.messages import explain
from partner_console.sandbox import SANDBOX_KEYS, SandboxApp
from partner_console.storage import (
    History,
    LinkJournal,
    Scope,
    StorageError,
    fingerprint,
    load_or_create_secret,
    make_engine,
    migrate,
)
from partner_console.storage.activity import EMAILED, REMINDED, SETTLED, Activity
from partner_console.storage.catalog import Catalog
from partner_console.storage.coordination import (
    PAUSE,
    KeyPacing,
    Leases,
    RateBudget,
    lease_owner,
    replica_name,
)
from partner_console.storage.engine import refresh_statistics
from partner_console.storage.sends import INVITE, Sends
from partner_console.when import SHOWN, shown, zone_label, zone_named

API_KEY = "api_key"  # plain session key holding the key (never a widget key)
KEY_CHECK = "api_key_check"  # (key fingerprint, ACCEPTED | UNCHECKED, words): Upheal's verdict
KEY_REFUSED = "api_key_refused"  # the sentence shown after a key Upheal refused
YOUR_NAME = "your_name"
ACCEPTED, UNCHECKED = "accepted", "unchecked"
REFUSED_WORDS = ("This API key was not accepted by Upheal. Check that you pasted the whole "
                 "key.")
_KEY_PROBE = "key-test@partner-console.invalid"  # a harmless question: "does this email exist?"
_lock_guard = threading.Lock()


@dataclass
class Services:
    settings: Settings
    history: History
    catalog: Catalog
    journal: LinkJournal
    client: UphealClient  # paced in the key's shared budget, as a person's calls
    creator: ProviderCreator
    sandbox: SandboxApp | None
    secret: bytes
    journal_waiting: int
    jobs: JobStore
    runners: JobRegistry
    budget: RateBudget
    leases: Leases
    owner: str  # this server's name on the job leases it holds
    sends: Sends
    mailer: Mailer  # a person's sends; jobs take Mailer.for_jobs()
    activity: Activity

    def background_pacing(self) -> KeyPacing:
        """Pacing for imports and preview checks: they give way to people's own calls."""
        return KeyPacing(self.budget, self.secret, background=True)


@st.cache_resource(show_spinner=False)
def _services(settings: Settings) -> Services:
    engine = make_engine(settings.database_url)
    migrate(engine)
    refresh_statistics(engine)
    history = History(engine)
    journal = LinkJournal(settings.journal_path)
    _, waiting = replay_journal(journal, history)
    sandbox = SandboxApp(rate_per_minute=settings.rate_limit_per_minute,
                         signup_after=settings.sandbox_signup_after_seconds or None) \
        if settings.uses_sandbox else None
    secret = load_or_create_secret(settings.secret, settings.data_dir)
    budget = RateBudget(engine, settings.rate_limit_per_minute)
    client = replace(build_client(settings, sandbox),
                     pacing=KeyPacing(budget, secret, background=False))
    leases = Leases(engine)
    replica = replica_name(st.get_option("server.port"))
    owner = lease_owner(replica)
    leases.release_replica(replica, owner)  # this server's jobs from before a crash: paused
    # A send in flight is silent at most one SMTP time-out per step: past three, it stopped.
    sends = Sends(engine, replica, owner,
                  stale_after=timedelta(seconds=3 * settings.smtp_timeout_seconds + 30))
    sends.settle_stale()  # this server's sends from before a crash: settled now
    mailer = Mailer(sends, settings.email_from, settings.email_reply_to,
                    transport_for(settings), RateBudget(engine, settings.emails_per_minute),
                    budget_key="mail:" + (settings.smtp.host if settings.smtp and not
                                          settings.uses_outbox else "outbox"))
    return Services(settings, history, Catalog(engine), journal, client,
                    ProviderCreator(client, history, journal, settings.settle_after_seconds),
                    sandbox, secret, waiting, JobStore(engine), JobRegistry(), budget, leases,
                    owner, sends, mailer, Activity(engine))


def services() -> Services:
    """The shared services, or a plain-words stop when settings or the database are unwell."""
    try:
        return _services(load_settings())
    except ConfigError as exc:
        st.error(f"The console is not set up correctly: {safe(exc)}")
    except StorageError as exc:
        st.error(f"The history database could not be opened. {safe(exc)}")
    st.stop()
    raise AssertionError("unreachable")


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
# a result, an import, a notice): it must not outlive the key it was made with.
KEY_BOUND_STATE = ("cp_duplicate", "cp_busy", "cp_outcome", "cp_notice", "cp_errors", "cp_typo",
                   "cp_open_dialog", "bi_job", "bi_read", "bi_prepared", "bi_classified",
                   "bi_keep_example", "bi_confirm",
                   "bi_in_upheal", "bi_notice", "bi_check_error", "bi_check_done",
                   "bi_cancel_ask", "bi_start_token", "hi_refresh_job", "hi_auto_started",
                   "hi_notice", "hi_page",
                   "nt_editing", "nt_removing", "nt_add_errors", "nt_edit_errors", "nt_notice",
                   "nt_draft_name", "nt_draft_id", "nt_draft_pre")


# ... and the email panels' state, one set of keys per provider shown (email_send.py,
# email_jobs.py).
KEY_BOUND_PREFIXES = ("es_", "ej_")


def drop_key_bound(target: MutableMapping[str, Any]) -> None:
    """Forget what pages keep about the organisation's data (KEY_BOUND_STATE)."""
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


def auth_section() -> dict[str, Any] | None:
    """The deployment's `[auth]` secrets (sign-in on), or None (sign-in off: as before)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        section = st.secrets.get("auth")
    except Exception:  # an unreadable secrets file: Streamlit says so in its log
        return None
    if not section:
        return None
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def signed_in() -> Person | None:
    """The signed-in person, with sign-in on; None with it off (or before sign-in)."""
    if auth_section() is None:
        return None
    try:
        if not st.user.is_logged_in:
            return None
        return person_from_claims(st.user.to_dict())
    except Exception:  # outside a browser session (bare AppTest runs)
        return None


def person() -> Person:
    """Who this session's records are written for: the signed-in person, or (sign-in off) the
    name typed in the sidebar."""
    return signed_in() or Person(str(st.session_state.get(YOUR_NAME) or "").strip())


def your_name() -> str:
    """What records carry: "Name (email)" when signed in, else the name typed."""
    return person().label


def sender_name() -> str:
    """How an email text is signed: the person's name."""
    return person().first_name


def log_activity(scope: Scope, action: str, summary: str, once: str | None = None) -> None:
    """An entry in the organisation's activity log, for this session's person; with `once`
    (a click's token), one entry however many runs of the page answer that click. A log that
    cannot be written never stops the work it records (the work is done, and kept)."""
    if once is not None:
        with session_lock("activity_once_lock"):
            seen = st.session_state.setdefault("activity_once", set())
            if once in seen:
                return
            seen.add(once)
    try:
        services().activity.record(scope, person(), action, summary)
    except Exception:
        logging.getLogger(__name__).exception("an activity entry could not be written")


def organisation_label(scope: Scope | None) -> str | None:
    if scope is None or not scope.organization_ids:
        return None
    names = []
    for org_id in scope.organization_ids:
        sandbox_name = next((o.name for o in SANDBOX_KEYS.values()
                             if o.organization_id == org_id), None)
        names.append(sandbox_name or f"organisation {org_id[:8]}…")
    return ", ".join(names)


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


def check_with_upheal(row_id: int) -> tuple[CreationOutcome | None, str | None]:
    """"Check with Upheal" for a row whose outcome is unknown: (outcome, None) or (None, words)."""
    scope = current_scope()
    if scope is None:
        return None, "Enter your organisation's API key in the sidebar first."
    try:
        outcome = services().creator.settle(api_key(), scope, row_id)
    except ApiError as exc:
        return None, explain(exc)
    try:
        row = services().history.get(scope, row_id)
    except StorageError:
        return outcome, None
    log_activity(scope, SETTLED, f"Checked {row.full_name} ({row.email}) with Upheal: "
                                 f"{STATUS_LABELS.get(outcome.status, outcome.status)}.")
    return outcome, None


def pause_job(job_id: int) -> None:
    """Pause an import or a refresh: written to the job, so whichever replica runs it stops
    within a second or two (and a runner in this process stops at once)."""
    svc = services()
    runner = svc.runners.get(job_id)
    if runner is not None and runner.alive:
        runner.pause()
    svc.leases.ask(job_id, PAUSE)


def person_zone() -> tzinfo:
    """The person's time zone, as their browser reports it; UTC when it is not known."""
    try:
        name = st.context.timezone
    except Exception:  # outside a browser session (bare AppTest runs): no zone to read
        name = None
    return zone_named(name)


def when(stored: datetime, fmt: str = SHOWN) -> str:
    """A stored time in the person's zone: '2026-11-29 15:04'."""
    return shown(stored, person_zone(), fmt)


def zone_name() -> str:
    """'Europe/Prague' or 'UTC', for column headers."""
    return zone_label(person_zone())


def decided(scope: Scope, send_id: int, arrived: bool) -> bool:
    """A person's answer to "may have been sent": it arrived, or it did not (then it may go
    again). Recorded on the send and in the activity log."""
    svc = services()
    if not svc.sends.decide(scope, send_id, arrived, your_name()):
        return False
    send = svc.sends.get(send_id)
    log_activity(scope, EMAILED if send.kind == INVITE else REMINDED,
                 f"Said the email to {send.to_email} " + ("arrived." if arrived else
                                                          "did not arrive."))
    return True
