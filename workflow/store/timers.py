"""The database side of timers: deadline clocks, the scan's leases, escalations, agendas, daemons.

Plain functions over a SQLAlchemy :class:`~sqlalchemy.Connection` and the
:class:`~workflow.store.schema.Tables`. None of them begins, commits or rolls
back: they run inside the caller's transaction (the engine's for a fire, the
scan's for an escalation), so a clock, an escalation or an agenda entry is
written together with the move it belongs to, or not at all.

How the scan uses them, per round::

    claim (short transaction)     now = db_now(c); ids = claim_due(c, t, now=now, token=...)
    per deadline (one each)       holds_lease(...) ... work ... release(...) -> False: roll back

``claim_due`` leases what is due to one daemon, so two daemons never work on
the same deadline at once; a daemon that stalls past its lease loses it, and
its ``release`` then fails so that it commits nothing. The UNIQUE constraint
on (deadline, level) in ``escalations`` is the last line: even a stale daemon
that got that far cannot record a level twice.

Times are aware UTC datetimes in and out (see
:class:`~workflow.store.schema.UTCDateTime`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from workflow.core.values import Deadline
from workflow.errors import StoreError
from workflow.store.schema import Tables

__all__ = [
    "OPEN_STATUSES",
    "AgendaEntry",
    "DaemonRecord",
    "ScanPlan",
    "add_review_entry",
    "carry_over",
    "claim_connection",
    "claim_due",
    "db_now",
    "fired_levels",
    "for_claim",
    "heartbeat",
    "holds_lease",
    "insert_deadlines",
    "insert_ignore",
    "lease_rows",
    "live_daemons",
    "load_agenda",
    "load_deadline",
    "load_open_deadlines",
    "mark_stopped",
    "record_escalation",
    "register_daemon",
    "release",
    "resolve_review_entries",
    "scan_plan",
    "update_deadlines",
]

OPEN_STATUSES: tuple[str, ...] = ("running", "paused")
"""The statuses of a deadline whose clock has not ended."""

_MYSQL_NAMES = ("mysql", "mariadb")

# Executed with this option, the store's SQLite engine begins with BEGIN IMMEDIATE.
_WRITE_OPTION = "workflow_write"

# The deadline columns that change after insertion (the rest describe how it began).
_DEADLINE_WRITES = ("status", "due_at", "paused_at", "next_at", "ended_at", "provisional")


# --- the clock ----------------------------------------------------------------


def db_now(connection: Connection) -> dt.datetime:
    """Return the database server's clock, as an aware UTC datetime.

    Several daemons on several hosts judge "is it due?" by this one clock, so
    a host whose clock drifts cannot fire early or late; the daemon compares
    it with its own and warns when they differ. PostgreSQL's
    ``clock_timestamp()`` is the time of the call (``now()`` would be the
    start of the transaction); SQLite's clock has millisecond precision.
    """
    name = connection.dialect.name
    if name == "postgresql":
        query = "SELECT clock_timestamp() AT TIME ZONE 'UTC'"
    elif name in _MYSQL_NAMES:
        query = "SELECT UTC_TIMESTAMP(6)"
    elif name == "sqlite":
        query = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
    else:
        raise StoreError(f"no database clock known for the {name!r} dialect")
    value = connection.execute(text(query)).scalar_one()
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, dt.datetime):
        raise StoreError(f"the database clock returned {value!r}, not a timestamp")
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# --- deadlines ----------------------------------------------------------------


def _deadline(row: Row[Any]) -> Deadline:
    return Deadline(
        id=row.id,
        item_id=row.item_id,
        branch_id=row.branch_id,
        scope=row.scope,
        started_seq=row.started_seq,
        started_at=row.started_at,
        due_at=row.due_at,
        amount=row.amount,
        unit=row.unit,
        status=row.status,
        provisional=bool(row.provisional),
        paused_at=row.paused_at,
        next_at=row.next_at,
        ended_at=row.ended_at,
    )


def load_open_deadlines(connection: Connection, t: Tables, item_id: int) -> list[Deadline]:
    """Return the item's running and paused deadlines (branch ones included), oldest first."""
    d = t.deadlines
    query = select(d).where(d.c.item_id == item_id, d.c.status.in_(OPEN_STATUSES)).order_by(d.c.id)
    return [_deadline(row) for row in connection.execute(query)]


def load_deadline(connection: Connection, t: Tables, deadline_id: int) -> Deadline | None:
    """Return one deadline, whatever its status, or None if there is no such id."""
    d = t.deadlines
    row = connection.execute(select(d).where(d.c.id == deadline_id)).first()
    return None if row is None else _deadline(row)


def insert_deadlines(connection: Connection, t: Tables, deadlines: Sequence[Deadline]) -> list[int]:
    """Insert new deadlines (their ``id`` is ignored) and return their ids, in order."""
    statement = insert(t.deadlines)
    ids: list[int] = []
    # One statement per row: a move starts one to three clocks, and this is the
    # one way to get each id back on all three backends (MySQL has no RETURNING).
    for deadline in deadlines:
        result = connection.execute(
            statement,
            {
                "item_id": deadline.item_id,
                "branch_id": deadline.branch_id,
                "scope": deadline.scope,
                "started_seq": deadline.started_seq,
                "started_at": deadline.started_at,
                "amount": deadline.amount,
                "unit": deadline.unit,
                "due_at": deadline.due_at,
                "paused_at": deadline.paused_at,
                "status": deadline.status,
                "provisional": deadline.provisional,
                "next_at": deadline.next_at,
                "ended_at": deadline.ended_at,
            },
        )
        key = result.inserted_primary_key
        if key is None:
            raise StoreError("the database did not report the new deadline's id")
        ids.append(int(key[0]))
    return ids


def update_deadlines(connection: Connection, t: Tables, deadlines: Sequence[Deadline]) -> None:
    """Write the changing fields of existing deadlines.

    Those are ``status``, ``due_at``, ``paused_at``, ``next_at``, ``ended_at``
    and ``provisional``; the lease columns are left alone (only the scan's
    :func:`claim_due` and :func:`release` handle them).
    """
    if not deadlines:
        return
    d = t.deadlines
    statement = (
        update(d)
        .where(d.c.id == bindparam("w_id"))
        .values({name: bindparam(f"v_{name}", type_=d.c[name].type) for name in _DEADLINE_WRITES})
    )
    rows = [
        {
            "w_id": deadline.id,
            "v_status": deadline.status,
            "v_due_at": deadline.due_at,
            "v_paused_at": deadline.paused_at,
            "v_next_at": deadline.next_at,
            "v_ended_at": deadline.ended_at,
            "v_provisional": deadline.provisional,
        }
        for deadline in deadlines
    ]
    connection.execute(statement, rows[0] if len(rows) == 1 else rows)


# --- the scan's leases --------------------------------------------------------


def _due_query(t: Tables, connection: Connection, now: dt.datetime, limit: int) -> Select[Any]:
    """Build the scan's question: which deadlines are due and not leased to a live daemon."""
    d = t.deadlines
    query = (
        select(d.c.id)
        # next_at is NULL for every clock that is not running: this range on the
        # deadlines_next index reaches live clocks only.
        .where(d.c.next_at <= now, or_(d.c.lease_until.is_(None), d.c.lease_until < now))
        .order_by(d.c.next_at)
        .limit(limit)
    )
    return for_claim(query, connection)


def for_claim(query: Select[Any], connection: Connection) -> Select[Any]:
    """Make a claim's SELECT lock what it reads, skipping rows another claimer holds.

    Two claimers at once each take rows the other has not locked, instead of
    queueing behind each other's locks (or both getting them). SQLite has no
    row locks: its claimers run under BEGIN IMMEDIATE, one at a time, and the
    query is returned as it is.
    """
    if connection.dialect.name == "sqlite":
        return query
    return query.with_for_update(skip_locked=True)


@contextmanager
def claim_connection(bind: Engine, *, schema: str | None = None) -> Iterator[Connection]:
    """Open a connection for claims (not begun): the store's write mode, READ COMMITTED on MySQL.

    On SQLite the store's engine then begins with ``BEGIN IMMEDIATE`` (see
    ``workflow.store.sql.create_database_engine``), so claimers queue on the
    lock. On MySQL/MariaDB, REPEATABLE READ would also lock the gaps of the
    index range the claim read, until it commits (see :func:`claim_due`).
    ``schema`` places the tables (PostgreSQL), as the store does.
    """
    options: dict[str, Any] = {_WRITE_OPTION: True}
    if schema is not None:
        options["schema_translate_map"] = {None: schema}
    if bind.dialect.name in _MYSQL_NAMES:
        options["isolation_level"] = "READ COMMITTED"
    with bind.connect().execution_options(**options) as connection:
        yield connection


def lease_rows(
    connection: Connection, table: Table, ids: Sequence[int], values: Mapping[str, Any]
) -> None:
    """Write ``values`` (a lease token and its end) to the rows ``ids`` just claimed."""
    if not ids:
        return
    if connection.dialect.name in _MYSQL_NAMES:
        # One row per statement: on a small table InnoDB runs ``id IN (...)`` as
        # a full scan, and under REPEATABLE READ keeps a lock on every row it
        # looked at, so the other claimers' SKIP LOCKED would skip everything.
        connection.execute(
            update(table).where(table.c.id == bindparam("w_id")).values(dict(values)),
            [{"w_id": row_id} for row_id in ids],
        )
    else:
        connection.execute(update(table).where(table.c.id.in_(ids)).values(dict(values)))


def claim_due(
    connection: Connection,
    t: Tables,
    *,
    now: dt.datetime,
    token: str,
    lease: dt.timedelta,
    limit: int,
) -> list[int]:
    """Lease up to ``limit`` due deadlines to ``token`` until ``now + lease``; return their ids.

    Due means ``next_at <= now``, and no live lease (none, or one that ran
    out before ``now``). The earliest come first. The caller commits the claim
    at once, in its own short transaction, so that other daemons see it; on
    SQLite that transaction must be ``BEGIN IMMEDIATE`` (see the store's
    ``workflow_write`` execution option), which serialises claimers. On
    MySQL/MariaDB, READ COMMITTED suits the claim best: REPEATABLE READ also
    locks the gaps of the index range it read, until the claim commits.
    """
    ids = [int(row[0]) for row in connection.execute(_due_query(t, connection, now, limit))]
    lease_rows(connection, t.deadlines, ids, {"lease_token": token, "lease_until": now + lease})
    return ids


def holds_lease(
    connection: Connection, t: Tables, deadline_id: int, token: str, now: dt.datetime
) -> bool:
    """Tell whether ``token`` still holds the lease on the deadline at ``now``.

    A cheap check before expensive work; :func:`release` is the check that counts.
    """
    d = t.deadlines
    query = select(d.c.id).where(
        d.c.id == deadline_id, d.c.lease_token == token, d.c.lease_until > now
    )
    return connection.execute(query).first() is not None


def release(
    connection: Connection,
    t: Tables,
    deadline_id: int,
    token: str,
    next_at: dt.datetime | None,
    *,
    now: dt.datetime | None = None,
) -> bool:
    """End ``token``'s lease on the deadline and set when the scan should look next.

    Returns False when the lease is no longer ``token``'s at ``now`` (it ran
    out, or another daemon claimed the deadline since): the caller must then
    roll back everything it did in this transaction, so a daemon that stalled
    past its lease commits nothing. Call it last, after the other writes, so
    that nothing is committed from a lease checked too early. ``now``
    defaults to the database clock; pass the clock the claims used (tests use
    a manual one).

    ``next_at`` is what the caller computed from what it read; a fire
    committed meanwhile may have paused or ended the clock (or the item
    moved on), so ``next_at`` is written only if the row is still running.
    A fire that resumed it can only have moved its times later, so a stale
    ``next_at`` is at worst early, and costs one more look.
    """
    d = t.deadlines
    when = now if now is not None else db_now(connection)
    result = connection.execute(
        update(d)
        .where(d.c.id == deadline_id, d.c.lease_token == token, d.c.lease_until > when)
        .values(
            lease_token=None,
            lease_until=None,
            next_at=case(
                (d.c.status == "running", literal(next_at, type_=d.c.next_at.type)),
                else_=null(),
            ),
        )
    )
    return bool(result.rowcount == 1)


@dataclass(frozen=True)
class ScanPlan:
    """How the database runs the scan's due query: its SQL and its EXPLAIN output."""

    sql: str
    plan: str

    def uses(self, index: str) -> bool:
        """Tell whether the plan mentions the index (e.g. ``wf_deadlines_next``)."""
        return index in self.plan


def scan_plan(connection: Connection, t: Tables, now: dt.datetime, *, limit: int = 100) -> ScanPlan:
    """Explain the due query of :func:`claim_due` on this connection (benchmarks, tests).

    SQLite runs ``EXPLAIN QUERY PLAN``, the others ``EXPLAIN``. On a table of
    a few rows PostgreSQL and MariaDB rightly prefer a full scan; to see the
    index chosen, fill the table or (PostgreSQL) ``SET enable_seqscan = off``
    on the connection first.
    """
    query = _due_query(t, connection, now, limit)
    sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
        lines = [str(row[-1]) for row in rows]
    elif connection.dialect.name in _MYSQL_NAMES:
        result = connection.exec_driver_sql(f"EXPLAIN {sql}")
        columns = list(result.keys())
        lines = [
            " ".join(f"{key}={value}" for key, value in zip(columns, row, strict=True))
            for row in result
        ]
    else:
        lines = [str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {sql}")]
    return ScanPlan(sql=sql, plan="\n".join(lines))


# --- escalations --------------------------------------------------------------


def fired_levels(connection: Connection, t: Tables, deadline_id: int) -> list[str]:
    """Return the ladder levels already done for the deadline (fired or skipped), in order."""
    e = t.escalations
    query = select(e.c.level).where(e.c.deadline_id == deadline_id).order_by(e.c.id)
    return [str(level) for level in connection.execute(query).scalars()]


def record_escalation(
    connection: Connection,
    t: Tables,
    *,
    deadline_id: int,
    item_id: int,
    level: str,
    outcome: str,
    seq: int | None,
    at: dt.datetime,
) -> int:
    """Record that ``level`` of the deadline was ``fired`` or ``skipped``; return the row id.

    Each level is recorded once per deadline: a second record raises
    :class:`sqlalchemy.exc.IntegrityError`, which means someone else did it
    (the caller rolls back; on PostgreSQL the failed statement has aborted
    the transaction anyway). On PostgreSQL and MySQL a concurrent insert of
    the same level waits for the first transaction to end, then fails or
    succeeds according to its outcome.
    """
    if outcome not in ("fired", "skipped"):
        raise ValueError(f"an escalation is 'fired' or 'skipped', not {outcome!r}")
    result = connection.execute(
        insert(t.escalations),
        {
            "deadline_id": deadline_id,
            "item_id": item_id,
            "level": level,
            "outcome": outcome,
            "seq": seq,
            "at": at,
        },
    )
    key = result.inserted_primary_key
    if key is None:
        raise StoreError("the database did not report the new escalation's id")
    return int(key[0])


# --- review agendas -----------------------------------------------------------


class AgendaEntry(TypedDict):
    """One item on a review's agenda, with what the meeting needs to see of the item."""

    id: int
    review: str
    period: str
    item_id: int
    workflow_id: str
    level: str | None
    reason: str
    added_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str | None
    state: str
    data: Mapping[str, Any]
    is_open: bool
    created_at: dt.datetime


def _insert_ignore(connection: Connection, t: Tables) -> Insert:
    """Return an INSERT into review_entries that skips entries already there (same key)."""
    return insert_ignore(connection, t.review_entries)


def insert_ignore(connection: Connection, table: Table) -> Insert:
    """Return an INSERT into ``table`` that skips rows whose unique key is already there.

    Its result's ``rowcount`` says how many rows were added (also on PostgreSQL).
    """
    name = connection.dialect.name
    statement: Insert
    if name == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    elif name in _MYSQL_NAMES:
        # IGNORE also turns other errors into warnings (a missing item, a value
        # too long): the callers pass ids of items they just read, and names
        # the definition checked, so only the duplicate is expected.
        statement = mysql.insert(table).prefix_with("IGNORE")
    else:
        raise StoreError(f"no insert-or-ignore known for the {name!r} dialect")
    # The row count tells the callers how many were added; SQLAlchemy keeps it
    # for UPDATE and DELETE only (psycopg's is gone once RETURNING was read).
    return statement.execution_options(preserve_rowcount=True)


def add_review_entry(
    connection: Connection,
    t: Tables,
    *,
    review: str,
    period: str,
    item_id: int,
    workflow_id: str,
    level: str | None,
    at: dt.datetime,
    reason: str = "escalated",
) -> bool:
    """Put the item on the agenda of ``review`` for ``period``; False if it was already on it."""
    result = connection.execute(
        _insert_ignore(connection, t),
        {
            "review": review,
            "period": period,
            "item_id": item_id,
            "workflow_id": workflow_id,
            "level": level,
            "reason": reason,
            "added_at": at,
        },
    )
    return bool(result.rowcount == 1)


def load_agenda(connection: Connection, t: Tables, review: str, period: str) -> list[AgendaEntry]:
    """Return the agenda of one occurrence of a review, in the order items joined it."""
    r, i = t.review_entries, t.items
    query = (
        select(
            r.c.id,
            r.c.review,
            r.c.period,
            r.c.item_id,
            r.c.workflow_id,
            r.c.level,
            r.c.reason,
            r.c.added_at,
            r.c.resolved_at,
            r.c.resolution,
            i.c.state,
            i.c.data,
            i.c.is_open,
            i.c.created_at,
        )
        .join(i, i.c.id == r.c.item_id)
        .where(r.c.review == review, r.c.period == period)
        .order_by(r.c.added_at, r.c.id)
    )
    return [
        AgendaEntry(
            id=row.id,
            review=row.review,
            period=row.period,
            item_id=row.item_id,
            workflow_id=row.workflow_id,
            level=row.level,
            reason=row.reason,
            added_at=row.added_at,
            resolved_at=row.resolved_at,
            resolution=row.resolution,
            state=row.state,
            data=row.data,
            is_open=bool(row.is_open),
            created_at=row.created_at,
        )
        for row in connection.execute(query)
    ]


def resolve_review_entries(
    connection: Connection,
    t: Tables,
    item_id: int,
    resolution: str,
    at: dt.datetime,
    *,
    review: str | None = None,
) -> int:
    """Resolve the item's open agenda entries (of ``review``, or all); return how many."""
    r = t.review_entries
    conditions = [r.c.item_id == item_id, r.c.resolved_at.is_(None)]
    if review is not None:
        conditions.append(r.c.review == review)
    result = connection.execute(
        update(r).where(*conditions).values(resolved_at=at, resolution=resolution)
    )
    return int(result.rowcount)


def carry_over(
    connection: Connection,
    t: Tables,
    review: str,
    *,
    from_period: str,
    to_period: str,
    at: dt.datetime,
) -> int:
    """Put the unresolved items of one occurrence on the next one's agenda; return how many.

    Only items still open are carried (a closed item has nothing left to
    decide), with reason ``carried`` and their original level. Items already
    on the next agenda are left as they are, so running it twice adds nothing.
    """
    r, i = t.review_entries, t.items
    source = (
        select(
            literal(review, type_=String(64)),
            literal(to_period, type_=String(16)),
            r.c.item_id,
            r.c.workflow_id,
            r.c.level,
            literal("carried", type_=String(16)),
            literal(at, type_=r.c.added_at.type),
        )
        .join(i, i.c.id == r.c.item_id)
        .where(
            and_(
                r.c.review == review,
                r.c.period == from_period,
                r.c.resolved_at.is_(None),
                i.c.is_open.is_(True),
            )
        )
    )
    statement = _insert_ignore(connection, t).from_select(
        ["review", "period", "item_id", "workflow_id", "level", "reason", "added_at"], source
    )
    return int(connection.execute(statement).rowcount)


# --- daemons ------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonRecord:
    """A daemon process as it registered itself, and its last sign of life."""

    token: str
    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None


def register_daemon(
    connection: Connection, t: Tables, *, token: str, host: str, pid: int, at: dt.datetime
) -> None:
    """Record a daemon starting; ``token`` is also the one it leases deadlines with."""
    connection.execute(
        insert(t.daemons),
        {"token": token, "host": host, "pid": pid, "started_at": at, "heartbeat_at": at},
    )


def heartbeat(connection: Connection, t: Tables, token: str, at: dt.datetime) -> bool:
    """Record that the daemon is alive at ``at``; False if it is unknown or marked stopped."""
    d = t.daemons
    result = connection.execute(
        update(d).where(d.c.token == token, d.c.stopped_at.is_(None)).values(heartbeat_at=at)
    )
    return bool(result.rowcount == 1)


def mark_stopped(connection: Connection, t: Tables, token: str, at: dt.datetime) -> bool:
    """Record that the daemon stopped (cleanly); False if it was unknown or already stopped."""
    d = t.daemons
    result = connection.execute(
        update(d).where(d.c.token == token, d.c.stopped_at.is_(None)).values(stopped_at=at)
    )
    return bool(result.rowcount == 1)


def live_daemons(
    connection: Connection, t: Tables, now: dt.datetime, stale_after: dt.timedelta
) -> list[DaemonRecord]:
    """Return the daemons not stopped whose last heartbeat is within ``stale_after`` of ``now``."""
    d = t.daemons
    query = (
        select(d)
        .where(d.c.stopped_at.is_(None), d.c.heartbeat_at >= now - stale_after)
        .order_by(d.c.started_at, d.c.token)
    )
    return [
        DaemonRecord(
            token=row.token,
            host=row.host,
            pid=row.pid,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at,
        )
        for row in connection.execute(query)
    ]
