"""Who is using the console: the signed-in person (sign-in on) or the name typed in the
sidebar, how records and emails name them, and the activity log's entries written for them."""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from components.services import services
from components.session import session_lock
from partner_console.identity import Person, person_from_claims
from partner_console.sandbox import SANDBOX_KEYS
from partner_console.storage import Scope

YOUR_NAME = "your_name"


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
