"""Which steps of a workflow the reports count, per workflow.

The reports read history, deadlines and escalations; what *counts* as the
unit signing for an item, as closure, as a reopen or as the enterprise's
verdict depends on the workflow's events and states. That knowledge lives
here, in one small mapping keyed by workflow id, rather than in the YAML
language: it is a reading of the definition by the people who make the
circulars, it changes with the assessment rules and not with the lifecycle,
and a host can pass its own :class:`ReportRules` without touching a
definition file.

For the shipped ``enterprise_issue`` workflow (see docs/reports.md):

* **received**: the item was created (its ``start`` row);
* **sign-for** (簽收): the first ``sign_for`` by the responsible unit;
* **closure** (辦結銷號): the item reached ``closed`` (struck off, or closed
  by a meeting's decision); rejected, merged and withdrawn items are not closures;
* **on time**: every deadline of the unit's ``processing`` stage ended no
  later than its due time (which already counts approved extensions and
  suspensions);
* **reopen**: an unsatisfied revisit or the enterprise's objection sent
  the item back to ``dispatched``;
* **satisfaction**: a revisit (``record_revisit``) recorded ``satisfied``
  or ``basically_satisfied``;
* the **quarterly dispatch** is the ``quarterly`` review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from workflow.reports.errors import NoReportRules

__all__ = ["GROUPINGS", "RULES", "ReportRules", "rules_for"]

GROUPINGS = ("district", "unit", "sector", "enterprise")
"""The groupings a report can be made by (each names an item field through the rules)."""


@dataclass(frozen=True)
class ReportRules:
    """What the reports count for one workflow (all names are the definition's)."""

    sign_for_events: tuple[str, ...]
    """Events by which the responsible unit signs for (accepts) an item; the first counts."""
    closed_states: tuple[str, ...]
    """Final states that count as a closure (not rejections, merges or withdrawals)."""
    on_time_scopes: tuple[str, ...]
    """States whose deadlines decide whether a closed item was handled on time."""
    reopen_events: tuple[str, ...]
    """Events that reopen an item when they lead to one of ``reopen_states``."""
    reopen_states: tuple[str, ...]
    revisit_event: str
    """The event that records the enterprise's verdict at the revisit."""
    satisfaction_input: str
    """The revisit's input field holding the verdict."""
    satisfied_values: tuple[str, ...]
    """Verdicts that count as satisfied."""
    dispatch_review: str
    """The review that is the quarterly dispatch by city leaders (季調度)."""
    sign_for_within: int = 1
    """Working days within which a sign-for counts as prompt (the assessment's measure)."""
    fields: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {"district": "district", "unit": "lead_unit", "sector": "sector"}
            | {"enterprise": "enterprise", "title": "title"}
        )
    )
    """Item fields behind each grouping (district, unit, sector, enterprise) and the title."""

    def counted_steps(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the events and target states of the history rows the figures count."""
        events = (*self.sign_for_events, *self.reopen_events, self.revisit_event)
        return tuple(sorted(set(events))), tuple(sorted(set(self.closed_states)))


ENTERPRISE_ISSUE = ReportRules(
    sign_for_events=("sign_for",),
    closed_states=("closed",),
    on_time_scopes=("processing",),
    reopen_events=("record_revisit", "object"),
    reopen_states=("dispatched",),
    revisit_event="record_revisit",
    satisfaction_input="satisfaction",
    satisfied_values=("satisfied", "basically_satisfied"),
    dispatch_review="quarterly",
)

RULES: Mapping[str, ReportRules] = MappingProxyType({"enterprise_issue": ENTERPRISE_ISSUE})
"""The rules of the shipped workflows, by workflow id."""


def rules_for(workflow_id: str, rules: Mapping[str, ReportRules] | None = None) -> ReportRules:
    """Return the rules of ``workflow_id`` (from ``rules``, default :data:`RULES`)."""
    known = RULES if rules is None else rules
    found = known.get(workflow_id)
    if found is None:
        raise NoReportRules(workflow_id, known)
    return found
