"""The interfaces between the core and its adapters.

The core depends only on these Protocols; the SQL store, the directory and
the clock are adapters that implement them, and hosts may bring their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from workflow.core.values import (
    Branch,
    Deadline,
    HistoryEntry,
    ItemSnapshot,
    NotificationIntent,
)
from workflow.definition.compiled import Definition

__all__ = [
    "Calendar",
    "Clock",
    "Directory",
    "Due",
    "Store",
    "StoreTransaction",
    "TemplateIndex",
]


class Clock(Protocol):
    """Tells the time; tests pass a controllable one."""

    def now(self) -> dt.datetime:
        """Return the current time, timezone-aware."""
        ...


class Due(Protocol):
    """A computed due time (see :class:`workflow.schedule.calendar.Due`)."""

    @property
    def at(self) -> dt.datetime:
        """The due time, aware."""
        ...

    @property
    def provisional(self) -> bool:
        """Whether it relied on a year without official holiday data."""
        ...


class Calendar(Protocol):
    """Turns deadline amounts into due times (working days, calendar days, hours)."""

    @property
    def timezone(self) -> str:
        """The calendar's time zone name (review periods are named in it)."""
        ...

    def add(self, start: dt.datetime, amount: int, unit: str) -> Due:
        """Return when ``amount`` ``unit`` after ``start`` falls due."""
        ...

    def before(self, moment: dt.datetime, amount: int, unit: str) -> Due:
        """Return the time ``amount`` ``unit`` before ``moment``."""
        ...

    def resume(
        self, due: dt.datetime, paused_at: dt.datetime, resumed_at: dt.datetime, unit: str
    ) -> Due:
        """Move a due time for a pause, so the clock resumes where it stopped."""
        ...

    def next_period(self, cron: str, period: str, after: dt.datetime) -> str:
        """Name the period of a review's next meeting after ``after`` (e.g. ``2026-12``)."""
        ...


class Directory(Protocol):
    """Who is who: groups, what a person acts for, and relations between entries.

    Role bindings of a definition resolve through it: a role bound to a group
    asks :meth:`is_member`; a role bound to a field asks :meth:`represents`
    for the entry in that field, or follows :meth:`related` first when the
    binding names a relation (the ``commissioners`` of an enterprise).
    """

    def is_member(self, person: str, group: str) -> bool:
        """Tell whether ``person`` belongs to the fixed group ``group``."""
        ...

    def represents(self, person: str, kind: str, entry: str) -> bool:
        """Tell whether ``person`` acts for the directory entry (``kind`` e.g. ``unit``)."""
        ...

    def related(self, kind: str, entry: str, relation: str) -> Sequence[str]:
        """Return the people related to an entry (e.g. an enterprise's commissioners)."""
        ...


class TemplateIndex(Protocol):
    """What the core needs to know of notification templates: which item fields they read.

    The payload of a notification intent carries only those fields (personal
    data only where the message needs it).
    """

    def fields_used(self, name: str) -> frozenset[str] | None:
        """Return the ``item.data`` fields template ``name`` reads; None when it reads any."""
        ...


class StoreTransaction(Protocol):
    """The reads and writes one engine operation makes, all in one transaction."""

    def ensure_definition(self, definition: Definition) -> None:
        """Record a definition version (idempotent) so items can be pinned to it."""
        ...

    def load_definition_source(self, digest: str) -> str | None:
        """Return the stored source of a definition version, if any."""
        ...

    def load_item(self, item_id: int) -> ItemSnapshot | None:
        """Read an item (no lock: writes are compare-and-swap on its version)."""
        ...

    def insert_item(self, item: ItemSnapshot) -> int:
        """Insert a new item (its ``id`` is ignored) and return the id it was given."""
        ...

    def update_item(self, item: ItemSnapshot, expected_version: int) -> bool:
        """Write ``item`` only if the stored version is still ``expected_version``."""
        ...

    def current_version(self, item_id: int) -> int | None:
        """Return the stored version of an item (to explain a failed update)."""
        ...

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append history rows (never updated or deleted)."""
        ...

    def load_history(self, item_id: int) -> list[HistoryEntry]:
        """Return an item's history in ``seq`` order."""
        ...

    def load_branches(self, item_id: int, opened_seq: int | None = None) -> list[Branch]:
        """Return an item's branches, all or those of one joint-handling round."""
        ...

    def insert_branches(self, branches: Sequence[Branch]) -> list[int]:
        """Insert new branches (their ids are ignored); return their ids, in order."""
        ...

    def update_branches(self, branches: Sequence[Branch]) -> None:
        """Update branches by id (status, verdict, answer)."""
        ...

    def load_open_deadlines(self, item_id: int) -> list[Deadline]:
        """Return an item's running or paused deadlines, branch clocks included."""
        ...

    def insert_deadlines(self, deadlines: Sequence[Deadline]) -> list[int]:
        """Insert new deadlines (their ids are ignored); return their ids, in order."""
        ...

    def update_deadlines(self, deadlines: Sequence[Deadline]) -> None:
        """Update deadlines by id (status, due time, pause, next check, end)."""
        ...

    def load_deadline(self, deadline_id: int) -> Deadline | None:
        """Return one deadline."""
        ...

    def fired_levels(self, deadline_id: int) -> list[str]:
        """Return the ladder levels already done (fired or skipped) for a deadline."""
        ...

    def record_escalation(
        self, *, deadline_id: int, item_id: int, level: str, outcome: str, seq: int, at: dt.datetime
    ) -> None:
        """Record a level as done; a second record of the same level must fail."""
        ...

    def add_review_entry(
        self,
        *,
        review: str,
        period: str,
        item_id: int,
        workflow_id: str,
        level: str,
        at: dt.datetime,
    ) -> None:
        """Put an item on a review's agenda for a period (once)."""
        ...

    def resolve_review_entries(self, item_id: int, resolution: str, at: dt.datetime) -> None:
        """Mark an item's open agenda entries resolved (a decision was taken, or it closed)."""
        ...

    def add_notification_intents(
        self, intents: Sequence[NotificationIntent], at: dt.datetime
    ) -> None:
        """Write notification intents to the outbox (once per key)."""
        ...

    def list_items(
        self,
        *,
        workflow_id: str | None,
        state: str | None,
        is_open: bool | None,
        data: Mapping[str, Any] | None,
        after_id: int | None,
        limit: int,
    ) -> list[ItemSnapshot]:
        """Return items matching the filters, by id, at most ``limit`` after ``after_id``."""
        ...


class Store(Protocol):
    """Opens transactions."""

    def read(self) -> AbstractContextManager[StoreTransaction]:
        """Open a transaction for reading."""
        ...

    def write(self) -> AbstractContextManager[StoreTransaction]:
        """Open a transaction that will write (serialized early where the database needs it)."""
        ...
