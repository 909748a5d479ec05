"""The escalation scan: one pass over the deadlines that are due, and calendar recomputes.

:class:`Escalator` is what ``workflow tick`` and the daemon run, and what a
host that schedules its own jobs calls (``Escalator(engine).tick()``). One
pass (:meth:`Escalator.tick`):

1. claims a batch of due deadlines under a lease with a random token, in a
   short write transaction of its own (``BEGIN IMMEDIATE`` on SQLite,
   ``FOR UPDATE SKIP LOCKED`` on the servers), and commits the claim so
   other daemons skip those rows;
2. handles each claimed deadline in its own write transaction: checks the
   lease, lets the core apply the due ladder levels
   (:meth:`~workflow.core.engine.Core.apply_due`), and releases the lease
   with the deadline's next look-at time. A release that fails (the lease
   ran out, say because the process was paused past it, and another daemon
   took the deadline) rolls the whole transaction back, so nothing is
   committed twice; so does a conflict with a concurrent move of the item
   (:class:`~workflow.errors.ConcurrentUpdate`) or a level someone else
   recorded first (the unique (deadline, level) escalation row);
3. claims the next batch, until nothing is due (or a bound is reached).

The pass only ever reads and writes claimed rows (and the items they belong
to): its cost grows with the number of due deadlines, not stored items.

"Is it due?" is judged by the database clock (:func:`~workflow.store.timers.db_now`)
unless the caller passes a time, as ``workflow tick --now`` and tests do.

Every action is logged on the ``workflow.scan`` logger with the item id, the
level and the deadline's scope, never the item's data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from workflow.core import deadlines as deadline_rules
from workflow.core.values import Deadline, DueOutcome, HistoryEntry
from workflow.errors import ConcurrentUpdate, StoreError
from workflow.schedule.calendar import FIXED_STATUTORY_DAYS, BusinessCalendar
from workflow.store import timers

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.core.ports import Calendar, Due, StoreTransaction

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_PER_TICK",
    "RECALENDAR_EVENT",
    "DeadlineAction",
    "Escalator",
    "RecalendarReport",
    "Recalendared",
    "TickReport",
]

log = logging.getLogger("workflow.scan")

DEFAULT_LEASE = dt.timedelta(seconds=60)
"""How long a claim keeps other daemons off a deadline (far longer than its handling)."""

DEFAULT_BATCH = 500
"""How many due deadlines one claim takes."""

DEFAULT_MAX_PER_TICK = 100_000
"""How many deadlines one pass handles at most (the rest wait for the next pass)."""

RECALENDAR_EVENT = "@recalendar"
"""The history event of a due time moved because official holiday data arrived."""


class _AppliesDue(Protocol):
    """The core's per-deadline step (``Core.apply_due``)."""

    def apply_due(self, tx: StoreTransaction, deadline_id: int, now: dt.datetime) -> DueOutcome:
        """Apply the due ladder levels of one deadline at ``now``."""
        ...


class _LeaseLost(Exception):
    """Raised inside a deadline's transaction to roll it back: the lease is not ours any more."""


@dataclass(frozen=True)
class DeadlineAction:
    """What one pass did to one deadline (committed)."""

    deadline_id: int
    item_id: int
    scope: str
    branch_id: int | None
    fired: tuple[str, ...]
    """Ladder levels applied, in order."""
    skipped: tuple[str, ...]
    """Levels skipped by ``catch_up: highest``."""
    timed_out: bool
    """A joint-handling branch's silence was counted at its due time."""
    next_at: dt.datetime | None
    """When the deadline is looked at next (None: never)."""


@dataclass(frozen=True)
class TickReport:
    """The outcome of one pass: what was done per deadline, what was left, and how long it took."""

    now: dt.datetime
    """The time the pass judged "due" by (of its first claim)."""
    token: str
    """The lease token of the pass."""
    duration: float
    """Seconds the pass took."""
    claimed: int
    """Deadlines claimed (each is in exactly one of actions, conflicts, lost_leases, failures)."""
    batches: int
    """Claims made (the last one may have come back empty)."""
    actions: tuple[DeadlineAction, ...] = ()
    """Deadlines handled and committed, in the order handled."""
    conflicts: tuple[int, ...] = ()
    """Deadline ids rolled back because the item changed meanwhile or a level was already
    recorded; their lease runs out and a later pass looks again."""
    lost_leases: tuple[int, ...] = ()
    """Deadline ids whose lease was gone when the work was to be committed (rolled back)."""
    failures: tuple[int, ...] = ()
    """Deadline ids whose handling raised an unexpected error (rolled back, logged)."""

    @property
    def fired_count(self) -> int:
        """How many ladder levels were applied."""
        return sum(len(a.fired) for a in self.actions)

    @property
    def skipped_count(self) -> int:
        """How many ladder levels were skipped (catch-up: highest)."""
        return sum(len(a.skipped) for a in self.actions)

    @property
    def timed_out_count(self) -> int:
        """How many branch timeouts were counted."""
        return sum(1 for a in self.actions if a.timed_out)

    def summary(self) -> str:
        """Describe the pass in one line (for logs and the CLI)."""
        return (
            f"{self.claimed} due, {self.fired_count} level(s) fired, "
            f"{self.skipped_count} skipped, {self.timed_out_count} timed out, "
            f"{len(self.conflicts)} conflict(s), {len(self.lost_leases)} lost lease(s), "
            f"{len(self.failures)} failure(s) in {self.duration:.3f} s"
        )


@dataclass(frozen=True)
class Recalendared:
    """A deadline whose due time moved when official holiday data arrived."""

    deadline_id: int
    item_id: int
    old_due: dt.datetime
    new_due: dt.datetime
    provisional: bool
    """Whether the new due time still relies on a year without official data."""


@dataclass(frozen=True)
class RecalendarReport:
    """The outcome of :meth:`Escalator.recompute_provisional`."""

    checked: int
    moved: tuple[Recalendared, ...] = ()
    confirmed: tuple[int, ...] = ()
    """Deadline ids whose due time held under official data (marked no longer provisional)."""
    busy: tuple[int, ...] = ()
    """Deadline ids left for later: leased by a scan, or their item changed meanwhile."""


@dataclass
class _Pass:
    """What a pass has gathered so far."""

    token: str
    now: dt.datetime | None = None
    claimed: int = 0
    batches: int = 0
    seen: set[int] = field(default_factory=set)
    actions: list[DeadlineAction] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)


class Escalator:
    """Runs escalation passes over an engine's database (SQL store only).

    ``lease`` is how long a claim keeps others off a deadline: a pass that
    stalls longer than that (a paused process, a very slow batch) loses
    the deadlines it had not finished and commits none of them.
    ``max_per_tick`` bounds one pass, so a huge backlog after downtime is
    worked off over several passes instead of one unbounded one. ``token``
    is the lease token of every pass (the daemon passes the one it
    registered with); by default each pass draws a random one.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        lease: dt.timedelta = DEFAULT_LEASE,
        max_per_tick: int = DEFAULT_MAX_PER_TICK,
        token: str | None = None,
    ) -> None:
        if engine.store.engine is None:
            raise StoreError(
                "the scan opens its own transactions: build the engine over a database "
                "engine (Engine.from_engine / from_url), not a host's connection"
            )
        if lease <= dt.timedelta(0):
            raise ValueError("the lease must be positive")
        self.engine = engine
        self.lease = lease
        self.max_per_tick = max_per_tick
        self.token = token
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ask a running pass (in another thread) to end after its batch; no pass runs after."""
        self._stopping.set()

    # -- one pass -------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None, *, limit: int = DEFAULT_BATCH) -> TickReport:
        """Run one escalation pass; ``limit`` is the size of each claimed batch.

        ``now`` (aware) is the time "due" is judged by, and the leases are
        counted from; by default the database clock, read at each claim.
        """
        if now is not None and now.tzinfo is None:
            raise ValueError("tick needs a timezone-aware time")
        if limit < 1:
            raise ValueError("the batch size must be at least 1")
        started = time.perf_counter()
        state = _Pass(token=self.token or uuid.uuid4().hex)
        while not self._stopping.is_set() and state.claimed < self.max_per_tick:
            room = min(limit, self.max_per_tick - state.claimed)
            moment, ids = self._claim(state.token, now, room)
            state.batches += 1
            if state.now is None:
                state.now = moment
            fresh = [i for i in ids if i not in state.seen]
            state.claimed += len(ids)
            for deadline_id in ids:
                state.seen.add(deadline_id)
                self._handle(state, deadline_id, moment, explicit=now is not None)
            # Fewer than asked: nothing else is due. Nothing new: a deadline came
            # back due at once (its next look is not later than now): the next
            # pass takes it, instead of this one spinning on it.
            if len(ids) < room or not fresh:
                break
        report = TickReport(
            now=state.now or now or dt.datetime.now(dt.UTC),
            token=state.token,
            duration=time.perf_counter() - started,
            claimed=state.claimed,
            batches=state.batches,
            actions=tuple(state.actions),
            conflicts=tuple(state.conflicts),
            lost_leases=tuple(state.lost),
            failures=tuple(state.failures),
        )
        if report.claimed:
            log.info("pass %s: %s", state.token[:8], report.summary())
        return report

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """Open a write connection of the store's pool (BEGIN IMMEDIATE on SQLite), not begun."""
        store = self.engine.store
        assert store.engine is not None  # checked in __init__
        with timers.claim_connection(store.engine, schema=store.schema) as connection:
            yield connection

    def _claim(
        self, token: str, now: dt.datetime | None, limit: int
    ) -> tuple[dt.datetime, list[int]]:
        """Claim up to ``limit`` due deadlines in a short transaction of its own.

        A claim the database chose as a deadlock's victim (InnoDB's gap locks
        under concurrent writers; PostgreSQL's serialization failures) took
        nothing: it is tried again, up to :data:`CLAIM_ATTEMPTS` times in all.
        """
        t = self.engine.store.tables
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            try:
                with self._connection() as connection, connection.begin():
                    moment = now if now is not None else timers.db_now(connection)
                    ids = timers.claim_due(
                        connection, t, now=moment, token=token, lease=self.lease, limit=limit
                    )
                return moment, ids
            except DBAPIError as error:
                if attempt == CLAIM_ATTEMPTS or not _retryable(error):
                    raise
                log.info("claim attempt %d was a deadlock's victim, trying again", attempt)
        raise AssertionError("not reached")  # pragma: no cover - the loop returns or raises

    def _handle(self, state: _Pass, deadline_id: int, now: dt.datetime, *, explicit: bool) -> None:
        """Handle one claimed deadline in its own transaction; record what happened."""
        applier = cast("_AppliesDue", self.engine)
        deadline: Deadline | None = None
        try:
            with self.engine.store.write() as tx:
                connection, t = tx.connection, tx.t
                # A daemon's lease is judged by the database clock now, not at the
                # claim: a process paused past its lease must find it gone.
                lease_now = now if explicit else timers.db_now(connection)
                if not timers.holds_lease(connection, t, deadline_id, state.token, lease_now):
                    raise _LeaseLost
                deadline = timers.load_deadline(connection, t, deadline_id)
                outcome = applier.apply_due(tx, deadline_id, now)
                released = timers.release(
                    connection,
                    t,
                    deadline_id,
                    state.token,
                    outcome.next_at,
                    now=now if explicit else None,
                )
                if not released:
                    raise _LeaseLost
        except _LeaseLost:
            state.lost.append(deadline_id)
            log.warning("deadline %s: lease lost, rolled back (another pass has it)", deadline_id)
            return
        except ConcurrentUpdate as error:
            state.conflicts.append(deadline_id)
            log.info(
                "deadline %s of item %s: the item changed meanwhile, left for the next pass",
                deadline_id,
                error.item_id,
            )
            return
        except IntegrityError:
            state.conflicts.append(deadline_id)
            log.info(
                "deadline %s: a level was already recorded by someone else, rolled back",
                deadline_id,
            )
            return
        except DBAPIError as error:
            state.failures.append(deadline_id)
            log.warning(
                "deadline %s: database error, left for the next pass: %s",
                deadline_id,
                _first_line(error),
            )
            return
        except Exception:
            # One broken deadline (say, a definition no longer loaded) must not stop
            # the others; its lease runs out and every later pass reports it again.
            state.failures.append(deadline_id)
            log.exception("deadline %s: handling failed, rolled back", deadline_id)
            return
        scope = deadline.scope if deadline is not None else "?"
        branch = deadline.branch_id if deadline is not None else None
        action = DeadlineAction(
            deadline_id=deadline_id,
            item_id=outcome.item_id,
            scope=scope,
            branch_id=branch,
            fired=tuple(outcome.fired),
            skipped=tuple(outcome.skipped),
            timed_out=outcome.timed_out,
            next_at=outcome.next_at,
        )
        state.actions.append(action)
        where = f"{scope} (branch {branch})" if branch is not None else scope
        for level in action.skipped:
            log.info("item %s: level %s skipped (catch-up), %s", action.item_id, level, where)
        for level in action.fired:
            log.info("item %s: level %s fired, %s", action.item_id, level, where)
        if action.timed_out:
            log.info("item %s: branch timed out, %s", action.item_id, where)
        if action.next_at is not None and action.next_at <= now:
            log.warning(
                "deadline %s of item %s is due again at once (next look %s): check its ladder",
                deadline_id,
                action.item_id,
                action.next_at.isoformat(),
            )

    # -- provisional calendars ------------------------------------------------------------

    def recompute_provisional(
        self, now: dt.datetime | None = None, *, limit: int = 10_000
    ) -> RecalendarReport:
        """Recompute the due times that relied on a year without official holiday data.

        Run it when the calendar may have learnt a year (the daemon does, at
        start: a library upgrade or a local override means a restart). For
        each open provisional deadline the span of working days that fell in
        formerly provisional years is counted again with the official data;
        a due time that moves is written with a history row on the item
        (kind ``calendar``, event ``@recalendar``, input ``{old_due,
        new_due}``) and a fresh next look; one that holds is just marked
        official. Deadlines a scan holds, and items that changed meanwhile,
        are left for the next call.
        """
        calendar = self.engine.calendar
        if calendar is None:
            return RecalendarReport(checked=0)
        d = self.engine.store.tables.deadlines
        with self.engine.store.read() as tx:
            candidates = [
                int(i)
                for i in tx.connection.execute(
                    select(d.c.id)
                    .where(d.c.provisional.is_(True), d.c.status.in_(timers.OPEN_STATUSES))
                    .order_by(d.c.id)
                    .limit(limit)
                ).scalars()
            ]
        moved: list[Recalendared] = []
        confirmed: list[int] = []
        busy: list[int] = []
        for deadline_id in candidates:
            try:
                with self.engine.store.write() as tx:
                    moment = now if now is not None else timers.db_now(tx.connection)
                    result = self._recalendar(tx, tx.connection, calendar, deadline_id, moment)
            except ConcurrentUpdate:
                busy.append(deadline_id)
                continue
            if result is None:
                continue
            if isinstance(result, str):
                (busy if result == "busy" else confirmed).append(deadline_id)
            else:
                moved.append(result)
                log.info(
                    "item %s: deadline %s due %s moved to %s (official calendar)",
                    result.item_id,
                    deadline_id,
                    result.old_due.isoformat(),
                    result.new_due.isoformat(),
                )
        return RecalendarReport(
            checked=len(candidates),
            moved=tuple(moved),
            confirmed=tuple(confirmed),
            busy=tuple(busy),
        )

    def _recalendar(
        self,
        tx: StoreTransaction,
        connection: Connection,
        calendar: Calendar,
        deadline_id: int,
        now: dt.datetime,
    ) -> Recalendared | str | None:
        """Recount one deadline in the caller's transaction; say what became of it."""
        t = self.engine.store.tables
        d = t.deadlines
        query = select(d.c.lease_until).where(d.c.id == deadline_id)
        if connection.dialect.name != "sqlite":
            # Locked until commit: a claim skips it meanwhile (SKIP LOCKED), and a
            # claim made before waits for us to read its lease and stay away.
            query = query.with_for_update()
        lease_until = connection.execute(query).scalar_one_or_none()
        if lease_until is not None and lease_until > now:
            return "busy"
        deadline = timers.load_deadline(connection, t, deadline_id)
        if deadline is None or not deadline.provisional or not deadline.is_open:
            return None
        due = recount_due(calendar, deadline)
        if due.at == deadline.due_at:
            if due.provisional:
                return None  # still no official data for its span: nothing to do yet
            tx.update_deadlines([dataclasses.replace(deadline, provisional=False)])
            return "confirmed"
        item = tx.load_item(deadline.item_id)
        if item is None:  # pragma: no cover - deadlines belong to items (foreign key)
            return None
        changed = dataclasses.replace(deadline, due_at=due.at, provisional=due.provisional)
        if changed.status == "running":
            definition = self.engine._definition(tx, item.definition_hash)
            done = timers.fired_levels(connection, t, deadline_id)
            changed = dataclasses.replace(
                changed, next_at=deadline_rules.next_check(definition, calendar, changed, done)
            )
        row = HistoryEntry(
            item_id=item.id,
            seq=item.version + 1,
            kind="calendar",
            event=RECALENDAR_EVENT,
            from_state=item.state,
            to_state=item.state,
            actor_id="engine",
            actor_role=None,
            input={
                "deadline": deadline_id,
                "scope": deadline.scope,
                "old_due": deadline.due_at.isoformat(),
                "new_due": due.at.isoformat(),
            },
            reason=None,
            changes=None,
            definition_hash=item.definition_hash,
            at=now,
        )
        bumped = dataclasses.replace(item, version=item.version + 1, updated_at=now)
        if not tx.update_item(bumped, item.version):
            raise ConcurrentUpdate(
                item_id=item.id,
                event=RECALENDAR_EVENT,
                state=item.state,
                expected=item.version,
                actual=tx.current_version(item.id),
            )
        tx.append_history([row])
        tx.update_deadlines([changed])
        return Recalendared(
            deadline_id=deadline_id,
            item_id=item.id,
            old_due=deadline.due_at,
            new_due=due.at,
            provisional=due.provisional,
        )


def recount_due(calendar: Calendar, deadline: Deadline) -> Due:
    """Count a provisional deadline's due time again with the calendar as it is now.

    A due time is a run of working days counted from the start (extensions
    and resumed pauses continue the same run). Years before the span's last
    New Year were official when it was counted (the State Council publishes
    a year's schedule in the November before it), so only the tail from
    there on is recounted: its working days under the provisional rules
    (weekdays, less the fixed-date statutory days, with the office's own
    dates for the year) are counted out again on the calendar's current
    data. A span within one year was provisional throughout, and is
    recounted from its start. For a deadline that was never paused or
    extended this equals counting ``amount`` working days from its start.
    Calendars other than :class:`BusinessCalendar` count from the start.
    """
    if deadline.unit != "working_days":
        # Hours and calendar days never depended on holidays.
        return _Due(deadline.due_at, False)
    if not isinstance(calendar, BusinessCalendar):
        return calendar.add(deadline.started_at, deadline.amount, deadline.unit)
    zone = calendar.zone
    start = deadline.started_at.astimezone(zone)
    due_day = deadline.due_at.astimezone(zone).date()
    if due_day.year > start.year:
        anchor_day = dt.date(due_day.year - 1, 12, 31)
        anchor = dt.datetime.combine(anchor_day, calendar.office_end, tzinfo=zone)
    else:
        anchor_day, anchor = start.date(), start
    count = 0
    day = anchor_day
    while day < due_day:
        day += dt.timedelta(days=1)
        if _provisionally_working(calendar, day):
            count += 1
    if count == 0:  # pragma: no cover - a working-day due time ends on a working day
        return _Due(deadline.due_at, deadline.provisional)
    return calendar.add(anchor.astimezone(dt.UTC), count, "working_days")


def _provisionally_working(calendar: BusinessCalendar, day: dt.date) -> bool:
    """Tell whether ``day`` was a working day on the provisional calendar of its year."""
    override = calendar.overrides.get(day.year)
    # An official override is the new data itself; an unofficial one (an office's
    # own guess for the year) was already part of the provisional count.
    if override is not None and not override.official:
        if day in override.workdays:
            return True
        if day in override.holidays:
            return False
    return day.weekday() < 5 and (day.month, day.day) not in FIXED_STATUTORY_DAYS


@dataclass(frozen=True)
class _Due:
    at: dt.datetime
    provisional: bool


CLAIM_ATTEMPTS = 3
"""How many times a pass tries its claim when the database aborts it as a deadlock."""

_RETRYABLE_MYSQL = frozenset({1205, 1213})  # lock wait timeout, deadlock
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def _retryable(error: DBAPIError) -> bool:
    """Tell whether the database rolled the statement back only to break a lock conflict."""
    original = error.orig
    if getattr(original, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    arguments: tuple[object, ...] = getattr(original, "args", ())
    return bool(arguments) and arguments[0] in _RETRYABLE_MYSQL


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
