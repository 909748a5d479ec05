"""Coverage: which states, events, guards and ladder levels no scenario exercised.

Per workflow, over every scenario run against it: the leaf states items
were in, the events and joint answers fired, each ladder level fired (a
level of the workflow's ladder is named ``level``; one of a state's own
ladder ``state/level``), the refusal kinds seen, and for each guard
(``event: expression``) whether a scenario saw it true (the event fired)
and false (a refusal named it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workflow.definition.compiled import Definition
from workflow.scenarios.model import REFUSALS
from workflow.scenarios.results import RunResults, Trace

__all__ = ["Coverage", "coverage"]


@dataclass(frozen=True)
class Coverage:
    """What the scenarios of one workflow exercised, and what they did not."""

    workflow: str
    states: tuple[str, ...]
    events: tuple[str, ...]
    levels: tuple[str, ...]
    guards: tuple[str, ...]
    missed_states: tuple[str, ...]
    missed_events: tuple[str, ...]
    missed_levels: tuple[str, ...]
    guards_never_true: tuple[str, ...]
    guards_never_false: tuple[str, ...]
    refusals: tuple[str, ...]
    """The refusal kinds the scenarios exercised."""

    @property
    def total(self) -> int:
        """States, events and levels counted (guards are reported, not counted)."""
        return len(self.states) + len(self.events) + len(self.levels)

    @property
    def covered(self) -> int:
        """How many of :attr:`total` were exercised."""
        missed = len(self.missed_states) + len(self.missed_events) + len(self.missed_levels)
        return self.total - missed

    @property
    def percent(self) -> float:
        """Covered share of states, events and levels, 0 to 100."""
        return 100.0 if not self.total else 100.0 * self.covered / self.total

    @property
    def missed_refusals(self) -> tuple[str, ...]:
        """The refusal kinds no scenario exercised."""
        return tuple(kind for kind in REFUSALS if kind not in self.refusals)

    def as_dict(self) -> dict[str, Any]:
        """Return the coverage as JSON-ready data."""
        return {
            "workflow": self.workflow,
            "percent": round(self.percent, 1),
            "covered": self.covered,
            "total": self.total,
            "missed": {
                "states": list(self.missed_states),
                "events": list(self.missed_events),
                "levels": list(self.missed_levels),
                "guards_never_true": list(self.guards_never_true),
                "guards_never_false": list(self.guards_never_false),
                "refusals": list(self.missed_refusals),
            },
        }


def _levels(definition: Definition) -> list[str]:
    names: list[str] = []
    if definition.spec.escalation is not None:
        names += [level.name for level in definition.spec.escalation.levels]
    for state, spec in definition.states.items():
        if spec.escalation is not None:
            names += [f"{state}/{level.name}" for level in spec.escalation.levels]
    return names


def _guards(definition: Definition) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for event in definition.spec.events:
        for guard in event.guard:
            key = (event.name, guard.expr)
            if key not in found:
                found.append(key)
    return found


def _merge(traces: Iterable[Trace]) -> Trace:
    total = Trace()
    for trace in traces:
        total.states |= trace.states
        total.events |= trace.events
        total.levels |= trace.levels
        total.guards_true |= trace.guards_true
        total.guards_false |= trace.guards_false
        total.refusals |= trace.refusals
    return total


def coverage(results: RunResults) -> list[Coverage]:
    """Return the coverage of every workflow the run's scenarios tested, by workflow id."""
    found: list[Coverage] = []
    for workflow_id in sorted(results.definitions):
        definition = results.definitions[workflow_id]
        seen = _merge(r.trace for r in results.results if r.workflow == workflow_id)
        states = definition.leaves()
        events = definition.event_names()
        levels = tuple(_levels(definition))
        guards = _guards(definition)
        found.append(
            Coverage(
                workflow=workflow_id,
                states=states,
                events=events,
                levels=levels,
                guards=tuple(f"{e}: {g}" for e, g in guards),
                missed_states=tuple(s for s in states if s not in seen.states),
                missed_events=tuple(e for e in events if e not in seen.events),
                missed_levels=tuple(v for v in levels if v not in seen.levels),
                guards_never_true=tuple(
                    f"{e}: {g}" for e, g in guards if (e, g) not in seen.guards_true
                ),
                guards_never_false=tuple(
                    f"{e}: {g}" for e, g in guards if (e, g) not in seen.guards_false
                ),
                refusals=tuple(kind for kind in REFUSALS if kind in seen.refusals),
            )
        )
    return found
