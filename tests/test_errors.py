from __future__ import annotations

import pytest

from partner_console.api.errors import (
    ApiStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    field_errors_from,
    make_status_error,
    readable_text,
)


@pytest.mark.parametrize(("status", "cls"), [
    (400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError),
    (404, NotFoundError), (429, RateLimitError), (500, ServerError), (502, ServerError),
    (503, ServerError), (418, ApiStatusError),
])
def test_each_status_maps_to_its_error_class(status, cls):
    error = make_status_error(status, "{}")
    assert type(error) is cls and error.status_code == status


def test_rate_limit_error_carries_retry_after():
    assert make_status_error(429, "", retry_after=12.0).retry_after == 12.0


@pytest.mark.parametrize(("body", "shown"), [
    ('{"message": "Email is invalid."}', "Email is invalid."),
    ('{"detail": "Nope"}', "Nope"),
    ("Plain short text", "Plain short text"),
    ("<html><body>502 Bad Gateway</body></html>", ""),
    ("x" * 5000, ""),
    ('{"unrelated": 1}', ""),
    ("[1, 2]", ""),
    ("", ""),
])
def test_only_short_readable_text_is_shown(body, shown):
    assert readable_text(body) == shown


@pytest.mark.parametrize("body", [
    '{"errors": [{"field": "email", "message": "already used"}]}',
    '{"errors": {"email": ["already used"]}}',
    '{"errors": {"email": "already used"}}',
    '{"field": "email", "message": "already used"}',
])
def test_field_errors_are_read_from_common_shapes(body):
    assert field_errors_from(body) == {"email": "already used"}
    assert BadRequestError(400, body).field_errors == {"email": "already used"}


def test_field_errors_of_unreadable_bodies_are_empty():
    assert field_errors_from("<html>") == {} and field_errors_from("[]") == {}
