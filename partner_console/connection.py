"""The client for the configured API: the real one, or the in-process sandbox when none is set."""

from __future__ import annotations

import httpx

from partner_console.api.client import UphealClient
from partner_console.config import Settings
from partner_console.sandbox import SandboxApp, SandboxTransport

SANDBOX_BASE_URL = "https://sandbox.invalid/api/"


def build_client(settings: Settings, sandbox: SandboxApp | None = None,
                 transport: httpx.BaseTransport | None = None) -> UphealClient:
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
