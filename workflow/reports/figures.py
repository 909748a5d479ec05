"""The circular's figures for one group of items over one period.

Each figure counts events that happened in the period ``[start, end)``:

* **received**: items created in the period;
* **closed**: items that reached a closure state in the period;
* **closed on time**: of those, the ones whose every unit deadline ended by
  its due time; the **on-time rate** is closed on time / closed;
* **working days to sign-for**: for each first sign-for in the period, the
  working days from the item's creation to it (median and 90th percentile);
* **working days to closure**: for each closure in the period, the working
  days from creation to closure (median and 90th percentile);
* **reopen rate**: closed items that had been reopened at least once / closed;
* **satisfaction rate**: revisits recorded in the period with a satisfied
  verdict / revisits recorded in the period;
* **overdue by level**: items on which a level at or after the due time
  (``after:`` levels of the ladder) fired in the period, per level;
* **prompt sign-for rate** (the assessment's): first sign-fors in the period
  within ``sign_for_within`` working days of creation / first sign-fors.

Working days are counted by the business calendar: the days after the
start's local day up to the end's local day that are working days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from workflow.definition.compiled import Definition
from workflow.reports.facts import ItemFacts, WorkingDays, median, p90, ratio
from workflow.reports.periods import Period

__all__ = ["GroupFigures", "figures", "overdue_levels"]


@dataclass(frozen=True)
class GroupFigures:
    """The figures of one group (or of everyone) for one period."""

    received: int
    closed: int
    closed_on_time: int
    on_time_rate: float | None
    sign_for_median: float | None
    sign_for_p90: int | None
    closure_median: float | None
    closure_p90: int | None
    reopened: int
    reopen_rate: float | None
    revisits: int
    satisfied: int
    satisfaction_rate: float | None
    overdue: tuple[int, ...]
    """Per overdue level (in :func:`overdue_levels` order), items that reached it."""
    sign_fors: int
    prompt_sign_fors: int
    prompt_sign_for_rate: float | None

    @property
    def active(self) -> bool:
        """Whether anything the figures count happened in the period."""
        return bool(self.received or self.closed or self.sign_fors or self.revisits) or any(
            self.overdue
        )


def overdue_levels(definition: Definition | None) -> tuple[str, ...]:
    """Return the ladder levels at or after the due time (``after:``), in ladder order."""
    if definition is None:
        return ()
    ladders = [definition.spec.escalation]
    ladders += [state.escalation for state in definition.states.values()]
    found: list[str] = []
    for ladder in ladders:
        for level in ladder.levels if ladder is not None else ():
            if level.after is not None and level.name not in found:
                found.append(level.name)
    return tuple(found)


def figures(
    facts: Sequence[ItemFacts],
    period: Period,
    calendar: WorkingDays,
    levels: Sequence[str],
    sign_for_within: int = 1,
) -> GroupFigures:
    """Compute the figures of ``facts`` for ``period``."""
    start, end = period.start, period.end

    def inside(moment: dt.datetime | None) -> bool:
        return moment is not None and start <= moment < end

    received = [f for f in facts if inside(f.received_at)]
    closed = [f for f in facts if inside(f.closed_at)]
    on_time = [f for f in closed if f.on_time]
    reopened = [f for f in closed if f.reopens]
    sign_days = [
        calendar.working_days_between(f.received_at, f.signed_for_at)
        for f in facts
        if f.signed_for_at is not None and inside(f.signed_for_at)
    ]
    closure_days = [
        calendar.working_days_between(f.received_at, f.closed_at)
        for f in closed
        if f.closed_at is not None
    ]
    verdicts = [ok for f in facts for at, ok in f.revisits if inside(at)]
    satisfied = sum(verdicts)
    overdue = tuple(
        sum(1 for f in facts if any(name == level and inside(at) for at, name in f.levels))
        for level in levels
    )
    prompt = sum(1 for days in sign_days if days <= sign_for_within)
    return GroupFigures(
        received=len(received),
        closed=len(closed),
        closed_on_time=len(on_time),
        on_time_rate=ratio(len(on_time), len(closed)),
        sign_for_median=median(sign_days),
        sign_for_p90=p90(sign_days),
        closure_median=median(closure_days),
        closure_p90=p90(closure_days),
        reopened=len(reopened),
        reopen_rate=ratio(len(reopened), len(closed)),
        revisits=len(verdicts),
        satisfied=satisfied,
        satisfaction_rate=ratio(satisfied, len(verdicts)),
        overdue=overdue,
        sign_fors=len(sign_days),
        prompt_sign_fors=prompt,
        prompt_sign_for_rate=ratio(prompt, len(sign_days)),
    )
