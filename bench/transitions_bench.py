"""How fast are persisted transitions, compared with the database's own commit rate?

Run::

    .venv/bin/python -m bench.transitions_bench [--sqlite-only] [--items 1000000] [--fires 5000]

For SQLite (a temporary file) and PostgreSQL (``--postgresql-url``, a unique
table prefix dropped at the end) it prints:

* the raw commit rate: the DB-API driver alone, one single-row INSERT and
  COMMIT per iteration (SQLite in WAL mode with ``synchronous=FULL`` and
  ``BEGIN IMMEDIATE``, the settings the store uses) -- the physical limit;
* our rate: ``Engine.fire`` through the public API, single thread, after a
  warm-up, each fire one committed transaction that reads the item (and its
  open clocks), updates it by compare-and-swap and appends its history row;
  the headline is a ping-pong pair of events between two states, and
  ``amend`` on the shipped ``enterprise_issue`` definition (input validation
  and an effect) is shown next to it; with the ratio to the raw rate (goal:
  at least 0.5), mean and p99 latency, and this process's CPU time per
  operation. Raw and ours run interleaved in rounds, so that background load
  on a shared machine hits both alike;
* memory: RSS and ``tracemalloc`` after firing on 1,000 of 100,000 stored
  items, and again after firing on all of them (nothing per item may stay);
* ``get`` and ``list --state`` (first page, and a deep page via ``after_id``)
  at ``--items`` stored items, with the database's query plan.

This is a benchmark that prints figures, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event, insert, inspect, make_url, text

from workflow.app import Engine, load_definitions
from workflow.core.clock import SystemClock
from workflow.core.values import Actor
from workflow.definition.loader import Catalog, load_definition
from workflow.directory.static import StaticDirectory
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

DEFAULT_POSTGRESQL_URL = os.environ.get(
    "WORKFLOW_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

GOAL = 0.5
"""Our persisted transitions per second over the raw commit rate, at least."""

PINGPONG = """\
id: bench_pingpong
version: 1
title: {zh: 乒乓, en: Ping-pong}
initial: ping
started_by: office
fields:
  note:
    type: string
roles:
  office:
    group: office
states:
  ping:
    label: {zh: 乒, en: Ping}
  pong:
    label: {zh: 乓, en: Pong}
  done:
    label: {zh: 完, en: Done}
    final: true
events:
  - name: hit
    label: {zh: 擊, en: Hit}
    from: ping
    to: pong
    roles: office
  - name: back
    label: {zh: 回, en: Back}
    from: pong
    to: ping
    roles: office
  - name: finish
    label: {zh: 結束, en: Finish}
    from: [ping, pong]
    to: done
    roles: office
"""

OFFICE = Actor("li", frozenset({"office"}))
ENTERPRISE = Actor("zhao", frozenset({"enterprise"}))
ISSUE_DATA = {
    "enterprise": "e_pixel",
    "district": "d_jh",
    "sector": "animation_games",
    "title": "Need a venue for the launch",
    "description": "We need a venue for about 300 people in March.",
    "category": "venues",
}


# -- small helpers ----------------------------------------------------------------------------


@dataclass
class Timing:
    """Latencies of a run of operations, in seconds."""

    latencies: list[float]
    seconds: float
    cpu_seconds: float = 0.0
    """Process CPU time (user + system) spent: ours, not the disk's or the server's."""

    @property
    def cpu_us(self) -> float:
        """Mean CPU time of this process per operation, in microseconds."""
        return self.cpu_seconds / len(self.latencies) * 1e6

    @property
    def per_second(self) -> float:
        """Operations per second over the whole run."""
        return len(self.latencies) / self.seconds

    @property
    def mean_ms(self) -> float:
        """Mean latency in milliseconds."""
        return statistics.fmean(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        """99th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def timed(count: int, operation: Callable[[int], object]) -> Timing:
    """Run ``operation(i)`` for i in range(count), timing each call."""
    clock = time.perf_counter
    latencies = [0.0] * count
    cpu = time.process_time()
    begin = clock()
    for i in range(count):
        t0 = clock()
        operation(i)
        latencies[i] = clock() - t0
    return Timing(latencies, clock() - begin, time.process_time() - cpu)


def rss_mib() -> float:
    """The process's resident set size now, in MiB (Linux; peak RSS elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def catalog() -> Catalog:
    """The shipped definitions plus the ping-pong one."""
    shipped = load_definitions(None)
    shipped.add(load_definition("<bench>/bench_pingpong.yaml", PINGPONG))
    return shipped


def directory() -> StaticDirectory:
    """Just enough people for the two workflows."""
    return StaticDirectory(
        groups={"coordinating_office": ["li"], "office": ["li"], "task_force_leaders": ["wu"]},
        members={("unit", "u_culture"): ["chen"], ("enterprise", "e_pixel"): ["zhao"]},
        relations={("enterprise", "e_pixel", "commissioners"): ["sun"]},
    )


def line(label: str, value: str) -> None:
    """Print one aligned result line."""
    print(f"  {label:<44} {value}", flush=True)


# -- backends -----------------------------------------------------------------------------------


@dataclass
class Backend:
    """One database under test: its URL, our table prefix and the raw-commit driver."""

    name: str
    url: str
    prefix: str
    raw_commits: Callable[[], Any]
    """Opens the raw-commit driver: a context manager yielding ``commit_one(i)``."""
    cleanup: Callable[[], None]


@contextmanager
def raw_sqlite(path: str) -> Iterator[Callable[[int], None]]:
    """The physical limit on SQLite: sqlite3 alone, one INSERT + COMMIT per call.

    The same settings as the store: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("CREATE TABLE raw_commits (id INTEGER PRIMARY KEY, payload TEXT)")
    cursor = connection.cursor()

    def commit_one(i: int) -> None:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO raw_commits (payload) VALUES (?)", (f"row {i}",))
        cursor.execute("COMMIT")

    try:
        yield commit_one
    finally:
        connection.execute("DROP TABLE raw_commits")
        connection.close()


def raw_postgresql(url: str, prefix: str) -> Callable[[], Any]:
    """The physical limit on PostgreSQL: psycopg alone, one INSERT + COMMIT per call."""

    @contextmanager
    def open_raw() -> Iterator[Callable[[int], None]]:
        import psycopg  # noqa: PLC0415 (only with PostgreSQL)

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        table = f"{prefix}raw_commits"
        with psycopg.connect(conninfo) as connection:
            connection.execute(f"CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, payload TEXT)")
            connection.commit()
            cursor = connection.cursor()

            def commit_one(i: int) -> None:
                cursor.execute(f"INSERT INTO {table} (payload) VALUES (%s)", (f"row {i}",))
                connection.commit()

            try:
                yield commit_one
            finally:
                connection.execute(f"DROP TABLE {table}")
                connection.commit()

    return open_raw


@contextmanager
def backends(args: argparse.Namespace) -> Iterator[list[Backend]]:
    """Yield the backends to measure; remove their files and tables afterwards."""
    found: list[Backend] = []
    folder = tempfile.TemporaryDirectory(prefix="wf_bench_")
    path = str(Path(folder.name) / "bench.db")
    found.append(
        Backend("SQLite", f"sqlite:///{path}", "wf_", lambda: raw_sqlite(path), lambda: None)
    )
    if not args.sqlite_only:
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        found.append(
            Backend(
                "PostgreSQL",
                args.postgresql_url,
                prefix,
                raw_postgresql(args.postgresql_url, prefix),
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


# -- the measurements ---------------------------------------------------------------------------


def interleaved(
    operations: dict[str, Callable[[int], object]], count: int, rounds: int = 10
) -> dict[str, Timing]:
    """Time ``count`` calls of each operation, in alternating rounds.

    The disk and the server are shared with whatever else runs on the
    machine; alternating short rounds exposes every operation to the same
    background load, so their ratio holds even when the absolute rates drift.
    """
    per_round = max(1, count // rounds)
    latencies: dict[str, list[float]] = {name: [] for name in operations}
    seconds = dict.fromkeys(operations, 0.0)
    cpu = dict.fromkeys(operations, 0.0)
    done = 0
    while done < count:
        size = min(per_round, count - done)
        for name, operation in operations.items():
            timing = timed(size, _offset(operation, done))
            latencies[name].extend(timing.latencies)
            seconds[name] += timing.seconds
            cpu[name] += timing.cpu_seconds
        done += size
    return {name: Timing(latencies[name], seconds[name], cpu[name]) for name in operations}


def _offset(operation: Callable[[int], object], base: int) -> Callable[[int], object]:
    """Call ``operation`` with indexes counted from ``base`` (events alternate by index)."""
    return lambda i: operation(base + i)


def measure_rates(engine: Engine, open_raw: Callable[[], Any], fires: int) -> None:
    """Raw commits/s against our fires/s: ping-pong (the headline) and amend."""
    item = engine.start("bench_pingpong", OFFICE, {})
    issue = engine.start("enterprise_issue", ENTERPRISE, ISSUE_DATA)
    events = ("hit", "back")
    texts = ("We need a venue for 300 people.", "We need a venue for 400 people.")

    def pingpong(i: int) -> None:
        engine.fire(item.id, events[i % 2], OFFICE)

    def amend(i: int) -> None:
        engine.fire(issue.id, "amend", ENTERPRISE, {"description": texts[i % 2]})

    with open_raw() as raw:
        operations = {"raw": raw, "pingpong": pingpong, "amend": amend}
        for i in range(300):  # warm-up: caches, pooled connection, prepared statements
            for operation in operations.values():
                operation(i)
        timings = interleaved(operations, fires)
    raw_timing, ours, amended = timings["raw"], timings["pingpong"], timings["amend"]

    def latency(timing: Timing) -> str:
        return (
            f"{timing.mean_ms:8.3f} ms / {timing.p99_ms:.3f} ms"
            f"   (CPU of this process {timing.cpu_us:.0f} us)"
        )

    ratio = ours.per_second / raw_timing.per_second
    line("raw commits/s (driver: INSERT + COMMIT)", f"{raw_timing.per_second:8.0f}")
    line("  latency mean / p99", latency(raw_timing))
    line("ours: persisted transitions/s (ping-pong)", f"{ours.per_second:8.0f}")
    line("  latency mean / p99", latency(ours))
    verdict = "met" if ratio >= GOAL else "NOT met"
    line("  ours / raw", f"{ratio:8.2f}   (goal >= {GOAL}: {verdict})")
    line("ours: amend on enterprise_issue/s", f"{amended.per_second:8.0f}")
    line("  latency mean / p99", latency(amended))
    line("  amend / raw", f"{amended.per_second / raw_timing.per_second:8.2f}")
    problems = engine.verify(item.id) + engine.verify(issue.id)
    if problems:
        raise SystemExit(f"history does not replay: {problems}")


def bulk_items(
    sa_engine: SqlEngine,
    engine: Engine,
    count: int,
    make: Callable[[int], tuple[str, str, str, dict[str, Any]]],
    *,
    with_history: bool,
) -> None:
    """Insert ``count`` items with Core (workflow, hash, state, data from ``make(i)``).

    With ``with_history`` each gets its ``start`` history row, so they are
    proper items the engine may fire on (version 1 == one history row).
    """
    tables = engine.store.tables
    now = dt.datetime.now(dt.UTC)
    batch = 10_000
    with sa_engine.connect() as connection:
        for first in range(0, count, batch):
            rows = []
            for i in range(first, min(count, first + batch)):
                workflow_id, digest, state, data = make(i)
                rows.append(
                    {
                        "workflow_id": workflow_id,
                        "definition_hash": digest,
                        "state": state,
                        "data": data,
                        "version": 1,
                        "is_open": True,
                        "created_by": "bench",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            ids = [
                r.id
                for r in connection.execute(
                    insert(tables.items).returning(tables.items.c.id, sort_by_parameter_order=True),
                    rows,
                )
            ]
            if with_history:
                connection.execute(
                    insert(tables.history),
                    [
                        {
                            "item_id": item_id,
                            "seq": 1,
                            "kind": "start",
                            "event": "start",
                            "from_state": None,
                            "to_state": row["state"],
                            "actor_id": "bench",
                            "actor_role": "office",
                            "input": None,
                            "reason": None,
                            "changes": row["data"] or None,
                            "definition_hash": row["definition_hash"],
                            "at": now,
                        }
                        for item_id, row in zip(ids, rows, strict=True)
                    ],
                )
            connection.commit()


def measure_memory(sa_engine: SqlEngine, engine: Engine, items: int) -> None:
    """Fire on 1,000 of ``items`` stored items, then on all: what stays in memory?"""
    pingpong = engine.catalog.get("bench_pingpong")
    begin = time.perf_counter()
    first = engine.start("bench_pingpong", OFFICE, {})
    # The same data the API stored for the first one (declared defaults included).
    data = dict(first.data)
    bulk_items(
        sa_engine,
        engine,
        items - 1,
        lambda i: ("bench_pingpong", pingpong.hash, "ping", data),
        with_history=True,
    )
    elapsed = time.perf_counter() - begin
    line(f"stored {items:,} items (1 by the API, rest bulk)", f"{elapsed:.1f} s")
    ids = range(first.id, first.id + items)
    sample = 1_000

    for item_id in ids[:sample]:
        engine.fire(item_id, "hit", OFFICE)
    gc.collect()
    rss_sample = rss_mib()
    tracemalloc.start()
    traced_before, _ = tracemalloc.get_traced_memory()
    begin = time.perf_counter()
    for item_id in ids[sample:]:
        engine.fire(item_id, "hit", OFFICE)
    elapsed = time.perf_counter() - begin
    gc.collect()
    traced_after, traced_peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    rss_all = rss_mib()
    line(f"RSS after firing on {sample:,} items", f"{rss_sample:8.1f} MiB")
    line(
        f"RSS after firing on all {items:,}",
        f"{rss_all:8.1f} MiB  (growth {rss_all - rss_sample:+.1f} MiB)",
    )
    line(
        f"tracemalloc over the other {items - sample:,} fires",
        f"{(traced_after - traced_before) / 1024:+8.1f} KiB held, "
        f"peak {traced_peak / 1024:.0f} KiB ({elapsed:.0f} s traced)",
    )
    per_item = (traced_after - traced_before) / (items - sample)
    line("  held per item fired", f"{per_item:8.2f} bytes")
    # Whatever is still alive was allocated during the fires: show where, if anything.
    for stat in snapshot.statistics("lineno")[:3]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        line(f"  still held from {where}", f"{stat.size / 1024:8.1f} KiB in {stat.count} blocks")
    if engine.get(ids[-1]).state != "pong":
        raise SystemExit("memory phase: the last item did not move")


# Roughly how a city's items spread over states after some years (closed dominate).
_STATE_WEIGHTS = {
    "closed": 55,
    "withdrawn": 6,
    "merged": 4,
    "rejected": 3,
    "handling": 8,
    "dispatched": 5,
    "joint_handling": 4,
    "collected": 4,
    "replied": 3,
    "awaiting_sign_off": 3,
    "closing": 2,
    "suspended": 2,
    "disputed": 1,
}


def measure_queries(sa_engine: SqlEngine, engine: Engine, total: int) -> None:
    """Top the store up to ``total`` items, then time ``get`` and ``list --state``."""
    issue = engine.catalog.get("enterprise_issue")
    leaves = list(issue.leaves())
    weighted = [(s, w) for s, w in _STATE_WEIGHTS.items() if s in leaves]
    weighted += [(s, 1) for s in leaves if s not in _STATE_WEIGHTS]
    states = [s for s, w in weighted for _ in range(w)]
    rng = random.Random(7)
    begin = time.perf_counter()
    # One through the API stores the definition row the bulk rows refer to, and
    # gives the data the API stores (declared defaults included).
    data = dict(engine.start("enterprise_issue", ENTERPRISE, ISSUE_DATA).data)
    with sa_engine.connect() as connection:
        items = engine.store.tables.items
        present = connection.execute(text(f"SELECT count(*) FROM {items.name}")).scalar_one()
    missing = max(0, total - int(present))
    bulk_items(
        sa_engine,
        engine,
        missing,
        lambda i: ("enterprise_issue", issue.hash, rng.choice(states), data),
        with_history=False,
    )
    elapsed = time.perf_counter() - begin
    line(f"bulk-inserted {missing:,} items (Core, 10k batches)", f"{elapsed:.1f} s")
    with sa_engine.connect() as connection:
        if sa_engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk load on a live database (inserts
            # trigger it too since PostgreSQL 13): statistics, and the visibility
            # map that lets list's id page be an index-only scan.
            connection.commit()
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {items.name}")
        low, high = connection.execute(text(f"SELECT min(id), max(id) FROM {items.name}")).one()
    line("items stored", f"{high - low + 1:,}")

    ids = [rng.randint(low, high) for _ in range(1_000)]
    for item_id in ids[:100]:
        engine.get(item_id)
    got = timed(len(ids), lambda i: engine.get(ids[i]))
    line("get(random id): mean / p99 over 1,000", f"{got.mean_ms:8.3f} ms / {got.p99_ms:.3f} ms")

    for state in ("handling", "disputed"):
        count = _count(sa_engine, items.name, state)
        first = timed(20, _lister(engine, issue.id, state, None))
        halfway = timed(20, _lister(engine, issue.id, state, (low + high) // 2))
        rows = len(engine.list(workflow_id=issue.id, state=state, limit=100))
        line(
            f"list --state {state} ({count:,} match): page 1",
            f"{first.mean_ms:8.3f} ms (p99 {first.p99_ms:.3f} ms, {rows} rows)",
        )
        line(
            "  a page halfway through (after_id)",
            f"{halfway.mean_ms:8.3f} ms (p99 {halfway.p99_ms:.3f} ms)",
        )

    for title, run in (
        (
            "list --state (a page after an id)",
            lambda: engine.list(workflow_id=issue.id, state="handling", after_id=low, limit=100),
        ),
        ("get", lambda: engine.get(low)),
    ):
        statement, parameters = _captured(sa_engine, run)
        print(f"  query plan of {title}:")
        for row in _plan(sa_engine, statement, parameters):
            print(f"    {row}")


def _lister(
    engine: Engine, workflow_id: str, state: str, after_id: int | None
) -> Callable[[int], object]:
    return lambda _i: engine.list(
        workflow_id=workflow_id, state=state, after_id=after_id, limit=100
    )


def _captured(sa_engine: SqlEngine, run: Callable[[], object]) -> tuple[str, Any]:
    """Run ``run`` and return the (last) SELECT it sent, with its parameters."""
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(sa_engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(sa_engine, "before_cursor_execute", capture)
    return captured[-1]


def _count(sa_engine: SqlEngine, table: str, state: str) -> int:
    with sa_engine.connect() as connection:
        return int(
            connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE state = :s"), {"s": state}
            ).scalar_one()
        )


def _plan(sa_engine: SqlEngine, statement: str, parameters: Any) -> list[str]:
    """Ask the database how it runs a captured statement."""
    with sa_engine.connect() as connection:
        if sa_engine.dialect.name == "sqlite":
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            rows = cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            return [str(r[-1]) for r in rows]
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
        return [str(r[0]) for r in cursor.fetchall()]


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.transitions_bench", description=__doc__)
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--fires", type=int, default=5_000, help="timed fires per rate (5000)")
    parser.add_argument(
        "--items", type=int, default=1_000_000, help="items stored for get/list (1,000,000)"
    )
    parser.add_argument(
        "--memory-items", type=int, default=100_000, help="items fired on for memory (100,000)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("rates", "memory", "queries"),
        help="leave out a part (repeatable)",
    )
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL)
    args = parser.parse_args(argv)

    started = dt.datetime.now()
    print(f"transitions benchmark, {started:%Y-%m-%d %H:%M}, Python {sys.version.split()[0]}")
    definitions = catalog()
    with backends(args) as found:
        for backend in found:
            print(f"\n{backend.name} ({make_url(backend.url).render_as_string()})", flush=True)
            sa_engine = create_database_engine(backend.url)
            try:
                upgrade(sa_engine, prefix=backend.prefix)
                engine = Engine.from_engine(
                    sa_engine,
                    definitions=definitions,
                    directory=directory(),
                    prefix=backend.prefix,
                    clock=SystemClock(),
                )
                if "rates" not in args.skip:
                    measure_rates(engine, backend.raw_commits, args.fires)
                if "memory" not in args.skip:
                    measure_memory(sa_engine, engine, args.memory_items)
                if "queries" not in args.skip:
                    measure_queries(sa_engine, engine, args.items)
            finally:
                sa_engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
