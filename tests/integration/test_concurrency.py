"""Concurrent writers on one item, on SQLite, PostgreSQL and MariaDB.

Every fire is one transaction that ends in a compare-and-swap on the item's
version, so of several actors who fire at the same instant on the same
version exactly one wins and the others get a typed refusal, never a lost
update or a half-written step. The tests race real threads (and, once, real
processes) through a barrier, then check the winner, the refusals, the
version, the history and a replay of it.

The joint-handling race is the dangerous one: two co-units answering at once
each see the other's branch still open in their own snapshot, so a naive
engine would record both answers and never join. Here a joint answer bumps
the parent's version, so one of them conflicts, retries on fresh data, sees
every branch answered and joins. One test forces exactly that schedule (both
answers read the branches before either writes) with a hook in the database
driver, and checks that the retry happened and the item joined.

Also here: the loser's ``ConcurrentUpdate`` names the winner's version;
separate processes (not threads) racing on one item; and SQLite with 20
writer threads, which must never see "database is locked".

Rounds and actor counts are constants below; the numbers are chosen to keep
the file within a few minutes on a two-core machine (see each test). The time
goes to the races: each round races on an item of its own, all made before the
first round (one started through the engine, the others copies of its rows,
tests/integration/item_copies.py), and what every round left in the database
is read back after the last round, in one read transaction, and checked round
by round (each round's refusals are judged as it ends). The threads are one
pool for the whole test, and the worker processes are forked from a server
that imported the engine once.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.backends import Backend
from tests.integration.concurrency_worker import (
    BARRIER_TIMEOUT,
    LEAD_UNIT,
    MAX_ACTORS,
    UNITS,
    DriverHooks,
    amender,
    office,
    open_engine,
    run_worker,
    staff,
    start_item,
)
from tests.integration.item_copies import clone, snapshot
from workflow.app import Engine
from workflow.core.engine import replay_problems
from workflow.core.machine import JOINT_COMPLETE
from workflow.core.values import Actor, Branch, HistoryEntry, ItemSnapshot
from workflow.errors import ConcurrentUpdate, EventNotAllowed
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

# One worker process runs the concurrency and the chaos tests, one after the other
# (pytest-xdist, --dist loadgroup): neither loads the database servers while the other
# runs, as in a run in one process; the other worker runs the rest of the suite.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("stress")]

ROUNDS = 1000
VARIANT_ROUNDS = 100
BOUND_ROUNDS = 20
CROWD_ROUNDS = 5
JOINT_ROUNDS = 200
SAME_SNAPSHOT_ROUNDS = 20
PROCESSES = 4
PROCESS_ROUNDS = 50
SQLITE_WRITERS = 20
FIRES_PER_WRITER = 100

# Where each conflicting event from `collected` leads.
TARGETS = {"accept": "dispatched", "reject": "rejected", "merge_duplicate": "merged"}


@dataclass(frozen=True)
class Shot:
    """One actor's event in a race."""

    event: str
    actor: Actor
    data: dict[str, Any] | None = None
    reason: str | None = None


Outcome = ItemSnapshot | Exception


@contextmanager
def engine_for(
    backend: Backend,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    hooks: DriverHooks | None = None,
) -> Iterator[Engine]:
    """Upgrade the test's tables and open an engine with a pool of the given size."""
    setup = create_database_engine(backend.url)
    try:
        upgrade(setup, prefix=backend.prefix)
    finally:
        setup.dispose()
    engine = open_engine(
        backend.url, backend.prefix, pool_size=pool_size, max_overflow=max_overflow, hooks=hooks
    )
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def racing_engine(backend: Backend, hooks: DriverHooks | None = None) -> Iterator[Engine]:
    """An engine whose pool holds a connection for every racing actor."""
    with engine_for(backend, pool_size=MAX_ACTORS, max_overflow=2, hooks=hooks) as engine:
        yield engine


def actor_count(rng: random.Random) -> int:
    """Draw how many actors race in a round: 2..50, skewed towards few (mean about 14).

    A round costs about linearly in its actors; the skew keeps 1,000 rounds
    within budget while every size up to 50 still comes up (about 1 round in
    150 has 50 actors).
    """
    return 2 + int((MAX_ACTORS - 1) * rng.random() ** 3)


def conflicting_shot(rng: random.Random, index: int) -> Shot:
    """An office person's event from ``collected``: accept, reject or merge, all different."""
    who = office(index)
    kind = rng.choice(("accept", "accept", "reject", "merge_duplicate"))
    if kind == "accept":
        return Shot("accept", who, {"lead_unit": UNITS[index]})
    if kind == "reject":
        return Shot("reject", who, reason=f"out of scope, says {who.id}")
    return Shot("merge_duplicate", who, {"duplicate_of": f"ISSUE-{index}"})


def race(
    pool: ThreadPoolExecutor,
    engine: Engine,
    item_id: int,
    shots: Sequence[Shot],
    *,
    expected_version: int | None = None,
    retries: int = 0,
) -> list[Outcome]:
    """Let every shot's actor wait at a barrier, then fire at once.

    Returns, per shot, the snapshot its fire returned or the exception it raised.
    """
    barrier = threading.Barrier(len(shots), timeout=BARRIER_TIMEOUT)

    def fire(shot: Shot) -> Outcome:
        barrier.wait()
        try:
            return engine.fire(
                item_id,
                shot.event,
                shot.actor,
                shot.data,
                reason=shot.reason,
                expected_version=expected_version,
                retries=retries,
            )
        except Exception as exc:  # judged by the caller, which wants the exact type
            return exc

    return list(pool.map(fire, shots))


def split(outcomes: Sequence[Outcome]) -> tuple[list[int], list[Exception]]:
    """Return the indexes of the winners and the losers' exceptions."""
    winners = [i for i, o in enumerate(outcomes) if isinstance(o, ItemSnapshot)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    return winners, losers


@dataclass(frozen=True)
class Stored:
    """What is stored for an item: as ``get``, ``history`` and ``branches`` return it."""

    item: ItemSnapshot
    history: list[HistoryEntry]
    branches: list[Branch]

    def verify(self) -> list[str]:
        """The discrepancies ``Engine.verify`` would report (a replay of the history)."""
        return replay_problems(self.item, self.history)


def fresh_items(engine: Engine, count: int) -> list[int]:
    """``count`` items in ``collected``: one started through the engine, the rest its copies.

    Each copy is row for row what ``start`` stores (tests/integration/item_copies.py):
    the rounds race on items that no round has touched, without a start per round.
    """
    first = start_item(engine)
    sa_engine, tables = engine.store.engine, engine.store.tables
    assert sa_engine is not None
    return [first, *clone(sa_engine, tables, [snapshot(sa_engine, tables, first)], count - 1)]


def read_stored(engine: Engine, item_ids: Sequence[int]) -> list[Stored]:
    """Read what is stored for each item, all in one read transaction.

    The same reads as ``get``, ``history``, ``branches`` and ``verify``, without a
    transaction for each of them per item.
    """
    found: list[Stored] = []
    with engine.store.read() as tx:
        for item_id in item_ids:
            item = tx.load_item(item_id)
            assert item is not None, f"no item {item_id}"
            found.append(Stored(item, tx.load_history(item_id), tx.load_branches(item_id)))
    return found


def one_winner(item_id: int, outcomes: Sequence[Outcome]) -> int:
    """The index of the one shot that won (asserted: exactly one did)."""
    winners, _ = split(outcomes)
    assert len(winners) == 1, f"item {item_id}: {len(winners)} winners: {outcomes}"
    return winners[0]


def check_single_winner(stored: Stored, shots: Sequence[Shot], outcomes: Sequence[Outcome]) -> Shot:
    """One winner; the item moved by exactly its one step, and replays clean."""
    item = stored.item
    winner = one_winner(item.id, outcomes)
    shot = shots[winner]
    assert outcomes[winner] == item
    assert item.version == 2
    assert item.state == TARGETS[shot.event]
    if shot.event == "accept":
        assert shot.data is not None
        assert item.data["lead_unit"] == shot.data["lead_unit"]
    rows = stored.history
    assert [(r.seq, r.kind, r.event, r.actor_id) for r in rows] == [
        (1, "start", "start", rows[0].actor_id),
        (2, "event", shot.event, shot.actor.id),
    ]
    assert rows[1].reason == shot.reason
    assert stored.branches == []
    assert stored.verify() == []
    return shot


Round = tuple[int, list[Shot], list[Outcome]]
"""One race: the item, the shots fired at it, and what each fire returned or raised."""


# -- 1. many actors, one item, one winner -------------------------------------------------


def test_one_winner_with_expected_version(backend: Backend) -> None:
    """1,000 rounds of 2..50 actors firing conflicting events on the version they read."""
    rng = random.Random(f"expected-version/{backend.name}")
    with racing_engine(backend) as engine, ThreadPoolExecutor(MAX_ACTORS) as pool:
        events: Counter[str] = Counter()
        sizes: Counter[int] = Counter()
        rounds: list[Round] = []
        for item_id in fresh_items(engine, ROUNDS):
            seen = engine.get(item_id).version
            shots = [conflicting_shot(rng, i) for i in range(actor_count(rng))]
            sizes[len(shots)] += 1
            outcomes = race(pool, engine, item_id, shots, expected_version=seen)
            one_winner(item_id, outcomes)
            _, losers = split(outcomes)
            # Everyone read version 1, so every loser's refusal is the version check.
            odd = [e for e in losers if type(e) is not ConcurrentUpdate]
            assert not odd, f"losers that are not ConcurrentUpdate: {odd!r}"
            assert all(e.expected == 1 for e in losers if isinstance(e, ConcurrentUpdate))
            rounds.append((item_id, shots, outcomes))
        # What each round left in the database, read after the last one (each round has an
        # item of its own, which no later round touches).
        stored = read_stored(engine, [item_id for item_id, _, _ in rounds])
        for found, (_, shots, outcomes) in zip(stored, rounds, strict=True):
            events[check_single_winner(found, shots, outcomes).event] += 1
    # The mix of events really was mixed (each kind won some rounds); both extremes came up.
    assert set(events) == set(TARGETS), events
    assert (min(sizes), max(sizes)) == (2, MAX_ACTORS), sizes


def test_one_winner_without_expected_version(backend: Backend) -> None:
    """Without expected_version and with no retry, losers get only typed refusals."""
    rng = random.Random(f"no-expected-version/{backend.name}")
    kinds: Counter[str] = Counter()
    with racing_engine(backend) as engine, ThreadPoolExecutor(MAX_ACTORS) as pool:
        rounds: list[Round] = []
        for item_id in fresh_items(engine, VARIANT_ROUNDS):
            shots = [conflicting_shot(rng, i) for i in range(actor_count(rng))]
            outcomes = race(pool, engine, item_id, shots, retries=0)
            one_winner(item_id, outcomes)
            _, losers = split(outcomes)
            assert all(type(e) in (ConcurrentUpdate, EventNotAllowed) for e in losers), losers
            kinds.update(type(e).__name__ for e in losers)
            rounds.append((item_id, shots, outcomes))
        stored = read_stored(engine, [item_id for item_id, _, _ in rounds])
        for found, (_, shots, outcomes) in zip(stored, rounds, strict=True):
            check_single_winner(found, shots, outcomes)
    if backend.name == "sqlite":
        # BEGIN IMMEDIATE serializes the whole fire: every loser reads the winner's
        # state, and its compare-and-swap cannot fail.
        assert set(kinds) == {"EventNotAllowed"}, kinds


@pytest.mark.parametrize(
    ("max_actors", "retries", "rounds"),
    [(6, 5, VARIANT_ROUNDS), (MAX_ACTORS, None, BOUND_ROUNDS)],
    ids=["up-to-6-actors-retries-5", "up-to-50-actors-retries-n-1"],
)
def test_repeatable_event_all_succeed_with_retries(
    backend: Backend, max_actors: int, retries: int | None, rounds: int
) -> None:
    """N enterprise members and commissioners amend at once; every amend lands.

    A fire fails its compare-and-swap only when another actor committed in
    between, and each of the N - 1 others commits once: ``retries=N-1`` is
    always enough (so ``retries=5`` is for up to 6 actors).
    """
    rng = random.Random(f"amend/{backend.name}/{max_actors}")
    with racing_engine(backend) as engine, ThreadPoolExecutor(MAX_ACTORS) as pool:
        raced: list[Round] = []
        for item_id in fresh_items(engine, rounds):
            n = rng.randint(2, max_actors) if max_actors <= 6 else actor_count(rng)
            shots = [
                Shot("amend", amender(i), {"description": f"more detail from {amender(i).id}"})
                for i in rng.sample(range(MAX_ACTORS), n)
            ]
            outcomes = race(pool, engine, item_id, shots, retries=retries or n - 1)
            winners, losers = split(outcomes)
            assert losers == []
            assert len(winners) == n
            raced.append((item_id, shots, outcomes))
        stored = read_stored(engine, [item_id for item_id, _, _ in raced])
        for found, (_, shots, outcomes) in zip(stored, raced, strict=True):
            check_all_amends(found, shots, outcomes)


def check_all_amends(stored: Stored, shots: Sequence[Shot], outcomes: Sequence[Outcome]) -> None:
    """Every successful amend has its own history row; the version counts them."""
    landed = [s for s, o in zip(shots, outcomes, strict=True) if isinstance(o, ItemSnapshot)]
    item = stored.item
    assert item.version == 1 + len(landed)
    assert item.state == "collected"
    rows = stored.history
    assert [r.seq for r in rows] == list(range(1, len(landed) + 2))
    assert Counter(r.actor_id for r in rows[1:]) == Counter(s.actor.id for s in landed)
    assert all(r.event == "amend" and r.from_state == r.to_state == "collected" for r in rows[1:])
    # Each fire returned the version it wrote: all different, the last one the item's.
    versions = sorted(o.version for o in outcomes if isinstance(o, ItemSnapshot))
    assert versions == list(range(2, len(landed) + 2))
    assert rows[-1].input == {"description": item.data["description"]}
    assert stored.verify() == []


def test_repeatable_event_with_too_few_retries(backend: Backend) -> None:
    """50 actors with retries=5: whoever runs out of retries gets ConcurrentUpdate, nothing else.

    (On SQLite the serialized fires never conflict, so all 50 land.)
    """
    with racing_engine(backend) as engine, ThreadPoolExecutor(MAX_ACTORS) as pool:
        for item_id in fresh_items(engine, CROWD_ROUNDS):
            shots = [
                Shot("amend", amender(i), {"description": f"more detail from {amender(i).id}"})
                for i in range(MAX_ACTORS)
            ]
            outcomes = race(pool, engine, item_id, shots, retries=5)
            _, losers = split(outcomes)
            odd = [e for e in losers if type(e) is not ConcurrentUpdate]
            assert not odd, f"losers that are not ConcurrentUpdate: {odd!r}"
            if backend.name == "sqlite":
                assert losers == []
            check_all_amends(read_stored(engine, [item_id])[0], shots, outcomes)


def held_after_first_read(backend: Backend, table: str) -> tuple[DriverHooks, Callable[[], None]]:
    """Hooks that stop each armed thread right after its first read of ``table``.

    Returns the hooks and ``arm``, to be called by a racing thread before it
    fires. Two armed threads both read before either writes: the schedule in
    which a compare-and-swap has to catch the conflict.
    """
    hooks = DriverHooks()
    name = f"{backend.prefix}{table}"
    state = threading.local()
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT)

    def hold(statement: str) -> None:
        if getattr(state, "armed", False) and statement.startswith("SELECT") and name in statement:
            state.armed = False
            barrier.wait()

    def arm() -> None:
        state.armed = True

    hooks.after = hold
    return hooks, arm


@pytest.mark.parametrize("with_expected_version", [True, False], ids=["expected", "unexpected"])
def test_concurrent_update_names_the_version_that_won(
    backend: Backend, request: pytest.FixtureRequest, with_expected_version: bool
) -> None:
    """The loser's ConcurrentUpdate says which version the item is at now: the winner's.

    Both actors read version 1 before either writes (held by a driver hook;
    on SQLite the second simply reads after the first committed).
    """
    hooks, arm = held_after_first_read(backend, "items")
    if backend.name == "sqlite":
        hooks.after = None  # one writer at a time: holding the first would block the second
    with racing_engine(backend, hooks) as engine, ThreadPoolExecutor(2) as pool:
        item_id = start_item(engine)
        shots = [conflicting_shot(random.Random(i), i) for i in range(2)]

        def fire(shot: Shot) -> Outcome:
            arm()
            try:
                return engine.fire(
                    item_id,
                    shot.event,
                    shot.actor,
                    shot.data,
                    reason=shot.reason,
                    expected_version=1 if with_expected_version else None,
                )
            except Exception as exc:  # judged below, by exact type
                return exc

        outcomes = list(pool.map(fire, shots))
    _, losers = split(outcomes)
    if backend.name == "sqlite" and not with_expected_version:
        # The loser read the winner's state: refused as not allowed, not as a conflict.
        assert [type(e) for e in losers] == [EventNotAllowed]
        return
    assert [type(e) for e in losers] == [ConcurrentUpdate], losers
    loser = losers[0]
    assert isinstance(loser, ConcurrentUpdate)
    assert (loser.expected, loser.actual) == (1, 2), str(loser)


# -- 2. separate processes ----------------------------------------------------------------


def worker_processes() -> multiprocessing.context.BaseContext:
    """Worker processes forked from a server process that has imported the engine's modules.

    Each worker is a process of its own, with its own engine and connections;
    the server (started once per test run, single-threaded) spares each one an
    interpreter start-up and the imports, about 1.5 s of CPU.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([run_worker.__module__])
    return context


def test_one_winner_across_processes(backend: Backend) -> None:
    """4 worker processes x 50 rounds fire ``accept`` with the version they read."""
    with engine_for(backend) as engine:
        item_ids = fresh_items(engine, PROCESS_ROUNDS)
        context = worker_processes()
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        workers = [
            context.Process(
                target=run_worker,
                args=(backend.url, backend.prefix, i, item_ids, barrier, results),
                daemon=True,
            )
            for i in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        try:
            reports = dict(results.get(timeout=BARRIER_TIMEOUT * 2) for _ in workers)
        finally:
            for worker in workers:
                worker.join(timeout=BARRIER_TIMEOUT)
        assert [w.exitcode for w in workers] == [0] * PROCESSES, reports
        for index, report in reports.items():
            assert isinstance(report, list), f"worker {index}: {report}"
        stored = read_stored(engine, item_ids)
        for r, found in enumerate(stored):
            outcomes = [reports[i][r] for i in range(PROCESSES)]
            assert sorted(outcomes) == ["ConcurrentUpdate"] * (PROCESSES - 1) + ["won"], (
                f"round {r}: {outcomes}"
            )
            winner = outcomes.index("won")
            item = found.item
            assert (item.state, item.version, item.data["lead_unit"]) == (
                "dispatched",
                2,
                UNITS[winner],
            )
            assert [h.actor_id for h in found.history][1:] == [office(winner).id]
            assert found.verify() == []


# -- 3. joint handling: simultaneous answers always join ----------------------------------


def open_joint(engine: Engine, item_id: int, co_units: Sequence[str]) -> None:
    """Bring a fresh item into joint handling with ``co_units``."""
    lead = staff(LEAD_UNIT)
    engine.fire(item_id, "accept", office(0), {"lead_unit": LEAD_UNIT})
    engine.fire(item_id, "sign_for", lead)
    item = engine.fire(item_id, "request_joint", lead, {"co_units": list(co_units)})
    assert (item.state, item.version) == ("joint_handling", 4)


def answer_shots(rng: random.Random, co_units: Sequence[str]) -> list[Shot]:
    """Every co-unit's answer, agreeing or not."""
    return [
        Shot(
            "give_opinion",
            staff(unit),
            {"verdict": rng.choice(("agree", "disagree")), "opinion": f"{unit} has looked"},
        )
        for unit in co_units
    ]


def check_joined(stored: Stored, shots: Sequence[Shot], outcomes: Sequence[Outcome]) -> None:
    """Every answer landed, exactly one of them joined, and no branch is left open."""
    _, losers = split(outcomes)
    assert losers == [], losers
    n = len(shots)
    item = stored.item
    assert (item.state, item.version) == ("handling", 4 + n + 1)
    # Exactly one answer saw every branch answered and made the join itself.
    assert sorted(o.state for o in outcomes if isinstance(o, ItemSnapshot)) == [
        "handling",
        *["joint_handling"] * (n - 1),
    ]
    rows = stored.history[4:]
    assert [r.kind for r in rows] == ["answer"] * n + ["auto"]
    assert rows[-1].event == JOINT_COMPLETE
    assert (rows[-1].from_state, rows[-1].to_state) == ("joint_handling", "handling")
    assert sum(r.event == JOINT_COMPLETE for r in stored.history) == 1
    sent = {s.actor.id: s.data for s in shots}
    for row in rows[:-1]:
        assert row.input is not None
        assert sent[row.actor_id] == {
            "verdict": row.input["verdict"],
            "opinion": row.input["opinion"],
        }
    branches = stored.branches
    assert len(branches) == n
    assert all(b.status == "answered" for b in branches), branches
    for branch in branches:
        shot = sent[staff(branch.unit).id]
        assert shot is not None
        assert (branch.verdict, branch.answered_by) == (shot["verdict"], staff(branch.unit).id)
        assert branch.answer == {"opinion": shot["opinion"]}
    assert stored.verify() == []


def test_simultaneous_joint_answers_always_join(backend: Backend) -> None:
    """200 rounds: 2..6 co-units answer at once with retries=5; the item always joins."""
    rng = random.Random(f"joint/{backend.name}")
    with racing_engine(backend) as engine, ThreadPoolExecutor(MAX_ACTORS) as pool:
        rounds: list[Round] = []
        for r, item_id in enumerate(fresh_items(engine, JOINT_ROUNDS)):
            # Every fifth round has exactly two co-units, the classic pair.
            co_units = rng.sample(UNITS, 2 if r % 5 == 0 else rng.randint(2, 6))
            open_joint(engine, item_id, co_units)
            shots = answer_shots(rng, co_units)
            outcomes = race(pool, engine, item_id, shots, retries=5)
            _, losers = split(outcomes)
            assert losers == [], losers
            rounds.append((item_id, shots, outcomes))
        stored = read_stored(engine, [item_id for item_id, _, _ in rounds])
        for found, (_, shots, outcomes) in zip(stored, rounds, strict=True):
            check_joined(found, shots, outcomes)


def test_joint_answers_that_read_the_same_snapshot_still_join(backend: Backend) -> None:
    """Force the naive bug's schedule: both answers read every branch open before either writes.

    A driver hook holds each answering transaction, right after it has read
    the branches, until the other one has read them too. Both then decide "the
    other branch is still open, no join yet"; the version check makes the
    second writer retry on fresh data, where it sees both answers and joins.
    On SQLite this schedule cannot exist (BEGIN IMMEDIATE admits one writer
    at a time, so the second could never read before the first commits).
    """
    if backend.name == "sqlite":
        pytest.skip("SQLite writers are serialized: two answers never share a snapshot")
    hooks = DriverHooks()
    branches_table = f"{backend.prefix}branches"
    state = threading.local()
    held: list[threading.Barrier] = []
    reads: list[str] = []  # one entry per branch read by an answering fire, all attempts

    def hold(statement: str) -> None:
        if not getattr(state, "answering", False):
            return
        if statement.startswith("SELECT") and branches_table in statement:
            reads.append(statement)
            # Only the first attempt of each thread waits: its retry must run freely.
            if not state.held:
                state.held = True
                held[0].wait()

    hooks.after = hold
    with racing_engine(backend, hooks) as engine, ThreadPoolExecutor(MAX_ACTORS) as pool:
        for item_id in fresh_items(engine, SAME_SNAPSHOT_ROUNDS):
            co_units = UNITS[:2]
            open_joint(engine, item_id, co_units)
            shots = answer_shots(random.Random(item_id), co_units)
            held[:] = [threading.Barrier(2, timeout=BARRIER_TIMEOUT)]
            reads.clear()

            def answer(shot: Shot, item_id: int = item_id) -> Outcome:
                state.answering, state.held = True, False
                try:
                    return engine.fire(item_id, shot.event, shot.actor, shot.data, retries=5)
                except Exception as exc:  # judged below, by exact type
                    return exc
                finally:
                    state.answering = False

            outcomes = list(pool.map(answer, shots))
            check_joined(read_stored(engine, [item_id])[0], shots, outcomes)
            # Both first attempts read the branches, then exactly one retry did:
            # the schedule really was the dangerous one, and the conflict was caught.
            assert len(reads) == 3, reads


# -- 4. SQLite: many writer threads, never "database is locked" ---------------------------


LIFECYCLE: list[Callable[[int], Shot]] = [
    lambda _: Shot("amend", amender(0), {"description": "a longer description"}),
    lambda w: Shot("accept", office(w), {"lead_unit": LEAD_UNIT}),
    lambda _: Shot("sign_for", staff(LEAD_UNIT)),
    lambda w: Shot("request_joint", staff(LEAD_UNIT), {"co_units": [UNITS[w], UNITS[w + 20]]}),
    lambda w: Shot("give_opinion", staff(UNITS[w]), {"verdict": "agree", "opinion": "fine"}),
    lambda w: Shot("give_opinion", staff(UNITS[w + 20]), {"verdict": "agree", "opinion": "ok"}),
    lambda _: Shot(
        "reply",
        staff(LEAD_UNIT),
        {"result": "A venue has been found.", "resolution": "solved"},
    ),
    lambda _: Shot(
        "record_revisit",
        Actor("commissioner_00", frozenset({"commissioner"})),
        {"satisfaction": "satisfied"},
    ),
    lambda _: Shot("sign_off", amender(0)),
    lambda w: Shot("strike_off", office(w)),
]


def test_sqlite_twenty_writers_never_locked(tmp_path: Path) -> None:
    """20 threads, each on its own pooled connection, walk items to closure: 2,000 fires.

    Every fire is preceded by a read of the item, as a form would do, so
    readers and writers interleave too. BEGIN IMMEDIATE makes writers queue
    on SQLite's lock (the busy timeout) instead of failing: no "database is
    locked", and every fire lands.
    """
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    prefix = "wf_"
    setup = create_database_engine(url)
    upgrade(setup, prefix=prefix)
    setup.dispose()
    engine = open_engine(url, prefix, pool_size=SQLITE_WRITERS, max_overflow=0)
    assert FIRES_PER_WRITER % len(LIFECYCLE) == 0
    start = threading.Barrier(SQLITE_WRITERS, timeout=BARRIER_TIMEOUT)

    def writer(w: int) -> tuple[list[int], int, list[str]]:
        items: list[int] = []
        fired = 0
        errors: list[str] = []
        start.wait()
        for _ in range(FIRES_PER_WRITER // len(LIFECYCLE)):
            try:
                item_id = start_item(engine)
                items.append(item_id)
                for step in LIFECYCLE:
                    shot = step(w)
                    seen = engine.get(item_id)
                    engine.fire(
                        item_id,
                        shot.event,
                        shot.actor,
                        shot.data,
                        reason=shot.reason,
                        expected_version=seen.version,
                    )
                    fired += 1
            except OperationalError as exc:  # "database is locked" and its kin
                errors.append(str(exc))
        return items, fired, errors

    try:
        with ThreadPoolExecutor(SQLITE_WRITERS) as pool:
            results = list(pool.map(writer, range(SQLITE_WRITERS)))
        errors = [message for _, _, found in results for message in found]
        assert errors == [], f"{len(errors)} OperationalError(s), first: {errors[0]}"
        assert sum(fired for _, fired, _ in results) == SQLITE_WRITERS * FIRES_PER_WRITER
        item_ids = [i for items, _, _ in results for i in items]
        assert len(item_ids) == SQLITE_WRITERS * FIRES_PER_WRITER // len(LIFECYCLE)
        for item_id in item_ids:
            item = engine.get(item_id)
            # start + every step + the join the second answer made
            assert (item.state, item.version) == ("closed", 1 + len(LIFECYCLE) + 1)
            assert engine.verify(item_id) == []
    finally:
        engine.dispose()
