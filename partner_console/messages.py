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


def explain(error: ApiError) -> str:
    """One or two sentences: what happened and what to do."""
    said = ""
    if isinstance(error, ApiStatusError) and error.upheal_message:
        said = f" Upheal said: “{error.upheal_message}”"
    if isinstance(error, OutcomeUnknownError):
        return ("Upheal did not answer in time, so we cannot tell yet whether the provider was "
                "created. Nothing will be sent twice: use “Check with Upheal” in a minute.")
    if isinstance(error, AuthenticationError):
        return ("The API key was not accepted. Check that you pasted the whole key, or ask your "
                "administrator for a new one." )
    if isinstance(error, PermissionDeniedError):
        return ("This API key is not allowed to do this with these details. Check the note "
                "templates chosen (they must belong to your organisation), or ask your "
                "administrator what the key may do." + said)
    if isinstance(error, BadRequestError):
        return "Upheal did not accept some of the details." + (said or
               " Check the fields and try again.")
    if isinstance(error, RateLimitError):
        return ("Upheal is receiving too many requests from your organisation right now. Wait a "
                "minute and try again.")
    if isinstance(error, NotFoundError):
        return "Upheal has no such provider." + said
    if isinstance(error, ServerError):
        return "Upheal had a problem on its side. Try again in a few minutes."
    if isinstance(error, ApiTimeoutError):
        return "Upheal did not answer in time. Check your connection and try again."
    if isinstance(error, ApiConnectionError):
        return "Upheal could not be reached. Check your internet connection and try again."
    if isinstance(error, InvalidResponseError):
        return ("Upheal answered in a way we did not understand, so nothing was saved from it. "
                "Try again, and tell your administrator if it keeps happening.")
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
