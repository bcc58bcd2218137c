"""A click's domain action (partner_console/actions.py) with this session's key and person."""

from __future__ import annotations

from components.identity import person
from components.services import services
from components.session import api_key, current_scope
from partner_console import actions
from partner_console.creation import CreationOutcome
from partner_console.storage import Scope


def check_with_upheal(row_id: int) -> tuple[CreationOutcome | None, str | None]:
    """"Check with Upheal" for a row whose outcome is unknown: (outcome, None) or (None, words)."""
    scope = current_scope()
    if scope is None:
        return None, "Enter your organisation's API key in the sidebar first."
    svc = services()
    return actions.check_with_upheal(svc.creator, svc.history, svc.activity, scope, api_key(),
                                     row_id, person())


def decided(scope: Scope, send_id: int, arrived: bool) -> bool:
    """A person's answer to "may have been sent" (arrived or not), recorded and logged."""
    svc = services()
    return actions.decide_send(svc.sends, svc.activity, scope, send_id, arrived, person())
