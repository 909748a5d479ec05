"""Where the CPU time of one persisted transition goes, layer by layer (SQLite).

Run::

    .venv/bin/python -m bench.fire_breakdown [--folder /dev/shm] [--batches 15] [--size 200]

``transitions_bench`` compares whole fires with the raw commit rate; this
script takes a fire apart. Each layer runs the same ping-pong move on one
item and is timed in CPU time of this process (``time.process_time``); the
figure is the *lowest* mean over ``--batches`` batches of ``--size``
operations, which is what the code costs when the shared machine leaves it
alone (the mean of a busy run measures the neighbours too). With
``--folder`` on a memory file system (``/dev/shm``) ``fsync`` costs nothing,
so the figures are the work of SQLite and Python alone; on a disk, the
commit adds the kernel's side of the ``fsync``.

The layers, each including the ones before:

1. ``raw``: ``sqlite3`` alone, ``BEGIN IMMEDIATE``, one single-row
   ``INSERT``, ``COMMIT`` (the raw commit of ``transitions_bench``);
2. ``bare statements``: ``sqlite3`` alone sending what a fire sends
   (``BEGIN IMMEDIATE``, the item read with its open clocks, the
   compare-and-swap, the history insert, ``COMMIT``) with the values
   already converted: the floor for this schema;
3. ``empty write transaction``: ``store.write()`` doing nothing (pool
   checkout, the listener check, ``BEGIN IMMEDIATE``, commit, checkin);
4. ``store``: the store's read and move in a write transaction, with the
   item and history row computed beforehand (no engine);
5. ``fire``: ``Engine.fire`` through the public API.

Also shown, outside any transaction: the ``transitions`` machine firing
the event on its model (``machine``). It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.transitions_bench import OFFICE, catalog, directory
from workflow.app import Engine
from workflow.core.clock import SystemClock
from workflow.core.machine import Run, machine_for
from workflow.core.values import HistoryEntry, ItemSnapshot
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

EVENTS = ("hit", "back")
STATES = ("ping", "pong")


def lowest(operation: Callable[[int], object], batches: int, size: int) -> float:
    """Return the lowest mean CPU time per call over ``batches`` batches, in microseconds."""
    best = float("inf")
    done = 0
    for _ in range(batches):
        begin = time.process_time()
        for i in range(done, done + size):
            operation(i)
        best = min(best, (time.process_time() - begin) / size)
        done += size
    return best * 1e6


def raw(path: Path) -> Callable[[int], object]:
    """One single-row INSERT and COMMIT per call (the raw commit)."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("CREATE TABLE raw_commits (id INTEGER PRIMARY KEY, payload TEXT)")
    cursor = connection.cursor()

    def commit_one(i: int) -> None:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO raw_commits (payload) VALUES (?)", (f"row {i}",))
        cursor.execute("COMMIT")

    return commit_one


def bare(path: Path, engine: Engine, item: ItemSnapshot) -> Callable[[int], object]:
    """The statements of a fire, through sqlite3 alone, on the store's own tables."""
    tables = engine.store.tables
    items, history, clocks = tables.items.name, tables.history.name, tables.deadlines.name
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL"):
        connection.execute(f"PRAGMA {pragma}")
    cursor = connection.cursor()
    read = (
        f"SELECT * FROM {items} LEFT OUTER JOIN {clocks} ON {clocks}.item_id = {items}.id"
        f" AND {clocks}.status IN ('running', 'paused') WHERE {items}.id = ?"
        f" ORDER BY {clocks}.id"
    )
    move = (
        f"UPDATE {items} SET state = ?, data = ?, version = ?, is_open = ?, updated_at = ?,"
        f" closed_at = ?, definition_hash = ? WHERE {items}.id = ? AND {items}.version = ?"
    )
    append = f"INSERT INTO {history} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    current = [0]

    def begin_batch() -> None:
        # The engine's layers move the same item in between: start from its version.
        found = cursor.execute(f"SELECT version FROM {items} WHERE id = ?", (item.id,)).fetchone()
        current[0] = int(found[0])

    def move_once(i: int) -> None:
        if i == 0:
            begin_batch()
        seen = current[0]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        source, target = STATES[(seen + 1) % 2], STATES[seen % 2]
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(read, (item.id,)).fetchall()
        digest = item.definition_hash
        cursor.execute(
            move, (target, '{"note": null}', seen + 1, 1, now, None, digest, item.id, seen)
        )
        event = EVENTS[(seen + 1) % 2]
        cursor.execute(
            append,
            # item, seq, kind, event, from, to, actor, role, input, reason, changes, hash, at
            [
                item.id,
                seen + 1,
                "event",
                event,
                source,
                target,
                OFFICE.id,
                "office",
                None,
                None,
                None,
                digest,
                now,
            ],
        )
        cursor.execute("COMMIT")
        current[0] = seen + 1

    return move_once


def empty_write(engine: Engine) -> Callable[[int], object]:
    """A write transaction of the store's that sends nothing but its BEGIN and COMMIT."""

    def nothing(_i: int) -> None:
        with engine.store.write():
            pass

    return nothing


def store_only(engine: Engine, item_id: int) -> Callable[[int], object]:
    """The store's read and move in a write transaction, without the engine."""

    def move_once(_i: int) -> None:
        with engine.store.write() as tx:
            item = tx.load_item(item_id)
            tx.load_open_deadlines(item_id)
            seen = item.version
            now = dt.datetime.now(dt.UTC)
            target = STATES[seen % 2]
            moved = ItemSnapshot(
                id=item.id,
                workflow_id=item.workflow_id,
                definition_hash=item.definition_hash,
                state=target,
                data=item.data,
                version=seen + 1,
                is_open=True,
                created_by=item.created_by,
                created_at=item.created_at,
                updated_at=now,
                closed_at=None,
            )
            row = HistoryEntry(
                item_id=item.id,
                seq=seen + 1,
                kind="event",
                event=EVENTS[(seen + 1) % 2],
                from_state=item.state,
                to_state=target,
                actor_id=OFFICE.id,
                actor_role="office",
                input=None,
                reason=None,
                changes=None,
                definition_hash=item.definition_hash,
                at=now,
            )
            if not tx.update_item_with_history(moved, seen, [row], row.event):
                raise SystemExit("store layer: the compare-and-swap matched nothing")

    return move_once


def fire(engine: Engine, item_id: int) -> Callable[[int], object]:
    """``Engine.fire`` through the public API, alternating the two events."""
    state = [engine.get(item_id).state]

    def fire_once(_i: int) -> None:
        event = EVENTS[STATES.index(state[0])]
        state[0] = engine.fire(item_id, event, OFFICE).state

    return fire_once


def machine(engine: Engine, item: ItemSnapshot) -> Callable[[int], object]:
    """The shared ``transitions`` machine firing the event on a fresh model, no database."""
    definition = engine.catalog.by_hash(item.definition_hash)
    assert definition is not None
    compiled = machine_for(definition)
    actor = {"id": OFFICE.id, "roles": sorted(OFFICE.roles)}

    def fire_once(i: int) -> None:
        compiled.fire(EVENTS[i % 2], Run(STATES[i % 2], {"note": None}, {}, actor))

    return fire_once


def main(argv: list[str] | None = None) -> int:
    """Measure each layer and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.fire_breakdown", description=__doc__)
    parser.add_argument("--folder", default=None, help="where the SQLite files go (a temp dir)")
    parser.add_argument("--batches", type=int, default=15, help="batches per layer (15)")
    parser.add_argument("--size", type=int, default=200, help="operations per batch (200)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wf_breakdown_", dir=args.folder) as folder:
        path = Path(folder) / "bench.db"
        sa_engine = create_database_engine(f"sqlite:///{path}")
        try:
            upgrade(sa_engine)
            engine = Engine.from_engine(
                sa_engine, definitions=catalog(), directory=directory(), clock=SystemClock()
            )
            item = engine.start("bench_pingpong", OFFICE, {})
            layers = {
                "raw commit (sqlite3: INSERT + COMMIT)": raw(Path(folder) / "raw.db"),
                "bare statements of a fire (sqlite3)": bare(path, engine, item),
                "empty write transaction (store)": empty_write(engine),
                "store: read + move, no engine": store_only(engine, item.id),
                "fire (public API)": fire(engine, item.id),
                "machine alone (transitions, no database)": machine(engine, item),
            }
            for operation in layers.values():  # warm-up: caches, prepared statements
                lowest(operation, 1, 300)
            disk = args.folder or tempfile.gettempdir()
            print(f"CPU per operation, lowest batch mean of {args.batches} x {args.size}")
            print(f"(SQLite files in {disk}; pid {os.getpid()})")
            for name, operation in layers.items():
                print(f"  {name:<44} {lowest(operation, args.batches, args.size):7.1f} us")
            problems = engine.verify(item.id)
            if problems:
                raise SystemExit(f"history does not replay: {problems}")
        finally:
            sa_engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
