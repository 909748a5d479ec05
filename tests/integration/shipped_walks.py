"""Shared pieces of the walks through the shipped workflows other than ``enterprise_issue``.

The walks run on the real :class:`~workflow.app.Engine` with the shipped
definitions and the shipped sample directory (``definitions/_directory/
sample.yaml``), so they also prove the sample has everyone each workflow
binds. Time is a :class:`~workflow.core.clock.ManualClock` that starts on
Monday 2 November 2026, 09:00 in Shanghai (no holiday near it); the
escalation scan is run with explicit times, and every expected due time is
written out by hand in the tests.

Test modules import the fixtures by name (``from tests.integration.shipped_walks
import walk``): pytest finds fixtures in a test module's namespace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select

from tests.backends import Backend
from tests.conftest import DEFINITIONS
from tests.integration.engine_fixtures import shipped_catalog
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.values import Actor, Deadline, ItemSnapshot
from workflow.directory.static import StaticDirectory
from workflow.schedule.scan import Escalator, TickReport
from workflow.store import timers
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

__all__ = [
    "MONDAY",
    "ON_SQLITE",
    "SAMPLE_DIRECTORY",
    "Intent",
    "Walk",
    "person",
    "utc",
    "walk",
]

SAMPLE_DIRECTORY = StaticDirectory.from_file(str(DEFINITIONS / "_directory" / "sample.yaml"))

MONDAY = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
"""Monday 2 November 2026, 09:00 in Shanghai (UTC+8)."""


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """A moment of 2026 (November unless ``month`` says), in UTC (Shanghai is UTC+8)."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def person(person_id: str, *roles: str) -> Actor:
    """Return an actor of the sample directory claiming ``roles``."""
    return Actor(person_id, frozenset(roles))


@dataclass(frozen=True)
class Intent:
    """One notification intent as the outbox holds it (what the tests compare)."""

    seq: int
    role: str
    template: str
    urgent: bool
    kind: str


@dataclass
class Walk:
    """An upgraded engine over the shipped definitions and the sample directory."""

    backend: Backend
    sa: SqlEngine
    engine: Engine
    clock: ManualClock

    def start(self, workflow: str, who: Actor, data: dict[str, Any]) -> ItemSnapshot:
        """Start an item of ``workflow`` as ``who``."""
        return self.engine.start(workflow, who, data)

    def fire(
        self,
        item: ItemSnapshot,
        event: str,
        who: Actor,
        data: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> ItemSnapshot:
        """Fire ``event`` on ``item`` as ``who``; check the history still replays."""
        after = self.engine.fire(item.id, event, who, data, reason=reason)
        assert self.engine.verify(item.id) == []
        return after

    def refused(
        self, item: ItemSnapshot, expected: type[Exception], call: Callable[[], Any]
    ) -> Any:
        """Run ``call``, expect ``expected``, and check nothing stored about the item changed."""
        before = (
            self.engine.get(item.id),
            self.engine.history(item.id),
            self.engine.branches(item.id),
            self.intents(item.id),
        )
        with pytest.raises(expected) as caught:
            call()
        after = (
            self.engine.get(item.id),
            self.engine.history(item.id),
            self.engine.branches(item.id),
            self.intents(item.id),
        )
        assert after == before
        return caught.value

    def events(self, item_id: int) -> list[str]:
        """The item's history, as event names (``@escalate:LEVEL`` for ladder rows)."""
        return [row.event for row in self.engine.history(item_id)]

    def fired(self, item_id: int) -> set[str]:
        """The events people fired on the item (events and joint answers)."""
        return {
            row.event for row in self.engine.history(item_id) if row.kind in ("event", "answer")
        }

    def states(self, item_id: int) -> list[str]:
        """Every state the item has been in, in order, without repeats."""
        seen: list[str] = []
        for row in self.engine.history(item_id):
            if row.to_state is not None and row.to_state not in seen:
                seen.append(row.to_state)
        return seen

    def intents(self, item_id: int) -> list[Intent]:
        """The item's notification intents, in the order written."""
        outbox = self.engine.store.tables.outbox
        with self.sa.connect() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.item_id == item_id).order_by(outbox.c.id)
            )
            return [
                Intent(
                    seq=row.history_seq,
                    role=row.recipient.removeprefix("role:"),
                    template=row.template,
                    urgent=bool(row.payload["urgent"]),
                    kind=row.payload["kind"],
                )
                for row in rows
            ]

    def intents_at(self, item: ItemSnapshot) -> list[Intent]:
        """The intents written by the item's latest history row."""
        return [i for i in self.intents(item.id) if i.seq == item.version]

    def deadlines(self, item_id: int) -> list[Deadline]:
        """The item's clocks (running or not), oldest first."""
        tables = self.engine.store.tables
        d = tables.deadlines
        with self.sa.connect() as conn:
            ids = conn.execute(
                select(d.c.id).where(d.c.item_id == item_id).order_by(d.c.id)
            ).scalars()
            found = [timers.load_deadline(conn, tables, deadline_id) for deadline_id in ids]
        return [deadline for deadline in found if deadline is not None]

    def running(self, item_id: int) -> list[Deadline]:
        """The item's running clocks."""
        return [d for d in self.deadlines(item_id) if d.status == "running"]

    def escalations(self, item_id: int) -> list[tuple[str, str]]:
        """(level, outcome) rows recorded for the item, in order."""
        e = self.engine.store.tables.escalations
        with self.sa.connect() as conn:
            rows = conn.execute(
                select(e.c.level, e.c.outcome).where(e.c.item_id == item_id).order_by(e.c.id)
            )
            return [(row.level, row.outcome) for row in rows]

    def tick(self, now: dt.datetime) -> TickReport:
        """Run one escalation pass at ``now`` (and move the clock there)."""
        self.clock.set(now)
        return Escalator(self.engine).tick(now)


@pytest.fixture
def walk(backend: Backend) -> Iterator[Walk]:
    """A walk on ``backend``: every backend, unless the test is marked :data:`ON_SQLITE`."""
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        clock = ManualClock(MONDAY)
        engine = Engine.from_engine(
            sa,
            definitions=shipped_catalog(),
            directory=SAMPLE_DIRECTORY,
            clock=clock,
            prefix=backend.prefix,
        )
        yield Walk(backend, sa, engine, clock)
    finally:
        sa.dispose()


ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
"""Run a test on SQLite only (the lifecycle tours run on every backend)."""
