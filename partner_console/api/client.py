"""The Upheal Partner API client.

The key is passed to every call and never kept on the client, so one client (and its connection
pool) can serve every session. Library exceptions are translated at this boundary.

Retry policy (written down, openai `_base_client.py` style):
- 429: wait `Retry-After` (seconds or an HTTP date), capped at `max_retry_after`; without it,
  exponential backoff with jitter. The request was refused, so re-sending is safe for every call.
- 5xx, timeouts and lost connections: check and get are retried with backoff.
- A create is never re-sent blindly: after a 5xx, a timeout, a lost connection or a 200 it cannot
  read (Upheal may have created the provider all the same) the client asks
  /users/check whether the email now exists. If it does, the create went through and its answer
  was lost (the invite link cannot be fetched again: `CreateResult.links_lost`). If it does not,
  the create is sent again. If even the check fails, `OutcomeUnknownError`.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

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
from partner_console.api.models import CreatedProvider, ProviderDetails, ProviderRequest, UserCheck

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_RESPONSE_BYTES = 1_000_000


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
    rate_limited_waits: float = 0.0

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


@dataclass
class UphealClient:
    base_url: str
    transport: httpx.BaseTransport | None = None
    auth_header: str = "Authorization"
    auth_prefix: str = ""
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    # Called before each request; the bulk importer paces through it.
    before_request: Callable[[], None] | None = None
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url, transport=self.transport, timeout=self.timeout,
            headers={"Accept": "application/json", "User-Agent": "partner-console/0.1"},
        )

    def close(self) -> None:
        self._http.close()

    # -- public calls ----------------------------------------------------------------------------
    def check_user(self, api_key: str, email_address: str) -> UserCheck:
        return self._with_retries(
            lambda: self._call(api_key, "POST", "users/check", {"email": email_address}, UserCheck)
        )[0]

    def get_provider(self, api_key: str, provider_user_id: str) -> ProviderDetails:
        path = "users/providers/" + httpx.URL(provider_user_id).raw_path.decode()
        return self._with_retries(
            lambda: self._call(api_key, "GET", path, None, ProviderDetails)
        )[0]

    def create_provider(self, api_key: str, request: ProviderRequest) -> CreateResult:
        body = request.to_json()
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                created = self._call(api_key, "POST", "users/providers", body, CreatedProvider)
                return CreateResult(created.user_id, created, attempt, waited)
            except RateLimitError as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                pause = self.retry.wait_for(exc, attempt)
            except (ServerError, ApiConnectionError, InvalidResponseError) as exc:
                # The create may have happened: ask before sending it again.
                try:
                    check = self.check_user(api_key, request.email)
                except ApiError as check_error:
                    raise OutcomeUnknownError(request.email, check_error) from exc
                if check.is_user_exists:
                    return CreateResult(check.user_id or "", None, attempt, waited)
                if attempt >= self.retry.max_attempts or isinstance(exc, InvalidResponseError):
                    raise  # an answer we cannot read is not retried: it would read the same
                pause = self.retry.wait_for(exc, attempt)
            waited += pause
            self.sleep(pause)

    # -- plumbing --------------------------------------------------------------------------------
    def _with_retries(self, call: Callable[[], ModelT]) -> tuple[ModelT, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except (RateLimitError, ServerError, ApiConnectionError) as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                self.sleep(self.retry.wait_for(exc, attempt))

    def _headers(self, api_key: str) -> dict[str, str]:
        value = f"{self.auth_prefix} {api_key}" if self.auth_prefix else api_key
        return {self.auth_header: value}

    def _call(
        self, api_key: str, method: str, path: str, body: dict[str, Any] | None,
        model: type[ModelT],
    ) -> ModelT:
        if self.before_request is not None:
            self.before_request()
        try:
            with self._http.stream(method, path, json=body,
                                   headers=self._headers(api_key)) as response:
                status, retry_after = response.status_code, response.headers.get("Retry-After")
                content = _read_limited(response)
        except httpx.TimeoutException as exc:
            raise ApiTimeoutError("Upheal did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise ApiConnectionError(
                f"Could not reach Upheal ({type(exc).__name__})."
            ) from exc
        text = content.decode("utf-8", errors="replace")
        if status >= 400:
            raise make_status_error(status, text, parse_retry_after(retry_after))
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
