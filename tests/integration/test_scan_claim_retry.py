"""A pass whose claim the database picked as a deadlock victim claims again, on every backend.

Seen with MariaDB: the claim's ``SELECT ... FOR UPDATE SKIP LOCKED`` was
chosen as a deadlock's victim (error 1213) while 50 threads fired on the same
server; the pass then raised out of ``tick``. A claim takes nothing when it
is rolled back, so trying it again is safe; any other error still raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.backends import Backend
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.directory.static import StaticDirectory
from workflow.schedule import scan
from workflow.schedule.scan import Escalator
from workflow.store import timers
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine


class _Deadlock(Exception):
    """What pymysql raises for InnoDB's deadlock (its first argument is the error code)."""


class _PostgresDeadlock(Exception):
    """What psycopg raises for a deadlock (it carries the SQLSTATE)."""

    sqlstate = "40P01"


@pytest.fixture
def escalator(backend: Backend) -> Iterator[Escalator]:
    """An escalation pass over an upgraded, empty database."""
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        engine = Engine.from_engine(
            sa, directory=StaticDirectory(), clock=ManualClock(), prefix=backend.prefix
        )
        yield Escalator(engine)
    finally:
        sa.dispose()


def _failing(times: int, error: BaseException) -> tuple[list[int], Any]:
    calls: list[int] = []
    real = timers.claim_due

    def claim_due(*args: Any, **kwargs: Any) -> list[int]:
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("SELECT ... FOR UPDATE SKIP LOCKED", {}, error)
        return real(*args, **kwargs)

    return calls, claim_due


@pytest.mark.parametrize(
    "error", [_Deadlock(1213, "Deadlock found"), _PostgresDeadlock("deadlock detected")]
)
def test_a_deadlocked_claim_is_tried_again(
    escalator: Escalator, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    calls, claim_due = _failing(scan.CLAIM_ATTEMPTS - 1, error)
    monkeypatch.setattr(timers, "claim_due", claim_due)
    report = escalator.tick()
    assert len(calls) == scan.CLAIM_ATTEMPTS
    assert report.claimed == 0
    assert report.failures == ()


def test_a_claim_deadlocked_every_time_raises(
    escalator: Escalator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, claim_due = _failing(scan.CLAIM_ATTEMPTS, _Deadlock(1213, "Deadlock found"))
    monkeypatch.setattr(timers, "claim_due", claim_due)
    with pytest.raises(OperationalError):
        escalator.tick()
    assert len(calls) == scan.CLAIM_ATTEMPTS


def test_other_claim_errors_are_not_retried(
    escalator: Escalator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, claim_due = _failing(1, _Deadlock(1146, "Table doesn't exist"))
    monkeypatch.setattr(timers, "claim_due", claim_due)
    with pytest.raises(OperationalError):
        escalator.tick()
    assert len(calls) == 1
