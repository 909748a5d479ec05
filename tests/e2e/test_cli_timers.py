"""The timer commands through the command line: `workflow tick` and `workflow review`.

Items of the shipped workflow are set up in-process on a manual clock (signed
for on Monday 2 November 2026: 15 working days, due Monday 23 November); the
commands then judge them at an explicit ``--now``, so nothing waits for a
timer. ``workflow daemon`` is run (and stopped by signals) in
tests/unit/test_daemon.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_cli_items import (
    CULTURE,
    OFFICE,
    PIXEL,
    SAMPLE_DIRECTORY,
    VENUE,
    assert_one_line_error,
    ok,
    ok_json,
    run,
    run_all,
)
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.directory.static import StaticDirectory
from workflow.schedule import reviews
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine


@dataclass
class Db:
    """A migrated SQLite file with two items in handling, and an in-process engine."""

    url: str
    engine: Engine
    items: tuple[int, int]

    def cli(self, *args: str) -> tuple[str, ...]:
        return ("--db", self.url, *args)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    path: Path = tmp_path_factory.mktemp("timers") / "workflow.db"
    url = f"sqlite:///{path}"
    bind = create_database_engine(url)
    upgrade(bind)
    engine = Engine.from_engine(
        bind, directory=StaticDirectory.from_file(str(SAMPLE_DIRECTORY)), clock=ManualClock()
    )
    ids = []
    for title in ("Venue for an esports final", "场地: 动作捕捉"):
        item = engine.start("enterprise_issue", PIXEL, {**VENUE, "title": title})
        engine.fire(item.id, "accept", OFFICE, {"lead_unit": "u_culture"})
        engine.fire(item.id, "sign_for", CULTURE)
        ids.append(item.id)
    try:
        yield Db(url, engine, (ids[0], ids[1]))
    finally:
        engine.dispose()


# Friday 27 November 2026, 10:00 in Shanghai: past the warning (20th), the due time
# (23rd, 17:30) and the monthly review level (3 working days later, the 26th).
LATE = "2026-11-27T10:00"


def test_tick_escalates_once_and_the_agenda_shows_it(db: Db) -> None:
    first = ok_json(run(*db.cli("tick", "--now", LATE, "--json")))
    assert first["claimed"] == 2
    assert first["fired"] == 6
    assert first["now"] == "2026-11-27T02:00:00+00:00"
    assert [(a["item_id"], a["fired"], a["scope"]) for a in first["actions"]] == [
        (item_id, ["warning", "reminder", "monthly_review"], "processing") for item_id in db.items
    ]

    again = run(*db.cli("tick", "--now", LATE))
    assert ok(again) == ""
    assert "0 due, 0 level(s) fired" in again.stderr

    as_json, markdown, as_table = run_all(
        [
            db.cli("review", "agenda", "monthly", "--period", "2026-12", "--json"),
            db.cli("review", "agenda", "monthly", "--period", "2026-12", "--format", "markdown"),
            db.cli("review", "agenda", "monthly", "--period", "2026-12"),
        ]
    )
    agenda = ok_json(as_json)
    assert (agenda["review"], agenda["period"]) == ("monthly", "2026-12")
    assert agenda["label"]["zh"] == "每月服務工作例會"
    rows = agenda["items"]
    assert [r["item_id"] for r in rows] == list(db.items)
    assert {(r["unit"], r["level"], r["state"], r["carried"]) for r in rows} == {
        ("u_culture", "monthly_review", "handling", False)
    }
    assert rows[1]["title"] == "场地: 动作捕捉"
    assert rows[0]["last_event"] == "@escalate:monthly_review"
    assert rows[0]["due_at"] == "2026-11-23T09:30:00+00:00"

    text = ok(markdown)
    assert text.startswith("# Monthly service meeting (每月服務工作例會) 2026-12\n")
    assert "| item | workflow | title | unit |" in text
    assert "| u_culture | handling |" in text

    table = ok(as_table)
    assert "Monthly service meeting" in table.splitlines()[0]
    assert "monthly_review" in table
    assert "2026-11-24 01:30" not in table  # times are shown in Shanghai time
    assert "2026-11-23 17:30" in table
    assert "2 item(s), 0 carried over" in as_table.stderr


def test_holding_a_meeting_by_hand_carries_the_unresolved(db: Db) -> None:
    ok(run(*db.cli("tick", "--now", LATE)))
    held = ok_json(run(*db.cli("review", "close", "monthly", "--at", "2026-12-01T09:00", "--json")))
    assert (held["discussed"], held["carried_to"], held["carried"]) == ("2026-12", "2027-01", 2)
    again = ok(run(*db.cli("review", "close", "monthly", "--at", "2026-12-01T09:00")))
    assert again.strip() == (
        "monthly at 2026-12-01 09:00: 2026-12 closed, 0 item(s) carried to 2027-01"
    )
    carried = ok_json(
        run(*db.cli("review", "agenda", "monthly", "--period", "2027-01", "--format", "json"))
    )
    assert [(r["item_id"], r["carried"]) for r in carried["items"]] == [
        (item_id, True) for item_id in db.items
    ]


def test_the_default_agenda_is_the_next_meetings(db: Db) -> None:
    review = reviews.review_named(db.engine, "monthly")
    expected = reviews.upcoming_period(review, dt.datetime.now(dt.UTC), "Asia/Shanghai")
    shown = ok_json(run(*db.cli("review", "agenda", "monthly", "--json")))
    assert shown["period"] == expected


def test_mistakes_are_one_line_errors(db: Db) -> None:
    unknown, bad_period, bad_now, bad_at = run_all(
        [
            db.cli("review", "agenda", "weekly"),
            db.cli("review", "agenda", "monthly", "--period", "2026-Q4"),
            db.cli("tick", "--now", "yesterday"),
            db.cli("review", "close", "quarterly", "--at", "1 Dec"),
        ]
    )
    assert_one_line_error(unknown, 3, "no review named 'weekly'", "monthly, quarterly")
    assert_one_line_error(bad_period, 2, "meets every month", "2026-11")
    assert_one_line_error(bad_now, 2, "--now", "not an ISO 8601 time")
    assert_one_line_error(bad_at, 2, "--at", "not an ISO 8601 time")
