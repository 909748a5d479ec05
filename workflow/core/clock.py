"""Clocks: the system's, and a controllable one for tests and simulations."""

from __future__ import annotations

import datetime as dt
import threading

__all__ = ["ManualClock", "SystemClock"]


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> dt.datetime:
        """Return the current UTC time."""
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that only moves when told to; nothing ever sleeps on it."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        moment = start or dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = moment
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        if delta < dt.timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: dt.datetime) -> None:
        """Jump to ``moment`` (not earlier than now)."""
        with self._lock:
            if moment < self._now:
                raise ValueError("a clock does not go backwards")
            self._now = moment
