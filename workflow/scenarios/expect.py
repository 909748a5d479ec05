"""Check a step's expectations against what the store holds about the scenario's item.

Each check returns ``(key path, message, expected, actual)`` tuples; the
runner turns them into positioned :class:`~workflow.scenarios.results.Failure`.
Only the keys an expectation gives are checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from workflow.app import Engine
from workflow.core.values import Branch, Deadline, HistoryEntry
from workflow.definition.yamlsource import Path
from workflow.scenarios.model import (
    AgendaExpect,
    BranchExpect,
    DeadlineExpect,
    Expect,
    HistoryExpect,
    NotificationExpect,
)
from workflow.scenarios.results import show
from workflow.store import timers

__all__ = [
    "Marks",
    "Mismatch",
    "Outbox",
    "check",
    "fired_levels",
    "local_text",
    "marks",
    "outbox_rows",
]

Mismatch = tuple[Path, str, Any, Any]
"""(key path below the expectation, message, expected, actual)."""


@dataclass(frozen=True)
class Marks:
    """Where the store stood before a step: what the step wrote comes after."""

    history_seq: int
    outbox_id: int


@dataclass(frozen=True)
class Outbox:
    """An outbox row as expectations see it."""

    id: int
    kind: str
    to: str
    channel: str | None
    template: str
    urgent: bool
    subject: str
    body: str


def marks(engine: Engine, item_id: int) -> Marks:
    """Return where the item's history and outbox stand now (before a step)."""
    h, o = engine.store.tables.history, engine.store.tables.outbox
    with engine.store.read() as tx:
        seq = tx.connection.execute(select(func.max(h.c.seq)).where(h.c.item_id == item_id))
        last = tx.connection.execute(select(func.max(o.c.id)).where(o.c.item_id == item_id))
        return Marks(int(seq.scalar() or 0), int(last.scalar() or 0))


def local_text(moment: dt.datetime, zone: ZoneInfo) -> str:
    """Write a time as scenario files do: ``YYYY-MM-DD HH:MM`` in the calendar's zone."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def outbox_rows(engine: Engine, item_id: int, after_id: int = 0) -> list[Outbox]:
    """Return the item's outbox rows (intents, messages) with ids above ``after_id``."""
    o = engine.store.tables.outbox
    query = select(o).where(o.c.item_id == item_id, o.c.id > after_id).order_by(o.c.id)
    with engine.store.read() as tx:
        rows = tx.connection.execute(query).all()
    found: list[Outbox] = []
    for row in rows:
        payload: Mapping[str, Any] = row.payload or {}
        if row.kind == "intent":
            to = str(row.recipient).removeprefix("role:")
            urgent = bool(payload.get("urgent"))
            channel = None
        else:
            to = str(row.person or row.recipient)
            urgent = bool(row.urgent)
            channel = str(row.channel)
        found.append(
            Outbox(
                id=int(row.id),
                kind=str(row.kind),
                to=to,
                channel=channel,
                template=str(row.template),
                urgent=urgent,
                subject=str(row.subject or ""),
                body=str(row.body or ""),
            )
        )
    return found


def _fields(expected: Mapping[str, Any], data: Mapping[str, Any]) -> list[Mismatch]:
    found: list[Mismatch] = []
    for name, value in expected.items():
        actual = data.get(name)
        if actual != value or isinstance(actual, bool) != isinstance(value, bool):
            found.append(
                (
                    ("fields", name),
                    f"expected {name} {show(value)}, got {show(actual)}",
                    value,
                    actual,
                )
            )
    return found


def _deadline_text(deadline: Deadline, units: Mapping[int, str], zone: ZoneInfo) -> str:
    unit = f" [{units[deadline.branch_id]}]" if deadline.branch_id is not None else ""
    paused = " (paused)" if deadline.status == "paused" else ""
    return f"{deadline.scope}{unit} due {local_text(deadline.due_at, zone)}{paused}"


def _deadline_matches(
    want: DeadlineExpect, deadline: Deadline, units: Mapping[int, str], zone: ZoneInfo
) -> bool:
    return (
        (want.scope is None or want.scope == deadline.scope)
        and (want.due is None or _normal_time(want.due) == local_text(deadline.due_at, zone))
        and (want.status is None or want.status == deadline.status)
        and (want.unit is None or units.get(deadline.branch_id or 0) == want.unit)
    )


def _normal_time(text: str) -> str:
    return text if len(text) > 10 else f"{text} 00:00"


def _deadlines(
    wanted: Sequence[DeadlineExpect], engine: Engine, item_id: int, branches: Sequence[Branch]
) -> list[Mismatch]:
    zone = ZoneInfo(engine.calendar.timezone if engine.calendar else "Asia/Shanghai")
    with engine.store.read() as tx:
        open_ = timers.load_open_deadlines(tx.connection, engine.store.tables, item_id)
    units = {b.id: b.unit for b in branches}
    actual = [_deadline_text(d, units, zone) for d in open_]
    if len(wanted) != len(open_):
        return [
            (
                ("deadlines",),
                f"expected {len(wanted)} open deadline(s), got {len(open_)}: "
                f"{'; '.join(actual) or 'none'}",
                len(wanted),
                actual,
            )
        ]
    found: list[Mismatch] = []
    left = list(open_)
    for index, want in enumerate(wanted):
        match = next((d for d in left if _deadline_matches(want, d, units, zone)), None)
        if match is None:
            described = want.model_dump(exclude_none=True)
            found.append(
                (
                    ("deadlines", index),
                    f"expected an open deadline {described}, got {'; '.join(actual)}",
                    described,
                    actual,
                )
            )
        else:
            left.remove(match)
    return found


def fired_levels(engine: Engine, item_id: int) -> list[tuple[str, str]]:
    """Return the (deadline scope, level) of every ladder level fired on the item, in order."""
    e, d = engine.store.tables.escalations, engine.store.tables.deadlines
    query = (
        select(d.c.scope, e.c.level)
        .join(d, d.c.id == e.c.deadline_id)
        .where(e.c.item_id == item_id, e.c.outcome == "fired")
        .order_by(e.c.id)
    )
    with engine.store.read() as tx:
        return [(str(r.scope), str(r.level)) for r in tx.connection.execute(query)]


def _agenda(wanted: Sequence[AgendaExpect], engine: Engine, item_id: int) -> list[Mismatch]:
    r = engine.store.tables.review_entries
    query = select(r.c.review, r.c.period, r.c.level).where(r.c.item_id == item_id).order_by(r.c.id)
    with engine.store.read() as tx:
        rows = [(str(x.review), str(x.period), x.level) for x in tx.connection.execute(query)]
    actual = [f"{review} {period} ({level})" for review, period, level in rows]
    found: list[Mismatch] = []
    for index, want in enumerate(wanted):
        if not any(
            want.review == review and want.period in (None, period) and want.level in (None, level)
            for review, period, level in rows
        ):
            described = want.model_dump(exclude_none=True)
            found.append(
                (
                    ("agenda", index),
                    f"expected on the agenda {described}, got {'; '.join(actual) or 'none'}",
                    described,
                    actual,
                )
            )
    return found


def _branch_text(branch: Branch) -> str:
    verdict = f"/{branch.verdict}" if branch.verdict else ""
    return f"{branch.unit} {branch.status}{verdict}"


def _branches(wanted: Sequence[BranchExpect], branches: Sequence[Branch]) -> list[Mismatch]:
    actual = [_branch_text(b) for b in branches]
    if len(wanted) != len(branches):
        return [
            (
                ("branches",),
                f"expected {len(wanted)} branch(es), got {len(branches)}: "
                f"{', '.join(actual) or 'none'}",
                len(wanted),
                actual,
            )
        ]
    found: list[Mismatch] = []
    for index, (want, branch) in enumerate(zip(wanted, branches, strict=True)):
        if (
            want.unit != branch.unit
            or want.status not in (None, branch.status)
            or want.verdict not in (None, branch.verdict)
        ):
            described = want.model_dump(exclude_none=True)
            found.append(
                (
                    ("branches", index),
                    f"expected branch {described}, got {_branch_text(branch)}",
                    described,
                    _branch_text(branch),
                )
            )
    return found


def _notification_matches(want: NotificationExpect, row: Outbox) -> bool:
    rendered = (
        want.channel is not None
        or want.subject_contains is not None
        or want.body_contains is not None
    )
    if rendered and row.kind == "intent":
        return False
    return (
        want.to in (None, row.to)
        and want.channel in (None, row.channel)
        and want.template in (None, row.template)
        and want.urgent in (None, row.urgent)
        and (want.subject_contains is None or want.subject_contains in row.subject)
        and (want.body_contains is None or want.body_contains in row.body)
    )


def _outbox_text(row: Outbox) -> str:
    urgent = " urgent" if row.urgent else ""
    if row.kind == "intent":
        return f"intent {row.template} to {row.to}{urgent}"
    return f"{row.kind} {row.template} to {row.to} on {row.channel}{urgent}: {row.subject!r}"


def _notifications(wanted: Sequence[NotificationExpect], rows: Sequence[Outbox]) -> list[Mismatch]:
    actual = [_outbox_text(r) for r in rows]
    if not wanted and rows:
        return [
            (("notifications",), f"expected no notifications, got {'; '.join(actual)}", [], actual)
        ]
    found: list[Mismatch] = []
    for index, want in enumerate(wanted):
        if not any(_notification_matches(want, row) for row in rows):
            described = want.model_dump(exclude_none=True)
            found.append(
                (
                    ("notifications", index),
                    f"expected a notification {described}, got {'; '.join(actual) or 'none'}",
                    described,
                    actual,
                )
            )
    return found


def _history_text(row: HistoryEntry) -> str:
    return f"{row.kind} {row.event} {row.from_state} -> {row.to_state} by {row.actor_id}"


def _history_matches(want: HistoryExpect, row: HistoryEntry) -> bool:
    return (
        want.event in (None, row.event)
        and want.kind in (None, row.kind)
        and want.from_ in (None, row.from_state)
        and want.to in (None, row.to_state)
        and want.actor in (None, row.actor_id)
        and want.role in (None, row.actor_role)
        and (want.reason_contains is None or want.reason_contains in (row.reason or ""))
    )


def _history(wanted: Sequence[HistoryExpect], rows: Sequence[HistoryEntry]) -> list[Mismatch]:
    actual = [_history_text(r) for r in rows]
    if len(wanted) != len(rows):
        return [
            (
                ("history",),
                f"expected {len(wanted)} history row(s) from this step, got {len(rows)}: "
                f"{'; '.join(actual) or 'none'}",
                len(wanted),
                actual,
            )
        ]
    found: list[Mismatch] = []
    for index, (want, row) in enumerate(zip(wanted, rows, strict=True)):
        if not _history_matches(want, row):
            described = want.model_dump(exclude_none=True, by_alias=True)
            found.append(
                (
                    ("history", index),
                    f"expected history row {described}, got {_history_text(row)}",
                    described,
                    _history_text(row),
                )
            )
    return found


def check(expect: Expect, engine: Engine, item_id: int, marks: Marks) -> list[Mismatch]:
    """Check every key ``expect`` gives; return what did not hold."""
    item = engine.get(item_id)
    found: list[Mismatch] = []
    if expect.state is not None and expect.state != item.state:
        found.append(
            (
                ("state",),
                f"expected state {show(expect.state)}, got {show(item.state)}",
                expect.state,
                item.state,
            )
        )
    if expect.open is not None and expect.open != item.is_open:
        found.append(
            (
                ("open",),
                f"expected open {show(expect.open)}, got {show(item.is_open)}",
                expect.open,
                item.is_open,
            )
        )
    if expect.fields is not None:
        found += _fields(expect.fields, item.data)
    wants_branches = expect.branches is not None or expect.deadlines is not None
    branches = engine.branches(item_id) if wants_branches else []
    if expect.deadlines is not None:
        found += _deadlines(expect.deadlines, engine, item_id, branches)
    if expect.escalations is not None:
        levels = [level for _, level in fired_levels(engine, item_id)]
        if levels != expect.escalations:
            found.append(
                (
                    ("escalations",),
                    f"expected escalations {expect.escalations}, got {levels}",
                    expect.escalations,
                    levels,
                )
            )
    if expect.agenda is not None:
        found += _agenda(expect.agenda, engine, item_id)
    if expect.branches is not None:
        found += _branches(expect.branches, branches)
    if expect.notifications is not None:
        found += _notifications(expect.notifications, outbox_rows(engine, item_id, marks.outbox_id))
    if expect.history is not None:
        rows = [r for r in engine.history(item_id) if r.seq > marks.history_seq]
        found += _history(expect.history, rows)
    return found
