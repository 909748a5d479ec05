"""The cast of the concurrency tests, and the worker they run as separate processes.

``tests/integration/test_concurrency.py`` and ``test_fault_injection.py`` share
the directory (one coordinating office of 50 people, 50 units, an enterprise
with 25 members and 25 commissioners) and the helpers that open an engine on
a test's database. :func:`run_worker` is the body of one worker *process*:
it opens its own engine (its own connections), and for each round reads the
round's item, waits on a :class:`multiprocessing.Barrier` shared with the
other workers, fires ``accept`` with the version it read, and reports what
happened through a queue. :class:`DriverHooks` lets a test see (and fail,
or hold) every statement at the database driver.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event

from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.values import Actor
from workflow.directory import StaticDirectory
from workflow.errors import WorkflowError
from workflow.store.sql import create_database_engine

WORKFLOW = "enterprise_issue"
ENTERPRISE = "e_pixel"
MAX_ACTORS = 50
UNITS = tuple(f"u_{i:02d}" for i in range(MAX_ACTORS))
LEAD_UNIT = "u_lead"
OFFICE = tuple(f"office_{i:02d}" for i in range(MAX_ACTORS))
MEMBERS = tuple(f"member_{i:02d}" for i in range(MAX_ACTORS // 2))
COMMISSIONERS = tuple(f"commissioner_{i:02d}" for i in range(MAX_ACTORS // 2))

START_DATA: dict[str, Any] = {
    "enterprise": ENTERPRISE,
    "district": "d_jh",
    "sector": "animation_games",
    "title": "Need venue",
    "description": "We need a venue for a game jam",
    "category": "venues",
}

# How long a barrier waits for the others before the test fails instead of hanging.
BARRIER_TIMEOUT = 120.0


def make_directory() -> StaticDirectory:
    """Return the directory every concurrency test uses."""
    members: dict[tuple[str, str], list[str]] = {
        ("unit", unit): [staff(unit).id] for unit in (*UNITS, LEAD_UNIT)
    }
    members["enterprise", ENTERPRISE] = list(MEMBERS)
    return StaticDirectory(
        groups={"coordinating_office": list(OFFICE), "task_force_leaders": ["leader"]},
        members=members,
        relations={("enterprise", ENTERPRISE, "commissioners"): list(COMMISSIONERS)},
    )


def office(index: int) -> Actor:
    """Return the ``index``-th person of the coordinating office."""
    return Actor(OFFICE[index], frozenset({"office"}))


def staff(unit: str) -> Actor:
    """Return the one person who acts for ``unit`` (as lead unit or co-unit)."""
    return Actor(f"{unit}.staff", frozenset({"unit", "co_unit"}))


def amender(index: int) -> Actor:
    """Return the ``index``-th person allowed to ``amend``: members, then commissioners."""
    half = MAX_ACTORS // 2
    if index < half:
        return Actor(MEMBERS[index], frozenset({"enterprise"}))
    return Actor(COMMISSIONERS[index - half], frozenset({"commissioner"}))


ENTERPRISE_ACTOR = Actor(MEMBERS[0], frozenset({"enterprise"}))


StatementHook = Callable[[str], None]


class DriverHooks:
    """Calls hooks around every statement that reaches the database driver.

    SQLAlchemy's cursor-execute events would be the obvious place, but the
    store runs its per-transition statements straight on the DB-API cursor
    whenever no such listener is registered, and falls back to SQLAlchemy's
    own execution when one is: a test that listened there would only ever
    test the fallback. These hooks sit one level lower instead, in a cursor
    subclass handed to the driver at connect time (the engine's
    ``do_connect`` event), so they see both paths and change neither. The
    driver's own connection class is kept (psycopg checks it).

    ``before`` runs just before a statement is sent, ``after`` just after it
    ran; either may raise. The pool's liveness pings are not reported.
    """

    def __init__(self) -> None:
        self.before: StatementHook | None = None
        self.after: StatementHook | None = None
        self._local = threading.local()

    def install(self, sa_engine: SqlEngine) -> None:
        """Hook every connection ``sa_engine`` opens from now on (install before the first)."""
        dialect = sa_engine.dialect
        driver = dialect.driver
        namespace = {"_hooks": self}
        if driver == "pysqlite":
            import sqlite3  # each driver is imported only where it is used

            cursor_class = type("HookedCursor", (_Hooked, sqlite3.Cursor), namespace)

            class HookedConnection(sqlite3.Connection):
                # sqlite3's execute shortcuts make their cursor in C, past cursor():
                # route them through a hooked cursor (what they do anyway).
                def cursor(self, factory: Any = cursor_class) -> Any:
                    return super().cursor(factory)

                def execute(self, sql: str, *args: Any) -> Any:
                    return self.cursor().execute(sql, *args)

                def executemany(self, sql: str, *args: Any) -> Any:
                    return self.cursor().executemany(sql, *args)

            def arguments(cparams: dict[str, Any]) -> None:
                cparams["factory"] = HookedConnection

        elif driver == "psycopg":
            import psycopg

            def arguments(cparams: dict[str, Any]) -> None:
                base = cparams.get("cursor_factory", psycopg.Cursor)
                cparams["cursor_factory"] = type("HookedCursor", (_Hooked, base), namespace)

        elif driver == "pymysql":
            import pymysql  # type: ignore[import-untyped]

            def arguments(cparams: dict[str, Any]) -> None:
                base = cparams.get("cursorclass", pymysql.cursors.Cursor)
                cparams["cursorclass"] = type("HookedCursor", (_Hooked, base), namespace)

        else:
            raise NotImplementedError(f"no statement hooks for the {driver} driver")

        @event.listens_for(sa_engine, "do_connect")
        def _connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            arguments(cparams)

        real_ping = dialect.do_ping

        def quiet_ping(dbapi_connection: Any) -> bool:
            with self.quiet():
                return bool(real_ping(dbapi_connection))

        # An instance attribute: only this engine's dialect is affected.
        dialect.do_ping = quiet_ping  # type: ignore[method-assign]

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Report nothing this thread sends inside the block."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth

    def run(self, method: Any, statement: Any, args: Any, kwargs: Any) -> Any:
        """Run a driver call between the hooks (once: a driver's executemany may call execute)."""
        if getattr(self._local, "depth", 0):
            return method(statement, *args, **kwargs)
        with self.quiet():
            if self.before is not None:
                self.before(str(statement))
            result = method(statement, *args, **kwargs)
            if self.after is not None:
                self.after(str(statement))
        return result


class _Hooked:
    """Mixed into a driver's cursor class: ``execute`` and ``executemany`` call the hooks."""

    _hooks: DriverHooks

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._hooks.run(super().execute, statement, args, kwargs)  # type: ignore[misc]

    def executemany(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._hooks.run(super().executemany, statement, args, kwargs)  # type: ignore[misc]


def open_engine(
    url: str,
    prefix: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    hooks: DriverHooks | None = None,
) -> Engine:
    """Open an engine with its own pool on an upgraded test database."""
    sa_engine = create_database_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    if hooks is not None:
        hooks.install(sa_engine)
    return Engine.from_engine(
        sa_engine, directory=make_directory(), clock=ManualClock(), prefix=prefix
    )


def start_item(engine: Engine) -> int:
    """Start an item in ``collected`` and return its id."""
    return engine.start(WORKFLOW, ENTERPRISE_ACTOR, START_DATA).id


def run_worker(
    url: str,
    prefix: str,
    index: int,
    item_ids: Sequence[int],
    barrier: Any,
    results: Any,
) -> None:
    """Body of one worker process: per round, read, wait for the others, fire ``accept``.

    Puts one ``(index, outcomes)`` pair on ``results``; ``outcomes[r]`` is
    ``"won"``, the name of the :class:`WorkflowError` raised, or, for anything
    else, ``"unexpected: <traceback>"``. A failure outside the fires is sent
    as ``(index, "crashed: <traceback>")`` and breaks the barrier, so the
    other workers stop instead of waiting for a partner that will not come.
    """
    engine: Engine | None = None
    try:
        engine = open_engine(url, prefix, pool_size=1, max_overflow=1)
        outcomes: list[str] = []
        me = office(index)
        unit = UNITS[index]
        for item_id in item_ids:
            seen = engine.get(item_id).version
            barrier.wait(BARRIER_TIMEOUT)
            try:
                engine.fire(item_id, "accept", me, {"lead_unit": unit}, expected_version=seen)
                outcomes.append("won")
            except WorkflowError as refused:
                outcomes.append(type(refused).__name__)
            except Exception:  # reported, not raised: the parent judges it
                outcomes.append("unexpected: " + traceback.format_exc())
        results.put((index, outcomes))
    except BaseException:
        barrier.abort()
        results.put((index, "crashed: " + traceback.format_exc()))
        raise
    finally:
        if engine is not None:
            engine.dispose()
