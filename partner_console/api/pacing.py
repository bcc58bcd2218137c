"""Evenly spaced calls within one process: for tests, benchmarks and single-process tools.

The console itself paces every call through the key's budget shared by all replicas
(storage/coordination.py KeyPacing); this is the same hook (`client.Pacing`) without a database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """At most `per_minute` calls in any minute, evenly spaced, no bursts, in this process."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def before_call(self, api_key: str) -> None:
        self.acquire()

    def rate_limited(self, api_key: str, seconds: float) -> None:
        """Upheal said wait: no worker sends anything for `seconds`."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)
