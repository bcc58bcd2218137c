"""Times as the person reads them: in their own zone, as their browser reports it."""

from __future__ import annotations

from datetime import datetime, tzinfo

import streamlit as st

from partner_console.when import SHOWN, shown, zone_label, zone_named


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
    """'Los Angeles time' or 'UTC', for column headers."""
    return zone_label(person_zone())
