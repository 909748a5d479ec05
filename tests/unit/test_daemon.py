"""The daemon (``workflow.schedule.daemon``) on a SQLite file.

Settings come from options and the environment; a clock more than a second
off the database's is warned about; other live daemons are named at start;
the daemon escalates what is due at its first pass, holds no job per item,
and stops cleanly on SIGTERM and SIGINT (exit 0, marked stopped). Waiting is
on conditions with a timeout (the daemon's own interval is 0.2 s), never a
sleep for a timer.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select

from tests.conftest import REPO
from tests.integration.test_scan import DIRECTORY, OFFICE, catalog
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.schedule import daemon as daemon_module
from workflow.schedule.daemon import Daemon, DaemonSettings, SettingsError, run_daemon
from workflow.store import timers
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

WAIT_SECONDS = 30.0


@dataclass
class Db:
    """A migrated SQLite file with an engine over the ladder workflows, and one overdue item."""

    url: str
    sa: SqlEngine
    engine: Engine
    definitions: Path
    item_id: int

    def escalations(self) -> list[tuple[int, str]]:
        e = self.engine.store.tables.escalations
        with self.sa.connect() as conn:
            return [(r.item_id, r.level) for r in conn.execute(select(e).order_by(e.c.id))]

    def daemons(self) -> list[timers.DaemonRecord]:
        d = self.engine.store.tables.daemons
        with self.sa.connect() as conn:
            rows = conn.execute(select(d).order_by(d.c.started_at))
            return [
                timers.DaemonRecord(
                    r.token, r.host, r.pid, r.started_at, r.heartbeat_at, r.stopped_at
                )
                for r in rows
            ]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    url = f"sqlite:///{tmp_path / 'workflow.db'}"
    sa = create_database_engine(url)
    folder = tmp_path / "definitions"
    folder.mkdir()
    try:
        upgrade(sa)
        # Started on 2 November 2026 (the manual clock): long overdue by the database's clock.
        engine = Engine.from_engine(
            sa, definitions=catalog(folder), directory=DIRECTORY, clock=ManualClock()
        )
        item = engine.start("ladder_all", OFFICE, {"title": "場地", "lead_unit": "u_culture"})
        yield Db(url, sa, engine, folder, item.id)
    finally:
        sa.dispose()


def wait_for(condition: Callable[[], object], what: str) -> None:
    """Wait until ``condition()`` is true (polling), or fail after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- settings -------------------------------------------------------------------------------


def test_settings_come_from_options_then_the_environment() -> None:
    env = {
        "WORKFLOW_TICK_INTERVAL": "2.5",
        "WORKFLOW_LEASE_SECONDS": "90",
        "WORKFLOW_BATCH_SIZE": "50",
    }
    settings = DaemonSettings.from_env(env, interval=1.0)
    assert (settings.interval, settings.lease, settings.batch) == (1.0, 90.0, 50)
    assert settings.lease_delta == dt.timedelta(seconds=90)
    assert DaemonSettings.from_env({}) == DaemonSettings()
    with pytest.raises(SettingsError, match="WORKFLOW_BATCH_SIZE='many' is not a number"):
        DaemonSettings.from_env({"WORKFLOW_BATCH_SIZE": "many"})
    with pytest.raises(SettingsError, match="interval must be positive"):
        DaemonSettings.from_env({}, interval=0)


# -- clock and registration -----------------------------------------------------------------


def test_a_clock_more_than_a_second_off_is_warned_about(
    db: Db, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workflow")
    in_sync = Daemon(db.engine).check_clock()
    assert abs(in_sync) < dt.timedelta(seconds=1)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    monkeypatch.setattr(
        daemon_module, "host_now", lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    )
    skew = Daemon(db.engine).check_clock()
    assert dt.timedelta(seconds=4) < skew < dt.timedelta(seconds=6)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "workflow.daemon"
    assert "ahead of the database's" in warning.getMessage()


def test_other_live_daemons_are_named_at_start(db: Db, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="workflow")
    first = Daemon(db.engine, token="a" * 32)
    first.register()
    assert "other live daemon" not in caplog.text
    second = Daemon(db.engine, token="b" * 32)
    second.register()
    assert "1 other live daemon(s) share this database" in caplog.text
    assert "aaaaaaaa on" in caplog.text
    first.mark_stopped()
    second.mark_stopped()
    assert all(d.stopped_at is not None for d in db.daemons())


# -- running --------------------------------------------------------------------------------


def test_the_daemon_catches_up_at_its_first_pass_and_stops_when_told(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workflow")
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(run_daemon(db.engine, interval=0.2, heartbeat=0.2, stop=stop)),
        daemon=True,
    )
    thread.start()
    try:
        # Downtime since 2 November: both levels, once each, in order.
        wait_for(lambda: len(db.escalations()) == 2, "the first pass to catch up")
        wait_for(lambda: "pass" in caplog.text and len(db.daemons()) == 1, "registration")
        wait_for(lambda: db.daemons()[0].heartbeat_at > db.daemons()[0].started_at, "a heartbeat")
    finally:
        stop.set()
        thread.join(WAIT_SECONDS)
    assert result == [0]
    assert db.escalations() == [(db.item_id, "reminder"), (db.item_id, "monthly")]
    (record,) = db.daemons()
    assert record.stopped_at is not None
    assert "review monthly at" in caplog.text  # the missed occurrence, held at start
    assert f"item {db.item_id}: level monthly fired" in caplog.text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_daemon_process_stops_cleanly_on_a_signal(db: Db, signum: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    # The levels notify: their console messages go to the log, so stdout stays empty.
    notifiers = tmp_path / "notifiers.yaml"
    notifiers.write_text("channels:\n  console: {type: console, stream: log}\n")
    env["WORKFLOW_NOTIFIERS"] = str(notifiers)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflow",
            "--db",
            db.url,
            "--definitions",
            str(db.definitions),
            "daemon",
            "--interval",
            "0.2",
            "--heartbeat",
            "0.2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(
            lambda: len(db.escalations()) == 2 or process.poll() is not None,
            "the daemon's first pass",
        )
        assert process.poll() is None, process.communicate()
        process.send_signal(signum)
        out, err = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err, err
    assert f"received {signal.Signals(signum).name}" in err
    assert "stopped after" in err
    (record,) = db.daemons()
    assert record.stopped_at is not None
    assert record.pid == process.pid
    assert db.escalations() == [(db.item_id, "reminder"), (db.item_id, "monthly")]
    assert out == ""


def test_the_scheduler_holds_a_fixed_handful_of_jobs(db: Db) -> None:
    for n in range(5):
        db.engine.start("ladder_all", OFFICE, {"title": f"問題 {n}", "lead_unit": "u_culture"})
    daemon = Daemon(db.engine, DaemonSettings(interval=3600, heartbeat=3600))
    daemon.start()
    try:
        scheduler = daemon._scheduler
        assert scheduler is not None
        assert sorted(job.id for job in scheduler.get_jobs()) == [
            "heartbeat",
            "review:monthly",
            "tick",
        ]
        wait_for(lambda: daemon.passes >= 1, "the first pass")
    finally:
        daemon.stop()
    assert len(db.escalations()) == 12  # six items, two levels each


class _Dispatcher:
    """Counts the passes the daemon's dispatch job runs; the first one fails."""

    def __init__(self) -> None:
        self.passes = 0
        self.stopped = self.closed = False

    def run_pass(self, now: dt.datetime | None = None, *, limit: int = 100) -> object:
        self.passes += 1
        if self.passes == 1:
            raise RuntimeError("the SMTP server is down")
        return None

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True


def test_the_dispatch_job_runs_on_the_interval_and_its_errors_are_logged(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = _Dispatcher()
    daemon = Daemon(db.engine, DaemonSettings(interval=0.2, heartbeat=3600), dispatcher=dispatcher)
    daemon.start()
    try:
        scheduler = daemon._scheduler
        assert scheduler is not None
        assert "dispatch" in {job.id for job in scheduler.get_jobs()}
        # The first pass raised; the job goes on.
        wait_for(lambda: dispatcher.passes >= 3, "three dispatch passes")
    finally:
        daemon.stop()
    assert dispatcher.stopped
    assert dispatcher.closed
    assert "notification pass failed" in caplog.text
    assert "the SMTP server is down" in caplog.text
