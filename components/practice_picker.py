"""The Practice picker of a platform partner (its practices: the Practices page). Drawn only
when the organisation keeps practices; the choice is remembered for the session."""

from __future__ import annotations

import streamlit as st

from components.identity import organisation_label
from components.services import services
from partner_console.bulk.prepare import also_in
from partner_console.storage import Scope

OWN = ""  # the key's own organisation
REMEMBERED = "practice_choice"  # a plain session key: the widget's own is dropped off its page


def practice_names(scope: Scope) -> dict[str, str]:
    """Practice names by organisation id (the key's own is not among them)."""
    return {p.org_id: p.name for p in services().practices.all(scope)}


def own_label(scope: Scope) -> str:
    return f"{organisation_label(scope) or 'Your organisation'} (this key's own)"


def practice_label(scope: Scope, practice_id: str | None,
                   names: dict[str, str] | None = None) -> str:
    """How a practice is named on screen: its name, or the key's own organisation's."""
    if not practice_id:
        return own_label(scope)
    names = names if names is not None else practice_names(scope)
    return names.get(practice_id, f"practice {practice_id[:8]}…")


def practice_picker(scope: Scope, key: str, label: str = "Practice",
                    help: str | None = None) -> str | None:  # noqa: A002
    """The chosen practice's organisation id (None: the key's own), or None without a picker
    when the organisation keeps no practices."""
    names = practice_names(scope)
    if not names:
        return None
    options = [OWN, *names]
    if key not in st.session_state:
        remembered = st.session_state.get(REMEMBERED, OWN)
        st.session_state[key] = remembered if remembered in options else OWN
    choice = st.selectbox(label, options, key=key,
                          format_func=lambda o: own_label(scope) if o == OWN else names[o],
                          help=help)
    st.session_state[REMEMBERED] = choice
    return choice or None


def also_in_words(scope: Scope, email: str, practice_id: str | None) -> str | None:
    """For a platform: a sentence when this person is a provider in other practices too
    (None otherwise). An email may be in each practice once, each its own Upheal account."""
    names = practice_names(scope)
    if not names:
        return None
    elsewhere = services().reads.practices_of_email(scope, email, practice_id)
    return also_in(elsewhere, names) if elsewhere else None
