"""Deadline clocks: which start, stop, pause, resume or extend when an item moves.

Pure functions over the definition, the calendar port and the item's open
deadlines; the engine writes what they return in the same transaction as the
move, so a clock can never disagree with the state it belongs to.

A deadline's *scope* is the state (leaf or group) whose ``deadline`` it
implements. It starts when the item enters the scope from outside (or when
the scope's ``start_event`` fires), ends when the item leaves the scope,
pauses while the item is in a ``pauses_clock`` state, and is replaced by a
fresh deadline (a fresh ladder) when an extension is approved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from workflow.core.ports import Calendar
from workflow.core.values import Branch, Deadline
from workflow.definition.compiled import Definition
from workflow.definition.model import DeadlineSpec, EscalationSpec, LevelSpec

__all__ = [
    "TIMEOUT",
    "DeadlineChanges",
    "branch_deadlines",
    "end_deadline",
    "ladder_for",
    "level_time",
    "next_check",
    "on_move",
]

TIMEOUT = "@timeout"
"""The pseudo-level at a branch's due time, when silence counts as an answer."""


@dataclass
class DeadlineChanges:
    """Deadlines to insert and to update, decided for one move."""

    new: list[Deadline] = field(default_factory=list)
    changed: list[Deadline] = field(default_factory=list)


def ladder_for(definition: Definition, scope: str) -> EscalationSpec | None:
    """Return the ladder a deadline of ``scope`` climbs: the state's own, else the workflow's."""
    state = definition.states.get(scope)
    if state is not None and state.escalation is not None:
        return state.escalation
    return definition.spec.escalation


def level_time(calendar: Calendar, deadline: Deadline, level: LevelSpec) -> dt.datetime:
    """Return when ``level`` falls due for ``deadline``."""
    unit = level.unit or deadline.unit
    if level.before is not None:
        return calendar.before(deadline.due_at, level.before, unit).at
    after = level.after or 0
    return deadline.due_at if after == 0 else calendar.add(deadline.due_at, after, unit).at


def next_check(
    definition: Definition,
    calendar: Calendar,
    deadline: Deadline,
    done: Sequence[str] = (),
) -> dt.datetime | None:
    """Return when the scan must next look at ``deadline``, given the levels ``done``."""
    if deadline.status != "running":
        return None
    times: list[dt.datetime] = []
    ladder = ladder_for(definition, deadline.scope)
    if ladder is not None:
        times.extend(
            level_time(calendar, deadline, level)
            for level in ladder.levels
            if level.name not in done
        )
    if deadline.branch_id is not None and TIMEOUT not in done:
        joint = definition.states[deadline.scope].joint
        if joint is not None and joint.unanswered != "wait":
            times.append(deadline.due_at)
    return min(times) if times else None


def _new(
    definition: Definition,
    calendar: Calendar,
    *,
    item_id: int,
    scope: str,
    spec: DeadlineSpec,
    seq: int,
    now: dt.datetime,
    branch_id: int | None = None,
) -> Deadline:
    due = calendar.add(now, spec.amount, spec.unit)
    deadline = Deadline(
        id=0,
        item_id=item_id,
        branch_id=branch_id,
        scope=scope,
        started_seq=seq,
        started_at=now,
        due_at=due.at,
        amount=spec.amount,
        unit=spec.unit,
        status="running",
        provisional=due.provisional,
    )
    return dataclasses.replace(deadline, next_at=next_check(definition, calendar, deadline))


def end_deadline(deadline: Deadline, now: dt.datetime, status: str | None = None) -> Deadline:
    """Stop a clock: ``met`` or ``late`` by the time, unless a status is given."""
    if status is None:
        status = "met" if now <= deadline.due_at else "late"
    return dataclasses.replace(deadline, status=status, next_at=None, ended_at=now)


def _scopes(definition: Definition, leaf: str) -> list[str]:
    return [leaf, *definition.ancestors(leaf)]


def on_move(
    definition: Definition,
    calendar: Calendar,
    *,
    item_id: int,
    source: str | None,
    target: str,
    event: str,
    seq: int,
    now: dt.datetime,
    open_deadlines: Sequence[Deadline],
    extensions: Sequence[tuple[int, str | None]] = (),
) -> DeadlineChanges:
    """Decide the clock changes for a step from ``source`` to ``target`` (same leaf: internal)."""
    changes = DeadlineChanges()
    live = [d for d in open_deadlines if d.is_open and d.branch_id is None]
    inside = set(_scopes(definition, target))
    was_inside = set(_scopes(definition, source)) if source is not None else set()
    final = definition.states[target].final
    kept: list[Deadline] = []
    for deadline in live:
        if final or deadline.scope not in inside:
            changes.changed.append(end_deadline(deadline, now))
        else:
            kept.append(deadline)
    # Pausing and resuming follow the leaf: a pausing state stops every clock of the item.
    pausing = definition.states[target].pauses_clock
    was_pausing = source is not None and definition.states[source].pauses_clock
    updated: list[Deadline] = []
    for deadline in kept:
        moved = deadline
        if pausing and deadline.status == "running":
            moved = dataclasses.replace(deadline, status="paused", paused_at=now, next_at=None)
        elif not pausing and was_pausing and deadline.status == "paused" and deadline.paused_at:
            due = calendar.resume(deadline.due_at, deadline.paused_at, now, deadline.unit)
            moved = dataclasses.replace(
                deadline,
                status="running",
                due_at=due.at,
                provisional=deadline.provisional or due.provisional,
                paused_at=None,
            )
            moved = dataclasses.replace(moved, next_at=next_check(definition, calendar, moved))
        if moved is not deadline:
            changes.changed.append(moved)
        updated.append(moved)
    # Extensions replace the innermost running clock with a later one and a fresh ladder.
    for amount, unit in extensions:
        current = _innermost(definition, updated, source or target)
        if current is None:
            continue
        due = calendar.add(current.due_at, amount, unit or current.unit)
        fresh = dataclasses.replace(
            current,
            id=0,
            started_seq=seq,
            started_at=now,
            due_at=due.at,
            provisional=current.provisional or due.provisional,
            ended_at=None,
        )
        fresh = dataclasses.replace(fresh, next_at=next_check(definition, calendar, fresh))
        changes.changed.append(end_deadline(current, now, "extended"))
        changes.new.append(fresh)
        updated = [fresh if d is current else d for d in updated]
    if final:
        return changes
    running_scopes = {d.scope for d in updated}
    for scope in _scopes(definition, target):
        spec = definition.states[scope].deadline
        if spec is None or scope in running_scopes:
            continue
        entered = scope not in was_inside
        if spec.start_event is None and not entered:
            continue
        if spec.start_event is not None and spec.start_event != event:
            continue
        deadline = _new(
            definition, calendar, item_id=item_id, scope=scope, spec=spec, seq=seq, now=now
        )
        if pausing:
            deadline = dataclasses.replace(deadline, status="paused", paused_at=now, next_at=None)
        changes.new.append(deadline)
    return changes


def _innermost(definition: Definition, deadlines: Sequence[Deadline], leaf: str) -> Deadline | None:
    by_scope = {d.scope: d for d in deadlines if d.status == "running"}
    for scope in _scopes(definition, leaf):
        if scope in by_scope:
            return by_scope[scope]
    return None


def branch_deadlines(
    definition: Definition,
    calendar: Calendar,
    *,
    state: str,
    branches: Sequence[Branch],
    seq: int,
    now: dt.datetime,
) -> list[Deadline]:
    """Return a deadline for each new branch, when the joint state gives branches one."""
    joint = definition.states[state].joint
    if joint is None or joint.deadline is None:
        return []
    return [
        _new(
            definition,
            calendar,
            item_id=branch.item_id,
            scope=state,
            spec=joint.deadline,
            seq=seq,
            now=now,
            branch_id=branch.id,
        )
        for branch in branches
    ]
