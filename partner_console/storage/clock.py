"""The one clock every stored time is read from: naive UTC (both databases store it as is)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
