from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from partner_console.api.client import RetryPolicy, UphealClient, parse_retry_after
from partner_console.api.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
)
from partner_console.api.models import validate_provider
from partner_console.sandbox import Faults, SandboxApp, SandboxTransport
from tests.conftest import DEMO_KEY, FORBIDDEN_KEY

JANE = {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com"}


def request_for(**values):
    request, errors = validate_provider({**JANE, **values})
    assert not errors
    return request


def scripted_client(responses, sleeps, policy=None):
    """A client whose transport answers from a script: each item is a Response or an exception."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    client = UphealClient("https://api.test/", transport=httpx.MockTransport(handler),
                          sleep=sleeps, retry=policy or RetryPolicy(max_attempts=4))
    return client, seen


def created_json(email="jane@example.com"):
    return {"userId": "u-1", "inviteUrl": "https://app.upheal.io/invite/abc",
            "privateRoomLink": "https://upheal.io/jane-smith-1"}


# -- Retry-After ---------------------------------------------------------------------------------
def test_retry_after_in_seconds():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5


def test_retry_after_as_an_http_date():
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(42.0)


def test_retry_after_in_the_past_or_unreadable():
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_429_waits_for_retry_after_then_succeeds(sleeps):
    client, seen = scripted_client([
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json=created_json()),
    ], sleeps)
    result = client.create_provider("k", request_for())
    assert result.provider.invite_url.endswith("/abc") and sleeps == [7.0] and len(seen) == 2


def test_retry_after_is_capped(sleeps):
    client, _ = scripted_client([
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(200, json={"isUserExists": False}),
    ], sleeps, RetryPolicy(max_retry_after=30))
    client.check_user("k", "jane@example.com")
    assert sleeps == [30.0]


def test_429_without_retry_after_backs_off_exponentially(sleeps):
    policy = RetryPolicy(max_attempts=4, initial_backoff=1, jitter=0)
    client, _ = scripted_client([httpx.Response(429)] * 3 + [
        httpx.Response(200, json={"isUserExists": False})], sleeps, policy)
    client.check_user("k", "jane@example.com")
    assert sleeps == [1.0, 2.0, 4.0]


def test_429_storm_gives_up_with_rate_limit_error(sleeps):
    client, seen = scripted_client([httpx.Response(429, headers={"Retry-After": "1"})] * 4, sleeps)
    with pytest.raises(RateLimitError):
        client.create_provider("k", request_for())
    assert len(seen) == 4


def test_backoff_jitter_stays_within_bounds():
    policy = RetryPolicy(initial_backoff=1, max_backoff=8, jitter=0.25)
    assert policy.backoff(1, rng=lambda: 1.0) == 0.75 and policy.backoff(10, rng=lambda: 0) == 8


def test_check_is_retried_after_5xx_and_timeouts(sleeps):
    client, seen = scripted_client([
        httpx.Response(503), httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"isUserExists": True, "userId": "u"}),
    ], sleeps)
    assert client.check_user("k", "a@b.co").is_user_exists
    assert len(seen) == 3 and len(sleeps) == 2


# -- create is never re-sent blindly --------------------------------------------------------------
def test_create_after_lost_response_asks_check_and_fetches_the_links_again(sleeps):
    client, seen = scripted_client([
        httpx.RemoteProtocolError("Server disconnected"),
        httpx.Response(200, json={"isUserExists": True, "userId": "u-9"}),
        httpx.Response(200, json={"userId": "u-9", "inviteUrl": "https://app.upheal.io/i/9",
                                  "privateRoomLink": "https://upheal.io/jane-smith-9"}),
    ], sleeps)
    result = client.create_provider("k", request_for())
    assert not result.links_lost and result.user_id == "u-9"
    assert result.provider.invite_url == "https://app.upheal.io/i/9"
    assert [r.url.path for r in seen] == ["/users/providers", "/users/check", "/users/u-9"]


def test_create_after_lost_response_whose_links_cannot_be_fetched_reports_links_lost(sleeps):
    client, seen = scripted_client([
        httpx.RemoteProtocolError("Server disconnected"),
        httpx.Response(200, json={"isUserExists": True, "userId": "u-9"}),
        httpx.Response(404, json={"message": "no"}),
    ], sleeps)
    result = client.create_provider("k", request_for())
    assert result.links_lost and result.user_id == "u-9"
    assert [r.url.path for r in seen] == ["/users/providers", "/users/check", "/users/u-9"]


def test_timeout_then_check_that_does_not_see_the_user_yet_never_resends(sleeps):
    # A slow create outlives the timeout; the check cannot see it yet. Sending it again would
    # make a second user when the first create finishes: the outcome is unknown instead.
    client, seen = scripted_client([
        httpx.ReadTimeout("slow"), httpx.Response(200, json={"isUserExists": False}),
    ], sleeps)
    with pytest.raises(OutcomeUnknownError) as info:
        client.create_provider("k", request_for())
    assert isinstance(info.value.cause, ApiTimeoutError)
    assert [r.url.path for r in seen] == ["/users/providers", "/users/check"]


def test_create_refused_before_it_left_is_sent_again_without_asking(sleeps):
    client, seen = scripted_client([httpx.ConnectError("refused"),
                                    httpx.Response(200, json=created_json())], sleeps)
    result = client.create_provider("k", request_for())
    assert not result.links_lost and result.attempts == 2
    assert [r.url.path for r in seen] == ["/users/providers", "/users/providers"]


def test_a_429_is_told_to_the_pacing_so_every_replica_holds_off(sleeps):
    told = []

    class Recorder:
        def before_call(self, api_key):
            told.append(("call", api_key))

        def rate_limited(self, api_key, seconds):
            told.append(("hold", seconds))

    client, _ = scripted_client([httpx.Response(429, headers={"Retry-After": "7"}),
                                 httpx.Response(200, json=created_json())], sleeps)
    client.pacing = Recorder()
    client.create_provider("k", request_for())
    assert told == [("call", "k"), ("hold", 7.0), ("call", "k")]


@pytest.mark.parametrize("room", ["https://upheal.io/mary ann-smith-1",
                                  "https://upheal.io/d'angelo-smith-2",
                                  "https://upheal.io/zoë-müller-3"])
def test_odd_room_links_are_kept_as_given(sleeps, room):
    client, _ = scripted_client([httpx.Response(200, json={**created_json(),
                                                           "privateRoomLink": room})], sleeps)
    provider = client.create_provider("k", request_for()).provider
    assert provider.private_room_link == room
    assert provider.invite_url == "https://app.upheal.io/invite/abc"


@pytest.mark.parametrize("room", ["javascript:alert(1)", "", None, 42, "upheal.io/room"])
def test_an_unusable_room_link_never_costs_the_invite_link(sleeps, room):
    client, _ = scripted_client([httpx.Response(200, json={**created_json(),
                                                           "privateRoomLink": room})], sleeps)
    provider = client.create_provider("k", request_for()).provider
    assert provider.private_room_link is None
    assert provider.invite_url == "https://app.upheal.io/invite/abc"


def test_create_after_5xx_resends_only_when_check_says_absent(sleeps):
    client, seen = scripted_client([
        httpx.Response(500),
        httpx.Response(200, json={"isUserExists": False}),
        httpx.Response(200, json=created_json()),
    ], sleeps)
    result = client.create_provider("k", request_for())
    assert not result.links_lost and result.attempts == 2
    assert [r.url.path for r in seen] == ["/users/providers", "/users/check", "/users/providers"]


def test_create_whose_check_also_fails_reports_unknown_outcome(sleeps):
    client, _ = scripted_client([httpx.ReadTimeout("slow")] + [httpx.ConnectError("down")] * 4,
                                sleeps)
    with pytest.raises(OutcomeUnknownError) as info:
        client.create_provider("k", request_for())
    assert info.value.email == "jane@example.com"


@pytest.mark.parametrize(("status", "cls"), [(400, BadRequestError), (401, AuthenticationError),
                                              (403, PermissionDeniedError)])
def test_client_errors_are_not_retried(sleeps, status, cls):
    client, seen = scripted_client([httpx.Response(status, json={"message": "no"})], sleeps)
    with pytest.raises(cls):
        client.create_provider("k", request_for())
    assert len(seen) == 1 and sleeps == []


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"{not json", b"[]",
                                  b'{"userId": "u", "inviteUrl": "javascript:alert(1)", '
                                  b'"privateRoomLink": "https://x.test/r"}'])
def test_unusable_200_answers_are_an_unknown_outcome_never_resent(sleeps, body):
    client, seen = scripted_client([httpx.Response(200, content=body),
                                    httpx.Response(200, json={"isUserExists": False})], sleeps)
    with pytest.raises(OutcomeUnknownError) as info:
        client.create_provider("k", request_for())
    assert isinstance(info.value.cause, InvalidResponseError)
    assert [r.url.path for r in seen] == ["/users/providers", "/users/check"]  # asked, not resent


def test_unreadable_200_for_a_provider_that_was_created_reports_links_lost(sleeps):
    client, _ = scripted_client([httpx.Response(200, content=b"<html>"),
                                 httpx.Response(200, json={"isUserExists": True, "userId": "u7"}),
                                 httpx.Response(503), httpx.Response(503), httpx.Response(503),
                                 httpx.Response(503)], sleeps)
    result = client.create_provider("k", request_for())
    assert result.links_lost and result.user_id == "u7"


def test_huge_answers_are_not_read_past_the_limit(sleeps):
    client, _ = scripted_client([httpx.Response(200, content=b"x" * 5_000_000),
                                 httpx.Response(200, json={"isUserExists": False})], sleeps)
    with pytest.raises(OutcomeUnknownError) as info:
        client.create_provider("k", request_for())
    assert "larger than expected" in str(info.value.cause)


def test_timeouts_become_api_timeout_error_a_kind_of_connection_error(sleeps):
    client, _ = scripted_client([httpx.ConnectTimeout("slow")] * 5, sleeps)
    with pytest.raises(ApiTimeoutError) as info:
        client.get_provider("k", "u-1")
    assert isinstance(info.value, ApiConnectionError)


def test_key_is_sent_raw_in_the_configured_header():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"isUserExists": False})

    UphealClient("https://api.test/", transport=httpx.MockTransport(handler)).check_user("k1", "a@b.co")
    UphealClient("https://api.test/", transport=httpx.MockTransport(handler), auth_header="X-Api-Key",
                 auth_prefix="Bearer").check_user("k2", "a@b.co")
    assert seen[0].headers["Authorization"] == "k1"
    assert seen[1].headers["X-Api-Key"] == "Bearer k2" and "Authorization" not in seen[1].headers


# -- against the sandbox ---------------------------------------------------------------------------
def test_create_check_and_get_against_the_sandbox_in_process(client, sandbox):
    result = client.create_provider(DEMO_KEY, request_for(partner_user_id="emp-1"))
    provider = result.provider
    assert provider.invite_url.startswith("https://sandbox.invalid/invite/")
    assert provider.private_room_link.startswith("https://sandbox.invalid/room/jane-smith")
    assert client.check_user(DEMO_KEY, "JANE@example.com").user_id == provider.user_id
    assert client.get_provider(DEMO_KEY, "emp-1").email == "jane@example.com"
    assert client.get_provider(DEMO_KEY, provider.user_id).partner_user_id == "emp-1"


def test_client_against_the_sandbox_over_a_real_socket(sandbox_server, sleeps):
    with httpx.Client() as raw:
        assert raw.post(sandbox_server.base_url + "users/check", json={"email": "a@b.co"}
                        ).status_code == 401
    client = UphealClient(sandbox_server.base_url, sleep=sleeps, timeout=5)
    result = client.create_provider(DEMO_KEY, request_for())
    assert result.provider.user_id == client.check_user(DEMO_KEY, "jane@example.com").user_id
    with pytest.raises(AuthenticationError):
        client.check_user("wrong-key", "jane@example.com")
    with pytest.raises(PermissionDeniedError):
        client.create_provider(FORBIDDEN_KEY, request_for(email="x@example.com"))
    client.close()


def test_dropped_connection_over_a_real_socket_is_settled_by_check(sandbox, sandbox_server, sleeps):
    sandbox.faults.lost_response_rate = 1.0
    client = UphealClient(sandbox_server.base_url, sleep=sleeps, timeout=5)
    result = client.create_provider(DEMO_KEY, request_for())
    assert not result.links_lost and len(sandbox.users()) == 1
    assert result.user_id == sandbox.users()[0]["userId"]
    assert result.provider.invite_url == sandbox.users()[0]["inviteUrl"]  # fetched again


def test_server_hang_over_a_real_socket_times_out(sandbox, sandbox_server, sleeps):
    sandbox.faults.timeout_rate = 1.0
    client = UphealClient(sandbox_server.base_url, sleep=sleeps, timeout=0.3,
                          retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ApiTimeoutError):
        client.check_user(DEMO_KEY, "jane@example.com")


def test_200_creates_with_30_percent_lost_responses_make_200_users_and_report_every_link(sleeps):
    sandbox = SandboxApp(rate_per_minute=100_000, faults=Faults(lost_response_rate=0.3), seed=11)
    client = UphealClient("https://sandbox.invalid/api/", transport=SandboxTransport(sandbox),
                          sleep=sleeps)
    results = [client.create_provider(DEMO_KEY, request_for(email=f"p{i}@example.com"))
               for i in range(200)]
    users = {u["email"]: u for u in sandbox.users()}
    assert len(users) == 200 and len(sandbox.users()) == 200  # no duplicates
    fetched_again = [c for c in sandbox.calls if c.method == "GET"]
    assert 30 <= len(fetched_again) <= 90  # the fault really fired
    for i, result in enumerate(results):
        user = users[f"p{i}@example.com"]
        assert result.user_id == user["userId"]  # every outcome accounted for
        # every link is reported exactly, the lost ones fetched again with get-user-by-id
        assert (result.provider.invite_url, result.provider.private_room_link) == (
            user["inviteUrl"], user["privateRoomLink"])


def test_canary_key_never_appears_in_logs_or_error_text(caplog, sleeps):
    canary = "CANARY-4f1d9e-key"
    caplog.set_level(logging.DEBUG)
    sandbox = SandboxApp(faults=Faults(server_error_rate=0.5, lost_response_rate=0.5), seed=3)
    client = UphealClient("https://sandbox.invalid/api/", transport=SandboxTransport(sandbox),
                          sleep=sleeps)
    texts = []
    for _ in range(5):
        for call in (lambda: client.check_user(canary, "a@b.co"),
                     lambda: client.create_provider(canary, request_for()),
                     lambda: client.get_provider(canary, "x")):
            try:
                call()
            except ApiError as exc:
                texts += [str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)]
    texts.append(repr(client))
    assert texts and canary not in "\n".join(texts)
    assert caplog.records and canary not in caplog.text
    assert all(c.key_name != canary for c in sandbox.calls)


def test_clients_share_one_tls_context_that_verifies_certificates():
    """A job run makes a client of its own; the TLS context (the CA bundle read) is made once
    per process, and it still checks certificates and host names."""
    first = UphealClient("https://api.example.invalid")
    second = first.paced(None)
    contexts = [c._http._transport._pool._ssl_context for c in (first, second)]
    assert contexts[0] is contexts[1]
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
