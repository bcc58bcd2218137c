"""Stored times (naive UTC) shown in the person's own time zone.

The browser tells Streamlit its IANA zone (`st.context.timezone`); where none is known (a test
harness, an old browser) times are shown in UTC and say so.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import get_timezone_location

SHOWN = "%Y-%m-%d %H:%M"  # sorts as text, and reads the same everywhere


def zone_named(name: str | None) -> tzinfo:
    """The zone called `name`, or UTC when there is none or it is unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def zone_label(zone: tzinfo) -> str:
    """The zone in staff's words: 'Los Angeles time', 'Prague time', or 'UTC' (a column header
    or a line says "Created (Los Angeles time)", never "America/Los_Angeles")."""
    key = getattr(zone, "key", None)
    if not key:
        return "UTC"
    try:
        city = get_timezone_location(key, locale="en", return_city=True)
    except (LookupError, ValueError):  # (a zone babel does not know: its own name)
        return key
    if city.startswith(("UTC", "GMT")):  # (Etc/GMT+5 is five hours behind: keep its name)
        return "UTC" if city in ("UTC", "GMT") else key
    return f"{city} time"


def local(stored: datetime | str, zone: tzinfo) -> datetime:
    """A stored time (naive UTC, or its ISO text as SQLite's driver returns it) as a naive
    wall-clock time in `zone`."""
    moment = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
    return moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


class LocalTimes:
    """`local(stored, zone)` for many stored times at once (an export's), quickly: the zone's
    offset is looked up once per UTC day and added. A day whose offset differs at its two ends
    holds a clock change, and its times are converted exactly, one by one. (No zone changes its
    offset twice within a day: since 1900 the closest two changes of any zone are four days
    apart, a fact tests/test_when.py checks against the installed time zone data.)"""

    _EXACT = object()

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._offsets: dict[object, object] = {}

    def __call__(self, stored: datetime | str) -> datetime:
        day: object
        if isinstance(stored, str):
            moment, day = datetime.fromisoformat(stored), stored[:10]
        else:
            moment, day = stored, stored.toordinal()
        offset = self._offsets.get(day)
        if offset is None:
            offset = self._offsets[day] = self._offset_on(moment)
        if offset is self._EXACT:
            return local(moment, self.zone)
        return moment + offset  # type: ignore[operator]

    def _offset_on(self, moment: datetime) -> object:
        start = datetime.combine(moment.date(), time(), UTC)
        first = start.astimezone(self.zone).utcoffset()
        last = (start + timedelta(days=1, microseconds=-1)).astimezone(self.zone).utcoffset()
        return first if first == last else self._EXACT


def shown(stored: datetime, zone: tzinfo, fmt: str = SHOWN) -> str:
    return local(stored, zone).strftime(fmt)


def invited_before(days: int, now: datetime, zone: tzinfo) -> datetime:
    """The start, in naive UTC, of the person's own day `days - 1` days ago: whoever was
    invited before it was invited `days` or more calendar days ago by the person's calendar
    (with 3, on a Thursday: on Monday or earlier)."""
    local_today = now.replace(tzinfo=UTC).astimezone(zone).date()
    start = datetime.combine(local_today - timedelta(days=days - 1), time(), tzinfo=zone)
    return start.astimezone(UTC).replace(tzinfo=None)


def in_minutes(minutes: float) -> str:
    """How long something takes, as staff say it: 'under a minute', 'about 3 minutes'."""
    if minutes < 1:
        return "under a minute"
    return f"about {minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"
