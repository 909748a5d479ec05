"""Business calendars: working days under the Chinese statutory holidays.

Official holiday data comes from the maintained ``chinesecalendar`` package
(the State Council's notices, including the adjusted working weekends, 調休)
plus local overrides an office keeps in YAML, so next year's notice can be
entered the day it is published, before any library release has it.

A year with no official data is never an error and never silently guessed:
days there are judged on a *provisional* calendar (weekends plus the
fixed-date statutory days every year has) and every deadline computed over
such a day is marked provisional, so it can be recomputed when the official
schedule arrives.

Deadline semantics (documented in docs/operations.md):

* ``working_days``: due at the end of office hours on the Nth working day
  after the day the clock started (the start day itself does not count);
* ``calendar_days``: due N times 24 hours after the start;
* ``hours``: due N hours after the start, round the clock (urgent matters).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from workflow.definition.yamlsource import read_yaml
from workflow.errors import WorkflowError
from workflow.schedule.cadence import next_occurrence, period_label

__all__ = [
    "FIXED_STATUTORY_DAYS",
    "BusinessCalendar",
    "CalendarError",
    "Due",
    "YearOverride",
]

FIXED_STATUTORY_DAYS = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))
"""Month/day holidays every year has under the statutory rules (New Year, Labour Day,
National Day); the lunar ones move and so are not assumed for a provisional year."""

_MAX_SCAN_DAYS = 3660


class CalendarError(WorkflowError):
    """A calendar configuration is invalid."""


@dataclass(frozen=True)
class Due:
    """A computed due time; ``provisional`` when it relied on a non-official year."""

    at: dt.datetime
    provisional: bool


@functools.lru_cache(maxsize=8192)
def _library_workday(day: dt.date) -> bool:
    # The library's tables are fixed for the process, and asking it is slow (it
    # validates every date): a year's deadlines ask about the same days again
    # and again. 8,192 days are twenty years.
    return bool(chinese_calendar.is_workday(day))


@dataclass(frozen=True)
class YearOverride:
    """A year's holidays and adjusted working days as an office entered them."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    official: bool = True


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and office hours in one time zone."""

    timezone: str = "Asia/Shanghai"
    office_start: dt.time = dt.time(9, 0)
    office_end: dt.time = dt.time(17, 30)
    overrides: Mapping[int, YearOverride] = field(default_factory=dict)
    use_library: bool = True

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except Exception as error:  # ZoneInfo raises several types for bad names
            raise CalendarError(f"unknown time zone {self.timezone!r}") from error
        if self.office_start >= self.office_end:
            raise CalendarError("office hours must start before they end")

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)

    # -- days ----------------------------------------------------------------------

    def is_official(self, year: int) -> bool:
        """Tell whether official holiday data exists for ``year``."""
        override = self.overrides.get(year)
        if override is not None and override.official:
            return True
        return self.use_library and _library_knows(year)

    def official_years(self) -> tuple[int, ...]:
        """Return the years with official data (library and overrides)."""
        years = {y for y, o in self.overrides.items() if o.official}
        if self.use_library:
            years.update(range(_LIBRARY_FIRST, _LIBRARY_LAST + 1))
        return tuple(sorted(years))

    def is_working_day(self, day: dt.date) -> bool:
        """Tell whether ``day`` is a working day (provisionally, for unofficial years)."""
        return self.day(day)[0]

    def day(self, day: dt.date) -> tuple[bool, bool]:
        """Return ``(is_working_day, official)`` for a date."""
        override = self.overrides.get(day.year)
        if override is not None:
            if day in override.workdays:
                return True, True
            if day in override.holidays:
                return False, True
        if self.use_library and _library_knows(day.year):
            return _library_workday(day), True
        if override is not None and override.official:
            return day.weekday() < 5, True
        statutory = (day.month, day.day) in FIXED_STATUTORY_DAYS
        return day.weekday() < 5 and not statutory, False

    def holiday_name(self, day: dt.date) -> str | None:
        """Name the statutory holiday a day belongs to (an adjusted working day's too)."""
        if not (self.use_library and _library_knows(day.year)):
            return None
        _, name = chinese_calendar.get_holiday_detail(day)
        return str(name) if name else None

    # -- deadlines ---------------------------------------------------------------

    def add(self, start: dt.datetime, amount: int, unit: str) -> Due:
        """Return when ``amount`` ``unit`` after ``start`` falls due."""
        if start.tzinfo is None:
            raise CalendarError("deadlines need a timezone-aware start time")
        if unit == "hours":
            return Due(start + dt.timedelta(hours=amount), False)
        if unit == "calendar_days":
            return Due(start + dt.timedelta(days=amount), False)
        if unit != "working_days":
            raise CalendarError(f"unknown deadline unit {unit!r}")
        local = start.astimezone(self.zone).date()
        provisional = False
        counted = 0
        day = local
        for _ in range(_MAX_SCAN_DAYS):
            day += dt.timedelta(days=1)
            working, official = self.day(day)
            provisional = provisional or not official
            if working:
                counted += 1
                if counted >= amount:
                    end = dt.datetime.combine(day, self.office_end, tzinfo=self.zone)
                    return Due(end.astimezone(dt.UTC), provisional)
        raise CalendarError(f"no {amount} working days within ten years of {local}")

    def before(self, moment: dt.datetime, amount: int, unit: str) -> Due:
        """Return the time ``amount`` ``unit`` before ``moment`` (for warnings before a due time).

        For working days this is the end of office hours on the Nth working day
        before ``moment``'s local day.
        """
        if unit == "hours":
            return Due(moment - dt.timedelta(hours=amount), False)
        if unit == "calendar_days":
            return Due(moment - dt.timedelta(days=amount), False)
        day = moment.astimezone(self.zone).date()
        provisional = False
        counted = 0
        for _ in range(_MAX_SCAN_DAYS):
            if counted >= amount:
                end = dt.datetime.combine(day, self.office_end, tzinfo=self.zone)
                return Due(end.astimezone(dt.UTC), provisional)
            day -= dt.timedelta(days=1)
            working, official = self.day(day)
            provisional = provisional or not official
            if working:
                counted += 1
        raise CalendarError(f"no {amount} working days within ten years before {day}")

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Count the working days after ``start``'s local day up to ``end``'s local day."""
        first = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        count = 0
        day = first
        while day < last:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def resume(
        self, due: dt.datetime, paused_at: dt.datetime, resumed_at: dt.datetime, unit: str
    ) -> Due:
        """Move a due time for a pause: the clock resumes where it stopped.

        Hours and calendar days shift by the elapsed time; working-day
        deadlines shift by the working days that passed while paused.
        """
        if resumed_at <= paused_at:
            return Due(due, False)
        if unit in ("hours", "calendar_days"):
            return Due(due + (resumed_at - paused_at), False)
        skipped = self.working_days_between(paused_at, resumed_at)
        if skipped == 0:
            return Due(due, False)
        return self.add(due, skipped, "working_days")

    def next_period(self, cron: str, period: str, after: dt.datetime) -> str:
        """Name the period of the first meeting (``cron``) after ``after``, in this zone."""
        meeting = next_occurrence(cron, after, self.timezone)
        return period_label(period, meeting, self.timezone)

    # -- configuration -----------------------------------------------------------

    @classmethod
    def from_file(cls, path: str) -> BusinessCalendar:
        """Load a calendar from its YAML file (read safely, with the definitions' limits)."""
        return _from_file(path)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from its YAML form (see ``definitions/_calendar/china.yaml``)."""
        known = {"timezone", "office_hours", "years", "use_library"}
        unknown = set(data) - known
        if unknown:
            raise CalendarError(
                f"calendar: unknown keys {sorted(unknown)} (expected {sorted(known)})"
            )
        hours = data.get("office_hours") or {}
        years: dict[int, YearOverride] = {}
        for year, spec in (data.get("years") or {}).items():
            try:
                number = int(year)
            except ValueError as error:
                raise CalendarError(f"calendar: {year!r} is not a year") from error
            entry = spec or {}
            years[number] = YearOverride(
                holidays=frozenset(_dates(entry.get("holidays", ()), number, "holidays")),
                workdays=frozenset(_dates(entry.get("workdays", ()), number, "workdays")),
                official=bool(entry.get("official", True)),
            )
        return cls(
            timezone=str(data.get("timezone", "Asia/Shanghai")),
            office_start=_time(hours.get("start", "09:00")),
            office_end=_time(hours.get("end", "17:30")),
            overrides=years,
            use_library=bool(data.get("use_library", True)),
        )


def _from_file(path: str) -> BusinessCalendar:
    document = read_yaml(path)
    if not isinstance(document.data, dict):
        raise CalendarError(f"{path}: a calendar file must be a mapping")
    try:
        return BusinessCalendar.from_mapping(document.data)
    except CalendarError as error:
        raise CalendarError(f"{path}: {error}") from None


def _time(text: object) -> dt.time:
    try:
        return dt.time.fromisoformat(str(text))
    except ValueError as error:
        raise CalendarError(f"calendar: {text!r} is not a time (HH:MM)") from error


def _dates(values: Iterable[object], year: int, what: str) -> list[dt.date]:
    """Parse ``2027-02-06`` or a range ``2027-02-06..2027-02-13``."""
    found: list[dt.date] = []
    for value in values:
        text = str(value)
        first, _, last = text.partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if last else start
        except ValueError as error:
            raise CalendarError(
                f"calendar: {text!r} in {year}.{what} is not a date or range"
            ) from error
        if start.year != year or end.year != year or end < start:
            raise CalendarError(f"calendar: {text!r} is not within {year}")
        day = start
        while day <= end:
            found.append(day)
            day += dt.timedelta(days=1)
    return found


def _library_years() -> tuple[int, int]:
    years = [d.year for d in chinese_calendar.constants.holidays]
    return min(years), max(years)


_LIBRARY_FIRST, _LIBRARY_LAST = _library_years()


def _library_knows(year: int) -> bool:
    return _LIBRARY_FIRST <= year <= _LIBRARY_LAST
