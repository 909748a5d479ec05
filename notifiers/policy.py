"""When to send: quiet hours, the daily digest time, and the retry backoff.

These are parts of the notifier configuration (see :mod:`notifiers.config`,
which re-exports them) that hold behaviour the dispatcher relies on, kept
here so that they can be tested on their own with plain datetimes.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflow.errors import WorkflowError

__all__ = ["DeliveryPolicy", "DigestSpec", "QuietHours", "parse_clock"]

_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_MAX_QUIET_DAYS = 400
"""Quiet that lasts longer than this means the calendar or the hours are wrong."""


def parse_clock(value: Any) -> Any:
    """Turn ``"HH:MM"`` (24-hour) into a :class:`datetime.time`; leave times as they are."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        found = _CLOCK.match(value.strip())
        if found:
            return dt.time(int(found[1]), int(found[2]))
    raise ValueError('expected a time of day written "HH:MM" (24-hour clock), e.g. "08:30"')


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DigestSpec(_Model):
    """Digest mode: hold a recipient's messages and send one summary a day at ``at``."""

    at: dt.time
    """Local time of day (the calendar's zone) at which the digest is sent."""

    @field_validator("at", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        return parse_clock(value)


class QuietHours(_Model):
    """Hours (and optionally whole non-working days) when only urgent messages go out.

    ``start``/``end`` are local times; a window whose ``start`` is later than
    its ``end`` runs over midnight (``20:00``-``08:00``). With
    ``non_working_days`` the whole of every non-working day (weekends,
    public holidays, as the business calendar says) is quiet too.
    """

    start: dt.time | None = None
    end: dt.time | None = None
    non_working_days: bool = False

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clocks(cls, value: Any) -> Any:
        return None if value is None else parse_clock(value)

    @model_validator(mode="after")
    def _complete(self) -> QuietHours:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both 'start' and 'end', or neither")
        if self.start is not None and self.start == self.end:
            raise ValueError("'start' and 'end' are equal: the quiet window would be empty")
        if self.start is None and not self.non_working_days:
            raise ValueError("quiet hours need 'start' and 'end', or 'non_working_days: true'")
        return self

    def _in_window(self, moment: dt.datetime) -> bool:
        if self.start is None or self.end is None:
            return False
        now = moment.time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def is_quiet(self, moment: dt.datetime, is_working_day: Callable[[dt.date], bool]) -> bool:
        """Tell whether ``moment`` (a local datetime) falls in quiet time."""
        if self.non_working_days and not is_working_day(moment.date()):
            return True
        return self._in_window(moment)

    def quiet_until(
        self, moment: dt.datetime, is_working_day: Callable[[dt.date], bool]
    ) -> dt.datetime | None:
        """Return when the quiet time around ``moment`` ends, or None if ``moment`` is not quiet.

        The result is the first local moment at or after ``moment`` that is
        not quiet, following the window across midnight and over consecutive
        non-working days (a Friday-night message waits for Monday morning's
        ``end``). It keeps ``moment``'s tzinfo.
        """
        zone = moment.tzinfo
        current = moment
        for _ in range(2 * _MAX_QUIET_DAYS):
            day = current.date()
            if self.non_working_days and not is_working_day(day):
                current = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
                continue
            if self._in_window(current) and self.end is not None:
                end = dt.datetime.combine(day, self.end, zone)
                if end <= current:
                    end += dt.timedelta(days=1)
                current = end
                continue
            return None if current == moment else current
        raise WorkflowError(
            f"quiet hours starting {moment.isoformat()} do not end within {_MAX_QUIET_DAYS} days: "
            "the business calendar has no working day"
        )


class DeliveryPolicy(_Model):
    """Retries and claims: how often, how long apart, and how long a claim holds."""

    max_attempts: int = Field(8, ge=1, le=100)
    """Attempts before a message is moved to the dead letters."""
    initial_backoff: float = Field(30.0, gt=0)
    """Seconds to wait after the first failure."""
    backoff_factor: float = Field(2.0, ge=1)
    """Each further failure multiplies the wait by this."""
    max_backoff: float = Field(3600.0, gt=0)
    """The wait never exceeds this many seconds."""
    jitter: float = Field(0.2, ge=0, le=1)
    """Up to this fraction of each wait is taken off at random, so that many
    messages failing together do not all come back at the same instant."""
    lease: float = Field(60.0, gt=0)
    """Seconds a dispatcher's claim on a message lasts; after that another may send it."""

    @model_validator(mode="after")
    def _ordered(self) -> DeliveryPolicy:
        if self.max_backoff < self.initial_backoff:
            raise ValueError("'max_backoff' must be at least 'initial_backoff'")
        return self

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Return the seconds to wait after failed attempt number ``attempt`` (1-based).

        ``initial_backoff * backoff_factor ** (attempt - 1)``, capped at
        ``max_backoff``, less a random part of up to ``jitter`` of it.
        ``rand`` returns a float in [0, 1): pass a fixed one in tests.
        """
        exponent = max(attempt, 1) - 1
        try:
            wait = min(self.max_backoff, self.initial_backoff * self.backoff_factor**exponent)
        except OverflowError:
            wait = self.max_backoff
        return wait * (1.0 - self.jitter * min(max(rand(), 0.0), 1.0))
