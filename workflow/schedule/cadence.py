"""Cadences of periodic reviews: cron lines and the periods they name.

This is the only module that imports APScheduler's trigger code; the daemon
uses :func:`trigger` to schedule reviews, and the definition checks use
:func:`cron_problem` so a bad cron line is reported where it is written.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["cron_problem", "next_occurrence", "period_label", "previous_occurrence", "trigger"]


def trigger(cron: str, timezone: str) -> CronTrigger:
    """Return an APScheduler trigger for a 5-field cron line in ``timezone``."""
    return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))


def cron_problem(cron: str) -> str | None:
    """Return why a cron line is invalid, or None."""
    if len(cron.split()) != 5:
        return "a cron line has 5 fields: minute hour day month weekday (e.g. '0 9 1 * *')"
    try:
        trigger(cron, "UTC")
    except ValueError as error:
        return f"invalid cron line: {error}"
    return None


def next_occurrence(cron: str, after: dt.datetime, timezone: str) -> dt.datetime:
    """Return the first occurrence strictly after ``after`` (aware, UTC)."""
    fire: dt.datetime | None = trigger(cron, timezone).get_next_fire_time(
        None, after + dt.timedelta(microseconds=1)
    )
    if fire is None:  # pragma: no cover - a 5-field cron line always recurs
        raise ValueError(f"{cron!r} never fires")
    return fire.astimezone(dt.UTC)


def previous_occurrence(cron: str, before: dt.datetime, timezone: str) -> dt.datetime | None:
    """Return the last occurrence at or before ``before`` within the past ~400 days."""
    probe = before - dt.timedelta(days=400)
    last: dt.datetime | None = None
    while True:
        following = next_occurrence(cron, probe, timezone)
        if following > before:
            return last
        last, probe = following, following


def period_label(period: str, moment: dt.datetime, timezone: str) -> str:
    """Name the period containing ``moment``: 2026-11, 2026-Q4, 2026-H2 or 2026."""
    local = moment.astimezone(ZoneInfo(timezone))
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    if period == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if period == "half_year":
        return f"{local.year}-H{1 if local.month <= 6 else 2}"
    return str(local.year)
