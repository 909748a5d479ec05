"""The SQLAlchemy store: SQLite, PostgreSQL and MySQL/MariaDB through one Core layer.

Writes are compare-and-swap updates on the item's version, so correctness
does not depend on isolation levels (MySQL's REPEATABLE READ would allow lost
updates with a read-check-write, and SQLite ignores ``FOR UPDATE``). On
SQLite, write transactions start with ``BEGIN IMMEDIATE`` so writers queue
on the database lock instead of failing with "database is locked" when a
read transaction tries to become a write one.

The per-transition path is kept lean, since one durable commit per
transition is the floor (``bench/transitions_bench.py`` measures it): its
statements are built once per store, compiled once per dialect, and run on
the DB-API cursor of the transaction's connection with the SQL text, bind
and result processors SQLAlchemy itself would use (:class:`_Prepared`);
errors still surface as SQLAlchemy's exceptions. The item is read with its
open clocks in one statement, and on PostgreSQL the compare-and-swap and
the history row are one statement too. Whenever something watches
statements (echo, cursor-execute listeners) or a schema translate map
applies, everything runs through SQLAlchemy's own execution instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Insert,
    Row,
    Select,
    Update,
    and_,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool

from workflow.core.values import Branch, Deadline, HistoryEntry, ItemSnapshot, NotificationIntent
from workflow.definition.compiled import Definition
from workflow.definition.loader import definition_to_json
from workflow.errors import ConcurrentUpdate
from workflow.store import timers
from workflow.store.driver import (
    DriverTransaction,
    bind_converter,
    driver_owned,
    own_listener,
    result_converter,
)
from workflow.store.schema import DEFAULT_PREFIX, Tables, build_tables

__all__ = ["SqlStore", "create_database_engine"]

_WRITE = "workflow_write"

PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled server connection idle longer than this is pinged before use."""

_LAST_USED = "workflow_last_used"


def create_database_engine(url: str, **options: Any) -> Engine:
    """Create a SQLAlchemy engine set up the way the store needs it.

    For SQLite: WAL journal, full fsync, a 30 s busy timeout, foreign keys,
    and transactions begun by us (``BEGIN IMMEDIATE`` for writes).

    For servers: a pooled connection that sat idle for more than
    :data:`PING_AFTER_IDLE_SECONDS` is pinged before use and replaced (with
    the rest of the pool) if the server went away. SQLAlchemy's
    ``pool_pre_ping`` would ping on every checkout, one more round trip per
    transition; pass ``pool_pre_ping=True`` to have that instead.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if "pool_pre_ping" in options:
            return create_engine(url, **options)
        engine = create_engine(url, **options)
        _ping_when_idle(engine)
        return engine
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    @own_listener
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        if _observed(connection, engine):
            connection.exec_driver_sql(statement)
            return
        # Straight to the driver: a full execution context would cost as much
        # as the statement itself, on every transaction.
        try:
            connection.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
        except Exception as error:
            connection._handle_dbapi_exception(error, statement, (), None, None)

    return engine


_ITEM_WRITES = (
    "state",
    "data",
    "version",
    "is_open",
    "updated_at",
    "closed_at",
    "definition_hash",
)
"""The item columns a transition writes (the SET clause of the compare-and-swap)."""


def _observed(connection: Connection, engine: Engine | None = None) -> bool:
    """Tell whether something wants to see each statement (echo, cursor listeners).

    Then statements go through SQLAlchemy's full execution; otherwise the
    per-transition path runs its prepared statements on the DB-API cursor.
    ``engine`` (the connection's, without execution options) has the same
    listeners as its connections and asks for them faster.
    """
    dispatch = (engine or connection).dispatch
    return bool(connection._echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection on checkout only if it has been idle (``pool_pre_ping``, when it matters).

    A connection checked in moments ago was working then; pinging it again
    would double the round trips of a short transaction. One idle long enough
    to have been dropped (server restart, idle timeouts of proxies and
    firewalls) is pinged, and a dead one invalidates the pool, as pre-ping does.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # As a failed pre-ping: replace this and every older pooled connection.
            raise sa_exc.InvalidatePoolError()


class _Prepared:
    """A statement compiled once for a dialect, with its parameter converters.

    The per-transition path runs through the DB-API cursor with this: the SQL
    text, the parameter order and each type's bind processor are what
    SQLAlchemy would use itself, computed once instead of on every execute.
    """

    __slots__ = ("converters", "defaults", "names", "positional", "processors", "sql")

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        assert names is not None
        self.names: tuple[str, ...] = tuple(names)
        # Each bind's converter (None: the value goes as it is), see workflow.store.driver.
        self.converters: tuple[tuple[str, Any], ...] = tuple(
            (name, bind_converter(compiled.binds[name].type, dialect)) for name in self.names
        )
        self.processors: tuple[tuple[str, Any], ...] = tuple(
            (name, convert) for name, convert in self.converters if convert is not None
        )
        # Constants bound in the statement itself (e.g. the statuses of an open clock).
        self.defaults: tuple[tuple[str, Any], ...] = tuple(
            (name, bind.value) for name, bind in compiled.binds.items() if not bind.required
        )

    def parameters(self, values: dict[str, Any]) -> Any:
        """Convert ``values`` (by bind name) to what the driver takes."""
        for name, value in self.defaults:
            values.setdefault(name, value)
        if self.positional:
            return tuple(
                [
                    values[name] if convert is None else convert(values[name])
                    for name, convert in self.converters
                ]
            )
        for name, convert in self.processors:
            values[name] = convert(values[name])
        return values


class _Statements:
    """The statements of the per-transition path, built once per set of tables.

    Building a Core statement costs more than running it (coercing every
    column and value, then computing its cache key); built once with bind
    parameters, each is compiled once per dialect and found in SQLAlchemy's
    compiled cache by a memoized key afterwards.
    """

    def __init__(self, t: Tables) -> None:
        items, history, branches = t.items, t.history, t.branches
        # Bind names must differ from column names: those are the SET/VALUES keys.
        self.load_item: Select[Any] = select(items).where(items.c.id == bindparam("w_id"))
        # A locking read: under MySQL's REPEATABLE READ a plain SELECT would answer
        # from this transaction's old snapshot, naming the version it already had.
        # (SQLAlchemy leaves FOR SHARE out on SQLite, which has no snapshots.)
        self.current_version: Select[Any] = (
            select(items.c.version)
            .where(items.c.id == bindparam("w_id"))
            .with_for_update(read=True)
        )
        self._tables = t
        self.insert_item: Insert = insert(items)
        self._updates: dict[tuple[str, ...], Update] = {}
        self._moves: dict[tuple[str, ...], Insert] = {}
        self.insert_history: Insert = insert(history)
        self.load_history: Select[Any] = (
            select(history).where(history.c.item_id == bindparam("w_id")).order_by(history.c.seq)
        )
        self.load_branches: Select[Any] = (
            select(branches).where(branches.c.item_id == bindparam("w_id")).order_by(branches.c.id)
        )
        self.load_round: Select[Any] = (
            select(branches)
            .where(
                branches.c.item_id == bindparam("w_id"),
                branches.c.opened_seq == bindparam("w_seq"),
            )
            .order_by(branches.c.id)
        )
        self.insert_branches: Insert = insert(branches)
        self.update_branch: Update = update(branches).where(branches.c.id == bindparam("w_id"))
        # The item with its open clocks, in one round trip: a move needs both.
        clocks = t.deadlines
        is_open_clock = and_(
            clocks.c.item_id == items.c.id,
            clocks.c.status.in_([bindparam(f"w_{s}", s) for s in timers.OPEN_STATUSES]),
        )
        self.load_item_with_clocks: Select[Any] = (
            select(items, clocks)
            .select_from(items.outerjoin(clocks, is_open_clock))
            .where(items.c.id == bindparam("w_id"))
            .order_by(clocks.c.id)
        )
        self.load_open_clocks: Select[Any] = (
            select(clocks)
            .where(
                clocks.c.item_id == bindparam("w_id"),
                clocks.c.status.in_([bindparam(f"w_{s}", s) for s in timers.OPEN_STATUSES]),
            )
            .order_by(clocks.c.id)
        )

    def update_item_for(self, columns: tuple[str, ...]) -> Update:
        """Return the compare-and-swap of an item that sets ``columns`` (in ``_ITEM_WRITES`` order).

        A move sets only what it changed (always ``version`` and ``updated_at``):
        an index whose columns a statement does not set is left alone, where
        setting a column to its own value would still rewrite its index entries
        (SQLite), make the update non-HOT (PostgreSQL) and, on SQLite, add their
        pages to the commit's write-ahead log.
        """
        found = self._updates.get(columns)
        if found is None:
            items = self._tables.items
            found = self._updates[columns] = (
                update(items)
                .where(items.c.id == bindparam("w_id"), items.c.version == bindparam("w_expected"))
                .values({name: bindparam(name, type_=items.c[name].type) for name in columns})
            )
        return found

    def move_with_history_for(self, columns: tuple[str, ...]) -> Insert:
        """PostgreSQL: the compare-and-swap and the history row in one statement.

        One round trip; the row is inserted only if the update matched.
        """
        found = self._moves.get(columns)
        if found is None:
            history = self._tables.history
            moved = self.update_item_for(columns).returning(self._tables.items.c.id).cte("moved")
            row = select(*[bindparam(f"h_{c.name}", type_=c.type) for c in history.c])
            found = self._moves[columns] = (
                insert(history)
                .from_select([c.name for c in history.c], row.select_from(moved))
                .add_cte(moved)
            )
        return found


class _FastPath:
    """The per-transition statements prepared for one dialect."""

    def __init__(self, statements: _Statements, tables: Tables, dialect: Dialect) -> None:
        self._statements = statements
        self._dialect = dialect
        self.load_item = _Prepared(statements.load_item, dialect)
        self._updates: dict[tuple[str, ...], _Prepared] = {}
        self._moves: dict[tuple[str, ...], _Prepared] = {}
        self.insert_history = _Prepared(statements.insert_history, dialect)
        # Data-modifying CTEs are PostgreSQL's; elsewhere the two statements run in turn.
        self.moves_with_history = dialect.name == "postgresql"
        self.load_item_with_clocks = _Prepared(statements.load_item_with_clocks, dialect)
        self.load_open_clocks = _Prepared(statements.load_open_clocks, dialect)
        self.item_columns = _result_processors(tables.items, dialect)
        # (column position, converter or None) for each field of a Deadline, in field order.
        convert = dict(_result_processors(tables.deadlines, dialect))
        position = {column.name: index for index, column in enumerate(tables.deadlines.c)}
        self.clock_fields: tuple[tuple[int, Any], ...] = tuple(
            (position[name], convert.get(position[name])) for name in _DEADLINE_FIELDS
        )
        self.item_width = len(tables.items.c)

    def update_item(self, columns: tuple[str, ...]) -> _Prepared:
        """Return the compare-and-swap setting ``columns``, prepared for this dialect."""
        found = self._updates.get(columns)
        if found is None:
            statement = self._statements.update_item_for(columns)
            found = self._updates[columns] = _Prepared(statement, self._dialect)
        return found

    def move_with_history(self, columns: tuple[str, ...]) -> _Prepared:
        """Return the compare-and-swap with its history row (PostgreSQL), prepared."""
        found = self._moves.get(columns)
        if found is None:
            statement = self._statements.move_with_history_for(columns)
            found = self._moves[columns] = _Prepared(statement, self._dialect)
        return found


def _result_processors(table: Any, dialect: Dialect) -> tuple[tuple[int, Any], ...]:
    """Return (column position, converter) for the columns of ``table`` that need one."""
    found = []
    for index, column in enumerate(table.c):
        convert = result_converter(column.type, dialect)
        if convert is not None:
            found.append((index, convert))
    return tuple(found)


_DEADLINE_FIELDS = tuple(f.name for f in dataclasses.fields(Deadline))
_PROVISIONAL = _DEADLINE_FIELDS.index("provisional")


def _clock(fast: _FastPath, row: Sequence[Any]) -> Deadline:
    """Build a deadline from a raw ``deadlines`` row (driver values, in column order)."""
    values = [
        row[index] if convert is None else convert(row[index])
        for index, convert in fast.clock_fields
    ]
    values[_PROVISIONAL] = bool(values[_PROVISIONAL])
    return Deadline(*values)


def _fast_item(fast: _FastPath, row: Sequence[Any]) -> ItemSnapshot:
    """Build an item from a raw ``items`` row (driver values, in column order)."""
    values = list(row)
    for index, process in fast.item_columns:
        values[index] = process(values[index])
    return ItemSnapshot(
        id=values[0],
        workflow_id=values[1],
        definition_hash=values[2],
        state=values[3],
        data=values[4],
        version=values[5],
        is_open=bool(values[6]),
        created_by=values[7],
        created_at=values[8],
        updated_at=values[9],
        closed_at=values[10],
    )


@dataclasses.dataclass(frozen=True)
class _HeldWriter:
    """A pooled SQLite connection a store keeps checked out for its writes."""

    pooled: PoolProxiedConnection
    pool: Pool
    lineage: int
    """The process that took it (see ``_forked``)."""


def _spare_connections(pool: Pool) -> bool:
    """Tell whether ``pool`` queues two connections or more (one kept leaves one for reads)."""
    if not isinstance(pool, QueuePool):
        return False  # a static, per-thread or no pool at all: keep nothing back
    overflow = pool._max_overflow
    return overflow < 0 or pool.size() + overflow >= 2


_lineage = 0
"""Counts the forks that led to this process (``os.getpid`` is a system call per write)."""


def _forked() -> None:
    """In a child process: every connection a store kept belongs to the parent."""
    global _lineage  # noqa: PLW0603 - changed only in a new child, before it runs anything
    _lineage += 1


os.register_at_fork(after_in_child=_forked)

_ABANDONED: list[PoolProxiedConnection] = []
"""Kept connections inherited through a ``fork``: never used or closed in the child."""


class SqlStore:
    """A store over a SQLAlchemy engine, or bound to a host's connection."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        connection: Connection | None = None,
        prefix: str = DEFAULT_PREFIX,
        schema: str | None = None,
        tables: Tables | None = None,
    ) -> None:
        if (engine is None) == (connection is None):
            raise ValueError("give exactly one of engine or connection")
        self.engine = engine
        self.connection = connection
        self.prefix = prefix
        self.schema = schema
        self.tables = tables or build_tables(prefix)
        self.statements = _Statements(self.tables)
        self._known_definitions: set[str] = set()
        self._fast: dict[Dialect, _FastPath] = {}
        self._options: dict[str, Any] = {}
        if schema is not None:
            self._options["schema_translate_map"] = {None: schema}
        self._local_writer = (
            _writer_lock(engine) if engine is not None and engine.dialect.name == "sqlite" else None
        )
        self._writer: _HeldWriter | None = None
        # Option engines share the pool: per-transaction options cost nothing.
        self._read_engine = engine
        self._write_engine = engine
        if engine is not None:
            if self._options:
                self._read_engine = engine.execution_options(**self._options)
            self._write_engine = engine.execution_options(**self._options, **{_WRITE: True})

    def _fast_for(self, connection: Connection) -> _FastPath | None:
        """Return the driver-level statements, unless something must see every execute.

        Cursor-execute listeners (tracing, logging hooks), echo and a schema
        translate map need SQLAlchemy's own execution; then Core runs it all.
        """
        if (
            _observed(connection, self.engine)
            or "schema_translate_map" in connection.get_execution_options()
        ):
            return None
        return self._fast_path(connection.dialect)

    def _fast_path(self, dialect: Dialect) -> _FastPath:
        fast = self._fast.get(dialect)
        if fast is None:
            fast = self._fast[dialect] = _FastPath(self.statements, self.tables, dialect)
        return fast

    def bound(self, connection: Connection) -> SqlStore:
        """Return a store whose operations run on ``connection``, inside its transaction."""
        store = SqlStore(
            connection=connection, prefix=self.prefix, schema=self.schema, tables=self.tables
        )
        store.statements = self.statements
        store._known_definitions = self._known_definitions
        store._fast = self._fast
        return store

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[_SqlTransaction]:
        if self.connection is not None:
            # The host owns the transaction: it commits or rolls back, with our rows.
            connection = self.connection.execution_options(**self._options)
            yield _SqlTransaction(connection, self, write=write)
            return
        engine = self._write_engine if write else self._read_engine
        assert engine is not None
        assert self.engine is not None
        # SQLite has one writer; its busy handler sleeps 1-100 ms between tries,
        # so threads of one process queue here instead (other processes still
        # wait in the busy timeout).
        lock = self._local_writer if write else None
        if lock is not None:
            lock.acquire()
        try:
            if driver_owned(self.engine, engine.get_execution_options()):
                yield from self._driver_transaction(engine, write)
            else:
                with engine.connect() as connection, connection.begin():
                    yield _SqlTransaction(connection, self, write=write)
        finally:
            if lock is not None:
                lock.release()

    def _driver_transaction(self, engine: Engine, write: bool) -> Iterator[_SqlTransaction]:
        """Run a transaction on the pooled DB-API connection (see workflow.store.driver)."""
        begin = None
        if engine.dialect.name == "sqlite" and engine.dispatch.begin:
            # What our "begin" listener (the only one, or this path is not taken) sends.
            begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        held = self._held_writer(engine) if write and self._local_writer is not None else None
        driver = DriverTransaction(engine, begin, held)
        tx = _SqlTransaction(driver, self, write=write)
        try:
            if write and _reads_outside_ok(engine, driver):
                tx._begin_at_first_write()
            yield tx
            tx._send_last_move()
            driver.commit()
        except BaseException:
            driver.rollback()
            raise
        finally:
            tx._end_autocommit()
            driver.close()
            if held is not None and not held.is_valid:
                self._release_writer()

    def _held_writer(self, engine: Engine) -> PoolProxiedConnection | None:
        """Return the SQLite connection this store keeps for its writes, or None to use the pool.

        SQLite has one writer at a time, and this process's writers already
        queue on the store's writer lock (held by the caller): one connection
        kept checked out serves them all, sparing each transition the pool's
        checkout, its reset (a rollback) and its checkin, about a tenth of a
        transition's CPU time (``bench/README.md``). Not when something
        listens to the pool's checkouts or checkins (they would stop seeing
        them), when the pool is not a queue of at least two connections (the
        reads would wait for the one kept), after the pool was replaced
        (``Engine.dispose``), or in a child process (a SQLite connection must
        not cross a ``fork``).
        """
        pool = engine.pool
        events = pool.dispatch
        held = self._writer
        if events.checkout or events.checkin or events.reset or not _spare_connections(pool):
            if held is not None:
                self._release_writer()
            return None
        if held is not None:
            if held.pool is pool and held.lineage == _lineage and held.pooled.is_valid:
                return held.pooled
            self._release_writer()
        pooled = engine.raw_connection()
        self._writer = _HeldWriter(pooled, pool, _lineage)
        return pooled

    def _release_writer(self) -> None:
        """Give the kept write connection back to its pool (in the process that took it)."""
        held, self._writer = self._writer, None
        if held is None:
            return
        if held.lineage != _lineage:
            # The parent's connection: closing it here could release the parent's locks.
            _ABANDONED.append(held.pooled)
            return
        held.pooled.close()

    def close(self) -> None:
        """Give back the connection kept for writes (SQLite); the next write takes one again."""
        if self._local_writer is None:
            return
        with self._local_writer:
            self._release_writer()

    def read(self) -> Any:
        """Open a read transaction."""
        return self._transaction(write=False)

    def write(self) -> Any:
        """Open a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self._transaction(write=True)


def _reads_outside_ok(engine: Engine, driver: DriverTransaction) -> bool:
    """Tell whether a write transaction may read before it begins (see ``_begin_at_first_write``).

    Only with psycopg under READ COMMITTED, where each statement sees its
    own snapshot inside a transaction as well, so a read before BEGIN sees
    what it would have seen after it. Under REPEATABLE READ or SERIALIZABLE
    the reads must share the writes' snapshot, and they keep doing so.
    """
    if engine.dialect.driver != "psycopg":
        return False
    connection = driver.dbapi_connection
    if connection.autocommit:
        return False
    level = connection.isolation_level  # None: the server's default
    if level is None:
        return engine.dialect.default_isolation_level == "READ COMMITTED"
    return getattr(level, "name", None) == "READ_COMMITTED"


def _item(row: Row[Any]) -> ItemSnapshot:
    return ItemSnapshot(
        id=row.id,
        workflow_id=row.workflow_id,
        definition_hash=row.definition_hash,
        state=row.state,
        data=row.data,
        version=row.version,
        is_open=bool(row.is_open),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
    )


def _item_values(
    item: ItemSnapshot, expected_version: int, columns: tuple[str, ...]
) -> dict[str, Any]:
    """Return the parameters of the compare-and-swap of ``item`` setting ``columns``."""
    values: dict[str, Any] = {"w_id": item.id, "w_expected": expected_version}
    for name in columns:
        values[name] = dict(item.data) if name == "data" else getattr(item, name)
    return values


def _changed_columns(before: ItemSnapshot | None, item: ItemSnapshot) -> tuple[str, ...]:
    """Return the columns of ``_ITEM_WRITES`` in which ``item`` differs from ``before``.

    ``before`` is the row as this transaction read it at the version the
    compare-and-swap expects; if it matches, the row holds exactly those
    values, so leaving the others out of the SET clause changes nothing but
    what the database has to rewrite. Data compares with ``==``, as the
    history row's changes do: a value equal to the stored one is not a change
    there either.
    """
    if before is None:
        return _ITEM_WRITES
    # Spelled out (no getattr loop): this runs on every transition.
    changed = (
        item.state != before.state,
        item.data != before.data,
        True,  # version: a move is a new version
        item.is_open != before.is_open,
        True,  # updated_at: at a new time
        item.closed_at != before.closed_at,
        item.definition_hash != before.definition_hash,
    )
    columns = _COLUMNS_BY_CHANGE.get(changed)
    if columns is None:
        columns = _COLUMNS_BY_CHANGE[changed] = tuple(
            name for name, differs in zip(_ITEM_WRITES, changed, strict=True) if differs
        )
    return columns


_COLUMNS_BY_CHANGE: dict[tuple[bool, ...], tuple[str, ...]] = {}
"""The SET columns for each pattern of changes (see ``_changed_columns``)."""


def _history_values(entry: HistoryEntry) -> dict[str, Any]:
    """Return the column values of a history row."""
    return {
        "item_id": entry.item_id,
        "seq": entry.seq,
        "kind": entry.kind,
        "event": entry.event,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "input": dict(entry.input) if entry.input is not None else None,
        "reason": entry.reason,
        "changes": dict(entry.changes) if entry.changes is not None else None,
        "definition_hash": entry.definition_hash,
        "at": entry.at,
    }


def _branch(row: Row[Any]) -> Branch:
    return Branch(
        id=row.id,
        item_id=row.item_id,
        state=row.state,
        opened_seq=row.opened_seq,
        unit=row.unit,
        status=row.status,
        verdict=row.verdict,
        answer=row.answer,
        answered_by=row.answered_by,
        opened_at=row.opened_at,
        answered_at=row.answered_at,
    )


class _SqlTransaction:
    """One transaction's reads and writes (implements ``StoreTransaction``)."""

    def __init__(
        self, connection: Connection | DriverTransaction, store: SqlStore, *, write: bool = False
    ) -> None:
        self._connection: Connection | None
        if isinstance(connection, DriverTransaction):
            self._driver: DriverTransaction | None = connection
            self._connection = None
            self._pooled = connection.pooled
            self.fast: _FastPath | None = store._fast_path(connection.engine.dialect)
        else:
            self._driver = None
            self._connection = connection
            self._pooled = connection.connection
            self.fast = store._fast_for(connection)
        self.store = store
        self.t = store.tables
        self.s = store.statements
        self._cursor: Any = None
        self._write = write
        # PostgreSQL (see _begin_at_first_write): reads so far ran without a
        # transaction, and the item's move may still be waiting to be sent.
        self._outside = False
        self._autocommit = False  # set on the driver's connection for that, to be undone
        self._move: tuple[_Prepared, dict[str, Any], ItemSnapshot, int, str] | None = None
        # Each item as this write transaction read or last wrote it, by id: its
        # compare-and-swap then sets only the columns that changed.
        self._rows: dict[int, ItemSnapshot] = {}
        # Open clocks read along with their item in this transaction, by item id;
        # forgotten as soon as this transaction writes clocks.
        self._clocks: dict[int, list[Deadline]] = {}

    @property
    def connection(self) -> Connection:
        """Return the SQLAlchemy connection, for statements off the per-transition path.

        A transaction run on the bare DB-API connection gets one on first use,
        over the same DB-API connection and inside the same transaction.
        """
        if self._outside:
            self._begin_now()
        connection = self._connection
        if connection is None:
            assert self._driver is not None
            connection = self._connection = self._driver.connection()
        return connection

    def _begin_at_first_write(self) -> None:
        """Read without a transaction until the first write; send a lone move as one statement.

        A move that writes only the item and its history row (a compare-and-swap
        and an insert, one statement on PostgreSQL) needs no transaction around
        it: a single statement is atomic and durable on its own. So the reads
        before it skip ``BEGIN``, and the move is held back until it is known to
        be the transaction's last statement: then it is sent alone, committing
        itself (two round trips for the whole transition instead of four). If
        anything else is sent first, the transaction begins and the move goes
        first inside it, as before.
        """
        self._driver_connection().autocommit = True
        self._autocommit = True
        self._outside = True

    def _begin_now(self) -> None:
        """Begin the transaction (psycopg sends ``BEGIN`` with the next statement)."""
        self._outside = False
        self._driver_connection().autocommit = False
        self._autocommit = False
        move, self._move = self._move, None
        if move is not None:
            self._send_move(*move)

    def _send_last_move(self) -> None:
        """Send a held-back move as the transaction's only write (it commits itself)."""
        move, self._move = self._move, None
        if move is not None:
            self._outside = False
            self._send_move(*move)

    def _end_autocommit(self) -> None:
        """Hand the connection back as the pool expects it: not in autocommit mode."""
        if not self._autocommit or self._driver is None or not self._driver.pooled.is_valid:
            return
        try:
            self._driver_connection().autocommit = False
            self._autocommit = False
        except Exception as error:
            # A broken connection must not go back to the pool in autocommit mode.
            self._driver.pooled.invalidate(error)

    def _driver_connection(self) -> Any:
        assert self._driver is not None
        return self._driver.dbapi_connection

    def _send_move(
        self,
        prepared: _Prepared,
        values: dict[str, Any],
        item: ItemSnapshot,
        expected: int,
        event: str,
    ) -> None:
        """Send a held-back move; a compare-and-swap that matched nothing is a conflict."""
        if self._run(prepared, values).rowcount != 1:
            self._rows.pop(item.id, None)
            raise ConcurrentUpdate(
                item_id=item.id,
                event=event,
                state=item.state,
                expected=expected,
                actual=self.current_version(item.id),
            )

    def _run(self, prepared: _Prepared, values: dict[str, Any], *, read: bool = False) -> Any:
        """Run a prepared statement on the DB-API cursor; errors as SQLAlchemy raises them."""
        if self._outside and not read:
            self._begin_now()
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self._pooled.cursor()
        parameters = prepared.parameters(values)
        try:
            cursor.execute(prepared.sql, parameters)
        except Exception as error:
            self.connection._handle_dbapi_exception(error, prepared.sql, parameters, cursor, None)
        return cursor

    def ensure_definition(self, definition: Definition) -> None:
        known = self.store._known_definitions
        if definition.hash in known:
            return
        table = self.t.definitions
        exists = self.connection.execute(
            select(table.c.hash).where(table.c.hash == definition.hash)
        ).first()
        if exists is not None:
            # Seen by a read in a transaction we own, so committed: safe to remember.
            # In a host's transaction the row may be the host's own uncommitted
            # insert, which a rollback would take away again.
            if self.store.connection is None:
                known.add(definition.hash)
            return
        values = {
            "hash": definition.hash,
            "workflow_id": definition.id,
            "version": definition.version,
            "source": definition_to_json(definition),
            "loaded_at": dt.datetime.now(dt.UTC),
        }
        self.connection.execute(_insert_ignore(self.connection, table).values(**values))

    def load_definition_source(self, digest: str) -> str | None:
        table = self.t.definitions
        row = self.connection.execute(select(table.c.source).where(table.c.hash == digest)).first()
        return None if row is None else str(row.source)

    def load_item(self, item_id: int) -> ItemSnapshot | None:
        fast = self.fast
        if fast is not None and self._write:
            # A write reads the item to move it, and a move needs its open clocks:
            # fetch both in one round trip (see load_open_deadlines).
            rows = self._run(fast.load_item_with_clocks, {"w_id": item_id}, read=True).fetchall()
            if not rows:
                return None
            width = fast.item_width
            self._clocks[item_id] = [
                _clock(fast, row[width:]) for row in rows if row[width] is not None
            ]
            moving = self._rows[item_id] = _fast_item(fast, rows[0][:width])
            return moving
        item: ItemSnapshot | None
        if fast is not None:
            found = self._run(fast.load_item, {"w_id": item_id}, read=True).fetchone()
            item = None if found is None else _fast_item(fast, found)
        else:
            row = self.connection.execute(self.s.load_item, {"w_id": item_id}).first()
            item = None if row is None else _item(row)
        if self._write and item is not None:
            self._rows[item_id] = item
        return item

    def _columns(self, item: ItemSnapshot, expected_version: int) -> tuple[str, ...]:
        """Return the columns the compare-and-swap of ``item`` must set (see _changed_columns)."""
        before = self._rows.get(item.id)
        if before is not None and before.version != expected_version:
            before = None
        return _changed_columns(before, item)

    def _moved(self, item: ItemSnapshot, matched: bool) -> bool:
        """Remember ``item`` as written if its compare-and-swap matched; return ``matched``."""
        if matched:
            self._rows[item.id] = item
        else:
            self._rows.pop(item.id, None)
        return matched

    def insert_item(self, item: ItemSnapshot) -> int:
        result = self.connection.execute(
            self.s.insert_item,
            {
                "workflow_id": item.workflow_id,
                "definition_hash": item.definition_hash,
                "state": item.state,
                "data": dict(item.data),
                "version": item.version,
                "is_open": item.is_open,
                "created_by": item.created_by,
                "created_at": item.created_at,
                "updated_at": item.updated_at,
                "closed_at": item.closed_at,
            },
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def update_item(self, item: ItemSnapshot, expected_version: int) -> bool:
        columns = self._columns(item, expected_version)
        values = _item_values(item, expected_version, columns)
        if self.fast is not None:
            matched = self._run(self.fast.update_item(columns), values).rowcount == 1
        else:
            statement = self.s.update_item_for(columns)
            matched = self.connection.execute(statement, values).rowcount == 1
        return self._moved(item, bool(matched))

    def update_item_with_history(
        self,
        item: ItemSnapshot,
        expected_version: int,
        entries: Sequence[HistoryEntry],
        event: str | None = None,
    ) -> bool:
        """Do :meth:`update_item` and, if it matched, :meth:`append_history`; say whether it did.

        On PostgreSQL one history row goes in the same statement as the
        compare-and-swap: a transition costs one round trip less. In a
        transaction of the store's own that has not begun yet (see
        ``_begin_at_first_write``) that statement is held back and True is
        returned; if it then matches nothing, :class:`ConcurrentUpdate` (for
        ``event``) is raised when it is sent: at the next statement, or when
        the transaction ends.
        """
        fast = self.fast
        if fast is not None and fast.moves_with_history and len(entries) == 1:
            columns = self._columns(item, expected_version)
            prepared = fast.move_with_history(columns)
            values = _item_values(item, expected_version, columns)
            for key, value in _history_values(entries[0]).items():
                values[f"h_{key}"] = value
            if self._outside and self._move is None:
                self._move = (prepared, values, item, expected_version, event or entries[0].event)
                self._rows[item.id] = item
                return True
            return self._moved(item, self._run(prepared, values).rowcount == 1)
        if not self.update_item(item, expected_version):
            return False
        self.append_history(entries)
        return True

    def current_version(self, item_id: int) -> int | None:
        row = self.connection.execute(self.s.current_version, {"w_id": item_id}).first()
        return None if row is None else int(row.version)

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        rows = [_history_values(e) for e in entries]
        if not rows:
            return
        if self.fast is not None and len(rows) == 1:
            self._run(self.fast.insert_history, rows[0])
            return
        # One row (nearly every fire) as a plain execute: an executemany costs more.
        self.connection.execute(self.s.insert_history, rows[0] if len(rows) == 1 else rows)

    def load_history(self, item_id: int) -> list[HistoryEntry]:
        rows = self.connection.execute(self.s.load_history, {"w_id": item_id})
        return [
            HistoryEntry(
                item_id=r.item_id,
                seq=r.seq,
                kind=r.kind,
                event=r.event,
                from_state=r.from_state,
                to_state=r.to_state,
                actor_id=r.actor_id,
                actor_role=r.actor_role,
                input=r.input,
                reason=r.reason,
                changes=r.changes,
                definition_hash=r.definition_hash,
                at=r.at,
            )
            for r in rows
        ]

    def load_branches(self, item_id: int, opened_seq: int | None = None) -> list[Branch]:
        if opened_seq is None:
            rows = self.connection.execute(self.s.load_branches, {"w_id": item_id})
        else:
            rows = self.connection.execute(
                self.s.load_round, {"w_id": item_id, "w_seq": opened_seq}
            )
        return [_branch(r) for r in rows]

    def insert_branches(self, branches: Sequence[Branch]) -> list[int]:
        # One row at a time: a handful per joint round, and each id is needed for
        # the branch's own deadline (multi-row RETURNING differs between backends).
        ids: list[int] = []
        for b in branches:
            result = self.connection.execute(
                self.s.insert_branches,
                {
                    "item_id": b.item_id,
                    "state": b.state,
                    "opened_seq": b.opened_seq,
                    "unit": b.unit,
                    "status": b.status,
                    "verdict": b.verdict,
                    "answer": dict(b.answer) if b.answer is not None else None,
                    "answered_by": b.answered_by,
                    "opened_at": b.opened_at,
                    "answered_at": b.answered_at,
                },
            )
            key = result.inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
        return ids

    def load_open_deadlines(self, item_id: int) -> list[Deadline]:
        prefetched = self._clocks.get(item_id)
        if prefetched is not None:
            # Read with the item in this same transaction, and no clock written since.
            return list(prefetched)
        fast = self.fast
        if fast is not None:
            rows = self._run(fast.load_open_clocks, {"w_id": item_id}, read=True).fetchall()
            return [_clock(fast, row) for row in rows]
        return timers.load_open_deadlines(self.connection, self.t, item_id)

    def insert_deadlines(self, deadlines: Sequence[Deadline]) -> list[int]:
        self._clocks.clear()
        return timers.insert_deadlines(self.connection, self.t, deadlines)

    def update_deadlines(self, deadlines: Sequence[Deadline]) -> None:
        self._clocks.clear()
        timers.update_deadlines(self.connection, self.t, deadlines)

    def load_deadline(self, deadline_id: int) -> Deadline | None:
        return timers.load_deadline(self.connection, self.t, deadline_id)

    def fired_levels(self, deadline_id: int) -> list[str]:
        return timers.fired_levels(self.connection, self.t, deadline_id)

    def record_escalation(
        self, *, deadline_id: int, item_id: int, level: str, outcome: str, seq: int, at: dt.datetime
    ) -> None:
        timers.record_escalation(
            self.connection,
            self.t,
            deadline_id=deadline_id,
            item_id=item_id,
            level=level,
            outcome=outcome,
            seq=seq,
            at=at,
        )

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
        timers.add_review_entry(
            self.connection,
            self.t,
            review=review,
            period=period,
            item_id=item_id,
            workflow_id=workflow_id,
            level=level,
            at=at,
        )

    def resolve_review_entries(self, item_id: int, resolution: str, at: dt.datetime) -> None:
        timers.resolve_review_entries(self.connection, self.t, item_id, resolution, at)

    def add_notification_intents(
        self, intents: Sequence[NotificationIntent], at: dt.datetime
    ) -> None:
        for intent in intents:
            self.connection.execute(
                _insert_ignore(self.connection, self.t.outbox),
                {
                    "item_id": intent.item_id,
                    "history_seq": intent.history_seq,
                    "idempotency_key": intent.key,
                    "channel": "*",
                    "recipient": f"role:{intent.role}",
                    "template": intent.template,
                    "payload": dict(intent.payload),
                    "status": "intent",
                    "attempts": 0,
                    "created_at": at,
                },
            )

    def update_branches(self, branches: Sequence[Branch]) -> None:
        for b in branches:
            self.connection.execute(
                self.s.update_branch,
                {
                    "w_id": b.id,
                    "status": b.status,
                    "verdict": b.verdict,
                    "answer": dict(b.answer) if b.answer is not None else None,
                    "answered_by": b.answered_by,
                    "answered_at": b.answered_at,
                },
            )

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
        items = self.t.items
        # The page's ids first, then their rows. Asked for whole rows, PostgreSQL's
        # planner walks the primary key and filters when a state is common (it
        # assumes matching rows are spread evenly over the ids, which an archive's
        # are not: 12 ms against 1.1 ms for a first page, bench/README.md); asked
        # for ids only, it range-scans the state index. A derived table rather
        # than ``IN (subquery)``: MariaDB refuses LIMIT inside IN.
        page = select(items.c.id)
        if workflow_id is not None:
            page = page.where(items.c.workflow_id == workflow_id)
        if state is not None:
            page = page.where(items.c.state == state)
        if is_open is not None:
            page = page.where(items.c.is_open == is_open)
        if after_id is not None:
            page = page.where(items.c.id > after_id)
        for key, value in (data or {}).items():
            element = items.c.data[key]
            if isinstance(value, bool):
                page = page.where(element.as_boolean() == value)
            elif isinstance(value, int):
                page = page.where(element.as_integer() == value)
            else:
                page = page.where(element.as_string() == str(value))
        ids = page.order_by(items.c.id).limit(limit).subquery("page")
        query = select(items).join(ids, items.c.id == ids.c.id).order_by(items.c.id)
        return [_item(r) for r in self.connection.execute(query)]


_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock:
    """Return the process-wide write lock of one SQLite database file."""
    key = str(engine.url)
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, threading.Lock())


def _insert_ignore(connection: Connection, table: Any) -> Any:
    """Return an INSERT that does nothing when the primary key exists (first loads may race)."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if name in ("mysql", "mariadb"):
        return mysql.insert(table).prefix_with("IGNORE")
    return insert(table)
