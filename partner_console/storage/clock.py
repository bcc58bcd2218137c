"""The one clock every stored time is read from: naive UTC (both databases store it as is)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def stored_time(value: datetime | str) -> datetime:
    """A stored time as read back: SQLite's driver gives it as text where it cannot know the
    column's type (an aggregate such as MIN, a raw select)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
