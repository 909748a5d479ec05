"""A fire is all or nothing: a failure at any statement leaves no trace, on all three backends.

A hook in the database driver first records every statement one ``fire``
sends (on SQLite that includes the ``BEGIN IMMEDIATE``). Then, for every statement k,
the same fire runs on a fresh, identical item with an injected
``OperationalError`` raised just *before* statement k is sent, and again just
*after* it has run; a last run fails in the ``commit`` event, after every
statement but before the COMMIT reaches the database. Each time the fire
raises; the item, its history, its branches and the row count of every
table are exactly as before; and a normal fire afterwards gives exactly what
an undisturbed fire gives (so no partial write survived and no connection
was handed back mid-transaction: the pool holds a single connection, so the
next operation reuses the one that failed).

What is *not* injectable honestly is a failure inside the database's own
COMMIT: the client cannot tell a commit that died before the server applied
it from one whose acknowledgement was lost. Both outcomes are covered: the
commit-event failure is the first, and a dialect ``do_commit`` that performs
the real COMMIT and then raises is the second. In that case the fire raises
although the whole step is stored, and a caller who retries with the
version it had seen is refused with ``ConcurrentUpdate`` instead of applying
the step twice.

Four fires are covered: a plain event (``accept``), an event that enters
joint handling (``request_joint``, which inserts branches), the joint
answer that completes the join (the answer and ``@joint_complete`` rows,
branch updates), and a lone move (``amend``: only the item and its history
row change). Each is broken three times over (four on SQLite):

* ``driver-owned``: as the store runs it by default, when nothing listens to
  the engine's connection events: the transaction on the pooled DB-API
  connection, the prepared statements straight on the driver's cursor. The
  commit failure is injected in the dialect's ``do_commit`` (an event
  listener would switch this path off). On PostgreSQL a lone move is one
  statement that commits itself (``_begin_at_first_write`` in
  ``workflow.store.sql``): a failure reported after it is a lost
  acknowledgement, so the whole step is stored and a retry with the version
  seen before is refused, as for a failure after the COMMIT;
* ``driver-path``: the same statements, in a SQLAlchemy ``Connection``'s
  transaction (a ``commit`` listener is registered, and the failure is
  injected there);
* ``driver-held`` (SQLite): as ``driver-owned``, with a pool of two, so the
  store keeps one connection for all its writes instead of checking one out
  per transaction (``SqlStore._held_writer``): a failed fire must leave that
  connection as clean as the pool's reset would;
* ``core-path``: through SQLAlchemy's execution, which the store falls back
  to whenever a cursor-execute listener is registered. That is also why the
  faults are not injected from SQLAlchemy's cursor events: listening there
  would silently switch the store to the fallback (see ``DriverHooks``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import Select, event, func, select
from sqlalchemy.exc import OperationalError

from tests.backends import Backend
from tests.integration.concurrency_worker import (
    ENTERPRISE_ACTOR,
    LEAD_UNIT,
    UNITS,
    DriverHooks,
    office,
    open_engine,
    staff,
    start_item,
)
from workflow.app import Engine
from workflow.core.values import Actor, Branch, HistoryEntry, ItemSnapshot
from workflow.errors import ConcurrentUpdate
from workflow.store.migrate import upgrade
from workflow.store.schema import build_tables
from workflow.store.sql import create_database_engine

CO_UNITS = [UNITS[0], UNITS[1]]


def injected(sa_engine: SqlEngine) -> Exception:
    """The failure we inject: the driver's own OperationalError (a lost connection, a full disk)."""
    error: Exception = sa_engine.dialect.loaded_dbapi.OperationalError("injected")
    return error


@dataclass(frozen=True)
class Scenario:
    """A fire to break: how to prepare its item, the fire itself, and what it must write."""

    prepare: Callable[[Engine], int]
    event: str
    actor: Actor
    data: dict[str, Any]
    # Writes the fire must send, so that the injection points are known to cover them.
    writes: tuple[str, ...]
    # Only the item and its history row change (one self-committing statement on
    # PostgreSQL when the store owns the transaction).
    lone_move: bool = False


def _dispatched_and_signed(engine: Engine) -> int:
    item_id = start_item(engine)
    engine.fire(item_id, "accept", office(0), {"lead_unit": LEAD_UNIT})
    engine.fire(item_id, "sign_for", staff(LEAD_UNIT))
    return item_id


def _one_answer_given(engine: Engine) -> int:
    item_id = _dispatched_and_signed(engine)
    engine.fire(item_id, "request_joint", staff(LEAD_UNIT), {"co_units": CO_UNITS})
    engine.fire(
        item_id, "give_opinion", staff(CO_UNITS[0]), {"verdict": "agree", "opinion": "fine"}
    )
    return item_id


SCENARIOS = {
    "plain-event": Scenario(
        prepare=start_item,
        event="accept",
        actor=office(0),
        data={"lead_unit": LEAD_UNIT},
        writes=("UPDATE items", "INSERT INTO history"),
    ),
    "enter-joint-handling": Scenario(
        prepare=_dispatched_and_signed,
        event="request_joint",
        actor=staff(LEAD_UNIT),
        data={"co_units": CO_UNITS},
        writes=("UPDATE items", "INSERT INTO history", "INSERT INTO branches"),
    ),
    "answer-completing-the-join": Scenario(
        prepare=_one_answer_given,
        event="give_opinion",
        actor=staff(CO_UNITS[1]),
        data={"verdict": "disagree", "opinion": "needs a permit first"},
        writes=("UPDATE items", "INSERT INTO history", "UPDATE branches"),
    ),
    "lone-move": Scenario(
        prepare=start_item,
        event="amend",
        actor=ENTERPRISE_ACTOR,
        data={"description": "We need a venue for about 400 people in March."},
        writes=("UPDATE items", "INSERT INTO history"),
        lone_move=True,
    ),
}


class Faults:
    """Records the statements of an armed operation, and fails one of them on request.

    ``fail`` is ``("before", k)``, ``("after", k)`` (statement k counted from 0)
    or ``("commit", 0)``; ``None`` only records. Statements are seen where they
    reach the driver (see :class:`DriverHooks`); ``core_executes`` counts the
    ones that went through SQLAlchemy's ``Connection.execute`` as well.
    """

    def __init__(self, sa_engine: SqlEngine, hooks: DriverHooks, *, listen: bool = True) -> None:
        self.sa_engine = sa_engine
        self.armed = False
        self.fail: tuple[str, int] | None = None
        self.statements: list[str] = []
        self.commits = 0
        self.core_executes = 0
        hooks.before = self._before
        hooks.after = self._after
        if listen:
            event.listen(sa_engine, "commit", self._commit)
            # Not a cursor-execute event: it does not turn the store's driver-level path off.
            event.listen(sa_engine, "before_execute", self._core_execute)
        else:
            # Any connection-event listener would switch the store's own transactions
            # off: fail the commit in the dialect, before the real one.
            real = sa_engine.dialect.do_commit

            def do_commit(dbapi_connection: Any) -> None:
                self._commit(None)
                real(dbapi_connection)

            sa_engine.dialect.do_commit = do_commit  # type: ignore[method-assign]

    @contextmanager
    def arm(self, fail: tuple[str, int] | None = None) -> Iterator[None]:
        """Record (and maybe fail) what runs inside the block."""
        self.armed, self.fail, self.statements = True, fail, []
        self.commits = self.core_executes = 0
        try:
            yield
        finally:
            self.armed, self.fail = False, None

    def _before(self, statement: str) -> None:
        if not self.armed:
            return
        self.statements.append(statement)
        if self.fail == ("before", len(self.statements) - 1):
            raise injected(self.sa_engine)

    def _after(self, statement: str) -> None:
        if self.armed and self.fail == ("after", len(self.statements) - 1):
            raise injected(self.sa_engine)

    def _commit(self, conn: Any) -> None:
        if not self.armed:
            return
        self.commits += 1
        if self.fail == ("commit", 0):
            # Raised before SQLAlchemy's own error handling: wrap it as that would.
            raise OperationalError("COMMIT", None, injected(self.sa_engine))

    def _core_execute(self, *args: Any) -> None:
        if self.armed:
            self.core_executes += 1


@dataclass(frozen=True)
class State:
    """Everything a fire could change: the item, its history and branches, all row counts."""

    item: ItemSnapshot
    history: list[HistoryEntry]
    branches: list[Branch]
    counts: dict[str, int]

    def anonymous(self) -> tuple[Any, ...]:
        """The state without ids, to compare two items that went through the same steps."""
        return (
            dataclasses.replace(self.item, id=0),
            [dataclasses.replace(h, item_id=0) for h in self.history],
            [dataclasses.replace(b, id=0, item_id=0) for b in self.branches],
        )


@functools.cache
def _counting(prefix: str) -> Select[Any]:
    """One statement that counts the rows of every workflow table (one column per table)."""
    return select(
        *(
            select(func.count()).select_from(t).scalar_subquery().label(t.name)
            for t in build_tables(prefix).metadata.sorted_tables
        )
    )


def row_counts(sa_engine: SqlEngine, prefix: str) -> dict[str, int]:
    """Count the rows of every workflow table, on a connection of its own (one statement)."""
    with sa_engine.connect() as conn:
        return dict(conn.execute(_counting(prefix)).one()._mapping)


@dataclass
class Harness:
    """One way of executing over one backend: an engine with a single pooled connection,
    its faults, and an outside observer for row counts.
    """

    engine: Engine
    faults: Faults
    observer: SqlEngine
    prefix: str
    path: str
    backend: str

    def state(self, item_id: int) -> State:
        """Read the item through the engine (its one connection) and count rows from outside."""
        return State(
            self.engine.get(item_id),
            self.engine.history(item_id),
            self.engine.branches(item_id),
            row_counts(self.observer, self.prefix),
        )

    def fire(self, scenario: Scenario, item_id: int, **options: Any) -> ItemSnapshot:
        """Fire the scenario's event on ``item_id``."""
        return self.engine.fire(item_id, scenario.event, scenario.actor, scenario.data, **options)


@pytest.fixture
def harnesses(backend: Backend) -> Iterator[list[Harness]]:
    """Three engines (four on SQLite) over one upgraded database, most with a pool of one.

    The store runs its own transactions on the bare DB-API connection unless
    something listens to the engine's connection events, and sends its
    per-transition statements straight to the driver unless a cursor-execute
    listener is registered. The ``driver-owned`` engine has no listener; the
    ``driver-path`` one has the faults' ``commit`` listener; the ``core-path``
    one also has a cursor-execute listener that does nothing. So every way
    of executing is broken in turn.
    """
    setup = create_database_engine(backend.url)
    try:
        upgrade(setup, prefix=backend.prefix)
    finally:
        setup.dispose()
    made: list[Harness] = []
    paths = ["driver-owned", "driver-path", "core-path"]
    if backend.name == "sqlite":
        paths.append("driver-held")
    try:
        for path in paths:
            hooks = DriverHooks()
            # "driver-held": a pool with room for the connection a SQLite store keeps
            # for its writes (see test_store_writer); the others hold exactly one.
            size = 2 if path == "driver-held" else 1
            engine = open_engine(
                backend.url, backend.prefix, pool_size=size, max_overflow=0, hooks=hooks
            )
            sa_engine = engine.store.engine
            assert sa_engine is not None
            if path == "core-path":
                event.listen(sa_engine, "before_cursor_execute", _passive)
            faults = Faults(sa_engine, hooks, listen=path not in ("driver-owned", "driver-held"))
            made.append(Harness(engine, faults, backend.engine, backend.prefix, path, backend.name))
        yield made
    finally:
        for harness in made:
            harness.engine.dispose()


def _passive(*args: Any) -> None:
    """A cursor-execute listener that does nothing (it makes the store use SQLAlchemy's path)."""


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Rows added per table."""
    return {name: after[name] - before[name] for name in after}


@pytest.mark.slow
def test_a_failure_at_any_statement_leaves_no_trace(harnesses: list[Harness]) -> None:
    """Fail each statement of each fire, before and after it runs, and its commit: no trace."""
    for harness in harnesses:
        for name, scenario in SCENARIOS.items():
            check_no_trace(harness, f"{harness.path}, {name}", scenario)


def check_no_trace(harness: Harness, name: str, scenario: Scenario) -> None:
    """Break one fire at every point in turn, on fresh identical items."""
    # The undisturbed fire, recorded: its statements, and what it leaves behind.
    reference_id = scenario.prepare(harness.engine)
    reference_before = harness.state(reference_id)
    with harness.faults.arm():
        harness.fire(scenario, reference_id)
    statements = list(harness.faults.statements)
    assert harness.faults.commits == 1, name
    # Its one statement commits it: a failure after that one is a lost acknowledgement.
    self_committing = (
        scenario.lone_move and harness.path == "driver-owned" and harness.backend == "postgresql"
    )
    if self_committing:
        assert len(statements) == 2, (name, statements)  # the read and the move, no BEGIN
    if harness.path == "driver-held":
        assert harness.engine.store._writer is not None, f"{name}: no connection kept for writes"
    if harness.path == "driver-path":
        assert harness.faults.core_executes < len(statements), (
            f"{name}: every statement went through SQLAlchemy's Connection.execute: the "
            "store's driver-level path was not exercised (if it is gone, drop this case)"
        )
    reference = harness.state(reference_id)
    added = delta(reference.counts, reference_before.counts)
    assert reference.item.version > reference_before.item.version, name
    assert harness.engine.verify(reference_id) == [], name
    sent = [" ".join(s.split()) for s in statements]
    for write in scenario.writes:
        verb, table = write.rsplit(" ", 1)
        # Anywhere in a statement: one statement may do several writes (a CTE).
        assert any(f"{verb} {harness.prefix}{table}" in s for s in sent), (name, write, sent)

    points = [("before", k) for k in range(len(statements))]
    points += [("after", k) for k in range(len(statements))]
    points += [("commit", 0)]
    for point in points:
        item_id = scenario.prepare(harness.engine)
        before = harness.state(item_id)
        with harness.faults.arm(point), pytest.raises(OperationalError, match="injected"):
            harness.fire(scenario, item_id)
        where = f"{name}: failure {point[0]} {statements[point[1]][:60]!r}"
        if self_committing and point in (("after", len(statements) - 1), ("commit", 0)):
            stored = harness.state(item_id)
            assert stored.anonymous() == reference.anonymous(), where
            assert delta(stored.counts, before.counts) == added, where
            with pytest.raises(ConcurrentUpdate):
                harness.fire(scenario, item_id, expected_version=before.item.version)
            assert harness.state(item_id) == stored, where
            continue
        assert harness.state(item_id) == before, where
        held = harness.engine.store._writer
        if held is not None:  # kept across the failure: rolled back, as the pool's reset would
            assert not held.pooled.dbapi_connection.in_transaction, where
        # The same fire again, undisturbed, on the connection that failed.
        harness.fire(scenario, item_id)
        after = harness.state(item_id)
        assert after.anonymous() == reference.anonymous(), where
        assert delta(after.counts, before.counts) == added, where
        assert harness.engine.verify(item_id) == [], where


def test_a_failure_after_the_commit_leaves_the_whole_step(
    harnesses: list[Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COMMIT went through but its acknowledgement was lost: all of the step is stored.

    The caller sees an error; retrying with the version it had seen is
    refused as a concurrent update, so the step is never applied twice.
    """
    for harness in harnesses:
        sa_engine = harness.engine.store.engine
        assert sa_engine is not None

        def commit_then_fail(
            dbapi_connection: Any, real: Any = sa_engine.dialect.do_commit, bind: Any = sa_engine
        ) -> None:
            real(dbapi_connection)
            raise injected(bind)

        for name, scenario in SCENARIOS.items():
            where = f"{harness.path}, {name}"
            reference_id = scenario.prepare(harness.engine)
            reference_before = harness.state(reference_id)
            harness.fire(scenario, reference_id)
            reference = harness.state(reference_id)

            item_id = scenario.prepare(harness.engine)
            before = harness.state(item_id)
            with monkeypatch.context() as patch:
                patch.setattr(sa_engine.dialect, "do_commit", commit_then_fail)
                with pytest.raises(OperationalError, match="injected"):
                    harness.fire(scenario, item_id)
            after = harness.state(item_id)
            assert after.anonymous() == reference.anonymous(), where
            assert delta(after.counts, before.counts) == delta(
                reference.counts, reference_before.counts
            ), where
            assert harness.engine.verify(item_id) == [], where
            with pytest.raises(ConcurrentUpdate):
                harness.fire(scenario, item_id, expected_version=before.item.version)
            assert harness.state(item_id) == after, where
