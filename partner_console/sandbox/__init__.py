"""The built-in fake of Upheal's Partner API (see app.py)."""

from partner_console.sandbox.app import SANDBOX_KEYS, SANDBOX_LINK_HOST, Faults, SandboxApp
from partner_console.sandbox.server import SandboxServer
from partner_console.sandbox.transport import SandboxTransport

__all__ = [
    "SANDBOX_KEYS", "SANDBOX_LINK_HOST", "Faults", "SandboxApp", "SandboxServer",
    "SandboxTransport",
]
