"""Joint handling: counting branch answers and judging the completion rule.

A branch counts as answered when its unit answered, or when it timed out
and the definition says what silence counts as (the timer marks it
``timed_out`` with that verdict).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workflow.core.values import Branch
from workflow.definition.model import CompletionSpec

__all__ = ["Tally", "is_complete", "tally"]

_COUNTED = ("answered", "timed_out")


@dataclass(frozen=True)
class Tally:
    """The state of one joint-handling round."""

    total: int
    answered: int
    agreed: int
    disagreed: int
    lead_answered: bool
    lead_agreed: bool | None
    others_answered: int
    others_total: int

    def context(self) -> dict[str, object]:
        """Return the ``joint`` namespace that completion choices read."""
        return {
            "total": self.total,
            "answered": self.answered,
            "agreed": self.agreed,
            "disagreed": self.disagreed,
            "lead_agreed": self.lead_agreed,
        }


def tally(branches: Sequence[Branch], lead: str | None) -> Tally:
    """Count the answers of one round's branches (``lead`` is the lead unit, if any)."""
    live = [b for b in branches if b.status != "cancelled"]
    counted = [b for b in live if b.status in _COUNTED and b.verdict is not None]
    lead_branch = next((b for b in live if lead is not None and b.unit == lead), None)
    lead_counted = lead_branch is not None and lead_branch in counted
    others = [b for b in live if b is not lead_branch]
    return Tally(
        total=len(live),
        answered=len(counted),
        agreed=sum(1 for b in counted if b.verdict == "agree"),
        disagreed=sum(1 for b in counted if b.verdict == "disagree"),
        lead_answered=lead_counted,
        lead_agreed=(lead_branch.verdict == "agree") if lead_counted and lead_branch else None,
        others_answered=sum(1 for b in others if b in counted),
        others_total=len(others),
    )


def is_complete(rule: CompletionSpec, counts: Tally) -> bool:
    """Judge the completion rule; a quorum larger than the branches asks for all of them."""
    if counts.total == 0:
        return False
    if rule.rule == "all":
        return counts.answered == counts.total
    if rule.rule == "any":
        return counts.answered >= 1
    needed = rule.count or 1
    if rule.rule == "at_least":
        return counts.answered >= min(needed, counts.total)
    return counts.lead_answered and counts.others_answered >= min(needed, counts.others_total)
