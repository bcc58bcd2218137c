"""The Upheal Partner API, typed: client, errors, models."""

from __future__ import annotations

import httpx

from partner_console.api.client import CreateResult, RetryPolicy, UphealClient
from partner_console.config import Settings
from partner_console.sandbox import SandboxApp, SandboxTransport

SANDBOX_BASE_URL = "https://sandbox.invalid/api/"


def build_client(settings: Settings, sandbox: SandboxApp | None = None,
                 transport: httpx.BaseTransport | None = None) -> UphealClient:
    """The client for these settings: the real API, or the in-process sandbox when none is set."""
    if settings.uses_sandbox:
        return UphealClient(
            SANDBOX_BASE_URL, transport=transport or SandboxTransport(sandbox or SandboxApp()),
            timeout=settings.request_timeout_seconds,
        )
    assert settings.api_base_url is not None
    return UphealClient(
        settings.api_base_url, transport=transport, auth_header=settings.auth_header,
        auth_prefix=settings.auth_prefix, timeout=settings.request_timeout_seconds,
    )


__all__ = ["CreateResult", "RetryPolicy", "UphealClient", "build_client", "SANDBOX_BASE_URL"]
