"""A daemon stand-in for the chaos tests: escalation passes in a process of its own.

``tests/integration/test_daemon_chaos.py`` runs this module as separate
processes (``python -m tests.integration.daemon_chaos_worker``, from the
repository root) and kills, stops and restarts them. Two commands:

``run``
    Loops :meth:`Escalator.tick <workflow.schedule.scan.Escalator.tick>`
    like a daemon, with an explicit ``now`` that every worker computes the
    same way: ``--now`` plus the real seconds elapsed since ``--epoch`` (a
    Unix time the test chose). All workers agree on one simulated clock that
    runs at the speed of real time, so a lease (``--lease`` seconds of it)
    runs out for real while a worker is stopped (SIGSTOP) or dead (SIGKILL).
    Without ``--now`` the passes judge "due" and the leases by the database
    clock, as the daemon does. Each pass claims at most ``--batch``
    deadlines (so each pass takes a fresh ``now``) and prints one JSON line;
    an empty pass is followed by a ``--poll`` second pause. SIGTERM ends the
    loop after the current pass.

``serve``
    A zygote for the many short-lived workers of the kill-point tests:
    it imports everything and loads the definitions once, without ever
    connecting to the database, then for each JSON command read on stdin
    (``{"now": ISO, "kill": SPEC or null}``) forks a fresh process that opens
    its own engine, runs one pass at ``now`` and prints its report; the
    zygote then prints how that process ended (an exit code, or the signal
    that killed it). Forking spares each worker the interpreter's start-up
    (about 1.5 s here), which is what makes dozens of kill points per
    backend affordable.

Where a worker dies is set by the ``WORKFLOW_CHAOS_KILL`` environment
variable (``serve`` sets it in each forked process from the command's
``kill``); the worker then sends itself SIGKILL, so nothing is cleaned up,
rolled back or closed by the client, exactly like a crash:

``claim:K``
    right after the K-th claim that took deadlines has been committed;
``apply:K``
    right after the K-th ``apply_due`` returned, inside that deadline's
    transaction, before the lease is released and the transaction commits;
``statement:K``
    right after the K-th statement of the pass ran at the database driver;
``match:TEXT:K``
    right after the K-th statement containing TEXT ran (e.g. the outbox
    insert, or the item's state write);
``commit:K``
    right after the K-th COMMIT of the pass returned;
``count``
    never: the report says how many statements and commits the pass made.

Statements are counted by :class:`~tests.integration.concurrency_worker.DriverHooks`,
at the driver, rather than by a SQLAlchemy ``after_cursor_execute``
listener: registering such a listener switches the store from its
production path (prepared statements straight on the DB-API cursor) to its
fallback, and the kills must hit the path that runs in production.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.integration.concurrency_worker import DriverHooks, make_directory
from workflow.app import Engine, load_definitions
from workflow.core.clock import ManualClock
from workflow.core.ports import StoreTransaction
from workflow.core.values import DueOutcome
from workflow.definition.loader import Catalog
from workflow.schedule.scan import Escalator, TickReport
from workflow.store import timers
from workflow.store.sql import create_database_engine

KILL_ENV = "WORKFLOW_CHAOS_KILL"
"""The environment variable naming where a worker kills itself (see the module docstring)."""

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent (pid ``parent``) dies (Linux).

    A test that is itself killed, or a zygote that goes, must not leave
    workers running: they would keep escalating in a database being dropped.
    A parent that died before we asked (while we were importing) has left
    us to another: then we go at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent and os.getppid() != parent:
        os._exit(1)


def die() -> None:
    """Crash now: SIGKILL to ourselves, so no ``finally``, rollback or socket close runs."""
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class KillPlan:
    """Counts what a pass does and kills the process at the point ``spec`` names."""

    kind: str | None = None
    target: int = 0
    text: str = ""
    armed: bool = False
    statements: int = 0
    commits: int = 0
    claims: int = 0
    applies: int = 0
    matches: int = 0
    _claim_pending: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> KillPlan:
        """Read a ``WORKFLOW_CHAOS_KILL`` value (None or empty: never kill)."""
        if not spec or spec == "count":
            return cls()
        kind, _, rest = spec.partition(":")
        if kind == "match":
            text, _, count = rest.rpartition(":")
            if not text:
                raise ValueError(f"{KILL_ENV}: match needs TEXT:K, not {spec!r}")
            return cls(kind=kind, target=int(count), text=text)
        if kind not in ("claim", "apply", "statement", "commit"):
            raise ValueError(f"{KILL_ENV}: unknown kill point {spec!r}")
        return cls(kind=kind, target=int(rest or "1"))

    def _hit(self, kind: str, count: int) -> None:
        if self.armed and self.kind == kind and count == self.target:
            die()

    def after_statement(self, statement: str) -> None:
        """A statement ran at the driver."""
        if not self.armed:
            return
        self.statements += 1
        self._hit("statement", self.statements)
        if self.kind == "match" and self.text in statement:
            self.matches += 1
            self._hit("match", self.matches)

    def after_claim(self, ids: Sequence[int]) -> None:
        """``claim_due`` returned (its transaction is not committed yet)."""
        if self.armed and ids:
            self._claim_pending = True

    def after_commit(self) -> None:
        """A COMMIT returned: the transaction is durable."""
        if not self.armed:
            return
        self.commits += 1
        if self._claim_pending:
            self._claim_pending = False
            self.claims += 1
            self._hit("claim", self.claims)
        self._hit("commit", self.commits)

    def after_apply(self) -> None:
        """``apply_due`` returned, inside the deadline's still open transaction."""
        if not self.armed:
            return
        self.applies += 1
        self._hit("apply", self.applies)


class DyingEngine(Engine):
    """An engine that tells its kill plan each time ``apply_due`` has returned."""

    plan: KillPlan = KillPlan()

    def apply_due(self, tx: StoreTransaction, deadline_id: int, now: dt.datetime) -> DueOutcome:
        """Apply the due levels (the core's), then maybe die before the caller commits."""
        outcome = super().apply_due(tx, deadline_id, now)
        self.plan.after_apply()
        return outcome


def open_engine(url: str, prefix: str, catalog: Catalog, plan: KillPlan) -> DyingEngine:
    """Open this process's own engine (own pool) with the kill plan's hooks installed."""
    sa_engine = create_database_engine(url, pool_size=2, max_overflow=2)
    hooks = DriverHooks()
    hooks.after = plan.after_statement
    hooks.install(sa_engine)
    real_commit = sa_engine.dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        real_commit(dbapi_connection)
        plan.after_commit()

    # An instance attribute: only this engine's dialect is affected.
    sa_engine.dialect.do_commit = do_commit  # type: ignore[method-assign]
    engine = DyingEngine.from_engine(
        sa_engine,
        definitions=catalog,
        directory=make_directory(),
        clock=ManualClock(),
        prefix=prefix,
    )
    assert isinstance(engine, DyingEngine)
    engine.plan = plan
    return engine


@contextmanager
def claims_reported_to(plan: KillPlan) -> Iterator[None]:
    """Tell ``plan`` about every claim (the scan calls ``timers.claim_due`` through the module)."""
    real = timers.claim_due

    def claim_due(*args: Any, **kwargs: Any) -> list[int]:
        ids = real(*args, **kwargs)
        plan.after_claim(ids)
        return ids

    timers.claim_due = claim_due
    try:
        yield
    finally:
        timers.claim_due = real


def report_json(report: TickReport, started: float, plan: KillPlan) -> dict[str, Any]:
    """What a pass did, as one JSON-ready mapping."""
    return {
        "pid": os.getpid(),
        "started": started,
        "now": report.now.isoformat(),
        "claimed": report.claimed,
        "batches": report.batches,
        "fired": report.fired_count,
        "skipped": report.skipped_count,
        "handled": [a.deadline_id for a in report.actions],
        "conflicts": list(report.conflicts),
        "lost": list(report.lost_leases),
        "failures": list(report.failures),
        "duration": report.duration,
        "statements": plan.statements,
        "commits": plan.commits,
    }


def emit(payload: dict[str, Any]) -> None:
    """Print one JSON line and flush it (the test reads lines as they come)."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def one_pass(
    engine: DyingEngine,
    now: dt.datetime | None,
    *,
    lease: float,
    batch: int,
    limit: int | None = None,
) -> dict[str, Any]:
    """Run one escalation pass at ``now`` (None: the database clock); the plan may kill us."""
    escalator = Escalator(
        engine, lease=dt.timedelta(seconds=lease), max_per_tick=limit or batch, token=None
    )
    started = time.time()
    engine.plan.armed = True
    with claims_reported_to(engine.plan):
        report = escalator.tick(now, limit=batch)
    engine.plan.armed = False
    return report_json(report, started, engine.plan)


def run(args: argparse.Namespace, catalog: Catalog) -> int:
    """The ``run`` command: loop passes on the shared clock until SIGTERM."""
    die_with_parent(args.parent)
    plan = KillPlan.parse(os.environ.get(KILL_ENV))
    engine = open_engine(args.url, args.prefix, catalog, plan)
    # Without --now, "due" and the leases are judged by the database clock, as in the daemon.
    base = dt.datetime.fromisoformat(args.now) if args.now else None
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        emit({"pid": os.getpid(), "ready": True})
        while not stopping:
            now = base + dt.timedelta(seconds=time.time() - args.epoch) if base else None
            # Counting starts afresh each pass: K in the kill spec is per pass.
            plan.statements = plan.commits = plan.claims = plan.applies = plan.matches = 0
            payload = one_pass(engine, now, lease=args.lease, batch=args.batch)
            emit(payload)
            if payload["claimed"] == 0:
                time.sleep(args.poll)  # the daemon's poll interval
    finally:
        engine.dispose()
    return 0


def serve(args: argparse.Namespace, catalog: Catalog) -> int:
    """The ``serve`` command: fork one fresh worker per command line on stdin."""
    die_with_parent(args.parent)
    zygote = os.getpid()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                die_with_parent(zygote)
                if command.get("kill"):
                    os.environ[KILL_ENV] = command["kill"]
                plan = KillPlan.parse(os.environ.get(KILL_ENV))
                engine = open_engine(args.url, args.prefix, catalog, plan)
                payload = one_pass(
                    engine,
                    dt.datetime.fromisoformat(command["now"]),
                    lease=float(command.get("lease", args.lease)),
                    batch=int(command.get("batch", args.batch)),
                    limit=command.get("limit"),
                )
                engine.dispose()
                emit({"report": payload})
                code = 0
            except BaseException as error:  # reported to the test, which fails on it
                emit({"error": f"{type(error).__name__}: {error}"})
            finally:
                sys.stdout.flush()
                # No atexit handlers or buffers of the zygote's: they are not ours.
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        emit(
            {
                "done": {
                    "pid": pid,
                    "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                    "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                }
            }
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run ``run`` or ``serve``."""
    parser = argparse.ArgumentParser(prog="daemon_chaos_worker")
    parser.add_argument("command", choices=("run", "serve"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--definitions", help="a definitions folder (default: the shipped one)")
    parser.add_argument(
        "--now", help="run: the simulated time at --epoch (ISO, aware); default: the database's"
    )
    parser.add_argument("--epoch", type=float, default=0.0, help="run: the Unix time of --now")
    parser.add_argument("--lease", type=float, default=2.0, help="lease, in seconds")
    parser.add_argument("--batch", type=int, default=20, help="deadlines claimed per pass")
    parser.add_argument("--poll", type=float, default=0.1, help="run: pause after an empty pass")
    parser.add_argument("--parent", type=int, default=0, help="the pid of the process to die with")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s worker %(process)d %(levelname)s %(name)s: %(message)s",
    )
    catalog = load_definitions(args.definitions)
    handlers: dict[str, Callable[[argparse.Namespace, Catalog], int]] = {
        "run": run,
        "serve": serve,
    }
    return handlers[args.command](args, catalog)


if __name__ == "__main__":
    sys.exit(main())
