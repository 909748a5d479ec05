"""Working days between two moments, counted once per day for a whole report.

A circular counts working days for thousands of items (creation to
sign-for, creation to closure); asking the calendar day by day for each
would cost a calendar lookup per day per item. :class:`DayCounter` keeps a
running count of working days per local date, so each answer is one
subtraction and each date is looked up once, with the calendar's own
meaning: the working days after the start's local day up to the end's.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

from workflow.reports.facts import WorkingDays

__all__ = ["DayCalendar", "DayCounter", "counter_for"]


@runtime_checkable
class DayCalendar(Protocol):
    """A calendar that can say whether a local date is a working day, in its zone."""

    @property
    def zone(self) -> dt.tzinfo:
        """The calendar's time zone."""
        ...

    def is_working_day(self, day: dt.date) -> bool:
        """Tell whether ``day`` is a working day."""
        ...


class DayCounter:
    """Working days between moments, from a cumulative count per date (grown on demand)."""

    def __init__(self, calendar: DayCalendar) -> None:
        self._calendar = calendar
        self._zone = calendar.zone
        self._first: dt.date | None = None
        self._counts: list[int] = []
        """``_counts[k]``: working days in ``(_first, _first + k]``."""

    def _count(self, day: dt.date) -> int:
        if self._first is None:
            self._first, self._counts = day, [0]
        if day < self._first:
            # Grow backwards: shift every count by the working days newly covered.
            earlier = [0]
            cursor = day
            while cursor < self._first:
                cursor += dt.timedelta(days=1)
                earlier.append(earlier[-1] + self._calendar.is_working_day(cursor))
            shift = earlier.pop()
            self._counts = earlier + [c + shift for c in self._counts]
            self._first = day
        index = (day - self._first).days
        while len(self._counts) <= index:
            following = self._first + dt.timedelta(days=len(self._counts))
            self._counts.append(self._counts[-1] + self._calendar.is_working_day(following))
        return self._counts[index]

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Count the working days after ``start``'s local day up to ``end``'s local day."""
        first = start.astimezone(self._zone).date()
        last = end.astimezone(self._zone).date()
        if last <= first:
            return 0
        # The earlier date first: growing backwards shifts every count already kept.
        before = self._count(first)
        return self._count(last) - before


def counter_for(calendar: WorkingDays) -> WorkingDays:
    """Return a :class:`DayCounter` over ``calendar`` when it can give days, else the calendar."""
    if isinstance(calendar, DayCalendar):
        return DayCounter(calendar)
    return calendar
