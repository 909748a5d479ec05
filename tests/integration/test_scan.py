"""The escalation scan (``workflow.schedule.scan``) on SQLite, PostgreSQL and MariaDB.

Items of a small definition with a two-level ladder (a reminder at the due
time, the monthly review three working days later) are made overdue by
passing an explicit ``now``; nothing waits for a timer. Each (item, level)
is applied exactly once however often the scan runs; ``catch_up: highest``
skips with history rows; a pass that lost its lease commits nothing; a pass
costs as many statements for 10 due items among 10 as among 5,000; and due
times computed over a year without official holidays are recomputed when
the data arrives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, insert, select, update
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError

from tests.backends import Backend
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.engine import Core
from workflow.core.values import Actor, Deadline, DueOutcome, ItemSnapshot
from workflow.definition.loader import Catalog, load_definition
from workflow.directory.static import StaticDirectory
from workflow.errors import ConcurrentUpdate
from workflow.schedule.calendar import BusinessCalendar, YearOverride
from workflow.schedule.scan import Escalator, recount_due
from workflow.store import timers
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

__all__ = [
    "LADDER_YAML",
    "OFFICE",
    "UNIT",
    "Scene",
    "catalog",
    "scene",
]

needs_apply_due = pytest.mark.skipif(
    not hasattr(Core, "apply_due"), reason="Core.apply_due (the lead's) has not landed yet"
)

LADDER_YAML = """\
id: {id}
version: 1
title: {{zh: 催辦測試, en: Ladder test}}
initial: handling
started_by: office
fields:
  title:
    type: string
  lead_unit:
    type: ref
    ref: unit
  flagged:
    type: boolean
    default: false
  escalation_level:
    type: string
roles:
  office:
    group: coordinating_office
  unit:
    field: lead_unit
states:
  handling:
    label: {{zh: 辦理, en: Handling}}
    deadline: {{amount: 2, unit: working_days}}
  done:
    label: {{zh: 完成, en: Done}}
    final: true
events:
  - name: finish
    label: {{zh: 完成, en: Finish}}
    from: handling
    to: done
    roles: [office, unit]
  - name: decide
    label: {{zh: 例會決定, en: Meeting decision}}
    from: handling
    to: handling
    roles: office
escalation:
  catch_up: {catch_up}
  levels:
    - name: reminder
      label: {{zh: 催辦, en: Reminder}}
      after: 0
      notify: unit
      set: {{flagged: true, escalation_level: "'reminder'"}}
    - name: monthly
      label: {{zh: 月度例會, en: Monthly review}}
      after: 3
      review: monthly
      set: {{escalation_level: "'monthly'"}}
reviews:
  monthly:
    label: {{zh: 每月例會, en: Monthly meeting}}
    period: month
    cron: "0 9 1 * *"
    decisions: decide
"""
"""A workflow with a two-level ladder feeding the monthly review (format: id, catch_up)."""

OFFICE = Actor("li", frozenset({"office"}))
UNIT = Actor("chen", frozenset({"unit"}))
DIRECTORY = StaticDirectory(
    groups={"coordinating_office": ["li"]},
    members={("unit", "u_culture"): ["chen"], ("unit", "u_finance"): ["qian"]},
)
# Monday 2 November 2026, 09:00 in Shanghai: due (2 working days) Wednesday 17:30,
# the reminder then, the monthly review level Monday 9 November 17:30.
START = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
LEASE = dt.timedelta(seconds=60)


def catalog(folder: Path) -> Catalog:
    """Write and load the two ladder workflows (catch-up all, and highest)."""
    definitions = []
    for workflow_id, catch_up in (("ladder_all", "all"), ("ladder_high", "highest")):
        path = folder / f"{workflow_id}.yaml"
        path.write_text(LADDER_YAML.format(id=workflow_id, catch_up=catch_up), encoding="utf-8")
        definitions.append(load_definition(str(path)))
    return Catalog(definitions)


@dataclass
class Scene:
    """An upgraded engine over the ladder workflows on one backend, with a manual clock."""

    backend: Backend
    sa: SqlEngine
    engine: Engine
    clock: ManualClock
    definitions: Catalog

    def start(
        self, workflow: str = "ladder_all", title: str = "需要場地", unit: str = "u_culture"
    ) -> ItemSnapshot:
        return self.engine.start(workflow, OFFICE, {"title": title, "lead_unit": unit})

    def engine_with(self, *, calendar: Any = None, cls: type[Engine] = Engine) -> Engine:
        """Another engine on the same tables (another class or calendar)."""
        return cls.from_engine(
            self.sa,
            definitions=self.definitions,
            directory=DIRECTORY,
            clock=self.clock,
            calendar=calendar,
            prefix=self.backend.prefix,
        )

    def deadline(self, item_id: int) -> Deadline:
        """The item's one non-branch deadline (open or not), newest first."""
        d = self.tables.deadlines
        with self.sa.connect() as conn:
            deadline_id = conn.execute(
                select(d.c.id).where(d.c.item_id == item_id).order_by(d.c.id.desc())
            ).scalar_one()
            found = timers.load_deadline(conn, self.tables, deadline_id)
        assert found is not None
        return found

    @property
    def tables(self) -> Any:
        return self.engine.store.tables

    def escalations(self, item_id: int | None = None) -> list[tuple[int, str, str]]:
        """(item, level, outcome) rows, in the order recorded."""
        e = self.tables.escalations
        query = select(e.c.item_id, e.c.level, e.c.outcome).order_by(e.c.id)
        if item_id is not None:
            query = query.where(e.c.item_id == item_id)
        with self.sa.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def events(self, item_id: int) -> list[str]:
        return [row.event for row in self.engine.history(item_id)]


@pytest.fixture
def scene(backend: Backend, tmp_path: Path) -> Iterator[Scene]:
    """The ladder workflows on ``backend``, upgraded, with a manual clock at START."""
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        definitions = catalog(tmp_path)
        clock = ManualClock(START)
        engine = Engine.from_engine(
            sa, definitions=definitions, directory=DIRECTORY, clock=clock, prefix=backend.prefix
        )
        yield Scene(backend, sa, engine, clock, definitions)
    finally:
        sa.dispose()


class _Hooked(Engine):
    """An engine whose ``apply_due`` runs a test's hook inside the scan's transaction."""

    hook: Any = None

    def apply_due(self, tx: Any, deadline_id: int, now: dt.datetime) -> DueOutcome:
        outcome: DueOutcome = super().apply_due(tx, deadline_id, now)
        if type(self).hook is not None:
            type(self).hook(tx, deadline_id)
        return outcome


# -- exactly once ---------------------------------------------------------------------------


@needs_apply_due
def test_each_level_fires_exactly_once_across_repeated_ticks(scene: Scene) -> None:
    items = [scene.start(title=f"問題 {n}") for n in range(3)]
    due = scene.deadline(items[0].id).due_at
    monthly = due + dt.timedelta(days=5)  # Wednesday 17:30 + 3 working days = Monday 17:30
    escalator = Escalator(scene.engine)

    early = escalator.tick(due - HOUR)
    assert (early.claimed, early.actions) == (0, ())

    for _ in range(3):
        escalator.tick(due + HOUR)
    assert scene.escalations() == [(i.id, "reminder", "fired") for i in items]

    reports = [escalator.tick(monthly + HOUR) for _ in range(3)]
    assert [a.fired for a in reports[0].actions] == [("monthly",)] * 3
    assert [r.claimed for r in reports[1:]] == [0, 0]
    assert sorted(scene.escalations()) == sorted(
        (i.id, level, "fired") for i in items for level in ("reminder", "monthly")
    )
    for item in items:
        events = scene.events(item.id)
        assert events.count("@escalate:reminder") == 1
        assert events.count("@escalate:monthly") == 1
        assert scene.engine.verify(item.id) == []
        stored = scene.engine.get(item.id)
        assert stored.data["flagged"] is True
        assert stored.data["escalation_level"] == "monthly"
        # Nothing left to look at: the ladder is done.
        assert scene.deadline(item.id).next_at is None


@needs_apply_due
def test_catch_up_all_fires_every_missed_level_in_order(scene: Scene) -> None:
    item = scene.start("ladder_all")
    late = scene.deadline(item.id).due_at + dt.timedelta(days=30)
    report = Escalator(scene.engine).tick(late)
    assert [(a.item_id, a.fired, a.skipped) for a in report.actions] == [
        (item.id, ("reminder", "monthly"), ())
    ]
    assert scene.events(item.id)[-2:] == ["@escalate:reminder", "@escalate:monthly"]


@needs_apply_due
def test_catch_up_highest_skips_the_lower_levels_with_history_rows(scene: Scene) -> None:
    item = scene.start("ladder_high")
    late = scene.deadline(item.id).due_at + dt.timedelta(days=30)
    report = Escalator(scene.engine).tick(late)
    (action,) = report.actions
    assert (action.fired, action.skipped) == (("monthly",), ("reminder",))
    assert (report.fired_count, report.skipped_count) == (1, 1)
    assert scene.events(item.id)[-2:] == ["@skip:reminder", "@escalate:monthly"]
    assert scene.escalations(item.id) == [
        (item.id, "reminder", "skipped"),
        (item.id, "monthly", "fired"),
    ]
    # Skipped is done: later passes neither fire nor skip it again.
    assert Escalator(scene.engine).tick(late + dt.timedelta(days=1)).claimed == 0
    assert scene.engine.verify(item.id) == []


@needs_apply_due
def test_a_pass_claims_in_batches_until_nothing_is_due(scene: Scene) -> None:
    items = [scene.start(title=f"問題 {n}") for n in range(7)]
    due = scene.deadline(items[0].id).due_at
    report = Escalator(scene.engine).tick(due + HOUR, limit=3)
    assert report.claimed == 7
    assert report.batches == 3  # 3 + 3 + 1: the short batch ends the pass
    assert sorted(a.item_id for a in report.actions) == [i.id for i in items]


@needs_apply_due
def test_max_per_tick_bounds_a_pass_and_the_next_one_continues(scene: Scene) -> None:
    items = [scene.start(title=f"問題 {n}") for n in range(5)]
    due = scene.deadline(items[0].id).due_at
    escalator = Escalator(scene.engine, max_per_tick=2)
    assert escalator.tick(due + HOUR).claimed == 2
    assert escalator.tick(due + HOUR).claimed == 2
    assert escalator.tick(due + HOUR).claimed == 1
    assert escalator.tick(due + HOUR).claimed == 0
    assert len(scene.escalations()) == 5


@needs_apply_due
def test_closed_items_and_paused_clocks_are_never_claimed(scene: Scene) -> None:
    open_item = scene.start()
    closed = scene.start()
    scene.engine.fire(closed.id, "finish", OFFICE)
    due = scene.deadline(open_item.id).due_at
    report = Escalator(scene.engine).tick(due + dt.timedelta(days=30))
    assert [a.item_id for a in report.actions] == [open_item.id]
    assert scene.escalations(closed.id) == []


# -- leases and conflicts -------------------------------------------------------------------


def _claim(scene: Scene, token: str, now: dt.datetime) -> list[int]:
    with scene.sa.connect().execution_options(workflow_write=True) as conn, conn.begin():
        return timers.claim_due(conn, scene.tables, now=now, token=token, lease=LEASE, limit=100)


def _work_as(scene: Scene, token: str, deadline_id: int, now: dt.datetime) -> DueOutcome:
    """Handle a deadline as the scan does, checking the lease at ``now`` (the stale one's)."""
    with scene.engine.store.write() as tx:
        outcome = scene.engine.apply_due(tx, deadline_id, now)
        if not timers.release(tx.connection, tx.t, deadline_id, token, None, now=now):
            raise LookupError("lease lost")  # what the scan does: roll everything back
    return outcome


@needs_apply_due
def test_a_lost_lease_commits_nothing_twice(scene: Scene) -> None:
    item = scene.start()
    t = scene.deadline(item.id).due_at + HOUR
    later = t + LEASE + dt.timedelta(seconds=1)
    history = scene.events(item.id)
    # A claims at t and escalates, but is paused (SIGSTOP) before committing, past its
    # lease: its release, judged when it resumes, fails, and its work rolls back.
    (deadline_id,) = _claim(scene, "token-a", t)
    with pytest.raises(LookupError, match="lease lost"):
        _work_as(scene, "token-a", deadline_id, later)
    assert scene.events(item.id) == history
    assert scene.escalations(item.id) == []
    # B claims after the lease ran out and escalates: once.
    b = Escalator(scene.engine, lease=LEASE).tick(later)
    assert [(a.deadline_id, a.fired) for a in b.actions] == [(deadline_id, ("reminder",))]
    # A, still believing in its claim of t, tries again: the lease is B's history now.
    with pytest.raises(LookupError, match="lease lost"):
        _work_as(scene, "token-a", deadline_id, t)
    assert scene.escalations(item.id) == [(item.id, "reminder", "fired")]
    assert scene.events(item.id) == [*history, "@escalate:reminder"]
    assert scene.engine.verify(item.id) == []


@needs_apply_due
def test_a_pass_whose_lease_is_taken_meanwhile_rolls_back_its_work(scene: Scene) -> None:
    item = scene.start()
    t = scene.deadline(item.id).due_at + HOUR
    history = scene.events(item.id)

    def steal(tx: Any, deadline_id: int) -> None:
        # What another daemon's claim after our lease ran out looks like to our release.
        d = tx.t.deadlines
        tx.connection.execute(
            update(d).where(d.c.id == deadline_id).values(lease_token="someone-else")
        )

    engine = scene.engine_with(cls=_Hooked)
    _Hooked.hook = steal
    try:
        report = Escalator(engine).tick(t)
    finally:
        _Hooked.hook = None
    assert report.lost_leases == (scene.deadline(item.id).id,)
    assert report.actions == ()
    assert scene.events(item.id) == history
    assert scene.escalations(item.id) == []
    # The lease (ours, never released) runs out; the next pass does the work once.
    again = Escalator(scene.engine).tick(t + LEASE + dt.timedelta(seconds=1))
    assert [a.fired for a in again.actions] == [("reminder",)]
    assert scene.escalations(item.id) == [(item.id, "reminder", "fired")]


@needs_apply_due
@pytest.mark.parametrize("error", ["conflict", "duplicate"])
def test_a_conflict_rolls_back_and_leaves_the_deadline_for_a_later_pass(
    scene: Scene, error: str
) -> None:
    item = scene.start()
    t = scene.deadline(item.id).due_at + HOUR
    history = scene.events(item.id)

    def fail(_tx: Any, _deadline_id: int) -> None:
        if error == "conflict":
            raise ConcurrentUpdate(
                item_id=item.id, event="@escalate", state="handling", expected=2, actual=3
            )
        raise IntegrityError("INSERT INTO escalations", {}, Exception("duplicate key"))

    engine = scene.engine_with(cls=_Hooked)
    _Hooked.hook = fail
    try:
        report = Escalator(engine).tick(t)
    finally:
        _Hooked.hook = None
    assert report.conflicts == (scene.deadline(item.id).id,)
    assert scene.events(item.id) == history
    # Still leased: not claimable before the lease runs out, then done once.
    assert Escalator(scene.engine).tick(t).claimed == 0
    later = Escalator(scene.engine).tick(t + LEASE + dt.timedelta(seconds=1))
    assert [a.fired for a in later.actions] == [("reminder",)]


@needs_apply_due
def test_the_database_clock_judges_what_is_due_by_default(scene: Scene) -> None:
    # The manual clock is in the past (2 November 2026); the database's is now.
    item = scene.start()
    report = Escalator(scene.engine).tick()
    assert abs(report.now - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert [a.item_id for a in report.actions] == [item.id]


# -- cost -----------------------------------------------------------------------------------


def _count_statements(sa: SqlEngine) -> tuple[list[str], Any]:
    seen: list[str] = []

    def count(_conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(sa, "before_cursor_execute", count)
    return seen, count


def _bulk_items(scene: Scene, count: int, digest: str) -> None:
    """Store ``count`` more open items, each with a running deadline not due for a year."""
    t = scene.tables
    far = START + dt.timedelta(days=400)
    with scene.sa.begin() as conn:
        conn.execute(
            insert(t.items),
            [
                {
                    "workflow_id": "ladder_all",
                    "definition_hash": digest,
                    "state": "handling",
                    "data": {"title": f"存量 {n}", "lead_unit": "u_culture", "flagged": False},
                    "version": 1,
                    "is_open": True,
                    "created_by": "bulk",
                    "created_at": START,
                    "updated_at": START,
                }
                for n in range(count)
            ],
        )
        ids = conn.execute(select(t.items.c.id).where(t.items.c.created_by == "bulk")).scalars()
        conn.execute(
            insert(t.deadlines),
            [
                {
                    "item_id": i,
                    "scope": "handling",
                    "started_seq": 1,
                    "started_at": START,
                    "amount": 2,
                    "unit": "working_days",
                    "due_at": far,
                    "status": "running",
                    "provisional": False,
                    "next_at": far,
                }
                for i in ids
            ],
        )


@needs_apply_due
def test_a_pass_costs_the_same_for_ten_due_among_ten_as_among_five_thousand(
    scene: Scene,
) -> None:
    escalator = Escalator(scene.engine)

    def round_of_ten() -> list[str]:
        items = [scene.start(title=f"問題 {n}") for n in range(10)]
        due = scene.deadline(items[0].id).due_at
        seen, listener = _count_statements(scene.sa)
        try:
            report = escalator.tick(due + HOUR)
        finally:
            event.remove(scene.sa, "before_cursor_execute", listener)
        assert [a.fired for a in report.actions] == [("reminder",)] * 10
        for item in items:  # out of the way of the next round
            scene.engine.fire(item.id, "finish", OFFICE)
        return seen

    alone = round_of_ten()
    digest = scene.engine.get(1).definition_hash
    _bulk_items(scene, 4_990, digest)
    scene.clock.advance(dt.timedelta(days=7))  # the same weekday: the same ladder times
    among_many = round_of_ten()
    assert len(among_many) == len(alone), (len(alone), len(among_many))


# -- provisional calendars ------------------------------------------------------------------

# 2027 has no official data in chinesecalendar 1.11 (the State Council publishes it in
# November); an office enters the notice as a local override.
OFFICIAL_2027 = YearOverride(
    holidays=frozenset(dt.date(2027, 1, d) for d in (1, 2, 3, 4)),
    workdays=frozenset(),
    official=True,
)


@needs_apply_due
def test_provisional_due_times_are_recomputed_when_official_data_arrives(
    scene: Scene,
) -> None:
    # Wednesday 30 December 2026: two working days run into 2027 (no official data yet):
    # Thursday 31 and, provisionally, Monday 4 January (1 January is a fixed holiday).
    scene.clock.set(dt.datetime(2026, 12, 30, 2, 0, tzinfo=dt.UTC))
    item = scene.start()
    before = scene.deadline(item.id)
    assert before.provisional
    assert before.due_at == dt.datetime(2027, 1, 4, 9, 30, tzinfo=dt.UTC)
    now = dt.datetime(2026, 12, 30, 3, 0, tzinfo=dt.UTC)

    # Still no data: nothing to recompute.
    unchanged = Escalator(scene.engine).recompute_provisional(now)
    assert (unchanged.checked, unchanged.moved) == (1, ())

    official = BusinessCalendar(overrides={2027: OFFICIAL_2027})
    engine = scene.engine_with(calendar=official)
    report = Escalator(engine).recompute_provisional(now)
    (moved,) = report.moved
    assert (moved.item_id, moved.old_due, moved.provisional) == (item.id, before.due_at, False)
    assert moved.new_due == dt.datetime(2027, 1, 5, 9, 30, tzinfo=dt.UTC)
    after = scene.deadline(item.id)
    assert (after.due_at, after.provisional) == (moved.new_due, False)
    assert after.next_at == moved.new_due  # the reminder is at the due time
    last = scene.engine.history(item.id)[-1]
    assert (last.kind, last.event, last.actor_id) == ("calendar", "@recalendar", "engine")
    assert last.input is not None
    assert last.input["old_due"] == before.due_at.isoformat()
    assert last.input["new_due"] == moved.new_due.isoformat()
    assert scene.engine.verify(item.id) == []
    # Done once: the deadline is official now.
    assert Escalator(engine).recompute_provisional(now).checked == 0


def test_recount_continues_the_run_of_an_extended_deadline() -> None:
    # An extension started on 31 December replaced a deadline due 4 January with one
    # two more working days later (provisionally 6 January): recounting keeps the run.
    provisional_due = dt.datetime(2027, 1, 6, 9, 30, tzinfo=dt.UTC)
    extended = Deadline(
        id=1,
        item_id=1,
        branch_id=None,
        scope="handling",
        started_seq=3,
        started_at=dt.datetime(2026, 12, 31, 2, 0, tzinfo=dt.UTC),
        due_at=provisional_due,
        amount=2,
        unit="working_days",
        status="running",
        provisional=True,
    )
    official = BusinessCalendar(overrides={2027: OFFICIAL_2027})
    due = recount_due(official, extended)
    # 4 January is a holiday now: 5, 6, 7 January are the 1st to 3rd working days of 2027.
    assert due.at == dt.datetime(2027, 1, 7, 9, 30, tzinfo=dt.UTC)
    assert not due.provisional
    # Counting the original amount from the extension's start would have shrunk it.
    assert official.add(extended.started_at, extended.amount, "working_days").at < due.at
    hours = dataclasses.replace(extended, unit="hours")
    assert recount_due(official, hours).at == provisional_due
