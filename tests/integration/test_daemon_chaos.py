"""Proof that the escalation daemons never escalate twice and never miss a level.

Three tests, on SQLite, PostgreSQL and MariaDB, all over the shipped
``enterprise_issue`` ladder (warning 1 working day before due, reminder at
due, monthly review 3 working days after, quarterly dispatch 20 after):

1. **Chaos.** Worker processes (``daemon_chaos_worker.py run``: 3 on the
   servers, 2 on SQLite, where claims serialise anyway) loop escalation
   passes over a couple of thousand overdue items, every level of every
   deadline due, under a 2 s lease; meanwhile the test SIGKILLs random
   workers and restarts them, and SIGSTOPs others for longer than the lease
   before SIGCONT. When nothing is due and every worker has had an empty
   pass, each (deadline, level) has exactly one escalation row, each item
   one ``@escalate:<level>`` history row per level in ladder order, one
   outbox intent per (level, role), and a consistent history.
2. **Kill points.** A worker kills itself with SIGKILL at a chosen point of a
   pass: after its claim committed, after ``apply_due`` (before the lease is
   released and the transaction commits), after the outbox insert, the state
   write, the escalation row, at every COMMIT, and right after every single
   statement of the pass. After each death a fresh worker runs one pass at
   ``now + lease + poll``: nothing is lost or doubled, and that one pass
   finishes everything, i.e. recovery within one lease plus one poll
   interval of simulated time.
3. **Downtime.** The daemon stops after a pass; while it is down a thousand
   deadlines cross one or two levels each; at the restart the declared
   catch-up policy is applied to all of them: ``catch_up: all`` (the
   shipped one) fires every missed level once, in ladder order;
   ``catch_up: highest`` fires only the highest and leaves an ``@skip:<level>``
   history row for each level passed over.

Items are made quickly and consistently: a few are started through the
engine (on a manual clock in the past) and, where a test needs hundreds,
those are copied row for row (item, history, deadline and whatever the scan
already wrote for them), so every copy is exactly what the engine would
have stored. Nothing here waits for a timer: "due" is judged by explicit
times. Real time passes only where it is the subject: a worker paused longer
than its lease (the chaos test's simulated clock runs at real speed).

One more test shows the checks are not vacuous (a level missing, or applied
twice, fails them), and one that the ladder is still the one assumed here.

Sizes can be changed: ``WORKFLOW_CHAOS_ITEMS`` (chaos items per backend),
``WORKFLOW_CHAOS_DOWNTIME_ITEMS``, and ``WORKFLOW_CHAOS_STATEMENT_SAMPLE=N``
(kill after N statements picked at random, besides the named points; the
default 20 keeps CI short, 0 kills after every statement of the pass).
``WORKFLOW_CHAOS_SEED`` replays a run (the chaos test prints its seed).
``WORKFLOW_CHAOS_CLOCK=database`` runs the chaos test's workers on the
database clock, as the daemon runs, instead of the simulated one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import func, insert, select, update

from tests.backends import Backend
from tests.conftest import DEFINITIONS, REPO
from tests.integration.concurrency_worker import ENTERPRISE_ACTOR, START_DATA, make_directory
from tests.integration.item_copies import clone, rows_of, snapshot
from workflow.app import Engine, load_definitions
from workflow.core.clock import ManualClock
from workflow.definition.loader import Catalog
from workflow.schedule.scan import Escalator
from workflow.store.migrate import upgrade
from workflow.store.schema import Tables
from workflow.store.sql import create_database_engine

# One worker process runs the concurrency and the chaos tests, one after the other
# (pytest-xdist, --dist loadgroup): neither loads the database servers while the other
# runs, as in a run in one process; the other worker runs the rest of the suite.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("stress")]

WORKFLOW = "enterprise_issue"
WORKER = "tests.integration.daemon_chaos_worker"
SHANGHAI = ZoneInfo("Asia/Shanghai")
LEVELS = ("warning", "reminder", "monthly_review", "quarterly_dispatch")
# Who each level notifies (definitions/enterprise_issue.yaml); checked against the definition.
NOTIFIES = {
    "warning": ("unit",),
    "reminder": ("unit", "office"),
    "monthly_review": ("office",),
    "quarterly_dispatch": ("office",),
}
REVIEWS = {"monthly_review": "monthly", "quarterly_dispatch": "quarterly"}
# Who hears of an item joining each review's agenda (the review's own ``notify``).
REVIEW_NOTIFIES = {"monthly": (), "quarterly": ("leader",)}

LEASE = 2.0  # seconds, of the simulated clock
POLL = 0.1  # seconds a worker pauses after an empty pass

SEED = int(os.environ.get("WORKFLOW_CHAOS_SEED", str(random.SystemRandom().randrange(10**6))))


def shanghai(month: int, day: int, hour: int = 9) -> dt.datetime:
    """A 2026 local time in Shanghai, as aware UTC."""
    return dt.datetime(2026, month, day, hour, tzinfo=SHANGHAI).astimezone(dt.UTC)


def _sized(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


# -- the database and its items --------------------------------------------------------------


@dataclass
class Db:
    """An upgraded database on one backend, and an engine over it on a manual clock."""

    backend: Backend
    sa: SqlEngine
    engine: Engine
    clock: ManualClock
    definitions: Path

    @property
    def t(self) -> Tables:
        return self.engine.store.tables

    def start_at(self, moment: dt.datetime) -> int:
        """Start an item (``collected``, a 2-working-day deadline) at ``moment``; its id."""
        self.clock.set(moment)
        return self.engine.start(WORKFLOW, ENTERPRISE_ACTOR, START_DATA).id


@contextmanager
def open_db(backend: Backend, definitions: Path = DEFINITIONS) -> Iterator[Db]:
    """Upgrade ``backend``'s database and open an engine over ``definitions``."""
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        clock = ManualClock(shanghai(8, 1))
        engine = Engine.from_engine(
            sa,
            definitions=load_definitions(str(definitions)),
            directory=make_directory(),
            clock=clock,
            prefix=backend.prefix,
        )
        yield Db(backend, sa, engine, clock, definitions)
    finally:
        sa.dispose()


@pytest.fixture
def db(backend: Backend) -> Iterator[Db]:
    """The shipped definitions on ``backend``."""
    with open_db(backend) as opened:
        yield opened


# -- the checks --------------------------------------------------------------------------------


@dataclass
class Expected:
    """What each deadline of a set of items must have recorded, in ladder order."""

    fired: dict[int, tuple[str, ...]]
    """Item id -> levels fired (its one deadline)."""
    skipped: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Item id -> levels skipped (catch_up: highest)."""
    now: dt.datetime | None = None
    """Nothing may be due at this time; None: the whole ladder is done (nothing left to look at)."""


def assert_exactly_once(db: Db, expected: Expected, *, verify_sample: int = 200) -> None:
    """Every level once per deadline, as history, escalation row and outbox intents; no more.

    Judged for the items of ``expected`` (each with one deadline) and, for
    the doubling checks, for the whole database.
    """
    t = db.t
    e, h, o, d, r, i = t.escalations, t.history, t.outbox, t.deadlines, t.review_entries, t.items
    items = sorted(expected.fired)
    with db.sa.connect() as conn:
        # None doubled anywhere (the unique constraint, checked independently).
        doubled = conn.execute(
            select(e.c.deadline_id, e.c.level, func.count())
            .group_by(e.c.deadline_id, e.c.level)
            .having(func.count() > 1)
        ).all()
        assert doubled == []
        doubled_keys = conn.execute(
            select(o.c.idempotency_key, func.count())
            .group_by(o.c.idempotency_key)
            .having(func.count() > 1)
        ).all()
        assert doubled_keys == []

        recorded: dict[int, list[tuple[str, str, int | None]]] = defaultdict(list)
        deadline_of: dict[int, int] = {}
        for row in conn.execute(
            select(d.c.id, d.c.item_id, d.c.next_at, d.c.lease_token, d.c.status)
        ).all():
            if row.item_id in expected.fired:
                assert row.item_id not in deadline_of, "one deadline per item expected"
                deadline_of[row.item_id] = row.id
                if expected.now is None:
                    assert row.next_at is None, f"deadline {row.id} still has a level to fire"
                else:
                    assert row.next_at is None or row.next_at > expected.now, f"{row.id} is due"
                assert row.lease_token is None, f"deadline {row.id} still leased"
                assert row.status == "running"
        assert sorted(deadline_of) == items
        for esc in conn.execute(
            select(e.c.item_id, e.c.deadline_id, e.c.level, e.c.outcome, e.c.seq).order_by(e.c.id)
        ):
            if esc.item_id in expected.fired:
                assert esc.deadline_id == deadline_of[esc.item_id]
                recorded[esc.item_id].append((esc.level, esc.outcome, esc.seq))

        # History: one row per level, in ladder order, where the escalation row says.
        ladder_rows: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for step in conn.execute(
            select(h.c.item_id, h.c.seq, h.c.event)
            .where(h.c.kind == "escalation")
            .order_by(h.c.item_id, h.c.seq)
        ):
            if step.item_id in expected.fired:
                ladder_rows[step.item_id].append((step.seq, step.event))

        # The history is whole: version == number of rows == last seq, for every item.
        for tally in conn.execute(
            select(i.c.id, i.c.version, func.count(h.c.seq), func.max(h.c.seq))
            .join(h, h.c.item_id == i.c.id)
            .group_by(i.c.id, i.c.version)
        ):
            item_id, version, count, last = tally
            assert version == count == last, f"item {item_id}: version/rows/last seq {tally}"

        intents: dict[int, list[tuple[int | None, str, str]]] = defaultdict(list)
        for intent in conn.execute(
            select(o.c.item_id, o.c.history_seq, o.c.template, o.c.recipient)
        ):
            if intent.item_id in expected.fired:
                intents[intent.item_id].append(
                    (intent.history_seq, intent.template, intent.recipient)
                )

        agenda = Counter(
            (row.item_id, row.review)
            for row in conn.execute(select(r.c.item_id, r.c.review))
            if row.item_id in expected.fired
        )

    wrong: list[str] = []
    order = {level: n for n, level in enumerate(LEVELS)}
    for item_id in items:
        fired = expected.fired[item_id]
        skipped = expected.skipped.get(item_id, ())
        want_rows = sorted(
            [(level, "fired") for level in fired] + [(level, "skipped") for level in skipped],
            key=lambda pair: order[pair[0]],
        )
        got_rows = [(level, outcome) for level, outcome, _ in recorded[item_id]]
        if got_rows != want_rows:
            wrong.append(f"item {item_id}: escalations {got_rows}, expected {want_rows}")
            continue
        events = [event for _, event in ladder_rows[item_id]]
        want_events = [
            f"@escalate:{level}" if outcome == "fired" else f"@skip:{level}"
            for level, outcome in want_rows
        ]
        assert events == want_events, f"item {item_id}: history {events}"
        by_seq = dict(ladder_rows[item_id])
        for level, outcome, seq in recorded[item_id]:
            prefix = "@escalate" if outcome == "fired" else "@skip"
            assert seq is not None
            assert by_seq.get(seq) == f"{prefix}:{level}", (item_id, level, seq)
        want_intents = sorted(
            [
                (seq, "escalation", f"role:{role}")
                for level, outcome, seq in recorded[item_id]
                if outcome == "fired"
                for role in NOTIFIES[level]
            ]
            + [
                (seq, "review_agenda", f"role:{role}")
                for level, outcome, seq in recorded[item_id]
                if outcome == "fired" and level in REVIEWS
                for role in REVIEW_NOTIFIES[REVIEWS[level]]
            ]
        )
        assert sorted(intents[item_id]) == want_intents, f"item {item_id}: outbox"
        want_agenda = Counter((item_id, REVIEWS[level]) for level in fired if level in REVIEWS)
        got_agenda = Counter({k: v for k, v in agenda.items() if k[0] == item_id})
        assert got_agenda == want_agenda, f"item {item_id}: agenda {got_agenda}"
    assert wrong == [], f"{len(wrong)} deadline(s) wrong, e.g. {wrong[:5]}"

    sample = random.Random(SEED).sample(items, min(verify_sample, len(items)))
    for item_id in sample:
        assert db.engine.verify(item_id) == [], f"item {item_id}"


def test_the_checks_see_a_missed_and_a_doubled_level(db: Db) -> None:
    """The exactly-once checks are not vacuous: a level missing or applied twice fails them."""
    items = [db.start_at(moment) for moment in CHAOS_STARTS[:2]]
    # Only the warning and the reminder are due yet: the other two levels are "missed".
    Escalator(db.engine).tick(shanghai(9, 4, 18))
    with pytest.raises(AssertionError, match="still has a level to fire"):
        assert_exactly_once(db, Expected({item: LEVELS for item in items}))
    Escalator(db.engine).tick(CHAOS_NOW)
    assert_exactly_once(db, Expected({item: LEVELS for item in items}))
    # A level applied twice: its history row again, the item's version following.
    h, i = db.t.history, db.t.items
    with db.sa.begin() as conn:
        (last,) = rows_of(conn, h, h.c.item_id == items[0], h.c.seq == 5)
        assert last["event"] == "@escalate:quarterly_dispatch"
        conn.execute(insert(h), {**last, "seq": 6})
        conn.execute(update(i).where(i.c.id == items[0]).values(version=6))
    with pytest.raises(AssertionError, match="history"):
        assert_exactly_once(db, Expected({item: LEVELS for item in items}))


def test_the_ladder_is_the_one_these_tests_expect(definitions_dir: Path) -> None:
    """Guards the constants above against a change in the shipped definition."""
    ladder = load_definitions(str(definitions_dir)).get(WORKFLOW).spec.escalation
    assert ladder is not None
    assert ladder.catch_up == "all"
    assert tuple(level.name for level in ladder.levels) == LEVELS
    assert {
        level.name: tuple(role for spec in level.notify for role in spec.to)
        for level in ladder.levels
    } == NOTIFIES
    assert all(spec.template is None for level in ladder.levels for spec in level.notify)
    reviews = load_definitions(str(definitions_dir)).get(WORKFLOW).spec.reviews
    assert {
        name: tuple(role for spec in review.notify for role in spec.to)
        for name, review in reviews.items()
    } == REVIEW_NOTIFIES
    assert {level.name: level.review for level in ladder.levels if level.review} == REVIEWS


# -- worker processes --------------------------------------------------------------------------


def worker_command(db: Db, command: str, *extra: str) -> list[str]:
    """The command line of a worker process on ``db``."""
    return [
        sys.executable,
        "-m",
        WORKER,
        command,
        "--url",
        db.backend.url,
        "--prefix",
        db.backend.prefix,
        "--definitions",
        str(db.definitions),
        "--lease",
        str(LEASE),
        "--parent",
        str(os.getpid()),
        *extra,
    ]


def _read_lines(stream: IO[str], pid: int, sink: queue.Queue[tuple[int, dict[str, Any]]]) -> None:
    for line in stream:
        if line.strip():
            sink.put((pid, json.loads(line)))


@dataclass
class Fleet:
    """Worker processes looping passes, which the test kills, stops and restarts."""

    db: Db
    now: dt.datetime | None
    """The simulated time at ``epoch``; None: the workers use the database clock."""
    epoch: float
    logs: Path
    batch: int = 20
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    lines: queue.Queue[tuple[int, dict[str, Any]]] = field(default_factory=queue.Queue)
    passes: list[dict[str, Any]] = field(default_factory=list)
    stopped: dict[int, float] = field(default_factory=dict)
    """pid -> real time at which to SIGCONT it."""
    spawned: int = 0

    def spawn(self) -> subprocess.Popen[str]:
        """Start one more worker."""
        self.spawned += 1
        log = (self.logs / f"worker-{self.spawned}.log").open("w", encoding="utf-8")
        proc = subprocess.Popen(
            worker_command(
                self.db,
                "run",
                *(("--now", self.now.isoformat()) if self.now else ()),
                "--epoch",
                repr(self.epoch),
                "--batch",
                str(self.batch),
                "--poll",
                str(POLL),
            ),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        assert proc.stdout is not None
        threading.Thread(
            target=_read_lines, args=(proc.stdout, proc.pid, self.lines), daemon=True
        ).start()
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[str]]:
        return [p for p in self.procs if p.poll() is None]

    def drain(self) -> None:
        """Collect the passes reported so far."""
        while True:
            try:
                pid, payload = self.lines.get_nowait()
            except queue.Empty:
                return
            if "claimed" in payload:
                self.passes.append({**payload, "pid": pid})

    def kill(self, proc: subprocess.Popen[str]) -> None:
        """SIGKILL a worker (stopped or not) and start a replacement."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        self.stopped.pop(proc.pid, None)
        self.spawn()

    def pause(self, proc: subprocess.Popen[str], seconds: float) -> None:
        """SIGSTOP a worker; :meth:`wake` sends SIGCONT ``seconds`` later."""
        proc.send_signal(signal.SIGSTOP)
        self.stopped[proc.pid] = time.monotonic() + seconds

    def wake(self, *, all_of_them: bool = False) -> None:
        """SIGCONT the stopped workers whose pause is over."""
        for proc in self.alive():
            until = self.stopped.get(proc.pid)
            if until is not None and (all_of_them or time.monotonic() >= until):
                proc.send_signal(signal.SIGCONT)
                del self.stopped[proc.pid]

    def close(self) -> None:
        """Kill every worker this fleet started, by pid, and reap them."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()

    def errors(self) -> list[str]:
        """Tracebacks the workers logged (lost leases and conflicts are expected, these not)."""
        found = []
        for log in sorted(self.logs.glob("worker-*.log")):
            text = log.read_text(encoding="utf-8")
            if "Traceback" in text:
                found.append(f"{log.name}:\n{text[-3000:]}")
        return found


def _remaining(db: Db) -> int:
    d = db.t.deadlines
    with db.sa.connect() as conn:
        return int(conn.execute(select(func.count()).where(d.c.next_at.is_not(None))).scalar_one())


# -- 1. chaos ----------------------------------------------------------------------------------

# Started on different days (some before the National Day holidays), all far overdue at
# CHAOS_NOW: every level of every deadline is due there.
CHAOS_STARTS = [shanghai(9, 1) + dt.timedelta(days=5 * n, hours=n) for n in range(8)]
CHAOS_NOW = shanghai(12, 20)
# On this machine (2 cores, shared) the workers apply some 30 to 70 deadlines (120 to 280
# levels) a second between them: 2,000 items take about 30 s per server backend when the
# machine is quiet. SQLite, whose claims and writes serialise, gets half as many.
CHAOS_ITEMS = {"sqlite": 1_000, "postgresql": 2_000, "mariadb": 2_000}
CHAOS_BUDGET = 240.0  # seconds of real time before the test gives up
# Seconds between two blows (a SIGKILL and restart, or a SIGSTOP): a restarted worker needs
# some 1.5 s of CPU to import its modules, so blows much closer would starve the machine;
# and at most so many blows, so that a machine slowed by other work is not slowed further.
BLOW_EVERY = (1.5, 3.0)
MAX_BLOWS = 20


def test_daemons_killed_and_paused_at_random_escalate_each_level_exactly_once(
    db: Db, tmp_path: Path
) -> None:
    name = db.backend.name
    total = _sized("WORKFLOW_CHAOS_ITEMS", CHAOS_ITEMS[name])
    templates = [db.start_at(moment) for moment in CHAOS_STARTS]
    snaps = [snapshot(db.sa, db.t, template) for template in templates]
    items = templates + clone(db.sa, db.t, snaps, total // len(templates) - 1)
    assert _remaining(db) == len(items)
    rng = random.Random(SEED)
    workers = 2 if name == "sqlite" else 3
    # WORKFLOW_CHAOS_CLOCK=database: the workers judge "due" and leases by the database
    # clock, as the daemon does (every level of these items has been due since 6 November
    # 2026, the last quarterly dispatch).
    database_clock = os.environ.get("WORKFLOW_CHAOS_CLOCK") == "database"
    fleet = Fleet(db, None if database_clock else CHAOS_NOW, time.time(), tmp_path)
    kills = pauses = 0
    began = time.monotonic()
    idle_since: float | None = None
    try:
        for _ in range(workers):
            fleet.spawn()
        next_blow = time.monotonic() + rng.uniform(1.0, 2.0)
        while True:
            assert time.monotonic() - began < CHAOS_BUDGET, (
                f"not done in {CHAOS_BUDGET} s: {_remaining(db)} deadline(s) left "
                f"(seed {SEED}); {fleet.errors()}"
            )
            time.sleep(0.2)  # the test's own poll of the workers and the database
            fleet.drain()
            fleet.wake()
            remaining = _remaining(db)
            if remaining and kills + pauses < MAX_BLOWS and time.monotonic() >= next_blow:
                running = [p for p in fleet.alive() if p.pid not in fleet.stopped]
                # The first blow kills, the second pauses, then chance decides:
                # every run sees both kinds (four kills in a row happened: 1 in 16).
                kill = kills == 0 or (pauses > 0 and rng.random() < 0.5)
                if kill or not running:
                    fleet.kill(rng.choice(fleet.alive()))
                    kills += 1
                else:
                    fleet.pause(rng.choice(running), LEASE + rng.uniform(0.5, 1.5))
                    pauses += 1
                next_blow = time.monotonic() + rng.uniform(*BLOW_EVERY)
            if remaining:
                idle_since = None
                continue
            # Nothing due: let the paused ones go, and wait for every live worker to
            # report an empty pass begun after that.
            if idle_since is None:
                fleet.wake(all_of_them=True)
                idle_since = time.time()
            alive = {p.pid for p in fleet.alive()}
            empty = {
                p["pid"] for p in fleet.passes if p["claimed"] == 0 and p["started"] > idle_since
            }
            if alive <= empty:
                break
        elapsed = time.monotonic() - began
    finally:
        fleet.close()
    fleet.drain()
    passes = fleet.passes
    summary = {
        "backend": name,
        "items": len(items),
        "workers": workers,
        "seed": SEED,
        "clock": "database" if database_clock else "simulated",
        "kills": kills,
        "pauses": pauses,
        "processes": fleet.spawned,
        "passes": len(passes),
        "levels fired (reported)": sum(p["fired"] for p in passes),
        "lost leases": sum(len(p["lost"]) for p in passes),
        "conflicts": sum(len(p["conflicts"]) for p in passes),
        "failures": sum(len(p["failures"]) for p in passes),
        "seconds": round(elapsed, 1),
    }
    print(f"\nchaos: {summary}")
    assert kills >= 1, f"no worker was killed while work was left: {summary}"
    assert pauses >= 1, f"no worker was paused while work was left: {summary}"
    assert fleet.errors() == []
    assert_exactly_once(db, Expected({item: LEVELS for item in items}))


# -- 2. kill points ----------------------------------------------------------------------------


@dataclass
class Zygote:
    """A ``serve`` worker: forks one fresh worker process per pass the test asks for."""

    proc: subprocess.Popen[str]

    @classmethod
    @contextmanager
    def started(cls, db: Db, log: Path) -> Iterator[Zygote]:
        with log.open("w", encoding="utf-8") as stderr:
            proc = subprocess.Popen(
                worker_command(db, "serve", "--batch", "1"),
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        try:
            yield cls(proc)
        finally:
            # The forked workers die with it (PR_SET_PDEATHSIG), and each was reaped already.
            proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def run(self, now: dt.datetime, kill: str | None) -> tuple[dict[str, Any] | None, int | None]:
        """One pass by a fresh process; (its report if it lived, the signal that killed it)."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        # Claims of one deadline, as many as there are: each pass makes several claims.
        command = {"now": now.isoformat(), "kill": kill, "batch": 1, "limit": 1_000}
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        report: dict[str, Any] | None = None
        for line in self.proc.stdout:
            payload = json.loads(line)
            if "error" in payload:
                pytest.fail(f"worker failed ({kill}): {payload['error']}")
            if "report" in payload:
                report = payload["report"]
            if "done" in payload:
                done = payload["done"]
                if done["signal"] is None:
                    assert done["exit"] == 0, done
                return report, done["signal"]
        pytest.fail("the zygote ended")


# Started on 1 September: at KILL_NOW every level of its deadline is due.
KILL_START = shanghai(9, 1)
KILL_NOW = shanghai(12, 20)
ROUND_ITEMS = 2  # claimed one at a time: a pass makes two claims and two transactions


def test_a_worker_killed_at_any_point_of_a_pass_loses_and_doubles_nothing(
    db: Db, tmp_path: Path
) -> None:
    template = db.start_at(KILL_START)
    pristine = snapshot(db.sa, db.t, template)
    done: list[int] = []
    lease = dt.timedelta(seconds=LEASE)
    recovery_gap = lease + dt.timedelta(seconds=POLL)
    t = db.t
    prefix = db.backend.prefix
    outcomes: list[tuple[str, int | None]] = []
    began = time.monotonic()
    with Zygote.started(db, tmp_path / "zygote.log") as zygote:
        moment = KILL_NOW

        def new_round(copies: int = ROUND_ITEMS) -> list[int]:
            nonlocal moment
            moment += dt.timedelta(minutes=1)  # the simulated clock only moves on
            return clone(db.sa, db.t, [pristine], copies)

        # A whole pass, counted: where the kill points can be.
        items = [template, *new_round(ROUND_ITEMS - 1)]
        report, died = zygote.run(moment, "count")
        assert died is None
        assert report is not None
        assert report["fired"] == ROUND_ITEMS * len(LEVELS)
        statements, commits = report["statements"], report["commits"]
        done.extend(items)
        assert_exactly_once(db, Expected({item: LEVELS for item in done}))

        every = range(1, statements + 1)
        sample = _sized("WORKFLOW_CHAOS_STATEMENT_SAMPLE", 20)
        picked = (
            sorted(random.Random(SEED).sample(every, sample)) if 0 < sample < statements else every
        )
        kill_points = [
            "claim:1",
            "claim:2",
            "apply:1",
            "apply:2",
            f"match:UPDATE {prefix}items:1",  # the item's state write
            f"match:INTO {prefix}escalations:1",  # the first (deadline, level) record
            f"match:INTO {prefix}outbox:1",  # the first notification intent
            f"match:INTO {prefix}outbox:3",
            f"match:INTO {prefix}review_entries:1",  # onto the monthly review's agenda
            f"match:INTO {prefix}history:1",  # the escalation's history rows
            *(f"commit:{k}" for k in range(1, commits + 1)),
            *(f"statement:{k}" for k in picked),
        ]
        for kill in kill_points:
            items = new_round()
            report, died = zygote.run(moment, kill)
            assert died == signal.SIGKILL, f"{kill}: the worker did not die ({report})"
            with db.sa.connect() as conn:
                leases = conn.execute(
                    select(t.deadlines.c.lease_until).where(
                        t.deadlines.c.item_id.in_(items), t.deadlines.c.lease_token.is_not(None)
                    )
                ).scalars()
                # Whatever the dead worker still holds is free again one lease later.
                assert all(until <= moment + lease for until in leases), kill
                if kill in ("claim:1", "apply:1"):
                    recorded = conn.execute(
                        select(func.count()).where(t.escalations.c.item_id.in_(items))
                    ).scalar_one()
                    assert recorded == 0, f"{kill}: the first deadline's work was committed"
            report, died = zygote.run(moment + recovery_gap, None)
            assert died is None
            assert report is not None
            done.extend(items)
            outcomes.append((kill, report["claimed"]))
            # One pass, one lease plus one poll later, finished everything.
            assert_exactly_once(
                db, Expected({item: LEVELS for item in items}), verify_sample=ROUND_ITEMS
            )
    assert_exactly_once(db, Expected({item: LEVELS for item in done}))
    print(
        f"\nkill points ({db.backend.name}, seed {SEED}): {len(kill_points)} kills in "
        f"{time.monotonic() - began:.1f} s; a full pass makes {statements} statements and "
        f"{commits} commits; deadlines left for the recovery pass per kill: {outcomes}"
    )


# -- 3. downtime -------------------------------------------------------------------------------

LAST_PASS = shanghai(11, 4, 12)  # Wednesday 4 November, noon: the daemon's last pass
RESTART = shanghai(11, 10, 12)  # Tuesday 10 November, noon: it comes back

# start, levels done by the last pass, levels crossed while down. The ladder times of each
# start (Shanghai, office hours end 17:30), from definitions/enterprise_issue.yaml:
#   Fri 30 Oct: warning Mon 2 Nov, reminder Tue 3, monthly review Fri 6
#   Mon  2 Nov: warning Tue 3,     reminder Wed 4, monthly review Mon 9
#   Tue  3 Nov: warning Wed 4,     reminder Thu 5, monthly review Tue 10 (after the restart)
#   Fri  6 Nov: warning Mon 9,     reminder Tue 10 (after the restart); started while down
DOWNTIME_GROUPS: dict[str, tuple[dt.datetime, tuple[str, ...], tuple[str, ...]]] = {
    "A": (shanghai(10, 30), ("warning", "reminder"), ("monthly_review",)),
    "B": (shanghai(11, 2), ("warning",), ("reminder", "monthly_review")),
    "C": (shanghai(11, 3), (), ("warning", "reminder")),
    "D": (shanghai(11, 6), (), ("warning",)),
}
DOWNTIME_ITEMS = {"sqlite": 1_000, "postgresql": 1_000, "mariadb": 1_000}


def highest_definitions(folder: Path) -> Path:
    """A copy of the shipped definitions whose ladder catches up with ``highest``."""
    copy = folder / "definitions"
    shutil.copytree(DEFINITIONS, copy)
    path = copy / f"{WORKFLOW}.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("catch_up: all") == 1
    path.write_text(text.replace("catch_up: all", "catch_up: highest"), encoding="utf-8")
    return copy


@pytest.mark.parametrize("policy", ["all", "highest"])
def test_after_downtime_the_catch_up_policy_is_applied_to_every_deadline(
    backend: Backend, tmp_path: Path, policy: str
) -> None:
    definitions = DEFINITIONS if policy == "all" else highest_definitions(tmp_path)
    per_group = _sized("WORKFLOW_CHAOS_DOWNTIME_ITEMS", DOWNTIME_ITEMS[backend.name]) // 4
    with open_db(backend, definitions) as db:
        catalog: Catalog = db.engine.catalog
        ladder = catalog.get(WORKFLOW).spec.escalation
        assert ladder is not None
        assert ladder.catch_up == policy

        # Before the downtime: started, and escalated on time by a daemon that was up.
        templates: dict[str, int] = {}
        fired_before: dict[int, tuple[str, ...]] = defaultdict(tuple)
        for step in ("A", "B", shanghai(11, 2, 18), "C", shanghai(11, 3, 18), LAST_PASS):
            if isinstance(step, str):
                templates[step] = db.start_at(DOWNTIME_GROUPS[step][0])
                continue
            report = Escalator(db.engine).tick(step)
            assert report.skipped_count == 0
            for action in report.actions:
                fired_before[action.item_id] += action.fired
        assert fired_before == {templates[g]: DOWNTIME_GROUPS[g][1] for g in ("A", "B")}
        # Down: one more item is started (its daemon is down, not the service).
        templates["D"] = db.start_at(DOWNTIME_GROUPS["D"][0])
        group_of = {template: g for g, template in templates.items()}
        for g, template in templates.items():
            for copy in clone(db.sa, db.t, [snapshot(db.sa, db.t, template)], per_group - 1):
                group_of[copy] = g

        began = time.monotonic()
        restart = Escalator(db.engine).tick(RESTART)
        took = time.monotonic() - began
        assert restart.failures == restart.conflicts == restart.lost_leases == ()
        assert restart.claimed == len(group_of)
        # No flood: a second pass finds nothing.
        assert Escalator(db.engine).tick(RESTART + dt.timedelta(seconds=1)).claimed == 0

        crossed = Counter(len(DOWNTIME_GROUPS[g][2]) for g in group_of.values())
        assert crossed == {1: 2 * per_group, 2: 2 * per_group}
        by_item = {a.item_id: a for a in restart.actions}
        expected = Expected(fired={}, skipped={}, now=RESTART)
        for item_id, g in group_of.items():
            _, before, missed = DOWNTIME_GROUPS[g]
            fired, skipped = (missed, ()) if policy == "all" else (missed[-1:], missed[:-1])
            action = by_item[item_id]
            assert (action.fired, action.skipped) == (fired, skipped), (g, action)
            expected.fired[item_id] = before + fired
            expected.skipped[item_id] = skipped
        assert_exactly_once(db, expected)

        # The highest level reached is what the item says, whichever the policy.
        levels = Counter(db.engine.get(i).data.get("escalation_level") for i in templates.values())
        assert levels == {"monthly_review": 2, "reminder": 1, None: 1}
    print(
        f"\ndowntime ({backend.name}, catch_up: {policy}): {len(group_of)} deadlines, "
        f"{restart.fired_count} level(s) fired, {restart.skipped_count} skipped at the restart "
        f"in {took:.1f} s"
    )
