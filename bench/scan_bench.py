"""Does an escalation pass cost what is due, not what is stored?

Run::

    .venv/bin/python -m bench.scan_bench [--items 1000000] [--due 1000] [--sqlite-only]

For SQLite (a temporary file) and PostgreSQL (``--postgresql-url``, a unique
table prefix dropped at the end) it stores ``--items`` items of the shipped
``enterprise_issue`` workflow, each with its deadline: 80% closed (their
clock ended, ``next_at`` NULL), the rest open with their next look in the
weeks ahead, except ``--due`` of them whose first ladder level (the warning)
falls due. Two items are started through the engine (one per cohort of
due items, see below); the others are copies of them, bulk-inserted in
batches of 10,000 (SQLite: ``executemany`` with the values the columns' own
SQLAlchemy types produce; PostgreSQL: ``COPY``), with explicit ids. A copy
keeps its template's single ``start`` history row, so closed copies are not
replayable items: the scan never reads them, which is the point. Then it
prints:

* the bare indexed query for the due rows, the limit of what a pass can
  cost to find them: ``SELECT id FROM deadlines WHERE next_at <= :now
  ORDER BY next_at LIMIT :due`` (median of several runs, warm), and the same
  reading a column of each row (what an index that does not cover the
  query costs);
* the scan's claim query for the same rows (the same range plus the lease
  condition, and ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), alone and with
  its lease UPDATE (``timers.claim_due``), each rolled back; goal: the
  claim query within 2x of the bare one;
* two escalation passes (:meth:`Escalator.tick`, default batch of 500): one
  with a tenth of the due rows due, then one with all of them (the tenth's
  reminder and the rest's warning), with their time, the levels fired,
  the statements sent, the rows they fetched and wrote (counted at the
  driver, so the store keeps its production path), and on PostgreSQL the
  tuples the server read from the deadlines and items tables: both should
  scale with the due rows, not the stored ones;
* the query plans: the claim query must range-scan the due-scan index
  (``deadlines_next``, partial on ``next_at IS NOT NULL`` on PostgreSQL; on
  SQLite ``deadlines_next_lease``, the same with ``lease_until`` too, so
  that the claim is answered from the index alone) and read no closed
  deadline.

PostgreSQL's tables are ``ANALYZE``d after the bulk load (autovacuum's job
on a live database), and ``deadlines`` is vacuumed after the rolled-back
claims; SQLite's are not analysed (the store never runs ``ANALYZE``). The
figures measured here, and what they mean, are in ``bench/README.md``.

This is a benchmark that prints figures, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, event, func, inspect, select, text
from sqlalchemy import Engine as SqlEngine

from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.values import Actor
from workflow.directory.static import StaticDirectory
from workflow.schedule.scan import Escalator, TickReport
from workflow.store import timers
from workflow.store.migrate import upgrade
from workflow.store.schema import Tables
from workflow.store.sql import create_database_engine

DEFAULT_POSTGRESQL_URL = os.environ.get(
    "WORKFLOW_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

GOAL = 2.0
"""The claim query's time over the bare indexed query's, at most."""

BATCH = 10_000
CLOSED_SHARE = 0.8
SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKFLOW = "enterprise_issue"
ENTERPRISE = Actor("zhao", frozenset({"enterprise"}))
START_DATA = {
    "enterprise": "e_pixel",
    "district": "d_jh",
    "sector": "animation_games",
    "title": "Need venue",
    "description": "We need a venue for a game jam",
    "category": "venues",
}
DIRECTORY = StaticDirectory(
    groups={"coordinating_office": ["li"], "task_force_leaders": ["wu"]},
    members={("unit", "u_culture"): ["chen"], ("enterprise", "e_pixel"): ["zhao"]},
    relations={("enterprise", "e_pixel", "commissioners"): ["sun"]},
)


def shanghai(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A 2026 local time in Shanghai, as aware UTC."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


# Two cohorts of due items. Started Monday 2 November 09:00, an item's warning falls due
# Tuesday 3 November 17:30 and its reminder Wednesday 4 November 17:30; started a day later,
# its warning falls due Wednesday 17:30. The first pass (Tuesday 18:30) finds the first
# cohort's warnings due; the second (Wednesday 18:30) the first cohort's reminders and the
# second cohort's warnings. Every other open item looks next weeks later.
FIRST_START = shanghai(11, 2)
SECOND_START = shanghai(11, 3)
FIRST_PASS = shanghai(11, 3, 18, 30)
SECOND_PASS = shanghai(11, 4, 18, 30)


def line(label: str, value: str) -> None:
    """Print one aligned result line."""
    print(f"  {label:<46} {value}", flush=True)


def block(title: str, body: str) -> None:
    """Print an indented multi-line text (a query plan)."""
    print(f"  {title}:", flush=True)
    for row in body.splitlines():
        print(f"      {row}", flush=True)


# -- counting at the driver -----------------------------------------------------------------


@dataclass
class Counts:
    """What went through the driver while counting: statements, rows fetched, rows written."""

    on: bool = False
    statements: int = 0
    fetched: int = 0
    written: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.statements = self.fetched = self.written = 0
        self.kinds = {}

    def executed(self, statement: str, cursor: Any) -> None:
        if not self.on:
            return
        self.statements += 1
        words = statement.lstrip().split(None, 1)
        kind = words[0].upper() if words else "?"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind in ("INSERT", "UPDATE", "DELETE", "WITH") and (cursor.rowcount or 0) > 0:
            self.written += cursor.rowcount

    def rows(self, count: int) -> None:
        if self.on:
            self.fetched += count


class _Counting:
    """Mixed into a driver's cursor class: reports statements and fetched rows to ``_counts``."""

    _counts: Counts

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().execute(statement, *args, **kwargs)  # type: ignore[misc]
        self._counts.executed(str(statement), self)
        return result

    def executemany(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().executemany(statement, *args, **kwargs)  # type: ignore[misc]
        self._counts.executed(str(statement), self)
        return result

    def fetchone(self) -> Any:
        row = super().fetchone()  # type: ignore[misc]
        if row is not None:
            self._counts.rows(1)
        return row

    def fetchmany(self, *args: Any, **kwargs: Any) -> Any:
        rows = super().fetchmany(*args, **kwargs)  # type: ignore[misc]
        self._counts.rows(len(rows))
        return rows

    def fetchall(self) -> Any:
        rows = super().fetchall()  # type: ignore[misc]
        self._counts.rows(len(rows))
        return rows


def count_at_driver(sa_engine: SqlEngine, counts: Counts) -> None:
    """Count what every connection of ``sa_engine`` sends and fetches (install before use).

    A SQLAlchemy ``after_cursor_execute`` listener would be simpler, but the
    store notices cursor listeners and switches from its production path
    (prepared statements straight on the DB-API cursor) to SQLAlchemy's
    execution: the pass measured would not be the pass that runs. A cursor
    class of our own, handed to the driver at connect time, sees both.
    """
    namespace = {"_counts": counts}
    if sa_engine.dialect.driver == "pysqlite":
        import sqlite3  # noqa: PLC0415 (each driver where it is used)

        cursor_class = type("CountingCursor", (_Counting, sqlite3.Cursor), namespace)

        class CountingConnection(sqlite3.Connection):
            # The connection's execute shortcuts make their cursor in C: route them here.
            def cursor(self, factory: Any = cursor_class) -> Any:
                return super().cursor(factory)

            def execute(self, sql: str, *args: Any) -> Any:
                return self.cursor().execute(sql, *args)

            def executemany(self, sql: str, *args: Any) -> Any:
                return self.cursor().executemany(sql, *args)

        def arguments(cparams: dict[str, Any]) -> None:
            cparams["factory"] = CountingConnection

    elif sa_engine.dialect.driver == "psycopg":
        import psycopg  # noqa: PLC0415

        def arguments(cparams: dict[str, Any]) -> None:
            base = cparams.get("cursor_factory", psycopg.Cursor)
            cparams["cursor_factory"] = type("CountingCursor", (_Counting, base), namespace)

    else:
        raise SystemExit(f"no counting cursor for the {sa_engine.dialect.driver} driver")

    @event.listens_for(sa_engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        arguments(cparams)


# -- the stored items -----------------------------------------------------------------------


@dataclass
class Backend:
    """One database under test."""

    name: str
    url: str
    prefix: str
    cleanup: Callable[[], None]


@dataclass
class Scene:
    """An upgraded database with the bench's items, an engine over it, and its counters."""

    backend: Backend
    sa: SqlEngine
    engine: Engine
    counts: Counts

    @property
    def t(self) -> Tables:
        return self.engine.store.tables

    @property
    def is_postgresql(self) -> bool:
        return self.sa.dialect.name == "postgresql"


# The three tables the bulk fills, each with the columns that hold ids (set per copy).
_ID_COLUMNS = {"items": ("id",), "history": ("item_id",), "deadlines": ("id", "item_id")}

Variant = tuple[str, int]
"""Which kind of copy: ("closed", 0), ("due", cohort 1 or 2), or ("waiting", weeks ahead)."""


def _plan(total: int, due: int) -> Iterator[tuple[int, Variant]]:
    """The copies: (item id, variant) for ids 3..total (1 is the template, 2 a cohort's).

    Closed, waiting and due items interleave in the tables, as they would
    after years of service: every fifth id is open; among the open ones,
    evenly spaced, ``due - 2`` more are due (with items 1 and 2: a tenth of
    ``due`` in the first cohort, the rest in the second); the other open
    ones look next 3 to 22 weeks ahead (the same weekday: the same ladder).
    """
    step = max(1, (total // 5) // due)
    made = 2
    first_cohort = max(1, due // 10)
    for n in range(3, total + 1):
        if n % 5:
            yield n, ("closed", 0)
        elif made < due and (n // 5) % step == 0:
            made += 1
            # Item 1 is in the first cohort, item 2 in the second.
            yield n, ("due", 1 if made <= first_cohort + 1 else 2)
        else:
            yield n, ("waiting", 3 + (n // 5) % 20)


def _variants(
    first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]]
) -> dict[Variant, dict[str, dict[str, Any]]]:
    """The stored rows of each kind of copy (ids still the template's)."""
    found: dict[Variant, dict[str, dict[str, Any]]] = {
        ("due", 1): first,
        ("due", 2): {**first, "deadlines": second["deadlines"]},
    }
    item, deadline = first["items"], first["deadlines"]
    found["closed", 0] = {
        **first,
        # Closed: the clock ended long ago, nothing left to look at.
        "items": {**item, "state": "closed", "is_open": False, "closed_at": deadline["due_at"]},
        "deadlines": {**deadline, "status": "met", "next_at": None, "ended_at": deadline["due_at"]},
    }
    for weeks in range(3, 23):
        shift = dt.timedelta(days=7 * weeks)
        found["waiting", weeks] = {
            "items": {
                **item,
                "created_at": item["created_at"] + shift,
                "updated_at": item["updated_at"] + shift,
            },
            "history": {**first["history"], "at": first["history"]["at"] + shift},
            "deadlines": {
                **deadline,
                **{k: deadline[k] + shift for k in ("started_at", "due_at", "next_at")},
            },
        }
    return found


def _batches(total: int, due: int) -> Iterator[list[tuple[int, Variant]]]:
    batch: list[tuple[int, Variant]] = []
    for entry in _plan(total, due):
        batch.append(entry)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    text_value = str(value)
    return text_value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _bulk_postgresql(
    scene: Scene, variants: dict[Variant, dict[str, dict[str, Any]]], total: int, due: int
) -> None:
    """COPY the copies in batches: each row is its variant's text with its ids put first."""
    t = scene.t
    tables = {"items": t.items, "history": t.history, "deadlines": t.deadlines}
    columns = {
        name: [c.name for c in table.columns if c.name not in _ID_COLUMNS[name]]
        for name, table in tables.items()
    }
    tails = {
        (name, variant): "\t".join(_copy_text(rows[name][c]) for c in columns[name]) + "\n"
        for variant, rows in variants.items()
        for name in tables
    }
    with scene.sa.connect() as connection:
        raw: Any = connection.connection.driver_connection
        with raw.cursor() as cursor:
            for batch in _batches(total, due):
                for name, table in tables.items():
                    names = ", ".join(f'"{c}"' for c in (*_ID_COLUMNS[name], *columns[name]))
                    ids = len(_ID_COLUMNS[name])
                    data = "".join(
                        f"{n}\t" * ids + tails[name, variant] for n, variant in batch
                    ).encode()
                    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                        copy.write(data)
                raw.commit()
        for table in (t.items, t.deadlines):
            # Explicit ids leave the sequences behind: later inserts must not collide.
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'(SELECT max(id) FROM "{table.name}"))'
                )
            )
        connection.commit()
        for table in tables.values():
            connection.exec_driver_sql(f'ANALYZE "{table.name}"')
        connection.commit()


def _bulk_sqlite(
    scene: Scene, variants: dict[Variant, dict[str, dict[str, Any]]], total: int, due: int
) -> None:
    """executemany the copies in batches, their values made by the columns' own binders."""
    t = scene.t
    dialect = scene.sa.dialect
    tables = {"items": t.items, "history": t.history, "deadlines": t.deadlines}
    columns = {
        name: [c for c in table.columns if c.name not in _ID_COLUMNS[name]]
        for name, table in tables.items()
    }

    def stored(column: Any, value: Any) -> Any:
        bind = column.type.bind_processor(dialect)
        return bind(value) if bind is not None else value

    tails = {
        (name, variant): tuple(stored(c, rows[name][c.name]) for c in columns[name])
        for variant, rows in variants.items()
        for name in tables
    }
    with scene.sa.connect() as connection:
        raw: Any = connection.connection.driver_connection
        for batch in _batches(total, due):
            raw.execute("BEGIN")  # the store's connections are in autocommit mode
            for name, table in tables.items():
                names = [*_ID_COLUMNS[name], *(c.name for c in columns[name])]
                marks = ", ".join("?" * len(names))
                ids = len(_ID_COLUMNS[name])
                raw.executemany(
                    f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({marks})',
                    [(n,) * ids + tails[name, variant] for n, variant in batch],
                )
            raw.execute("COMMIT")


def store_items(scene: Scene, total: int, due: int) -> float:
    """Start the two templates through the engine, then bulk-insert the rest; seconds taken."""
    began = time.perf_counter()
    engine, t = scene.engine, scene.t
    assert isinstance(engine.clock, ManualClock)
    engine.clock.set(FIRST_START)
    first = engine.start(WORKFLOW, ENTERPRISE, START_DATA)
    engine.clock.set(SECOND_START)
    second = engine.start(WORKFLOW, ENTERPRISE, START_DATA)
    if (first.id, second.id) != (1, 2):
        raise SystemExit("the bench needs empty tables (item ids 1 and 2)")

    def stored(item_id: int) -> dict[str, dict[str, Any]]:
        with scene.sa.connect() as connection:
            return {
                name: dict(
                    connection.execute(select(table).where(column == item_id)).mappings().one()
                )
                for name, table, column in (
                    ("items", t.items, t.items.c.id),
                    ("history", t.history, t.history.c.item_id),
                    ("deadlines", t.deadlines, t.deadlines.c.item_id),
                )
            }

    variants = _variants(stored(first.id), stored(second.id))
    if scene.is_postgresql:
        _bulk_postgresql(scene, variants, total, due)
    else:
        _bulk_sqlite(scene, variants, total, due)
    return time.perf_counter() - began


# -- the measurements ---------------------------------------------------------------------------


def median_ms(samples: Sequence[float]) -> float:
    """The median of durations in seconds, in milliseconds."""
    return statistics.median(samples) * 1000


def bare_sql(
    scene: Scene, connection: Connection, now: dt.datetime, limit: int, *, row: bool = False
) -> str:
    """The bare indexed query for the due rows, as SQL with literal values.

    ``row`` also selects ``due_at``, a column no index holds: the database
    must then read each row, not just the index. (Not ``lease_until``: on
    SQLite the due-scan index holds it, for the claim query's sake.)
    """
    d = scene.t.deadlines
    columns = [d.c.id, d.c.due_at] if row else [d.c.id]
    query = select(*columns).where(d.c.next_at <= now).order_by(d.c.next_at).limit(limit)
    return str(query.compile(connection, compile_kwargs={"literal_binds": True}))


@contextmanager
def write_transaction(scene: Scene) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite) that is always rolled back."""
    with scene.sa.connect().execution_options(workflow_write=True) as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def measure_queries(scene: Scene, now: dt.datetime, due: int) -> None:
    """Time the bare query, the claim query and the whole claim for the due rows.

    Each query runs several times in one write transaction (``BEGIN
    IMMEDIATE`` on SQLite), after a warm-up run, and only its execution and
    fetch are timed: the comparison is between the queries, not the
    transactions around them. ``claim_due`` leases the rows it finds, so
    each of its runs has a transaction of its own, rolled back.
    """
    t = scene.t
    repeat = 9
    with scene.sa.connect() as connection:
        bare = bare_sql(scene, connection, now, due)
        bare_rows = bare_sql(scene, connection, now, due, row=True)
        claim = timers.scan_plan(connection, t, now, limit=due).sql

    def run(sql: str) -> tuple[float, int]:
        with write_transaction(scene) as connection:
            found = len(connection.exec_driver_sql(sql).all())
            samples = []
            for _ in range(repeat):
                began = time.perf_counter()
                connection.exec_driver_sql(sql).all()
                samples.append(time.perf_counter() - began)
        return median_ms(samples), found

    bare_ms, found = run(bare)
    rows_ms, _ = run(bare_rows)
    claim_query_ms, claimed = run(claim)
    claims = []
    for _ in range(3):
        with write_transaction(scene) as connection:
            began = time.perf_counter()
            timers.claim_due(
                connection, t, now=now, token="bench", lease=dt.timedelta(minutes=1), limit=due
            )
            claims.append(time.perf_counter() - began)
    ratio = claim_query_ms / bare_ms
    verdict = "met" if ratio <= GOAL else "NOT met"
    line(f"bare indexed query ({found:,} rows)", f"{bare_ms:9.2f} ms  (median of {repeat})")
    line("  the same, reading a column of the rows too", f"{rows_ms:9.2f} ms")
    line(f"claim query (same {claimed:,} rows, lease condition)", f"{claim_query_ms:9.2f} ms")
    line("  claim query / bare", f"{ratio:9.2f}   (goal <= {GOAL}: {verdict})")
    line("claim with its lease UPDATE (claim_due)", f"{median_ms(claims):9.2f} ms  (median of 3)")
    with scene.sa.connect() as connection:
        block("plan of the bare query", explain(connection, bare))
        block(
            "plan of the claim query (timers.scan_plan)",
            timers.scan_plan(connection, t, now, limit=due).plan,
        )
    if scene.is_postgresql:
        with write_transaction(scene) as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {claim}").all()
        block("claim query, EXPLAIN (ANALYZE, BUFFERS)", "\n".join(str(r[0]) for r in plan))
        # The rolled-back claims above left dead row versions (and, where an update was
        # not HOT, index entries) that the pass would wade through: the bench's own
        # litter, which autovacuum clears on a live database.
        with scene.sa.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'VACUUM ANALYZE "{t.deadlines.name}"')


def explain(connection: Connection, sql: str) -> str:
    """The database's plan for ``sql``."""
    if connection.dialect.name == "sqlite":
        return "\n".join(
            str(r[-1]) for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
        )
    return "\n".join(str(r[0]) for r in connection.exec_driver_sql(f"EXPLAIN {sql}"))


def server_reads(scene: Scene) -> dict[str, int] | None:
    """PostgreSQL: tuples read so far from the deadlines and items tables (index + seq scans).

    The pool is emptied first: a server process publishes its table counters
    at the latest when it ends.
    """
    if not scene.is_postgresql:
        return None
    scene.sa.dispose()
    names = {scene.t.deadlines.name: "deadlines", scene.t.items.name: "items"}
    reader = create_database_engine(scene.backend.url)
    try:
        with reader.connect() as connection:
            connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            query = text(
                "SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                "FROM pg_stat_user_tables WHERE relname IN :names"
            ).bindparams(bindparam("names", expanding=True))
            rows = connection.execute(query, {"names": list(names)}).all()
    finally:
        reader.dispose()
    return {names[str(name)]: int(value) for name, value in rows}


def measure_pass(scene: Scene, label: str, now: dt.datetime) -> TickReport:
    """Run one escalation pass at ``now``; print its time and what it read and wrote."""
    before = server_reads(scene)
    scene.counts.reset()
    scene.counts.on = True
    try:
        report = Escalator(scene.engine).tick(now)
    finally:
        scene.counts.on = False
    after = server_reads(scene)
    counts = scene.counts
    handled = max(1, len(report.actions))
    ms = report.duration * 1000
    line(
        f"{label}: {report.claimed:,} due",
        f"{ms:9.0f} ms  ({ms / handled:.2f} ms per deadline, {report.fired_count:,} levels fired)",
    )
    line(
        "  statements / rows fetched / rows written",
        f"{counts.statements:,} / {counts.fetched:,} / {counts.written:,}"
        f"  ({counts.statements / handled:.1f} statements per deadline)",
    )
    line("  statements by kind", ", ".join(f"{k} {v:,}" for k, v in sorted(counts.kinds.items())))
    if before is not None and after is not None:
        read = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        line(
            "  server tuples read (deadlines / items)",
            f"{read.get('deadlines', 0):,} / {read.get('items', 0):,}",
        )
    problems = report.failures + report.conflicts + report.lost_leases
    if problems:
        line("  !! not handled", f"{len(problems)} deadline(s): {problems[:10]}")
    return report


def run_backend(backend: Backend, total: int, due: int) -> None:
    """Store the items on one backend and print every measurement."""
    print(f"\n{backend.name}: {total:,} items, {due:,} due", flush=True)
    counts = Counts()
    sa = create_database_engine(backend.url)
    count_at_driver(sa, counts)
    try:
        upgrade(sa, prefix=backend.prefix)
        engine = Engine.from_engine(
            sa, directory=DIRECTORY, clock=ManualClock(FIRST_START), prefix=backend.prefix
        )
        scene = Scene(backend, sa, engine, counts)
        seconds = store_items(scene, total, due)
        d = scene.t.deadlines
        with sa.connect() as connection:
            open_count = connection.execute(
                select(func.count()).where(d.c.next_at.is_not(None))
            ).scalar_one()
        line(
            "stored (2 by the API, the rest bulk)",
            f"{seconds:9.1f} s  ({open_count:,} open clocks, {total - open_count:,} ended)",
        )
        first = measure_pass(scene, "pass 1 (a tenth due)", FIRST_PASS)
        measure_queries(scene, SECOND_PASS, due)
        second = measure_pass(scene, "pass 2 (all due)", SECOND_PASS)
        if first.claimed and second.claimed:
            per_first = first.duration / first.claimed
            per_second = second.duration / second.claimed
            line("  time per deadline, pass 2 / pass 1", f"{per_second / per_first:9.2f}")
        problems = engine.verify(1)
        if problems:
            raise SystemExit(f"history does not replay: {problems}")
    finally:
        sa.dispose()


@contextmanager
def backends(args: argparse.Namespace) -> Iterator[list[Backend]]:
    """Yield the backends to measure; remove their files and tables afterwards."""
    folder = tempfile.TemporaryDirectory(prefix="wf_scan_bench_")
    path = Path(folder.name) / "bench.db"
    found = [Backend("SQLite", f"sqlite:///{path}", "wf_", lambda: None)]
    if not args.sqlite_only:
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        found.append(
            Backend(
                "PostgreSQL",
                args.postgresql_url,
                prefix,
                lambda: drop_prefixed(args.postgresql_url, prefix),
            )
        )
    try:
        yield found
    finally:
        for backend in found:
            backend.cleanup()
        folder.cleanup()


def drop_prefixed(url: str, prefix: str) -> None:
    """Drop every table whose name starts with our prefix."""
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            names = [n for n in inspect(connection).get_table_names() if n.startswith(prefix)]
            if names:
                quoted = ", ".join(engine.dialect.identifier_preparer.quote(n) for n in names)
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted} CASCADE")
                connection.commit()
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark on the chosen backends."""
    parser = argparse.ArgumentParser(prog="python -m bench.scan_bench", description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000, help="items stored (1000000)")
    parser.add_argument("--due", type=int, default=1_000, help="of which due (1000)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL)
    args = parser.parse_args(argv)
    if not 10 <= args.due <= args.items // 5:
        parser.error("--due must be at least 10 and at most a fifth of --items (the open ones)")
    with backends(args) as found:
        for backend in found:
            run_backend(backend, args.items, args.due)
    return 0


if __name__ == "__main__":
    sys.exit(main())
