"""Stored UTC times in a person's zone: LocalTimes (an export's many times at once) gives
exactly what local() gives, one time at a time, across clock changes in zones that change at
odd minutes and by half hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones
from zoneinfo._zoneinfo import ZoneInfo as PureZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from partner_console.when import LocalTimes, local

ZONES = ["UTC", "Europe/Prague", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/St_Johns", "Pacific/Chatham", "Africa/Casablanca"]
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1))


@settings(max_examples=300)
@given(zone=st.sampled_from(ZONES), times=st.lists(moments, min_size=1, max_size=40),
       as_text=st.booleans())
def test_many_times_at_once_are_each_what_one_at_a_time_gives(zone, times, as_text):
    convert = LocalTimes(ZoneInfo(zone))
    for moment in times:
        stored = moment.isoformat(sep=" ") if as_text else moment  # (SQLite's, PostgreSQL's)
        assert convert(stored) == local(stored, ZoneInfo(zone)), (zone, stored)


def test_every_minute_around_clock_changes_on_days_that_share_an_offset_lookup():
    for zone, change in (("Europe/Prague", datetime(2026, 3, 29, 1, 0)),
                         ("Europe/Prague", datetime(2026, 10, 25, 1, 0)),
                         ("Australia/Lord_Howe", datetime(2026, 4, 4, 14, 30)),
                         ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30))):
        convert = LocalTimes(ZoneInfo(zone))
        for minute in range(-90, 91):
            stored = change + timedelta(minutes=minute, seconds=7)
            expected = stored.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
            assert convert(stored) == expected, (zone, stored)
            assert convert(stored.isoformat(sep=" ")) == expected


def test_no_zone_changes_its_offset_twice_within_a_day():
    """LocalTimes' premise, checked against the installed time zone data: since 1900 any two
    changes of one zone are more than a day apart (the pure-Python zoneinfo lists them)."""
    since_1900 = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())
    closest = min(
        (later - earlier, name)
        for name in available_timezones()
        for earlier, later in pairwise(PureZoneInfo.no_cache(name)._trans_utc)
        if earlier >= since_1900)
    assert closest[0] > 24 * 3600, closest
