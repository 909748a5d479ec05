"""Frozen value objects that cross module boundaries: actors, items, history, branches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workflow.errors import WorkflowError

__all__ = [
    "Actor",
    "AvailableEvent",
    "Branch",
    "Deadline",
    "DueOutcome",
    "HistoryEntry",
    "ItemSnapshot",
    "NotificationIntent",
    "stored_form",
]


def stored_form(value: Any) -> Any:
    """Return ``value`` as item data stores it: JSON types, dates and times as ISO text.

    The expression language works with real dates (an input of type ``date``
    is a :class:`datetime.date` inside an expression); whatever an effect
    computes is turned back into the stored form before it joins the data.
    """
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): stored_form(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stored_form(v) for v in value]
    return value


@dataclass(frozen=True)
class Actor:
    """Someone acting on items: a person's (or system's) id and the roles they act in.

    The host authenticates the person and says which roles they claim; the
    engine then checks each role's binding to the item (an enterprise acts
    only on its own items, a unit only on items assigned to it).
    """

    id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str) -> Actor:
        """Parse ``ROLE:ID`` or ``ROLE1,ROLE2:ID`` (the CLI's ``--as``)."""
        roles, sep, actor_id = text.partition(":")
        if not sep or not actor_id or not roles:
            raise WorkflowError(f"expected ROLE:ID (e.g. office:alice), got {text!r}")
        return cls(actor_id, frozenset(r.strip() for r in roles.split(",") if r.strip()))


@dataclass(frozen=True)
class ItemSnapshot:
    """An item as stored at one version."""

    id: int
    workflow_id: str
    definition_hash: str
    state: str
    data: Mapping[str, Any]
    version: int
    is_open: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One append-only history row: what happened to an item, by whom, when.

    ``changes`` holds the new value of every field the step changed, so
    replaying the rows in ``seq`` order rebuilds the item's data.
    ``kind`` is ``start``, ``event``, ``answer`` (a joint-handling branch),
    ``auto`` (a move the engine made itself) or ``migrate``.
    """

    item_id: int
    seq: int
    kind: str
    event: str
    from_state: str | None
    to_state: str
    actor_id: str
    actor_role: str | None
    input: Mapping[str, Any] | None
    reason: str | None
    changes: Mapping[str, Any] | None
    definition_hash: str
    at: dt.datetime


@dataclass(frozen=True)
class Branch:
    """One unit's branch of a joint-handling state."""

    id: int
    item_id: int
    state: str
    opened_seq: int
    unit: str
    status: str
    """``open``, ``answered``, ``timed_out`` or ``cancelled``."""
    verdict: str | None
    answer: Mapping[str, Any] | None
    answered_by: str | None
    opened_at: dt.datetime
    answered_at: dt.datetime | None


@dataclass(frozen=True)
class AvailableEvent:
    """An event an actor may fire on an item now, and what it needs."""

    name: str
    label_en: str
    label_zh: str
    role: str
    reason: str
    inputs: tuple[str, ...]
    required_inputs: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Deadline:
    """One clock on an item: a state's (or group's) time limit, or a branch's.

    ``status`` is ``running``, ``paused``, or once ended ``met`` (ended before
    its due time), ``late``, ``extended`` (replaced by a later deadline) or
    ``cancelled``. ``next_at`` is when the scan must next look at it (the next
    ladder level, or a branch's timeout); it is cleared when nothing is left.
    """

    id: int
    item_id: int
    branch_id: int | None
    scope: str
    started_seq: int
    started_at: dt.datetime
    due_at: dt.datetime
    amount: int
    unit: str
    status: str
    provisional: bool = False
    paused_at: dt.datetime | None = None
    next_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None

    @property
    def is_open(self) -> bool:
        """Tell whether the clock is still running or paused."""
        return self.status in ("running", "paused")


@dataclass(frozen=True)
class DueOutcome:
    """What one look at a due deadline did (see ``Core.apply_due``)."""

    item_id: int
    fired: tuple[str, ...]
    """Ladder levels applied now, in order."""
    skipped: tuple[str, ...]
    """Levels passed over by ``catch_up: highest`` (each left a history row)."""
    timed_out: bool
    """A joint-handling branch's silence was counted at its due time."""
    next_at: dt.datetime | None
    """When the deadline must be looked at again (None: never)."""


@dataclass(frozen=True)
class NotificationIntent:
    """A notification an event or escalation asks for, written to the outbox with it.

    Recipients are roles of the item; the notifications dispatcher resolves
    them through the directory and renders ``template`` when it delivers.
    """

    item_id: int
    history_seq: int
    role: str
    template: str
    key: str
    payload: Mapping[str, Any]
