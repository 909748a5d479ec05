"""A simulated stretch of the Service Express: real engine, register, calendar and meetings.

The year of the README's main job, made small: a generated register imported
into SQLite, sixty problems over four months. Proven here: every script plays
without an unexpected refusal, every item's history replays to its state, the
monthly tallies agree with the database, the ladder and the meetings really
ran, and the same seed gives the same year.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from workflow.app import Engine, shipped_definitions
from workflow.cli.demo import shipped_calendar
from workflow.directory.generate import generate_register
from workflow.directory.importer import import_register
from workflow.directory.records import Register
from workflow.directory.register import RegisterDirectory
from workflow.errors import WorkflowError
from workflow.simulation import World, YearReport, simulate_year
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

FIRST = dt.date(2026, 1, 1)
LAST = dt.date(2026, 4, 30)


def _play(folder: Path, seed: int = 7) -> tuple[Engine, YearReport]:
    bind = create_database_engine(f"sqlite:///{folder / 'year.db'}")
    upgrade(bind)
    register = generate_register(12, seed)
    import_register(bind, register)
    engine = Engine.from_engine(
        bind,
        definitions=shipped_definitions(),
        directory=RegisterDirectory(bind),
        calendar=shipped_calendar(),
    )
    report = simulate_year(
        engine, World.from_register(register), first=FIRST, last=LAST, problems=60, seed=seed
    )
    return engine, report


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, YearReport]:
    return _play(tmp_path_factory.mktemp("year"))


def test_every_problem_plays_and_every_history_replays(
    played: tuple[Engine, YearReport],
) -> None:
    engine, report = played
    assert report.refusals == Counter()
    assert len(report.items) == 60
    for item_id in report.items:
        assert engine.verify(item_id) == [], item_id
    rows = sum(len(engine.history(i)) for i in report.items)
    # Starts, events and answers are the scripts' transitions; the rest the engine's own.
    kinds = Counter(r.kind for i in report.items for r in engine.history(i))
    assert kinds["start"] == 60
    assert rows >= report.transitions


def test_the_monthly_tallies_agree_with_the_database(played: tuple[Engine, YearReport]) -> None:
    engine, report = played
    assert [m.month for m in report.months] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert sum(m.raised for m in report.months) == 60
    items = [engine.get(i) for i in report.items]
    still_open = sum(1 for item in items if item.is_open)
    assert report.months[-1].open_at_end == still_open
    assert sum(m.finished for m in report.months) == 60 - still_open
    finals = Counter(item.state for item in items if not item.is_open)
    assert finals["closed"] > 30  # most problems are settled, as the plans say
    assert set(finals) <= {"closed", "rejected", "merged", "withdrawn"}


def test_the_ladder_and_the_meetings_ran(played: tuple[Engine, YearReport]) -> None:
    engine, report = played
    levels = Counter(
        str((r.input or {}).get("level"))
        for i in report.items
        for r in engine.history(i)
        if r.kind == "escalation" and (r.input or {}).get("outcome") != "skipped"
    )
    assert levels == report.levels
    assert report.levels["reminder"] > 0
    assert report.levels["monthly_review"] > 0
    assert report.ticks == (LAST - FIRST).days + 1
    meetings = [m for month in report.months for m in month.meetings]
    assert sum("每月服務工作例會" in m for m in meetings) == 4
    assert sum("市領導季調度" in m for m in meetings) == 2  # January and April
    decided = Counter(
        r.event
        for i in report.items
        for r in engine.history(i)
        if r.event in ("assign_supervisor", "set_new_deadline", "close_by_decision")
    )
    assert decided == report.decisions


def test_the_same_seed_plays_the_same_year(
    played: tuple[Engine, YearReport], tmp_path: Path
) -> None:
    _, first = played
    _, again = _play(tmp_path)
    assert again.months == first.months
    assert again.levels == first.levels


def test_a_register_without_the_cast_is_refused() -> None:
    register = generate_register(5, 1)
    with pytest.raises(WorkflowError, match="needs enterprises"):
        World.from_register(Register(enterprises=register.enterprises))
