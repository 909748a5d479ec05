"""Report periods: a month, a quarter, a half-year or a year, named as people name them.

``2026-11``, ``2026-Q3``, ``2026-H2`` and ``2026`` are read in the business
calendar's time zone: November 2026 runs from 1 November 00:00 to 1 December
00:00 in Shanghai, whatever the server's zone. A period is half-open (its
start belongs to it, its end does not), so consecutive periods never share
a moment.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from workflow.reports.errors import BadReportPeriod

__all__ = ["Period", "PeriodKind", "parse_period"]

PeriodKind = Literal["month", "quarter", "half_year", "year"]

_FORMS: tuple[tuple[re.Pattern[str], PeriodKind], ...] = (
    (re.compile(r"(\d{4})-(0[1-9]|1[0-2])"), "month"),
    (re.compile(r"(\d{4})-Q([1-4])"), "quarter"),
    (re.compile(r"(\d{4})-H([12])"), "half_year"),
    (re.compile(r"(\d{4})"), "year"),
)
_MONTHS: dict[PeriodKind, int] = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


@dataclass(frozen=True)
class Period:
    """One calendar period in one time zone: ``[start, end)``."""

    kind: PeriodKind
    year: int
    first_month: int
    """The month the period starts in (1-12)."""
    timezone: str

    @property
    def label(self) -> str:
        """The period's name: ``2026-11``, ``2026-Q3``, ``2026-H2`` or ``2026``."""
        if self.kind == "month":
            return f"{self.year}-{self.first_month:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{(self.first_month - 1) // 3 + 1}"
        if self.kind == "half_year":
            return f"{self.year}-H{(self.first_month - 1) // 6 + 1}"
        return str(self.year)

    @property
    def start(self) -> dt.datetime:
        """The period's first moment (aware, UTC)."""
        return _month_start(self.year, self.first_month, self.timezone)

    @property
    def end(self) -> dt.datetime:
        """The first moment after the period (aware, UTC)."""
        months = self.year * 12 + self.first_month - 1 + _MONTHS[self.kind]
        return _month_start(months // 12, months % 12 + 1, self.timezone)

    def previous(self) -> Period:
        """Return the period of the same kind just before this one."""
        months = self.year * 12 + self.first_month - 1 - _MONTHS[self.kind]
        return Period(self.kind, months // 12, months % 12 + 1, self.timezone)

    def contains(self, moment: dt.datetime) -> bool:
        """Tell whether ``moment`` falls in the period."""
        return self.start <= moment < self.end

    def quarters(self) -> tuple[str, ...]:
        """Name the quarters the period covers (a month lies inside one quarter)."""
        first = (self.first_month - 1) // 3
        count = max(1, _MONTHS[self.kind] // 3)
        return tuple(f"{self.year}-Q{q + 1}" for q in range(first, first + count))


def parse_period(text: str, timezone: str) -> Period:
    """Read ``2026-11``, ``2026-Q3``, ``2026-H2`` or ``2026``; raise BadReportPeriod otherwise."""
    cleaned = text.strip()
    for pattern, kind in _FORMS:
        match = pattern.fullmatch(cleaned)
        if match is None:
            continue
        year = int(match.group(1))
        number = int(match.group(2)) if match.lastindex and match.lastindex > 1 else 1
        first = {"month": number, "quarter": 3 * number - 2, "half_year": 6 * number - 5}
        return Period(kind, year, first.get(kind, 1), timezone)
    raise BadReportPeriod(
        f"period {text!r}: name a month (2026-11), a quarter (2026-Q3), "
        "a half-year (2026-H2) or a year (2026)"
    )


def _month_start(year: int, month: int, timezone: str) -> dt.datetime:
    local = dt.datetime(year, month, 1, tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC)
