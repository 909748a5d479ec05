"""What the history says about each item: received, signed for, closed, reopened, rated.

Every figure of the circular and the assessment is a count or a statistic
over these facts, and every fact is read from history, deadline and
escalation rows (never from counters kept in item data), by the workflow's
:class:`~workflow.reports.rules.ReportRules`.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from workflow.reports.query import ItemRow, ReportRows
from workflow.reports.rules import ReportRules

__all__ = ["ItemFacts", "WorkingDays", "item_facts", "median", "p90", "ratio"]


@runtime_checkable
class WorkingDays(Protocol):
    """The part of the business calendar the reports use."""

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Count the working days after ``start``'s local day up to ``end``'s local day."""
        ...


@dataclass(frozen=True)
class ItemFacts:
    """The facts about one item the figures are made of."""

    item: ItemRow
    received_at: dt.datetime
    signed_for_at: dt.datetime | None
    """The first sign-for by a unit."""
    closed_at: dt.datetime | None
    """When it reached a closure state (None if it did not, or not before the report's moment)."""
    on_time: bool | None
    """For a closed item: every deadline of the on-time scopes ended by its due time."""
    reopens: tuple[dt.datetime, ...]
    revisits: tuple[tuple[dt.datetime, bool], ...]
    """Each revisit: when, and whether the verdict counts as satisfied."""
    levels: tuple[tuple[dt.datetime, str], ...]
    """Each ladder level fired: when, and which."""


def item_facts(rows: ReportRows, rules: ReportRules) -> list[ItemFacts]:
    """Return the facts of each item of ``rows``."""
    steps = defaultdict(list)
    for step in rows.history:
        steps[step.item_id].append(step)
    timers = defaultdict(list)
    for timer in rows.timers:
        timers[timer.item_id].append(timer)
    levels = defaultdict(list)
    for escalation in rows.escalations:
        levels[escalation.item_id].append((escalation.at, escalation.level))
    found = []
    for item in rows.items:
        history = steps[item.id]
        signed = [s.at for s in history if s.event in rules.sign_for_events]
        closures = [s.at for s in history if s.to_state in rules.closed_states]
        closed_at = closures[-1] if closures and item.state in rules.closed_states else None
        on_time = None
        if closed_at is not None:
            on_time = all(
                t.ended_at is not None and t.ended_at <= t.due_at
                for t in timers[item.id]
                if t.scope in rules.on_time_scopes
            )
        revisits = []
        for step in history:
            if step.event == rules.revisit_event:
                verdict = (step.input or {}).get(rules.satisfaction_input)
                revisits.append((step.at, verdict in rules.satisfied_values))
        found.append(
            ItemFacts(
                item=item,
                received_at=item.created_at,
                signed_for_at=min(signed) if signed else None,
                closed_at=closed_at,
                on_time=on_time,
                reopens=tuple(
                    s.at
                    for s in history
                    if s.event in rules.reopen_events and s.to_state in rules.reopen_states
                ),
                revisits=tuple(revisits),
                levels=tuple(levels[item.id]),
            )
        )
    return found


def median(values: Sequence[int]) -> float | None:
    """Return the median (the mean of the two middle values for an even count); None if empty."""
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[int]) -> int | None:
    """Return the 90th percentile by nearest rank (the ceil(0.9 n)-th smallest); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or None when ``whole`` is 0 (a rate of nothing is not 0%)."""
    return part / whole if whole else None


def by_group(facts: Sequence[ItemFacts], field: str) -> Mapping[str | None, list[ItemFacts]]:
    """Split facts by the items' value of ``field`` (None for an item without one)."""
    groups: dict[str | None, list[ItemFacts]] = defaultdict(list)
    for fact in facts:
        value = fact.item.data.get(field)
        groups[None if value is None or value == "" else str(value)].append(fact)
    return groups
