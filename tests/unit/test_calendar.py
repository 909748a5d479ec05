"""The business calendar on real dates: the 2025 and 2026 holidays and adjusted weekends."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.schedule.calendar import BusinessCalendar, CalendarError

CN = dt.timezone(dt.timedelta(hours=8))
CAL = BusinessCalendar()


def local(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=CN)


def due_local(start: dt.datetime, amount: int, unit: str = "working_days") -> dt.datetime:
    return CAL.add(start, amount, unit).at.astimezone(CN)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # Spring Festival 2025: Jan 28 - Feb 4 off; Sunday Jan 26 and Saturday Feb 8 worked.
        (dt.date(2025, 1, 26), True),
        (dt.date(2025, 1, 28), False),
        (dt.date(2025, 2, 4), False),
        (dt.date(2025, 2, 5), True),
        (dt.date(2025, 2, 8), True),
        # National Day and Mid-Autumn 2025: Oct 1-8 off; Sunday Sep 28 and Saturday Oct 11 worked.
        (dt.date(2025, 9, 28), True),
        (dt.date(2025, 10, 1), False),
        (dt.date(2025, 10, 8), False),
        (dt.date(2025, 10, 9), True),
        (dt.date(2025, 10, 11), True),
        # Spring Festival 2026: Feb 15-23 off; Saturdays Feb 14 and Feb 28 worked.
        (dt.date(2026, 2, 14), True),
        (dt.date(2026, 2, 16), False),
        (dt.date(2026, 2, 23), False),
        (dt.date(2026, 2, 24), True),
        (dt.date(2026, 2, 28), True),
        # National Day 2026: Oct 1-7 off; Sunday Sep 20 and Saturday Oct 10 worked.
        (dt.date(2026, 9, 20), True),
        (dt.date(2026, 10, 1), False),
        (dt.date(2026, 10, 7), False),
        (dt.date(2026, 10, 8), True),
        (dt.date(2026, 10, 10), True),
        # An ordinary weekend.
        (dt.date(2026, 11, 28), False),
        (dt.date(2026, 11, 30), True),
    ],
)
def test_official_days(day: dt.date, working: bool) -> None:
    assert CAL.day(day) == (working, True)


def test_working_days_skip_the_national_day_holiday_and_count_the_adjusted_saturday() -> None:
    # Thursday Sep 30 2026, 3 working days: Oct 8 (Thu), Oct 9 (Fri), Oct 10 (adjusted Sat).
    assert due_local(local(2026, 9, 30), 3) == local(2026, 10, 10, 17, 30)


def test_working_days_over_spring_festival_2025() -> None:
    # Monday Jan 27 2025, 2 working days: Feb 5 and Feb 6 (Jan 28 - Feb 4 off).
    assert due_local(local(2025, 1, 27), 2) == local(2025, 2, 6, 17, 30)


def test_adjusted_sunday_counts() -> None:
    # Friday Sep 26 2025: the next working day is the adjusted Sunday Sep 28.
    assert due_local(local(2025, 9, 26, 16), 1) == local(2025, 9, 28, 17, 30)


def test_hours_run_round_the_clock() -> None:
    start = local(2026, 10, 1, 22)
    assert due_local(start, 4, "hours") == local(2026, 10, 2, 2)
    assert due_local(start, 2, "calendar_days") == local(2026, 10, 3, 22)


def test_unofficial_year_is_provisional_not_an_error() -> None:
    due = CAL.add(local(2026, 12, 30), 3, "working_days")
    # Dec 31 (Thu), [Jan 1 2027 fixed holiday], Jan 4 (Mon), Jan 5 (Tue).
    assert due.at.astimezone(CN) == local(2027, 1, 5, 17, 30)
    assert due.provisional
    assert CAL.day(dt.date(2027, 5, 1)) == (False, False)
    assert CAL.day(dt.date(2027, 3, 1)) == (True, False)
    assert not CAL.is_official(2027)


def test_official_year_is_not_provisional() -> None:
    assert not CAL.add(local(2026, 3, 2), 10, "working_days").provisional


def test_local_override_makes_a_year_official() -> None:
    calendar = BusinessCalendar.from_mapping(
        {
            "years": {
                2027: {
                    "holidays": ["2027-01-01", "2027-02-06..2027-02-13"],
                    "workdays": ["2027-02-14"],
                }
            }
        }
    )
    assert calendar.is_official(2027)
    assert calendar.day(dt.date(2027, 2, 8)) == (False, True)
    assert calendar.day(dt.date(2027, 2, 14)) == (True, True)  # an adjusted Sunday
    due = calendar.add(local(2027, 2, 5), 1, "working_days")
    assert not due.provisional
    assert due.at.astimezone(CN) == local(2027, 2, 14, 17, 30)


def test_pause_moves_the_due_time_by_the_working_days_paused() -> None:
    due = local(2026, 11, 20, 17, 30)  # a Friday
    resumed = CAL.resume(due, local(2026, 11, 16), local(2026, 11, 18), "working_days")
    # Paused Mon -> Wed: two working days (Tue, Wed) pass, so due moves to Tue Nov 24.
    assert resumed.at.astimezone(CN) == local(2026, 11, 24, 17, 30)
    hours = CAL.resume(due, local(2026, 11, 16), local(2026, 11, 16, 12), "hours")
    assert hours.at.astimezone(CN) == local(2026, 11, 20, 19, 30)


@pytest.mark.parametrize(
    "config",
    [
        {"timezone": "Mars/Olympus"},
        {"office_hours": {"start": "18:00", "end": "09:00"}},
        {"years": {2027: {"holidays": ["2028-01-01"]}}},
        {"colour": "red"},
    ],
)
def test_bad_configuration(config: dict[str, object]) -> None:
    with pytest.raises(CalendarError):
        BusinessCalendar.from_mapping(config)


def test_naive_start_is_refused() -> None:
    with pytest.raises(CalendarError):
        CAL.add(dt.datetime(2026, 1, 5, 10), 1, "working_days")


@given(st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)), st.integers(1, 40))
def test_working_day_due_is_a_working_day_after_the_start(day: dt.date, amount: int) -> None:
    start = dt.datetime.combine(day, dt.time(11), tzinfo=CN)
    due = CAL.add(start, amount, "working_days")
    due_day = due.at.astimezone(CN).date()
    assert due_day > day
    assert CAL.is_working_day(due_day)
    assert CAL.working_days_between(start, due.at) == amount


def test_before_counts_working_days_backwards() -> None:
    # One working day before Thu Oct 8 2026 (after the Oct 1-7 holiday) is Wed Sep 30.
    due = local(2026, 10, 8, 17, 30)
    assert CAL.before(due, 1, "working_days").at.astimezone(CN) == local(2026, 9, 30, 17, 30)
    assert CAL.before(due, 0, "working_days").at.astimezone(CN) == local(2026, 10, 8, 17, 30)
    assert CAL.before(due, 2, "hours").at.astimezone(CN) == local(2026, 10, 8, 15, 30)
