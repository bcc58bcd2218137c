"""Plain words for every way a call to Upheal can go wrong. Pages show these, never a status."""

from __future__ import annotations

from partner_console.api.errors import (
    ApiConnectionError,
    ApiError,
    ApiStatusError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

# What each failure means, in plain words: the first kind that matches (a time-out before the
# lost connection it is a kind of). Where Upheal's own words are worth adding, the third item
# is what to say when it gave none; None: never add them.
_WORDS: tuple[tuple[type[ApiError], str, str | None], ...] = (
    (OutcomeUnknownError, "Upheal did not answer in time, so we cannot tell yet whether the "
                          "provider was created. Nothing will be sent twice: use “Check with "
                          "Upheal” in a minute.", None),
    (AuthenticationError, "The API key was not accepted. Check that you pasted the whole key, "
                          "or ask your administrator for a new one.", None),
    (PermissionDeniedError, "This API key is not allowed to do this with these details. Check "
                            "the note templates chosen (they must belong to your organisation), "
                            "or ask your administrator what the key may do.", ""),
    (BadRequestError, "Upheal did not accept some of the details.",
     " Check the fields and try again."),
    (RateLimitError, "Upheal is receiving too many requests from your organisation right now. "
                     "Wait a minute and try again.", None),
    (NotFoundError, "Upheal has no such provider.", ""),
    (ServerError, "Upheal had a problem on its side. Try again in a few minutes.", None),
    (ApiTimeoutError, "Upheal did not answer in time. Check your connection and try again.",
     None),
    (ApiConnectionError, "Upheal could not be reached. Check your internet connection and try "
                         "again.", None),
    (InvalidResponseError, "Upheal answered in a way we did not understand, so nothing was "
                           "saved from it. Try again, and tell your administrator if it keeps "
                           "happening.", None),
)


def explain(error: ApiError) -> str:
    """One or two sentences: what happened and what to do."""
    for kind, words, unsaid in _WORDS:
        if isinstance(error, kind):
            if unsaid is None:
                return words
            said = error.upheal_message if isinstance(error, ApiStatusError) else ""
            return words + (f" Upheal said: “{said}”" if said else unsaid)
    return "Something went wrong talking to Upheal. Try again in a few minutes."


def explain_action(error: ApiError, what: str) -> str:
    """Upheal's answer to a change, deactivation or activation of a provider created earlier
    (`what`: "change", "deactivate", "reactivate"), as a sentence."""
    said = error.upheal_message if isinstance(error, ApiStatusError) else ""
    if isinstance(error, BadRequestError) and "deactivated" in said.lower():
        return ("Upheal does not change a deactivated provider: reactivate them first, then "
                "change their details.")
    if isinstance(error, NotFoundError):
        return ("Upheal no longer has this provider (they were removed in Upheal), so nothing "
                "was changed there.")
    if isinstance(error, PermissionDeniedError):
        return (f"This API key is not allowed to {what} this provider. Ask your administrator "
                "what the key may do." + (f" Upheal said: “{said}”" if said else ""))
    return explain(error)


def explain_create(error: ApiError, practice: str | None = None) -> str:
    """A create's failure, naming the platform's practice it was for (`practice`: its name)
    when the answer is about the organisation."""
    if practice and isinstance(error, NotFoundError):
        return (f"Upheal did not find the organisation of “{practice}”, or this API key cannot "
                "reach it: check its organisation id on the Practices page.")
    if practice and isinstance(error, PermissionDeniedError):
        return (f"This API key is not allowed to create providers in “{practice}”. Ask your "
                "administrator, or your Upheal contact, what the key may reach.")
    return explain(error)
