"""Errors of the Upheal Partner API client.

The whole tree:

    ApiError                      anything that went wrong talking to Upheal
    +-- ApiStatusError            Upheal answered with an error status (status_code, body)
    |   +-- BadRequestError       400: Upheal rejected the values (field_errors when it says which)
    |   +-- AuthenticationError   401: the key is missing or not valid
    |   +-- PermissionDeniedError 403: the key may not do this with these values
    |   +-- NotFoundError         404
    |   +-- RateLimitError        429: too many requests (retry_after seconds, when given)
    |   +-- ServerError           5xx
    +-- ApiConnectionError        no response came back (refused, dropped, unreadable);
    |   |                         request_sent is False when the request never left (refused)
    |   +-- ApiTimeoutError       no response within the timeout
    +-- InvalidResponseError      a response came back but is not what the contract promises
    +-- OutcomeUnknownError       a create may or may not have happened and Upheal cannot tell
                                  yet (the person is offered "Check with Upheal" once it can)

None of them ever holds the API key: messages carry the status, Upheal's short text and our words.
"""

from __future__ import annotations

import json

MAX_SHOWN_BODY = 300


class ApiError(Exception):
    """Base of every error the client raises."""


class ApiStatusError(ApiError):
    def __init__(self, status_code: int, body: str, message: str | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.upheal_message = readable_text(body)
        super().__init__(message or f"Upheal answered {status_code}: {self.upheal_message or '-'}")


class BadRequestError(ApiStatusError):
    def __init__(self, status_code: int, body: str, message: str | None = None) -> None:
        super().__init__(status_code, body, message)
        self.field_errors = field_errors_from(body)


class AuthenticationError(ApiStatusError):
    pass


class PermissionDeniedError(ApiStatusError):
    pass


class NotFoundError(ApiStatusError):
    pass


class RateLimitError(ApiStatusError):
    def __init__(
        self, status_code: int, body: str, message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status_code, body, message)
        self.retry_after = retry_after


class ServerError(ApiStatusError):
    pass


class ApiConnectionError(ApiError):
    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class ApiTimeoutError(ApiConnectionError):
    pass


class InvalidResponseError(ApiError):
    pass


class OutcomeUnknownError(ApiError):
    """A create was sent, no answer came back, and Upheal could not (yet) say it has the user:
    it may still be working on it, so nothing is sent again until it can know."""

    def __init__(self, email: str, cause: ApiError) -> None:
        self.email = email
        self.cause = cause
        super().__init__(f"Could not confirm whether the provider {email} was created ({cause}).")


_STATUS_CLASSES: dict[int, type[ApiStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def make_status_error(
    status_code: int, body: str, retry_after: float | None = None
) -> ApiStatusError:
    """The error class for an HTTP error status (openai's `_make_status_error`)."""
    if status_code == 429:
        return RateLimitError(status_code, body, retry_after=retry_after)
    if status_code >= 500:
        return ServerError(status_code, body)
    return _STATUS_CLASSES.get(status_code, ApiStatusError)(status_code, body)


def readable_text(body: str) -> str:
    """Upheal's own message when it is short and readable; '' for HTML pages or large dumps."""
    text = body.strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "detail", "error", "title"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                text = value.strip()
                break
        else:
            return ""
    elif data is not None:
        return ""
    if text.startswith("<") or len(text) > MAX_SHOWN_BODY or not text.isprintable():
        return ""
    return text


def field_errors_from(body: str) -> dict[str, str]:
    """Per-field messages from a 400 body, in whichever common shape it comes.

    Assumption: the error body format is not documented; we understand
    {"errors": [{"field": f, "message": m}]}, {"errors": {f: m or [m]}} and {"field": f, ...}.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    found: dict[str, str] = {}
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict) and isinstance(item.get("field"), str):
                found[item["field"]] = str(item.get("message") or "is not valid")
    elif isinstance(errors, dict):
        for name, value in errors.items():
            if isinstance(value, list) and value:
                value = value[0]
            found[str(name)] = str(value)
    elif isinstance(data.get("field"), str):
        found[data["field"]] = str(data.get("message") or "is not valid")
    return {name: readable_text(message) or "is not valid" for name, message in found.items()}
