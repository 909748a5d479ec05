"""SQLite: a store keeps one connection for its writes, and gives it back when it must.

The process's writers already queue on the store's writer lock, so one
connection kept checked out serves them all (sparing each transition the
pool's checkout, reset and checkin). These tests pin down when it is kept
and when the pool is used again: pool listeners, a disposed engine, a
broken connection, a child process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.integration.engine_fixtures import ACTORS, catalog_from_yaml
from tests.integration.test_store_moves import DEFINITION
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.directory.static import StaticDirectory
from workflow.store import sql
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

OFFICE = ACTORS["office"]


def _engine(folder: Path, **pool: Any) -> Engine:
    """An engine on a fresh SQLite file, with the definition of test_store_moves."""
    sa = create_database_engine(f"sqlite:///{folder / 'writer.db'}", **pool)
    upgrade(sa)
    return Engine.from_engine(
        sa,
        definitions=catalog_from_yaml(folder, DEFINITION),
        directory=StaticDirectory(groups={"coordinating_office": [OFFICE.id]}),
        clock=ManualClock(),
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine with the default pool (room for the kept connection)."""
    built = _engine(tmp_path)
    try:
        yield built
    finally:
        built.dispose()


def _ping_pong(engine: Engine, item_id: int, times: int) -> None:
    state = engine.get(item_id).state
    for _ in range(times):
        state = engine.fire(item_id, "back" if state == "pong" else "hit", OFFICE).state


def _checkouts(engine: Engine) -> list[int]:
    """Count the pool's checkouts from now on (listening is itself a reason to use the pool)."""
    seen: list[int] = []
    assert engine.store.engine is not None
    event.listen(engine.store.engine.pool, "checkout", lambda *_: seen.append(1))
    return seen


def test_writes_share_one_kept_connection(engine: Engine) -> None:
    item = engine.start("moves", OFFICE, {"title": "Venue"})
    _ping_pong(engine, item.id, 10)
    held = engine.store._writer
    assert held is not None
    assert engine.store.engine is not None
    assert engine.store.engine.pool.checkedout() == 1
    _ping_pong(engine, item.id, 10)
    assert engine.store._writer is held
    assert engine.verify(item.id) == []


def test_a_pool_listener_sees_every_write_again(engine: Engine) -> None:
    item = engine.start("moves", OFFICE, {"title": "Venue"})
    _ping_pong(engine, item.id, 2)
    assert engine.store._writer is not None
    seen = _checkouts(engine)
    _ping_pong(engine, item.id, 4)
    assert engine.store._writer is None
    assert len(seen) >= 4  # one per write, plus the reads
    assert engine.get(item.id).version == 7


def test_a_pool_of_one_is_not_kept_for_writes(tmp_path: Path) -> None:
    # Kept, the only connection would leave none for reads: each would wait out the pool's timeout.
    engine = _engine(tmp_path, pool_size=1, max_overflow=0)
    try:
        item = engine.start("moves", OFFICE, {"title": "Venue"})
        _ping_pong(engine, item.id, 2)
        assert engine.store._writer is None
        assert engine.store.engine is not None
        assert engine.store.engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_dispose_gives_the_connection_back(engine: Engine) -> None:
    item = engine.start("moves", OFFICE, {"title": "Venue"})
    _ping_pong(engine, item.id, 2)
    assert engine.store.engine is not None
    engine.dispose()
    assert engine.store._writer is None
    assert engine.store.engine.pool.checkedout() == 0
    # The engine works on after a dispose, with a new connection.
    _ping_pong(engine, item.id, 2)
    assert engine.get(item.id).version == 5


def test_a_disposed_pool_is_not_written_through(engine: Engine) -> None:
    item = engine.start("moves", OFFICE, {"title": "Venue"})
    _ping_pong(engine, item.id, 1)
    held = engine.store._writer
    assert held is not None
    assert engine.store.engine is not None
    engine.store.engine.dispose()  # the host disposes the SQLAlchemy engine behind our back
    _ping_pong(engine, item.id, 1)
    assert engine.store._writer is not None
    assert engine.store._writer.pool is engine.store.engine.pool
    assert engine.store._writer is not held


def test_a_broken_connection_is_replaced(engine: Engine) -> None:
    item = engine.start("moves", OFFICE, {"title": "Venue"})
    _ping_pong(engine, item.id, 1)
    held = engine.store._writer
    assert held is not None
    held.pooled.invalidate()
    _ping_pong(engine, item.id, 1)
    assert engine.store._writer is not None
    assert engine.store._writer.pooled is not held.pooled
    assert engine.get(item.id).version == 3


def test_a_child_process_does_not_use_its_parents_connection(engine: Engine) -> None:
    item = engine.start("moves", OFFICE, {"title": "Venue"})
    _ping_pong(engine, item.id, 1)
    held = engine.store._writer
    assert held is not None
    abandoned = len(sql._ABANDONED)

    sql._forked()  # what os.register_at_fork runs in a child process, before anything else
    _ping_pong(engine, item.id, 1)

    now_held: Any = engine.store._writer
    assert now_held is not None
    assert now_held.lineage == held.lineage + 1
    assert now_held.pooled is not held.pooled
    # The parent's connection is neither used nor closed by the child.
    assert sql._ABANDONED[abandoned:] == [held.pooled]
    assert held.pooled.is_valid
    sql._ABANDONED.remove(held.pooled)
    held.pooled.close()


def test_the_fork_hook_is_registered() -> None:
    # A real fork: the child reports the lineage its stores would compare with.
    read, write = os.pipe()
    before = sql._lineage
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, str(sql._lineage).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    reported = int(os.read(read, 20))
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reported == before + 1
    assert sql._lineage == before
