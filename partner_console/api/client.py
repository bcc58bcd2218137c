"""The Upheal Partner API client.

The key is passed to every call and never kept on the client, so one client (and its connection
pool) can serve every session. Library exceptions are translated at this boundary.

Retry policy (written down, openai `_base_client.py` style):
- 429: wait `Retry-After` (seconds or an HTTP date), capped at `max_retry_after`; without it,
  exponential backoff with jitter. The request was refused, so re-sending is safe for every call.
  The wait is also told to the pacing hook, so every replica using the key holds off.
- 5xx, timeouts and lost connections: check and get are retried with backoff.
- A create is never re-sent while its outcome is unknown:
  - refused before it left (connection refused): sent again after backoff;
  - a 5xx answer: Upheal answered, so /users/check can tell. If the email exists the create
    went through; if not, it is sent again after backoff;
  - a timeout, a dropped connection or a 200 it cannot read: Upheal may still be working on it.
    /users/check is asked once: if the email exists, the create went through; if not (or the
    check fails) `OutcomeUnknownError`, and nothing is sent again until someone settles it
    after a safe wait (creation.py).
  When the create went through but its answer was lost, the links are fetched again with
  get-user-by-id (`recover`); only if that fails too is the result `links_lost`.
"""

from __future__ import annotations

import email.utils
import functools
import json
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from partner_console.api.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InvalidResponseError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
    make_status_error,
)
from partner_console.api.models import (
    PROVIDER_UPDATE_FIELDS,
    CreatedProvider,
    ProviderDetails,
    ProviderRequest,
    UserCheck,
    UserDetails,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_RESPONSE_BYTES = 1_000_000
# Methods and paths (api-contract.md). The facts: POST users/providers (create v2), POST
# users/check, GET users/providers/{id} (get v2), DELETE users/{userId} (deactivate). The
# **assumptions** (the method or path is not in our copy of Upheal's reference) are written
# here and nowhere else:
USER_BY_ID_PATH = "users/{user_id}"  # GET: v1 "get user by id" (the DELETE's resource)
UPDATE_USER = ("PATCH", "users/{user_id}")  # update user by id: names
UPDATE_PROVIDER = ("PATCH", "users/providers/{user_id}")  # update provider v2: four fields
DEACTIVATE_USER = ("DELETE", "users/{user_id}")  # fact
ACTIVATE_USER = ("POST", "users/{user_id}/activate")  # activate user by id: answers 202
# create provider user in an existing organisation (v2), for platforms: the body of create v2
CREATE_IN_ORGANIZATION = "organizations/{org_id}/users/providers"


class Pacing(Protocol):
    """Where every call waits its turn in the key's budget (coordination.KeyPacing)."""

    def before_call(self, api_key: str) -> None: ...

    def rate_limited(self, api_key: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.25

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `attempt` (1-based) when the API gave no hint."""
        base = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return base * (1 - self.jitter * rng())

    def wait_for(self, error: ApiError, attempt: int) -> float:
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return self.backoff(attempt)


@dataclass(frozen=True)
class CreateResult:
    """What a create achieved. `provider` is None only when the links were lost in transit."""

    user_id: str
    provider: CreatedProvider | None
    attempts: int = 1

    @property
    def links_lost(self) -> bool:
        return self.provider is None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: '120' or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client of the process (httpx's own default, SSL_CERT_FILE
    honoured): building one reads the whole CA bundle, about 20 ms of CPU, and each job run
    makes a client of its own."""
    return httpx.create_ssl_context()


@dataclass
class UphealClient:
    base_url: str
    transport: httpx.BaseTransport | None = None
    auth_header: str = "Authorization"
    auth_prefix: str = ""
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    # Every request takes a slot of its key's budget through it (None: unpaced, for tests).
    pacing: Pacing | None = None
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url, transport=self.transport, timeout=self.timeout,
            verify=_tls(),
            headers={"Accept": "application/json", "User-Agent": "partner-console/0.1"},
        )

    def close(self) -> None:
        self._http.close()

    def paced(self, pacing: Pacing | None) -> UphealClient:
        """A copy (its own connections) whose every request takes a slot through `pacing`,
        and whose 429 waits hold the whole key."""
        return replace(self, pacing=pacing)

    # -- public calls ----------------------------------------------------------------------------
    def check_user(self, api_key: str, email_address: str) -> UserCheck:
        return self._with_retries(
            lambda: self._call(api_key, "POST", "users/check", {"email": email_address},
                               UserCheck), api_key)[0]

    def get_provider(self, api_key: str, provider_user_id: str) -> ProviderDetails:
        path = "users/providers/" + httpx.URL(provider_user_id).raw_path.decode()
        return self._with_retries(
            lambda: self._call(api_key, "GET", path, None, ProviderDetails), api_key)[0]

    def get_user(self, api_key: str, user_id: str) -> UserDetails:
        path = USER_BY_ID_PATH.format(user_id=httpx.URL(user_id).raw_path.decode())
        return self._with_retries(
            lambda: self._call(api_key, "GET", path, None, UserDetails), api_key)[0]

    def update_user(self, api_key: str, user_id: str, body: dict[str, Any]) -> UserDetails:
        """Change a user's names (`firstName`, `lastName`); Upheal answers with the user, links
        included. Sending the same values again is harmless, so it is retried like a read."""
        return self._change(api_key, UPDATE_USER, user_id, body, UserDetails)

    def update_provider(self, api_key: str, user_id: str, body: dict[str, Any]
                        ) -> ProviderDetails:
        """Change a provider's note templates, NPI, licence or note identifier (only those)."""
        unknown = set(body) - PROVIDER_UPDATE_FIELDS
        if unknown:
            raise ValueError(f"update-provider takes no {sorted(unknown)}")
        return self._change(api_key, UPDATE_PROVIDER, user_id, body, ProviderDetails)

    def deactivate(self, api_key: str, user_id: str) -> None:
        """Deactivate a user (reversible: `activate`)."""
        self._change(api_key, DEACTIVATE_USER, user_id, None, None)

    def activate(self, api_key: str, user_id: str) -> None:
        """Activate a user deactivated earlier."""
        self._change(api_key, ACTIVATE_USER, user_id, {}, None)

    def _change(self, api_key: str, route: tuple[str, str], user_id: str,
                body: dict[str, Any] | None, model: type[ModelT] | None) -> Any:
        method, template = route
        path = template.format(user_id=httpx.URL(user_id).raw_path.decode())
        return self._with_retries(
            lambda: self._call(api_key, method, path, body, model), api_key)[0]

    def recover(self, api_key: str, user_id: str,
                organization_id: str | None = None) -> CreatedProvider | None:
        """The links of a provider whose create answer was lost, asked again of Upheal; None
        when Upheal cannot give them now."""
        if not user_id:
            return None
        try:
            user = self.get_user(api_key, user_id)
        except ApiError:
            return None
        if not user.invite_url:
            return None
        return CreatedProvider(user_id=user.user_id or user_id, invite_url=user.invite_url,
                               private_room_link=user.private_room_link,
                               organization_id=user.organization_id or organization_id)

    def create_provider(self, api_key: str, request: ProviderRequest,
                        before_send: Callable[[], None] | None = None,
                        organization_id: str | None = None) -> CreateResult:
        """Create once (in `organization_id`, a platform's practice, when given). `before_send`
        runs right before each sending, after the call's slot in the budget is taken (it stamps
        the write-ahead row, and may raise to stop a create that has not left yet)."""
        body = request.to_json()
        path = "users/providers" if not organization_id else CREATE_IN_ORGANIZATION.format(
            org_id=httpx.URL(organization_id).raw_path.decode())
        attempt = 0
        while True:
            attempt += 1
            try:
                created = self._call(api_key, "POST", path, body, CreatedProvider,
                                     before_send)
                return CreateResult(created.user_id, created, attempt)
            except RateLimitError as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                pause = self.retry.wait_for(exc, attempt)
                if self.pacing is not None:
                    self.pacing.rate_limited(api_key, pause)
            except ApiConnectionError as exc:
                if exc.request_sent:
                    return self._after_unknown(api_key, request, exc, attempt)
                if attempt >= self.retry.max_attempts:
                    raise
                pause = self.retry.wait_for(exc, attempt)
            except InvalidResponseError as exc:
                return self._after_unknown(api_key, request, exc, attempt)
            except ServerError as exc:  # Upheal answered: it can tell whether it created
                try:
                    check = self.check_user(api_key, request.email)
                except ApiError as check_error:
                    raise OutcomeUnknownError(request.email, check_error) from exc
                if check.is_user_exists:
                    return self._found(api_key, check, attempt)
                if attempt >= self.retry.max_attempts:
                    raise
                pause = self.retry.wait_for(exc, attempt)
            self.sleep(pause)

    def _after_unknown(self, api_key: str, request: ProviderRequest, cause: ApiError,
                       attempt: int) -> CreateResult:
        """The create may be under way at Upheal: ask once, never send it again from here."""
        try:
            check = self.check_user(api_key, request.email)
        except ApiError as check_error:
            raise OutcomeUnknownError(request.email, check_error) from cause
        if not check.is_user_exists:
            raise OutcomeUnknownError(request.email, cause) from cause
        return self._found(api_key, check, attempt)

    def _found(self, api_key: str, check: UserCheck, attempt: int) -> CreateResult:
        user_id = check.user_id or ""
        return CreateResult(user_id, self.recover(api_key, user_id), attempt)

    # -- plumbing --------------------------------------------------------------------------------
    def _with_retries(self, call: Callable[[], ModelT], api_key: str) -> tuple[ModelT, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except (RateLimitError, ServerError, ApiConnectionError) as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                pause = self.retry.wait_for(exc, attempt)
                if isinstance(exc, RateLimitError) and self.pacing is not None:
                    self.pacing.rate_limited(api_key, pause)
                self.sleep(pause)

    def _headers(self, api_key: str) -> dict[str, str]:
        value = f"{self.auth_prefix} {api_key}" if self.auth_prefix else api_key
        return {self.auth_header: value}

    def _call(
        self, api_key: str, method: str, path: str, body: dict[str, Any] | None,
        model: type[ModelT] | None, before_send: Callable[[], None] | None = None,
    ) -> Any:
        if self.pacing is not None:
            self.pacing.before_call(api_key)
        if before_send is not None:
            before_send()
        try:
            with self._http.stream(method, path, json=body,
                                   headers=self._headers(api_key)) as response:
                status, retry_after = response.status_code, response.headers.get("Retry-After")
                content = _read_limited(response)
        except httpx.ConnectTimeout as exc:  # nothing was sent
            raise ApiTimeoutError("Upheal did not answer in time.", request_sent=False) from exc
        except httpx.ConnectError as exc:  # nothing was sent
            raise ApiConnectionError(f"Could not reach Upheal ({type(exc).__name__}).",
                                     request_sent=False) from exc
        except httpx.TimeoutException as exc:
            raise ApiTimeoutError("Upheal did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise ApiConnectionError(
                f"Could not reach Upheal ({type(exc).__name__})."
            ) from exc
        text = content.decode("utf-8", errors="replace")
        if status >= 400:
            raise make_status_error(status, text, parse_retry_after(retry_after))
        if model is None:  # (an answer with nothing to read: 202 "User activated.", 204)
            return None
        if len(content) > MAX_RESPONSE_BYTES:
            raise InvalidResponseError("Upheal's answer was far larger than expected, so it was "
                                       "not used.")
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidResponseError("Upheal's answer was not in the expected format.") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"]) or "answer"
            raise InvalidResponseError(
                f"Upheal's answer was missing or had unusable values ({fields})."
            ) from None


def _read_limited(response: httpx.Response) -> bytes:
    """The body, read no further than one byte past MAX_RESPONSE_BYTES."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)[:MAX_RESPONSE_BYTES + 1]
