"""What does the notification dispatcher cost per intent and per message?

Run::

    .venv/bin/python -m bench.dispatch_bench [--items 1000] [--people 2] [--rounds 3]
        [--sqlite-only] [--postgresql-url URL] [--mariadb-url URL]

For SQLite (a temporary file), PostgreSQL and MariaDB (when reachable; a
unique table prefix, dropped at the end) each round starts ``--items`` items
of the shipped ``enterprise_issue`` workflow and fires ``accept`` on each
through the public API: the core writes one notification intent per item
(role ``unit``), as it does in service. The unit has ``--people`` members,
so each intent becomes that many messages on the console channel (the
default configuration), written into an :class:`io.StringIO`.

Then ONE dispatcher (as ``workflow outbox dispatch`` builds it: the
database's clock, batches of 100) runs one pass, and the bench prints per
stage (expanding intents, delivering messages): its time and rate, and the
statements and commits it sent per intent or message, counted by a cursor
and connection class handed to the driver (a SQLAlchemy listener would
switch the store off its production path). For comparison it also times the
database's commits alone: one single-row ``INSERT`` and ``COMMIT`` through
the DB-API driver per iteration, with the store's settings, and gives the
share of each stage that this floor explains (commits per row times the
commit's time).

Each round uses fresh tables; the table is the median over the rounds (the
machine is shared: single runs drift by 2-3x). The figures measured here,
and what they mean, are in ``bench/README.md``.

This is a benchmark that prints figures, not a test: it asserts nothing
(it stops only if the pass did not deliver every message).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event, inspect, make_url

from notifiers.console import ConsoleChannel
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.values import Actor
from workflow.directory.static import StaticDirectory
from workflow.notify.dispatch import Dispatcher
from workflow.notify.recipients import Contact
from workflow.store import outbox
from workflow.store.migrate import upgrade
from workflow.store.outbox import OutboxRow
from workflow.store.sql import create_database_engine

DEFAULT_POSTGRESQL_URL = os.environ.get(
    "WORKFLOW_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DEFAULT_MARIADB_URL = os.environ.get(
    "WORKFLOW_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)

WORKFLOW = "enterprise_issue"
UNIT = "u_culture"
ENTERPRISE = Actor("zhao", frozenset({"enterprise"}))
OFFICE = Actor("li", frozenset({"office"}))
START_DATA = {
    "enterprise": "e_pixel",
    "district": "d_jh",
    "sector": "animation_games",
    "title": "Need venue",
    "description": "We need a venue for a game jam",
    "category": "venues",
}
# Monday 2 November 2026, 09:00 in Shanghai: the items are started and accepted then.
STARTED = dt.datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(dt.UTC)
RAW_COMMITS = 500


def directory(people: int) -> StaticDirectory:
    """The bench's directory: the office, the enterprise, and ``people`` in the unit."""
    staff = [f"staff{n:02d}" for n in range(people)]
    return StaticDirectory(
        groups={"coordinating_office": ["li"], "task_force_leaders": ["wu"]},
        members={("unit", UNIT): staff, ("enterprise", "e_pixel"): ["zhao"]},
        relations={("enterprise", "e_pixel", "commissioners"): ["sun"]},
        contacts=[Contact(person, name=f"Staff {person[-2:]}", locale="en") for person in staff],
    )


def line(label: str, value: str) -> None:
    """Print one aligned result line."""
    print(f"  {label:<44} {value}", flush=True)


# -- counting at the driver -----------------------------------------------------------------


@dataclass
class Counts:
    """What went through the driver while counting: statements (by kind) and commits."""

    on: bool = False
    statements: int = 0
    commits: int = 0
    """Commits of transactions that wrote (a read-only transaction's commit costs no flush)."""
    reads: int = 0
    """Commits of transactions that only read."""
    kinds: dict[str, int] = field(default_factory=dict)
    _wrote: bool = False

    def reset(self) -> None:
        self.statements = self.commits = self.reads = 0
        self.kinds = {}

    def executed(self, statement: Any) -> None:
        if not self.on:
            return
        text = statement.decode() if isinstance(statement, bytes | bytearray) else str(statement)
        words = text.lstrip().split(None, 1)
        kind = words[0].upper() if words else "?"
        if kind in ("BEGIN", "COMMIT", "ROLLBACK"):
            return  # transaction control: commits are counted where they happen
        self.statements += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind in ("INSERT", "UPDATE", "DELETE", "WITH"):
            self._wrote = True

    def committed(self) -> None:
        if self.on:
            if self._wrote:
                self.commits += 1
            else:
                self.reads += 1
        self._wrote = False


class _CountingCursor:
    """Mixed into a driver's cursor class: reports each statement to ``_counts``."""

    _counts: Counts

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self._counts.executed(statement)
        return super().execute(statement, *args, **kwargs)  # type: ignore[misc]

    def executemany(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self._counts.executed(statement)
        return super().executemany(statement, *args, **kwargs)  # type: ignore[misc]


def count_at_driver(sa_engine: SqlEngine, counts: Counts) -> None:
    """Count the statements and commits of every connection of ``sa_engine`` (before use).

    The driver's connection is made from classes of our own (a ``do_connect``
    listener, which the store does not count as an observer): a SQLAlchemy
    cursor listener would switch the store off its production path.
    """
    namespace: dict[str, Any] = {"_counts": counts}
    driver = sa_engine.dialect.driver
    make: Callable[[tuple[Any, ...], dict[str, Any]], Any]
    if driver == "pysqlite":
        import sqlite3  # noqa: PLC0415 (each driver where it is used)

        cursor_class = type("CountingCursor", (_CountingCursor, sqlite3.Cursor), namespace)

        class SqliteConnection(sqlite3.Connection):
            # The connection's execute shortcuts make their cursor in C: route them here.
            def cursor(self, factory: Any = cursor_class) -> Any:
                return super().cursor(factory)

            def execute(self, sql: str, *args: Any) -> Any:
                return self.cursor().execute(sql, *args)

            def executemany(self, sql: str, *args: Any) -> Any:
                return self.cursor().executemany(sql, *args)

            def commit(self) -> None:
                if self.in_transaction:
                    counts.committed()
                super().commit()

        def make(cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
            return sqlite3.connect(*cargs, **cparams, factory=SqliteConnection)

    elif driver == "psycopg":
        import psycopg  # noqa: PLC0415

        class PsycopgConnection(psycopg.Connection[Any]):
            def commit(self) -> None:
                counts.committed()
                super().commit()

        def make(cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
            base = cparams.pop("cursor_factory", psycopg.Cursor)
            cursor = type("CountingCursor", (_CountingCursor, base), namespace)
            return PsycopgConnection.connect(*cargs, **cparams, cursor_factory=cursor)

    elif driver == "pymysql":
        import pymysql  # noqa: PLC0415
        import pymysql.cursors  # noqa: PLC0415

        class PymysqlConnection(pymysql.connections.Connection):  # type: ignore[misc]
            def commit(self) -> None:
                counts.committed()
                super().commit()

        def make(cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
            base = cparams.pop("cursorclass", pymysql.cursors.Cursor)
            cursor = type("CountingCursor", (_CountingCursor, base), namespace)
            return PymysqlConnection(*cargs, **cparams, cursorclass=cursor)

    else:
        raise SystemExit(f"no counting connection for the {driver} driver")

    @event.listens_for(sa_engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return make(tuple(cargs), cparams)


# -- the commit floor ------------------------------------------------------------------------


def commit_floor(sa_engine: SqlEngine, table: str) -> float:
    """Seconds per durable commit: one single-row INSERT + COMMIT on the driver, median of 5.

    The store's own engine gives the connection, so the settings are the
    store's (SQLite: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``).
    """
    sqlite = sa_engine.dialect.name == "sqlite"
    key = "INTEGER PRIMARY KEY" if sqlite else "BIGINT AUTO_INCREMENT PRIMARY KEY"
    if sa_engine.dialect.name == "postgresql":
        key = "BIGSERIAL PRIMARY KEY"
    mark = "?" if sqlite else "%s"
    raw: Any = sa_engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"CREATE TABLE {table} (id {key}, payload VARCHAR(40))")
        raw.commit()
        samples = []
        for _ in range(5):
            began = time.perf_counter()
            for n in range(RAW_COMMITS // 5):
                if sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(f"INSERT INTO {table} (payload) VALUES ({mark})", (f"row {n}",))
                raw.commit()
            samples.append((time.perf_counter() - began) / (RAW_COMMITS // 5))
        cursor.execute(f"DROP TABLE {table}")
        raw.commit()
    finally:
        raw.close()
    return statistics.median(samples)


# -- one round -------------------------------------------------------------------------------


@dataclass
class Stage:
    """One stage of the pass: its time, rows handled, statements and commits."""

    seconds: float = 0.0
    cpu: float = 0.0
    """CPU seconds of this process (less sensitive to the machine's load than the time)."""
    statements: int = 0
    commits: int = 0
    reads: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class TimedDispatcher(Dispatcher):
    """A dispatcher that notes each stage's time and driver counts (claims included)."""

    counts: Counts
    stages: dict[str, Stage]

    def _stage(
        self,
        state: Any,
        status: outbox.Claimable,
        now: dt.datetime | None,
        limit: int,
        handle: Callable[[Any, OutboxRow, dt.datetime, bool], None],
    ) -> None:
        self.counts.reset()
        began, cpu = time.perf_counter(), time.process_time()
        super()._stage(state, status, now, limit, handle)
        self.stages[status] = Stage(
            time.perf_counter() - began,
            time.process_time() - cpu,
            self.counts.statements,
            self.counts.commits,
            self.counts.reads,
            dict(self.counts.kinds),
        )


@dataclass
class Round:
    """One round's figures on one backend."""

    intents: int
    messages: int
    expand: Stage
    deliver: Stage
    commit: float
    setup: float


def run_round(url: str, prefix: str, items: int, people: int) -> Round:
    """Start and accept ``items`` items, then time one dispatch pass over their intents."""
    counts = Counts()
    sa = create_database_engine(url)
    count_at_driver(sa, counts)
    try:
        upgrade(sa, prefix=prefix)
        engine = Engine.from_engine(
            sa, directory=directory(people), clock=ManualClock(STARTED), prefix=prefix
        )
        began = time.perf_counter()
        for _ in range(items):
            item = engine.start(WORKFLOW, ENTERPRISE, START_DATA)
            engine.fire(item.id, "accept", OFFICE, {"lead_unit": UNIT})
        setup = time.perf_counter() - began
        stream = io.StringIO()
        dispatcher = TimedDispatcher(engine, channels={"console": ConsoleChannel(stream=stream)})
        dispatcher.counts, dispatcher.stages = counts, {}
        counts.on = True
        try:
            done = dispatcher.run_pass()
        finally:
            counts.on = False
            dispatcher.close()
        if done.expanded != items or done.sent != items * people:
            raise SystemExit(f"the pass did not deliver everything: {done.summary()}")
        if stream.getvalue().count("\n") < done.sent:
            raise SystemExit("the console received less than was sent")
        commit = commit_floor(sa, f"{prefix}raw_commits")
        return Round(
            done.expanded,
            done.sent,
            dispatcher.stages["intent"],
            dispatcher.stages["pending"],
            commit,
            setup,
        )
    finally:
        sa.dispose()


def per(count: int, total: int) -> str:
    """``count / total`` with one decimal."""
    return f"{count / max(1, total):.1f}"


def report(name: str, rounds: Sequence[Round]) -> None:
    """Print each round's rates and the median table."""

    def med(values: Callable[[Round], float]) -> float:
        return statistics.median(values(r) for r in rounds)

    first = rounds[0]
    print(
        f"\n{name}: {first.intents:,} intents -> {first.messages:,} messages per round, "
        f"median of {len(rounds)} round(s)",
        flush=True,
    )
    for n, r in enumerate(rounds, 1):
        line(
            f"round {n}",
            f"{r.intents / r.expand.seconds:7,.0f} intents/s, "
            f"{r.messages / r.deliver.seconds:7,.0f} messages/s, "
            f"commit {r.commit * 1e6:5,.0f} µs  (setup {r.setup:.1f} s)",
        )
    commit = med(lambda r: r.commit)
    for label, unit in (("expand", "intent"), ("deliver", "message")):
        stages = [
            (getattr(r, label), r.intents if label == "expand" else r.messages) for r in rounds
        ]
        seconds = statistics.median(stage.seconds / count for stage, count in stages)
        cpu = statistics.median(stage.cpu / count for stage, count in stages)
        s, count = stages[0]
        commits = s.commits / count
        line(
            f"{label}: per {unit}",
            f"{seconds * 1e6:7,.0f} µs  ({1 / seconds:7,.0f}/s), CPU {cpu * 1e6:5,.0f} µs",
        )
        line(
            "  statements / commits (writing + reading) each",
            f"{per(s.statements, count)} / {commits:.2f} + {s.reads / count:.2f}"
            f"  ({', '.join(f'{k} {v:,}' for k, v in sorted(s.kinds.items()))})",
        )
        line(
            "  of which the writing commits alone (floor)",
            f"{commits * commit * 1e6:7,.0f} µs  ({commits * commit / seconds:.0%})",
        )
    line("commit alone (INSERT + COMMIT)", f"{commit * 1e6:7,.0f} µs  ({1 / commit:,.0f}/s)")


# -- backends --------------------------------------------------------------------------------


@dataclass
class Backend:
    """One database under test: a URL per round (fresh tables) and what cleans up."""

    name: str
    urls: Callable[[int], tuple[str, str]]
    cleanup: Callable[[], None]


def reachable(url: str) -> str | None:
    """None if the server answers, else why not."""
    engine = create_database_engine(url, connect_args=_timeout(url))
    try:
        with engine.connect():
            return None
    except Exception as error:  # any failure to connect means: skip this backend
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        engine.dispose()


def _timeout(url: str) -> dict[str, Any]:
    name = make_url(url).get_backend_name()
    return {"connect_timeout": 3} if name in ("postgresql", "mysql", "mariadb") else {}


def _sqlite_url(folder: Path, round_number: int) -> tuple[str, str]:
    return f"sqlite:///{folder / f'bench{round_number}.db'}", "wf_"


def _server_url(url: str, base: str, round_number: int) -> tuple[str, str]:
    return url, f"{base}{round_number}_"


@contextmanager
def backends(args: argparse.Namespace) -> Iterator[list[Backend]]:
    """Yield the reachable backends; remove their files and tables afterwards."""
    folder = tempfile.TemporaryDirectory(prefix="wf_dispatch_bench_")
    found = [
        Backend(
            "SQLite",
            partial(_sqlite_url, Path(folder.name)),
            lambda: None,
        )
    ]
    servers = (
        []
        if args.sqlite_only
        else [
            ("PostgreSQL", args.postgresql_url),
            ("MariaDB", args.mariadb_url),
        ]
    )
    for name, url in servers:
        why = reachable(url)
        if why is not None:
            print(f"{name} skipped (not reachable at {url}): {why}", flush=True)
            continue
        base = f"bd{uuid.uuid4().hex[:6]}"
        found.append(
            Backend(name, partial(_server_url, url, base), partial(drop_prefixed, url, base))
        )
    try:
        yield found
    finally:
        for backend in found:
            backend.cleanup()
        folder.cleanup()


def drop_prefixed(url: str, prefix: str) -> None:
    """Drop every table whose name starts with ``prefix`` (children first, on MariaDB)."""
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            names = [n for n in inspect(connection).get_table_names() if n.startswith(prefix)]
            if not names:
                return
            quoted = ", ".join(engine.dialect.identifier_preparer.quote(n) for n in names)
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted} CASCADE")
            else:
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted}")
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
            connection.commit()
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark on the reachable backends."""
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch_bench", description=__doc__)
    parser.add_argument("--items", type=int, default=1000, help="items, one intent each (1000)")
    parser.add_argument("--people", type=int, default=2, help="people in the unit (2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per backend (3)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip the servers")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL)
    parser.add_argument("--mariadb-url", default=DEFAULT_MARIADB_URL)
    args = parser.parse_args(argv)
    if args.items < 1 or args.people < 1 or args.rounds < 1:
        parser.error("--items, --people and --rounds must be at least 1")
    with backends(args) as found:
        for backend in found:
            rounds = [
                run_round(*backend.urls(n), args.items, args.people) for n in range(args.rounds)
            ]
            report(backend.name, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
