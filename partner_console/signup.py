"""Sign-up status: whether an invited provider has finished signing up in Upheal.

Upheal's POST /users/check answers, for an email, whether the user exists and `isActive`.
**Assumption** (api-contract.md says only "whether the existing user is active"): a provider
created through the Partner API is not active until they have followed their invite link and
finished signing up, and is active from then on. This reading lives here and nowhere else.
"""

from __future__ import annotations

from partner_console.api.models import UserCheck
from partner_console.storage.tables import GONE, INVITED, SIGNED_UP

__all__ = ["GONE", "INVITED", "NOT_CHECKED", "SIGNED_UP", "SIGNUP_FILTERS", "SIGNUP_LABELS",
           "label", "status_from_check"]
NOT_CHECKED = "not_checked"  # a filter value: never checked (shown as invited)

SIGNUP_LABELS = {
    None: "Invited, not signed up yet",
    NOT_CHECKED: "Invited, not signed up yet",
    INVITED: "Invited, not signed up yet",
    SIGNED_UP: "Signed up",
    GONE: "No longer in Upheal",
}
# What the History filter offers (never-checked providers count as invited).
SIGNUP_FILTERS = {INVITED: "Invited, not signed up yet", SIGNED_UP: "Signed up",
                  GONE: "No longer in Upheal"}


def status_from_check(check: UserCheck) -> str:
    """The sign-up status /users/check's answer means (the assumption above)."""
    if not check.is_user_exists:
        return GONE
    return SIGNED_UP if check.is_active else INVITED


def label(status: str | None) -> str:
    return SIGNUP_LABELS.get(status, SIGNUP_LABELS[None])
