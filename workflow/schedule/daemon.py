"""The daemon: escalation passes on an interval, reviews on their cadences, a heartbeat.

APScheduler 3 (:class:`~apscheduler.schedulers.background.BackgroundScheduler`
with its in-memory job store) is only the process's timer. It holds a fixed
handful of jobs, never one per item:

* ``tick`` — one escalation pass (:meth:`~workflow.schedule.scan.Escalator.tick`)
  every ``interval`` seconds, never two at once (``max_instances=1``) and
  never a burst of late ones (``coalesce``);
* ``review:<name>`` — one per review, on its cron line, holding the
  occurrence (:func:`~workflow.schedule.reviews.close_occurrence`);
* ``heartbeat`` — the daemon's sign of life in the ``daemons`` table;
* ``dispatch`` — when given a dispatcher (the ``workflow daemon`` command
  always gives one, from ``--notifiers``): one notification pass
  (:meth:`~workflow.notify.dispatch.Dispatcher.run_pass`) every ``interval``
  seconds, never two at once, its errors logged and never raised.

Due times live in the database (an indexed column), which is the source of
truth: several daemons may share one database, each claiming due deadlines
under a lease (see :mod:`workflow.schedule.scan`), and a daemon that was down
catches up at its first pass (the core applies the definition's catch-up
policy; each (deadline, level) is recorded once, so nothing fires twice).

At start the daemon registers itself, names the other live daemons, checks
its clock against the database's (and again at every pass: a WARNING when
they differ by more than a second, since "due" is judged by the database
clock), recomputes provisional deadlines, and holds any review occurrence it
missed while down (idempotent). It stops on SIGTERM or SIGINT: the current
pass finishes its batch, the daemon marks itself stopped, and
:func:`run_daemon` returns 0.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection

from workflow.errors import WorkflowError
from workflow.schedule import cadence
from workflow.schedule.reviews import close_occurrence, collect_reviews, timezone_of
from workflow.schedule.scan import DEFAULT_BATCH, Escalator
from workflow.store import timers

if TYPE_CHECKING:
    from workflow.app import Engine

__all__ = [
    "Daemon",
    "DaemonSettings",
    "Dispatches",
    "SettingsError",
    "clock_skew",
    "host_now",
    "run_daemon",
]

log = logging.getLogger("workflow.daemon")

MAX_SKEW = dt.timedelta(seconds=1)
"""How far the daemon's clock may be from the database's before it warns."""


class SettingsError(WorkflowError):
    """A daemon setting (option or environment variable) is unusable (CLI exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class DaemonSettings:
    """How the daemon runs.

    The command line reads them from options, falling back to the
    environment (:meth:`from_env`): ``WORKFLOW_TICK_INTERVAL``,
    ``WORKFLOW_LEASE_SECONDS``, ``WORKFLOW_BATCH_SIZE``,
    ``WORKFLOW_HEARTBEAT_SECONDS``.
    """

    interval: float = 10.0
    """Seconds between escalation passes."""
    lease: float = 60.0
    """Seconds a claim keeps other daemons off a deadline; far more than handling one takes."""
    batch: int = DEFAULT_BATCH
    """Deadlines claimed at a time."""
    heartbeat: float = 10.0
    """Seconds between heartbeats; a daemon silent for three is no longer counted live."""

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise SettingsError(f"the tick interval must be positive, not {self.interval}")
        if self.lease <= 0:
            raise SettingsError(f"the lease must be positive, not {self.lease}")
        if self.batch < 1:
            raise SettingsError(f"the batch size must be at least 1, not {self.batch}")
        if self.heartbeat <= 0:
            raise SettingsError(f"the heartbeat must be positive, not {self.heartbeat}")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **given: float | int | None
    ) -> DaemonSettings:
        """Build settings from explicit values (None: not given), else the environment."""
        env = os.environ if environ is None else environ
        names = {
            "interval": "WORKFLOW_TICK_INTERVAL",
            "lease": "WORKFLOW_LEASE_SECONDS",
            "batch": "WORKFLOW_BATCH_SIZE",
            "heartbeat": "WORKFLOW_HEARTBEAT_SECONDS",
        }
        values: dict[str, Any] = {}
        for name, variable in names.items():
            value = given.get(name)
            if value is None and env.get(variable):
                text = env[variable]
                try:
                    value = int(text) if name == "batch" else float(text)
                except ValueError:
                    raise SettingsError(f"{variable}={text!r} is not a number") from None
            if value is not None:
                values[name] = value
        return replace(cls(), **values)

    @property
    def lease_delta(self) -> dt.timedelta:
        """The lease as a timedelta."""
        return dt.timedelta(seconds=self.lease)

    @property
    def stale_after(self) -> dt.timedelta:
        """How long without a heartbeat before a daemon is no longer counted live."""
        return dt.timedelta(seconds=3 * self.heartbeat)


class Dispatches(Protocol):
    """What the daemon's ``dispatch`` job runs (:class:`workflow.notify.dispatch.Dispatcher`)."""

    def run_pass(self, now: dt.datetime | None = None, *, limit: int = ...) -> object:
        """Run one notification pass."""
        ...

    def stop(self) -> None:
        """Ask a running pass to end after its current row."""
        ...

    def close(self) -> None:
        """Release the channels."""
        ...


def host_now() -> dt.datetime:
    """Return this host's clock (UTC); tests replace it to simulate a skewed clock."""
    return dt.datetime.now(dt.UTC)


def clock_skew(
    connection: Connection, host_clock: Callable[[], dt.datetime] = host_now
) -> dt.timedelta:
    """Return how far the host's clock is ahead of the database's (negative: behind).

    The host is read before and after the query and the midpoint compared,
    so the round trip does not count as skew.
    """
    before = host_clock()
    database = timers.db_now(connection)
    after = host_clock()
    return before + (after - before) / 2 - database


class Daemon:
    """One daemon process's timer jobs over an engine; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        settings: DaemonSettings | None = None,
        *,
        host_clock: Callable[[], dt.datetime] | None = None,
        token: str | None = None,
        dispatcher: Dispatches | None = None,
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.settings = settings or DaemonSettings()
        self.host_clock = host_clock or host_now
        self.token = token or uuid.uuid4().hex
        self.timezone = timezone_of(engine)
        # One meeting per review name across the workflows; a conflict stops us here.
        self.reviews = collect_reviews(engine.catalog)
        self.escalator = Escalator(engine, lease=self.settings.lease_delta, token=self.token)
        self.passes = 0
        self.stopped = threading.Event()
        self._scheduler: BackgroundScheduler | None = None

    # -- the database side ----------------------------------------------------------------

    def _write(self) -> Any:
        return self.engine.store.write()

    def check_clock(self) -> dt.timedelta:
        """Compare this host's clock with the database's; log a WARNING beyond a second."""
        with self.engine.store.read() as tx:
            skew = clock_skew(tx.connection, self.host_clock)
        if abs(skew) > MAX_SKEW:
            log.warning(
                "this host's clock is %.3f s %s the database's: due times are judged by "
                "the database clock, but review meetings and logs use this one; sync it (NTP)",
                abs(skew.total_seconds()),
                "ahead of" if skew > dt.timedelta(0) else "behind",
            )
        return skew

    def register(self) -> None:
        """Record this daemon as started, and name the other live daemons."""
        with self._write() as tx:
            now = timers.db_now(tx.connection)
            others = [
                d
                for d in timers.live_daemons(tx.connection, tx.t, now, self.settings.stale_after)
                if d.token != self.token
            ]
            timers.register_daemon(
                tx.connection,
                tx.t,
                token=self.token,
                host=socket.gethostname()[:128],
                pid=os.getpid(),
                at=now,
            )
        log.info(
            "daemon %s started (pid %d): pass every %.3g s, lease %.3g s, batch %d, "
            "%d review(s): %s",
            self.token[:8],
            os.getpid(),
            self.settings.interval,
            self.settings.lease,
            self.settings.batch,
            len(self.reviews),
            ", ".join(f"{r.name} ({r.cron})" for r in self.reviews.values()) or "none",
        )
        if others:
            # Safe: claims are leased rows (SKIP LOCKED; on SQLite BEGIN IMMEDIATE
            # serialises the claimers) and each level is recorded once.
            log.info(
                "%d other live daemon(s) share this database; they split the due work: %s",
                len(others),
                ", ".join(f"{d.token[:8]} on {d.host} pid {d.pid}" for d in others),
            )

    def beat(self) -> None:
        """Record a heartbeat."""
        try:
            with self._write() as tx:
                alive = timers.heartbeat(
                    tx.connection, tx.t, self.token, timers.db_now(tx.connection)
                )
        except Exception:
            log.exception("heartbeat failed")
            return
        if not alive:
            log.warning("daemon %s is marked stopped or unknown in the database", self.token[:8])

    def mark_stopped(self) -> None:
        """Record that this daemon stopped cleanly."""
        with self._write() as tx:
            timers.mark_stopped(tx.connection, tx.t, self.token, timers.db_now(tx.connection))

    # -- jobs -----------------------------------------------------------------------------

    def run_pass(self) -> None:
        """Run one escalation pass (the ``tick`` job); errors are logged, never raised."""
        try:
            self.check_clock()
            self.escalator.tick(limit=self.settings.batch)
        except Exception:
            # The database may be briefly unreachable: the next pass tries again.
            log.exception("escalation pass failed")
        finally:
            self.passes += 1

    def run_dispatch(self) -> None:
        """Run one notification pass (the ``dispatch`` job); errors are logged, never raised."""
        if self.dispatcher is None:
            return
        try:
            self.dispatcher.run_pass()
        except Exception:
            # A channel or the database may be briefly down: the next pass tries again,
            # and nothing is lost meanwhile (the rows stay in the outbox).
            log.exception("notification pass failed")

    def hold_review(self, name: str, occurrence: dt.datetime | None = None) -> None:
        """Hold one occurrence of a review (a ``review:<name>`` job); errors are logged."""
        review = self.reviews[name]
        when = occurrence or cadence.previous_occurrence(
            review.cron, self.host_clock(), self.timezone
        )
        if when is None:
            return
        try:
            close_occurrence(self.engine, name, when)
        except Exception:
            log.exception("review %s: holding the occurrence of %s failed", name, when.isoformat())

    def catch_up(self) -> None:
        """At start: recompute provisional deadlines, hold review occurrences missed while down."""
        try:
            report = self.escalator.recompute_provisional()
            if report.moved:
                log.info("%d provisional due time(s) recomputed", len(report.moved))
        except Exception:
            log.exception("recomputing provisional deadlines failed")
        for name in self.reviews:
            self.hold_review(name)

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Register, catch up, and start the scheduler's jobs (in background threads)."""
        self.check_clock()
        self.register()
        self.catch_up()
        zone = ZoneInfo(self.timezone)
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            timezone=zone,
        )
        now = self.host_clock()
        scheduler.add_job(
            self.run_pass,
            IntervalTrigger(seconds=self.settings.interval, timezone=zone),
            id="tick",
            max_instances=1,
            coalesce=True,
            # The first pass at once: it catches up whatever fell due while down.
            next_run_time=now,
        )
        if self.dispatcher is not None:
            scheduler.add_job(
                self.run_dispatch,
                IntervalTrigger(seconds=self.settings.interval, timezone=zone),
                id="dispatch",
                max_instances=1,
                coalesce=True,
                next_run_time=now,
            )
        scheduler.add_job(
            self.beat,
            IntervalTrigger(seconds=self.settings.heartbeat, timezone=zone),
            id="heartbeat",
            max_instances=1,
            coalesce=True,
        )
        for name, review in self.reviews.items():
            scheduler.add_job(
                self.hold_review,
                cadence.trigger(review.cron, self.timezone),
                args=(name,),
                id=f"review:{name}",
                max_instances=1,
                coalesce=True,
                # A meeting missed by a busy minute is still held (and the
                # next start holds one missed while down).
                misfire_grace_time=3600,
            )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        """Finish the current pass (up to its batch), stop the jobs, and mark the daemon stopped."""
        self.escalator.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        try:
            if self.dispatcher is not None:
                self.dispatcher.close()
            self.mark_stopped()
        finally:
            self.stopped.set()
        log.info("daemon %s stopped after %d pass(es)", self.token[:8], self.passes)


def run_daemon(
    engine: Engine,
    *,
    interval: float = 10.0,
    lease: dt.timedelta = dt.timedelta(seconds=60),
    batch: int = DEFAULT_BATCH,
    heartbeat: float = 10.0,
    stop: threading.Event | None = None,
    host_clock: Callable[[], dt.datetime] | None = None,
    dispatcher: Dispatches | None = None,
) -> int:
    """Run the daemon until SIGTERM or SIGINT (or ``stop`` is set); return the exit code 0.

    Signal handlers are installed only when called from the main thread;
    elsewhere (a host's thread, tests) set ``stop`` to end it. With a
    ``dispatcher`` (:class:`workflow.notify.dispatch.Dispatcher`) the daemon
    also sends notifications, a pass every ``interval`` seconds.
    """
    settings = DaemonSettings(
        interval=interval, lease=lease.total_seconds(), batch=batch, heartbeat=heartbeat
    )
    event = stop or threading.Event()
    daemon = Daemon(engine, settings, host_clock=host_clock, dispatcher=dispatcher)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def _on_signal(number: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping after the current pass", signal.Signals(number).name)
            daemon.escalator.stop()
            if daemon.dispatcher is not None:
                daemon.dispatcher.stop()
            event.set()

        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, _on_signal)
    try:
        daemon.start()
        while not event.wait(timeout=1.0):
            pass
    finally:
        try:
            daemon.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    return 0
