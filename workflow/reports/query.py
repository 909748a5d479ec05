"""The reports' database reads: one query per table, bounded by the period.

Every report reads the same five kinds of rows (items, their history, their
deadlines, the escalation levels fired on them, review agenda entries) for
one set of items, chosen by a query of their ids that every per-table query
joins: one statement per table, never one per item.

Each selection is bounded so that a big database stays cheap:

* activity in a window (the circular, the assessment): items open now or
  closed at or after the window's start (two ranges of the
  ``items_by_close`` index; an item closed before and untouched since has
  no history row in the window: no event leaves a final state, and the
  step into one sets ``closed_at``), created before ``until``;
* open at a moment (the problem list): items open now or closed since the
  moment (the same index);
* on an agenda (the dispatch sheet): the review's entries for the periods
  (the ``review_entries_once`` index leads with review and period).

History rows are reached through their primary key (item, seq), deadlines
and escalations through their item indexes. Rows at or after ``until`` are
not read, so a past period's report does not change as later events happen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Subquery,
    and_,
    false,
    or_,
    select,
    true,
    union_all,
)

from workflow.store.schema import Tables

__all__ = [
    "EntryRow",
    "EscalationRow",
    "ItemRow",
    "ReportRows",
    "StepRow",
    "TimerRow",
    "active_rows",
    "agenda_rows",
    "open_rows",
]


@dataclass(frozen=True)
class ItemRow:
    """An item as the reports see it."""

    id: int
    workflow_id: str
    state: str
    data: Mapping[str, Any]
    is_open: bool
    created_at: dt.datetime
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class StepRow:
    """One history row of an item."""

    item_id: int
    seq: int
    event: str
    from_state: str | None
    to_state: str
    actor_id: str
    input: Mapping[str, Any] | None
    reason: str | None
    at: dt.datetime


@dataclass(frozen=True)
class TimerRow:
    """One deadline of an item (branch deadlines of joint handling are not read)."""

    item_id: int
    scope: str
    started_at: dt.datetime
    due_at: dt.datetime
    status: str
    ended_at: dt.datetime | None


@dataclass(frozen=True)
class EscalationRow:
    """One ladder level fired on an item."""

    item_id: int
    level: str
    scope: str
    at: dt.datetime


@dataclass(frozen=True)
class EntryRow:
    """One item on one occurrence of a review's agenda."""

    item_id: int
    review: str
    period: str
    level: str | None
    reason: str
    added_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str | None


@dataclass(frozen=True)
class ReportRows:
    """Everything a report reads, for one set of items, up to one moment."""

    until: dt.datetime
    """Rows at or after this moment were not read."""
    items: tuple[ItemRow, ...]
    history: tuple[StepRow, ...]
    timers: tuple[TimerRow, ...]
    escalations: tuple[EscalationRow, ...]
    entries: tuple[EntryRow, ...] = ()


def active_rows(
    connection: Connection,
    t: Tables,
    workflow_id: str,
    since: dt.datetime,
    until: dt.datetime,
    *,
    steps: tuple[Collection[str], Collection[str]] | None = None,
) -> ReportRows:
    """Read the items of ``workflow_id`` with any step in ``[since, until)``, and their rows.

    ``steps`` (events, target states) keeps only the history rows of those
    events or into those states: the figures count a few kinds of step, and
    the other rows need not cross the wire.
    """
    picked = _open_or_closed_since(t, workflow_id, since, until)
    return _read(connection, t, picked, until, steps)


def _open_or_closed_since(
    t: Tables, workflow_id: str, moment: dt.datetime, until: dt.datetime
) -> Subquery:
    """Select the ids of the items created before ``until``, open now or closed since ``moment``.

    Two ranges of ``items_by_close``, as a derived table the per-table queries
    join: asked as one condition with ``OR``, SQLite, PostgreSQL and MariaDB
    all scan every item of the workflow, and MariaDB runs ``IN (... UNION
    ...)`` once per item. An item open now may have been untouched in a
    window; the figures count only its steps in the window, so it adds
    nothing but its read.
    """
    i = t.items
    mine = and_(i.c.workflow_id == workflow_id, i.c.created_at < until)
    return union_all(
        select(i.c.id).where(mine, i.c.is_open == true()),
        select(i.c.id).where(mine, i.c.is_open == false(), i.c.closed_at >= moment),
    ).subquery("picked")


def open_rows(
    connection: Connection,
    t: Tables,
    workflow_id: str,
    moment: dt.datetime,
) -> ReportRows:
    """Read the items of ``workflow_id`` that were open at ``moment``, and their rows.

    An item closed now that was open at ``moment`` closed since (no event
    leaves a final state); the filter below keeps the selection exact where
    an item's ``closed_at`` and its state disagree (a migration's mapping).
    """
    rows = _read(connection, t, _open_or_closed_since(t, workflow_id, moment, moment), moment)
    kept = tuple(item for item in rows.items if item.closed_at is None or item.closed_at >= moment)
    ids = {item.id for item in kept}
    return ReportRows(
        until=moment,
        items=kept,
        history=tuple(s for s in rows.history if s.item_id in ids),
        timers=tuple(d for d in rows.timers if d.item_id in ids),
        escalations=tuple(e for e in rows.escalations if e.item_id in ids),
    )


def agenda_rows(
    connection: Connection,
    t: Tables,
    workflow_id: str,
    review: str,
    periods: Collection[str],
    until: dt.datetime,
) -> ReportRows:
    """Read the entries of ``review``'s agendas for ``periods``, their items and their rows."""
    r, i = t.review_entries, t.items
    on_agenda = and_(r.c.review == review, r.c.period.in_(sorted(periods)), r.c.added_at < until)
    chosen = and_(
        i.c.workflow_id == workflow_id,
        i.c.id.in_(select(r.c.item_id).where(on_agenda)),
    )
    rows = _read(connection, t, select(i.c.id).where(chosen).subquery("picked"), until)
    query = (
        select(
            r.c.item_id,
            r.c.review,
            r.c.period,
            r.c.level,
            r.c.reason,
            r.c.added_at,
            r.c.resolved_at,
            r.c.resolution,
        )
        .where(on_agenda, r.c.workflow_id == workflow_id)
        .order_by(r.c.added_at, r.c.id)
    )
    entries = tuple(
        EntryRow(
            item_id=row.item_id,
            review=row.review,
            period=row.period,
            level=row.level,
            reason=row.reason,
            added_at=row.added_at,
            # A decision taken after the report's moment had not been taken yet.
            resolved_at=row.resolved_at if _before(row.resolved_at, until) else None,
            resolution=row.resolution if _before(row.resolved_at, until) else None,
        )
        for row in connection.execute(query)
    )
    return ReportRows(rows.until, rows.items, rows.history, rows.timers, rows.escalations, entries)


def _before(moment: dt.datetime | None, until: dt.datetime) -> bool:
    return moment is not None and moment < until


def _read(
    connection: Connection,
    t: Tables,
    picked: Subquery,
    until: dt.datetime,
    steps: tuple[Collection[str], Collection[str]] | None = None,
) -> ReportRows:
    """Run one query per table for the items whose ids ``picked`` lists."""
    i, h, d, e = t.items, t.history, t.deadlines, t.escalations
    wanted_steps: ColumnElement[bool] = h.c.at < until
    if steps is not None:
        events, states = steps
        wanted_steps = and_(
            wanted_steps, or_(h.c.event.in_(sorted(events)), h.c.to_state.in_(sorted(states)))
        )
    items = tuple(
        ItemRow(
            id=row.id,
            workflow_id=row.workflow_id,
            state=row.state,
            data=row.data or {},
            is_open=bool(row.is_open),
            created_at=row.created_at,
            closed_at=row.closed_at,
        )
        for row in connection.execute(
            select(
                i.c.id,
                i.c.workflow_id,
                i.c.state,
                i.c.data,
                i.c.is_open,
                i.c.created_at,
                i.c.closed_at,
            ).join(picked, picked.c.id == i.c.id)
        )
    )
    # Sorted here: ORDER BY id would make SQLite walk the whole table in id order
    # instead of the index that bounds the selection.
    items = tuple(sorted(items, key=lambda item: item.id))
    history = tuple(
        StepRow(
            item_id=row.item_id,
            seq=row.seq,
            event=row.event,
            from_state=row.from_state,
            to_state=row.to_state,
            actor_id=row.actor_id,
            input=row.input,
            reason=row.reason,
            at=row.at,
        )
        for row in connection.execute(
            select(
                h.c.item_id,
                h.c.seq,
                h.c.event,
                h.c.from_state,
                h.c.to_state,
                h.c.actor_id,
                h.c.input,
                h.c.reason,
                h.c.at,
            )
            .join(picked, picked.c.id == h.c.item_id)
            .where(wanted_steps)
            .order_by(h.c.item_id, h.c.seq)
        )
    )
    timers = tuple(
        TimerRow(
            item_id=row.item_id,
            scope=row.scope,
            started_at=row.started_at,
            due_at=row.due_at,
            status=row.status,
            # A clock that ended after the moment was still running then.
            ended_at=row.ended_at if _before(row.ended_at, until) else None,
        )
        for row in connection.execute(
            select(d.c.item_id, d.c.scope, d.c.started_at, d.c.due_at, d.c.status, d.c.ended_at)
            .join(picked, picked.c.id == d.c.item_id)
            .where(d.c.branch_id.is_(None), d.c.started_at < until)
            .order_by(d.c.item_id, d.c.id)
        )
    )
    escalations = tuple(
        EscalationRow(item_id=row.item_id, level=row.level, scope=row.scope, at=row.at)
        for row in connection.execute(
            # Through the deadlines: (item) -> deadlines_by_item -> escalations by deadline.
            select(e.c.item_id, e.c.level, d.c.scope, e.c.at)
            .join(d, d.c.id == e.c.deadline_id)
            .join(picked, picked.c.id == d.c.item_id)
            .where(e.c.outcome == "fired", e.c.at < until)
            .order_by(e.c.item_id, e.c.id)
        )
    )
    return ReportRows(until, items, history, timers, escalations)
