"""The timer tables and their queries (``workflow.store.timers``) on SQLite, PostgreSQL and MariaDB.

Deadlines round-trip; the scan claims only what is due and unleased, earliest
first, and two daemons never claim the same deadline (SKIP LOCKED on the
servers, BEGIN IMMEDIATE on SQLite); a lost lease makes ``release`` fail; each
escalation level is recorded once; agendas hold an item once per occurrence
and carry over what is unresolved; the due query uses its index. Times come
from a fixed moment, never from waiting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, insert, inspect, make_url, select, text
from sqlalchemy.exc import IntegrityError

from tests.backends import (
    BACKENDS,
    SERVER_URLS,
    Backend,
    drop_prefixed_tables,
    new_prefix,
    unavailable_reason,
)
from workflow.core.values import Deadline
from workflow.store import timers
from workflow.store.migrate import alembic_config, current_revision, upgrade
from workflow.store.schema import Tables, build_tables
from workflow.store.sql import create_database_engine

T0 = dt.datetime(2026, 3, 2, 1, 30, 0, 123456, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
LEASE = dt.timedelta(seconds=30)


pytestmark = pytest.mark.backend


@dataclass
class Db:
    """An upgraded database, shared by the module's tests on one backend."""

    backend: Backend
    engine: Engine
    t: Tables

    def write(self) -> Connection:
        """A connection whose transactions take SQLite's write lock up front."""
        return self.engine.connect().execution_options(workflow_write=True)


@pytest.fixture(scope="module", params=BACKENDS)
def upgraded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Db]:
    """Upgrade once per backend (MariaDB's DDL is slow); see `db` for the isolation."""
    name: str = request.param
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(reason)
    if name == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('timers') / 'workflow.db'}"
    else:
        url = SERVER_URLS[name]
    engine = create_database_engine(url)
    prefix = new_prefix()
    try:
        upgrade(engine, prefix=prefix)
        yield Db(Backend(name, url, prefix, engine), engine, build_tables(prefix))
    finally:
        engine.dispose()
        if name != "sqlite":
            drop_prefixed_tables(engine, prefix)
        engine.dispose()


@pytest.fixture
def db(upgraded: Db) -> Db:
    """The shared database, emptied: every test starts with no rows."""
    with upgraded.engine.begin() as conn:
        for table in reversed(upgraded.t.metadata.sorted_tables):
            conn.execute(table.delete())
    return upgraded


def _item(conn: Connection, t: Tables) -> int:
    """Insert a bare item (and its definition row, once) with Core; return its id."""
    if conn.execute(select(t.definitions.c.hash)).first() is None:
        conn.execute(
            insert(t.definitions),
            {"hash": "h1", "workflow_id": "w", "version": 1, "source": "x", "loaded_at": T0},
        )
    result = conn.execute(
        insert(t.items),
        {
            "workflow_id": "w",
            "definition_hash": "h1",
            "state": "handling",
            "data": {"title": "需要场地"},
            "version": 1,
            "is_open": True,
            "created_by": "zhao",
            "created_at": T0,
            "updated_at": T0,
        },
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _deadline(item_id: int, **changes: Any) -> Deadline:
    base = Deadline(
        id=0,
        item_id=item_id,
        branch_id=None,
        scope="handling",
        started_seq=2,
        started_at=T0,
        due_at=T0 + dt.timedelta(days=7, microseconds=1),
        amount=5,
        unit="working_days",
        status="running",
        next_at=T0 + dt.timedelta(days=6),
    )
    return dataclasses.replace(base, **changes)


def _due(db: Db, *next_ats: dt.datetime | None) -> list[int]:
    """Insert one item with a running deadline per ``next_at``; return the deadline ids.

    A None ``next_at`` stands for a clock that is not running (paused, ended).
    """
    with db.engine.begin() as conn:
        item_id = _item(conn, db.t)
        return timers.insert_deadlines(
            conn, db.t, [_deadline(item_id, next_at=when) for when in next_ats]
        )


def _claim(db: Db, token: str, now: dt.datetime, limit: int = 100) -> list[int]:
    with db.write() as conn, conn.begin():
        return timers.claim_due(conn, db.t, now=now, token=token, lease=LEASE, limit=limit)


# --- the clock and the deadlines --------------------------------------------------


def test_db_now_is_the_servers_utc_clock(db: Db) -> None:
    with db.engine.connect() as conn:
        before = dt.datetime.now(dt.UTC)
        now = timers.db_now(conn)
        after = dt.datetime.now(dt.UTC)
    assert now.tzinfo == dt.UTC
    # Same machine: the database clock agrees with ours (SQLite's to the millisecond).
    assert before - dt.timedelta(seconds=1) <= now <= after + dt.timedelta(seconds=1)


def test_deadlines_round_trip(db: Db) -> None:
    t = db.t
    with db.engine.begin() as conn:
        item_id = _item(conn, t)
        branch = conn.execute(
            insert(t.branches),
            {
                "item_id": item_id,
                "state": "joint_handling",
                "opened_seq": 3,
                "unit": "u_finance",
                "status": "open",
                "opened_at": T0,
            },
        ).inserted_primary_key
        assert branch is not None
        taipei = dt.timezone(dt.timedelta(hours=8))
        state = _deadline(item_id, started_at=T0.astimezone(taipei), provisional=True)
        per_branch = _deadline(item_id, branch_id=int(branch[0]), scope="joint_handling", unit="h")
        ids = timers.insert_deadlines(conn, t, [state, per_branch])
        assert ids == sorted(ids)
        assert len(set(ids)) == 2

    with db.engine.connect() as conn:
        loaded = timers.load_open_deadlines(conn, t, item_id)
    assert loaded == [
        dataclasses.replace(state, id=ids[0]),
        dataclasses.replace(per_branch, id=ids[1]),
    ]
    assert loaded[0].started_at == T0
    assert loaded[0].started_at.tzinfo == dt.UTC
    assert loaded[0].due_at.microsecond == 123457

    paused = dataclasses.replace(loaded[0], status="paused", paused_at=T0 + MINUTE, next_at=None)
    ended = dataclasses.replace(
        loaded[1], status="late", next_at=None, ended_at=T0 + dt.timedelta(days=9), provisional=True
    )
    with db.engine.begin() as conn:
        timers.update_deadlines(conn, t, [paused, ended])
        timers.update_deadlines(conn, t, [])
    with db.engine.connect() as conn:
        assert timers.load_open_deadlines(conn, t, item_id) == [paused]
        assert timers.load_deadline(conn, t, ids[1]) == ended
        assert timers.load_deadline(conn, t, ids[1] + 1000) is None


# --- claiming -----------------------------------------------------------------


def test_claim_due_takes_due_unleased_deadlines_earliest_first(db: Db) -> None:
    ids = _due(db, T0 - 3 * MINUTE, T0 - MINUTE, T0 - 2 * MINUTE, T0 + MINUTE, None, T0)
    three_ago, one_ago, two_ago, future, stopped, exactly_now = ids
    leased, expired = _due(db, T0 - 5 * MINUTE, T0 - 4 * MINUTE)
    with db.engine.begin() as conn:
        d = db.t.deadlines
        conn.execute(
            d.update().where(d.c.id == leased).values(lease_token="other", lease_until=T0 + MINUTE)
        )
        conn.execute(
            d.update().where(d.c.id == expired).values(lease_token="dead", lease_until=T0 - MINUTE)
        )

    assert _claim(db, "a", T0, limit=2) == [expired, three_ago]
    assert _claim(db, "b", T0, limit=10) == [two_ago, one_ago, exactly_now]
    assert _claim(db, "c", T0) == []
    with db.engine.connect() as conn:
        rows = dict(conn.execute(select(d.c.id, d.c.lease_token)).all())
        assert rows[expired] == rows[three_ago] == "a"
        assert rows[future] is None
        assert rows[stopped] is None
        assert timers.holds_lease(conn, db.t, three_ago, "a", T0 + LEASE - MINUTE / 60)
        assert not timers.holds_lease(conn, db.t, three_ago, "b", T0)
        assert not timers.holds_lease(conn, db.t, three_ago, "a", T0 + LEASE)


def test_an_expired_lease_goes_to_the_next_claimer_and_the_first_cannot_release(db: Db) -> None:
    (deadline_id,) = _due(db, T0 - MINUTE)
    assert _claim(db, "stalled", T0) == [deadline_id]
    assert _claim(db, "other", T0 + LEASE - MINUTE / 60) == []  # still leased
    later = T0 + LEASE + MINUTE
    assert _claim(db, "other", later) == [deadline_id]

    with db.write() as conn, conn.begin():
        assert not timers.holds_lease(conn, db.t, deadline_id, "stalled", later)
        assert not timers.release(conn, db.t, deadline_id, "stalled", None, now=later)
        assert timers.holds_lease(conn, db.t, deadline_id, "other", later)
        assert timers.release(conn, db.t, deadline_id, "other", T0 + 9 * MINUTE, now=later)
        assert not timers.release(conn, db.t, deadline_id, "other", None, now=later)  # once
    with db.engine.connect() as conn:
        found = timers.load_deadline(conn, db.t, deadline_id)
        lease = conn.execute(
            select(db.t.deadlines.c.lease_token, db.t.deadlines.c.lease_until)
        ).one()
    assert found is not None
    assert found.next_at == T0 + 9 * MINUTE
    assert tuple(lease) == (None, None)


def test_a_lease_that_ran_out_cannot_be_released_even_unclaimed(db: Db) -> None:
    (deadline_id,) = _due(db, T0 - MINUTE)
    assert _claim(db, "a", T0) == [deadline_id]
    with db.write() as conn, conn.begin():
        assert not timers.release(conn, db.t, deadline_id, "a", None, now=T0 + LEASE)
        # Without `now`, the database clock judges (T0 is long past).
        assert not timers.release(conn, db.t, deadline_id, "a", None)


def test_release_keeps_next_at_clear_when_a_fire_paused_the_clock_meanwhile(db: Db) -> None:
    (deadline_id,) = _due(db, T0 - MINUTE)
    assert _claim(db, "a", T0) == [deadline_id]
    with db.engine.begin() as conn:  # a fire pauses the clock while the daemon works
        found = timers.load_deadline(conn, db.t, deadline_id)
        assert found is not None
        paused = dataclasses.replace(found, status="paused", paused_at=T0, next_at=None)
        timers.update_deadlines(conn, db.t, [paused])
    with db.write() as conn, conn.begin():
        assert timers.release(conn, db.t, deadline_id, "a", T0 + MINUTE, now=T0)
    with db.engine.connect() as conn:
        assert timers.load_deadline(conn, db.t, deadline_id) == paused


def _claim_concurrently(db: Db) -> tuple[list[int], list[int], bool]:
    """Claimer A holds its claim open while B claims; return both claims and whether B waited."""
    a_claimed = threading.Event()
    a_committed = threading.Event()
    b_done = threading.Event()
    claims: dict[str, list[int]] = {}
    b_waited: list[bool] = []
    errors: list[BaseException] = []

    def claimer_a() -> None:
        try:
            with db.write() as conn, conn.begin():
                claims["a"] = timers.claim_due(conn, db.t, now=T0, token="a", lease=LEASE, limit=5)
                a_claimed.set()
                # SKIP LOCKED: B finishes while our row locks are held. SQLite: B
                # cannot even begin until we commit (it would time out here).
                b_done.wait(timeout=0.5 if db.backend.name == "sqlite" else 10)
                a_committed.set()
        except BaseException as exc:
            errors.append(exc)
            a_claimed.set()

    def claimer_b() -> None:
        try:
            a_claimed.wait(timeout=10)
            with db.write() as conn, conn.begin():
                claims["b"] = timers.claim_due(conn, db.t, now=T0, token="b", lease=LEASE, limit=5)
                b_waited.append(a_committed.is_set())
            b_done.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer_a), threading.Thread(target=claimer_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return claims["a"], claims["b"], b_waited[0]


def test_concurrent_claimers_never_share_a_deadline(db: Db) -> None:
    ids = _due(db, *(T0 - n * MINUTE for n in range(12, 0, -1)))
    a, b, b_waited = _claim_concurrently(db)
    assert len(a) == len(b) == 5
    assert not set(a) & set(b)
    assert a + b == ids[:10]  # each took the earliest it could
    if db.backend.name == "sqlite":
        assert b_waited  # BEGIN IMMEDIATE: one claimer at a time
    else:
        assert not b_waited  # SKIP LOCKED: B passed A's locked rows without waiting
    with db.engine.connect() as conn:
        d = db.t.deadlines
        tokens = dict(conn.execute(select(d.c.id, d.c.lease_token)).all())
    assert {tokens[i] for i in a} == {"a"}
    assert {tokens[i] for i in b} == {"b"}


def test_many_claimers_split_the_work(db: Db) -> None:
    ids = _due(db, *(T0 - n * MINUTE / 60 for n in range(60, 0, -1)))
    barrier = threading.Barrier(4)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def daemon(token: str) -> None:
        try:
            mine: list[int] = []
            barrier.wait(timeout=10)
            while batch := _claim(db, token, T0, limit=3):
                mine.extend(batch)
            taken[token] = mine
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=daemon, args=(f"d{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [i for mine in taken.values() for i in mine]
    assert sorted(every) == ids  # all claimed, none twice


# --- escalations ----------------------------------------------------------------


def test_each_level_is_recorded_once_per_deadline(db: Db) -> None:
    (deadline_id,) = _due(db, T0)
    with db.engine.connect() as conn:
        item_id = conn.execute(select(db.t.items.c.id)).scalar_one()
    record = {"deadline_id": deadline_id, "item_id": item_id, "at": T0}
    with db.engine.begin() as conn:
        timers.record_escalation(conn, db.t, level="warning", outcome="skipped", seq=None, **record)
        timers.record_escalation(conn, db.t, level="reminder", outcome="fired", seq=4, **record)
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        timers.record_escalation(conn, db.t, level="reminder", outcome="fired", seq=5, **record)
    with pytest.raises(ValueError, match="'fired' or 'skipped'"), db.engine.begin() as conn:
        timers.record_escalation(conn, db.t, level="monthly", outcome="done", seq=5, **record)
    with db.engine.connect() as conn:
        assert timers.fired_levels(conn, db.t, deadline_id) == ["warning", "reminder"]
        assert timers.fired_levels(conn, db.t, deadline_id + 1) == []


# --- review agendas ---------------------------------------------------------------


def test_agenda_entries_once_per_occurrence_and_carry_over(db: Db) -> None:
    t = db.t
    with db.engine.begin() as conn:
        pending, decided, closed, already = (_item(conn, t) for _ in range(4))
        conn.execute(t.items.update().where(t.items.c.id == closed).values(is_open=False))
        entry = {"review": "monthly", "workflow_id": "w", "level": "monthly_review"}
        for item_id in (pending, decided, closed, already):
            assert timers.add_review_entry(
                conn, t, period="2026-03", item_id=item_id, at=T0, **entry
            )
        assert not timers.add_review_entry(
            conn, t, period="2026-03", item_id=pending, at=T0 + MINUTE, **entry
        )
        assert timers.add_review_entry(
            conn, t, period="2026-04", item_id=already, at=T0 + MINUTE, **entry
        )
        assert timers.add_review_entry(
            conn, t, period="2026-Q1", item_id=pending, at=T0, **{**entry, "review": "dispatch"}
        )
        assert timers.resolve_review_entries(conn, t, decided, "assign_unit", T0 + MINUTE) == 1
        assert timers.resolve_review_entries(conn, t, decided, "assign_unit", T0 + MINUTE) == 0

    with db.engine.connect() as conn:
        march = timers.load_agenda(conn, t, "monthly", "2026-03")
    assert [e["item_id"] for e in march] == [pending, decided, closed, already]
    first = march[0]
    assert (first["state"], first["data"], first["is_open"], first["reason"]) == (
        "handling",
        {"title": "需要场地"},
        True,
        "escalated",
    )
    assert first["added_at"] == T0
    assert march[1]["resolution"] == "assign_unit"
    assert march[1]["resolved_at"] == T0 + MINUTE

    with db.engine.begin() as conn:
        carried = timers.carry_over(
            conn, t, "monthly", from_period="2026-03", to_period="2026-04", at=T0 + 2 * MINUTE
        )
        again = timers.carry_over(
            conn, t, "monthly", from_period="2026-03", to_period="2026-04", at=T0 + 3 * MINUTE
        )
    assert (carried, again) == (1, 0)
    with db.engine.connect() as conn:
        april = timers.load_agenda(conn, t, "monthly", "2026-04")
        assert timers.load_agenda(conn, t, "dispatch", "2026-Q1")[0]["item_id"] == pending
    assert [(e["item_id"], e["reason"], e["level"]) for e in april] == [
        (already, "escalated", "monthly_review"),
        (pending, "carried", "monthly_review"),
    ]
    assert april[1]["added_at"] == T0 + 2 * MINUTE

    with db.engine.begin() as conn:  # a decision resolves the item's entries of one review
        assert timers.resolve_review_entries(conn, t, pending, "x", T0, review="dispatch") == 1
        assert timers.resolve_review_entries(conn, t, pending, "y", T0) == 2


# --- daemons ----------------------------------------------------------------------


def test_daemon_registry(db: Db) -> None:
    t = db.t
    with db.engine.begin() as conn:
        timers.register_daemon(conn, t, token="d1", host="app-1", pid=101, at=T0)
        timers.register_daemon(conn, t, token="d2", host="app-2", pid=202, at=T0 + MINUTE)
        assert timers.heartbeat(conn, t, "d1", T0 + 5 * MINUTE)
        assert not timers.heartbeat(conn, t, "nobody", T0)
    with db.engine.connect() as conn:
        live = timers.live_daemons(conn, t, T0 + 6 * MINUTE, stale_after=2 * MINUTE)
        assert [(d.token, d.host, d.pid, d.heartbeat_at) for d in live] == [
            ("d1", "app-1", 101, T0 + 5 * MINUTE)
        ]
        everyone = timers.live_daemons(conn, t, T0 + 6 * MINUTE, stale_after=10 * MINUTE)
        assert [d.token for d in everyone] == ["d1", "d2"]
    with db.engine.begin() as conn:
        assert timers.mark_stopped(conn, t, "d1", T0 + 7 * MINUTE)
        assert not timers.mark_stopped(conn, t, "d1", T0 + 8 * MINUTE)
        assert not timers.heartbeat(conn, t, "d1", T0 + 8 * MINUTE)
    with db.engine.connect() as conn:
        live = timers.live_daemons(conn, t, T0 + 8 * MINUTE, stale_after=10 * MINUTE)
    assert [d.token for d in live] == ["d2"]


# --- the scan's plan --------------------------------------------------------------


def test_the_due_query_uses_the_next_at_index(db: Db) -> None:
    # Mostly stopped clocks (next_at NULL), as in a database that has run for a while.
    _due(db, *([None] * 200), *(T0 - n * MINUTE for n in range(20)))
    # SQLite's holds lease_until too (see the schema).
    name = "deadlines_next_lease" if db.backend.name == "sqlite" else "deadlines_next"
    index = f"{db.backend.prefix}{name}"
    with db.engine.connect() as conn:
        if db.backend.name == "postgresql":
            conn.execute(text("ANALYZE " + db.t.deadlines.name))
            # LOCAL: for this transaction only, not for the pooled connection.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = timers.scan_plan(conn, db.t, T0)
    assert "next_at <=" in plan.sql
    if db.backend.name == "sqlite":
        assert plan.uses(index), plan.plan
        # The lease test is answered from the index: no row is read.
        assert "COVERING INDEX" in plan.plan, plan.plan
    elif db.backend.name == "postgresql":
        assert plan.uses(index), plan.plan
        assert "Index Scan" in plan.plan
        assert "SKIP LOCKED" in plan.sql
    else:
        # MariaDB picks by cost; only check that it can use the index.
        assert index in plan.plan, plan.plan
        assert "SKIP LOCKED" in plan.sql


# --- the migration ----------------------------------------------------------------


def test_upgrade_from_0001_keeps_items_and_downgrade_returns(backend: Backend) -> None:
    engine = create_database_engine(backend.url)
    prefix = backend.prefix
    try:
        upgrade(engine, prefix=prefix, revision="0001")
        t = build_tables(prefix)
        with engine.begin() as conn:
            item_id = _item(conn, t)
        upgrade(engine, prefix=prefix)
        with engine.begin() as conn:
            (deadline_id,) = timers.insert_deadlines(conn, t, [_deadline(item_id)])
            timers.record_escalation(
                conn,
                t,
                deadline_id=deadline_id,
                item_id=item_id,
                level="w",
                outcome="fired",
                seq=1,
                at=T0,
            )
            assert conn.execute(select(t.items.c.id)).scalar_one() == item_id

        with engine.connect() as conn, conn.begin():
            command.downgrade(alembic_config(conn, prefix=prefix), "0001")
        assert current_revision(engine, prefix=prefix) == "0001"
        columns = {c["name"] for c in inspect(engine).get_columns(f"{prefix}deadlines")}
        assert "remaining_seconds" in columns
        assert "next_at" not in columns
        upgrade(engine, prefix=prefix)
        with engine.connect() as conn:
            assert timers.load_open_deadlines(conn, t, item_id) == []  # emptied by the downgrade
    finally:
        engine.dispose()


def test_upgrade_refuses_deadline_rows_it_cannot_complete(backend: Backend) -> None:
    engine = create_database_engine(backend.url)
    prefix = backend.prefix
    try:
        upgrade(engine, prefix=prefix, revision="0001")
        t = build_tables(prefix)
        with engine.begin() as conn:
            item_id = _item(conn, t)
            conn.execute(
                text(
                    f"INSERT INTO {prefix}deadlines (item_id, scope, started_seq, started_at,"
                    " status, provisional) VALUES (:item, 'handling', 1, :at, 'running', :no)"
                ),
                {"item": item_id, "at": "2026-03-02 01:30:00.000000", "no": False},
            )
        with pytest.raises(RuntimeError, match="cannot be filled in"):
            upgrade(engine, prefix=prefix)
        # Refused before any DDL, so even MySQL (whose DDL commits) is left as it was.
        assert current_revision(engine, prefix=prefix) == "0001"
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_mariadb_tables_are_utf8mb4_in_a_latin1_database(backend: Backend) -> None:
    area = f"{backend.prefix}latin1"
    with backend.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {area} CHARACTER SET latin1")
    engine = create_database_engine(str(make_url(backend.url).set(database=area)))
    try:
        upgrade(engine, prefix=backend.prefix)
        t = build_tables(backend.prefix)
        with engine.connect() as conn:
            charsets: dict[str, str] = dict(
                conn.execute(
                    text(
                        "SELECT table_name, table_collation FROM information_schema.tables"
                        " WHERE table_schema = :db AND table_name LIKE :p"
                    ),
                    {"db": area, "p": f"{backend.prefix}%"},
                ).all()
            )
        ours = set(t.metadata.tables)
        assert ours <= set(charsets)
        assert {charsets[name].split("_")[0] for name in ours} == {"utf8mb4"}
        with engine.begin() as conn:
            item_id = _item(conn, t)
            timers.add_review_entry(
                conn,
                t,
                review="月度例会",
                period="2026-03",
                item_id=item_id,
                workflow_id="w",
                level="𠮷月度",
                at=T0,  # 𠮷 takes four bytes in UTF-8: not in MySQL's "utf8"
            )
        with engine.connect() as conn:
            (entry,) = timers.load_agenda(conn, t, "月度例会", "2026-03")
        assert (entry["level"], entry["data"]["title"]) == ("𠮷月度", "需要场地")
    finally:
        engine.dispose()
        with backend.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {area}")
