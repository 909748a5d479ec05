"""Review agendas and carry-over (``workflow.schedule.reviews``) on SQLite, PostgreSQL, MariaDB.

Items of two workflows that share the ``monthly`` review climb to it; its
agenda lists them with unit, age, due time, overdue days, level and last
action; holding the meeting carries what it left unresolved to the next
one's agenda, once, and neither decided nor closed items.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.integration.test_scan import (
    LADDER_YAML,
    OFFICE,
    START,
    Scene,
    catalog,
    needs_apply_due,
    scene,
)
from workflow.app import Engine
from workflow.definition.loader import Catalog, load_definition
from workflow.schedule import reviews
from workflow.schedule.scan import Escalator
from workflow.store import timers
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

__all__ = ["scene"]

# Tuesday 10 November 2026, 10:00 in Shanghai: past the monthly level (Monday 17:30).
ESCALATED = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC)
# Friday 20 November, 10:00 in Shanghai.
LATER = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
# The December meeting: 09:00 on 1 December in Shanghai.
MEETING = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


def _escalate(scene: Scene) -> list[int]:
    """Start three items (two workflows), escalate them onto the monthly agenda."""
    ids = [
        scene.start("ladder_all", title="場地需求", unit="u_culture").id,
        scene.start("ladder_high", title="融資對接", unit="u_finance").id,
        scene.start("ladder_all", title="人才公寓", unit="u_culture").id,
    ]
    report = Escalator(scene.engine).tick(ESCALATED)
    assert sorted(a.item_id for a in report.actions if "monthly" in a.fired) == ids
    return ids


@needs_apply_due
def test_the_agenda_lists_unit_age_due_overdue_level_and_last_action(scene: Scene) -> None:
    first, second, third = _escalate(scene)
    scene.clock.set(LATER - dt.timedelta(hours=1))
    scene.engine.fire(third, "decide", OFFICE)
    due = scene.deadline(first).due_at

    rows = reviews.agenda(scene.engine, "monthly", "2026-12", now=LATER)
    assert [r.item_id for r in rows] == [first, second, third]
    row = rows[0]
    assert (row.workflow_id, row.title, row.unit, row.state, row.is_open) == (
        "ladder_all",
        "場地需求",
        "u_culture",
        "handling",
        True,
    )
    # Working days: 3..20 November (14), and after Wednesday 4 November (12).
    assert (row.age_days, row.due_at, row.overdue_days) == (14, due, 12)
    assert (row.level, row.entry_level, row.carried) == ("monthly", "monthly", False)
    assert (row.last_event, row.last_actor, row.last_at) == (
        "@escalate:monthly",
        "engine",
        ESCALATED,
    )
    assert row.resolved_at is None
    # catch_up: highest skipped the reminder; it reached the same level.
    assert (rows[1].workflow_id, rows[1].unit, rows[1].level) == (
        "ladder_high",
        "u_finance",
        "monthly",
    )
    # The meeting's decision resolved the third; it is the last action.
    decided = rows[2]
    assert (decided.last_event, decided.last_actor) == ("decide", "li")
    assert (decided.resolution, decided.resolved_at) == ("decide", LATER - dt.timedelta(hours=1))

    assert reviews.agenda(scene.engine, "monthly", "2026-11", now=LATER) == []


@needs_apply_due
def test_holding_the_meeting_carries_the_unresolved_items_once(scene: Scene) -> None:
    first, second, third = _escalate(scene)
    scene.clock.set(LATER)
    scene.engine.fire(second, "decide", OFFICE)  # decided at the meeting: resolved
    scene.engine.fire(third, "finish", OFFICE)  # closed: nothing left to decide

    held = reviews.close_occurrence(scene.engine, "monthly", MEETING)
    assert (held.discussed, held.carried_to, held.carried) == ("2026-12", "2027-01", 1)
    again = reviews.close_occurrence(scene.engine, "monthly", MEETING + dt.timedelta(hours=2))
    assert (again.discussed, again.carried) == ("2026-12", 0)

    (carried,) = reviews.agenda(scene.engine, "monthly", "2027-01", now=MEETING)
    assert (carried.item_id, carried.carried, carried.entry_level) == (first, True, "monthly")
    # The next meeting carries it on again if still unresolved...
    january = dt.datetime(2027, 1, 1, 1, 0, tzinfo=dt.UTC)
    assert reviews.close_occurrence(scene.engine, "monthly", january).carried == 1
    # ...and not once a decision resolved it.
    scene.clock.set(january + dt.timedelta(hours=1))
    scene.engine.fire(first, "decide", OFFICE)
    february = dt.datetime(2027, 2, 1, 1, 0, tzinfo=dt.UTC)
    assert reviews.close_occurrence(scene.engine, "monthly", february).carried == 0


@needs_apply_due
def test_an_escalation_joins_the_next_meetings_agenda(scene: Scene) -> None:
    _escalate(scene)
    with scene.engine.store.read() as tx:
        entries = timers.load_agenda(tx.connection, tx.t, "monthly", "2026-12")
    assert len(entries) == 3
    review = reviews.review_named(scene.engine, "monthly")
    assert reviews.escalation_period(review, ESCALATED, "Asia/Shanghai") == "2026-12"
    # Just after the December meeting, the next agenda is January's.
    after = MEETING + dt.timedelta(minutes=1)
    assert reviews.upcoming_period(review, after, "Asia/Shanghai") == "2027-01"
    assert reviews.upcoming_period(review, MEETING - dt.timedelta(minutes=1), "Asia/Shanghai") == (
        "2026-12"
    )


def test_a_review_without_carry_over_carries_nothing(backend: Backend, tmp_path: Path) -> None:
    text = LADDER_YAML.format(id="no_carry", catch_up="all").replace(
        "    decisions: decide", "    decisions: decide\n    carry_over: false"
    )
    path = tmp_path / "no_carry.yaml"
    path.write_text(text, encoding="utf-8")
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        engine = Engine.from_engine(
            sa, definitions=Catalog([load_definition(str(path))]), prefix=backend.prefix
        )
        held = reviews.close_occurrence(engine, "monthly", MEETING)
        assert (held.discussed, held.carried_to, held.carried) == ("2026-12", "2027-01", 0)
    finally:
        sa.dispose()


# -- collecting reviews (no database) -------------------------------------------------------


def test_one_review_name_across_workflows_is_one_meeting(tmp_path: Path) -> None:
    found = reviews.collect_reviews(catalog(tmp_path))
    assert list(found) == ["monthly"]
    assert found["monthly"].workflows == ("ladder_all", "ladder_high")
    assert (found["monthly"].period, found["monthly"].cron) == ("month", "0 9 1 * *")


def test_one_review_name_with_two_cadences_is_refused(tmp_path: Path) -> None:
    texts = {
        "a": LADDER_YAML.format(id="a", catch_up="all"),
        "b": LADDER_YAML.format(id="b", catch_up="all").replace('"0 9 1 * *"', '"0 9 5 * *"'),
    }
    definitions = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        definitions.append(load_definition(str(path)))
    with pytest.raises(reviews.ReviewConflict, match=r"'monthly'.*one period and cron line"):
        reviews.collect_reviews(Catalog(definitions))


def test_periods_are_checked_against_the_reviews_kind(tmp_path: Path) -> None:
    review = reviews.collect_reviews(catalog(tmp_path))["monthly"]
    assert reviews.check_period(review, "2026-11") == "2026-11"
    for bad in ("2026-Q4", "2026-13", "2026-1", "november"):
        with pytest.raises(reviews.BadPeriod, match="YYYY-MM"):
            reviews.check_period(review, bad)
    quarterly = dataclasses.replace(
        review, spec=review.spec.model_copy(update={"period": "quarter"})
    )
    assert reviews.check_period(quarterly, "2026-Q4") == "2026-Q4"
    assert reviews.occurrence_periods(quarterly, MEETING, "Asia/Shanghai") == ("2026-Q4", "2027-Q1")


def test_markdown_and_json_renderings(tmp_path: Path) -> None:
    review = reviews.collect_reviews(catalog(tmp_path))["monthly"]
    row = reviews.AgendaRow(
        item_id=7,
        workflow_id="ladder_all",
        title="場地 | 需求",
        unit="u_culture",
        state="handling",
        is_open=True,
        age_days=14,
        due_at=START,
        overdue_days=12,
        level="monthly",
        entry_level="monthly",
        carried=True,
        added_at=START,
        resolved_at=None,
        resolution=None,
        last_event="@escalate:monthly",
        last_actor="engine",
        last_at=START,
    )
    text = reviews.agenda_markdown([row], "Monthly meeting 2026-12")
    lines = text.splitlines()
    assert lines[0] == "# Monthly meeting 2026-12"
    assert lines[2].startswith("| item | workflow | title |")
    assert lines[3].startswith("|---:|---|---|")
    assert "場地 \\| 需求" in lines[4]
    assert "| 2026-11-02 09:00 |" in lines[4]  # in Shanghai time
    assert lines[4].endswith("| yes |")
    assert "_No items on this agenda._" in reviews.agenda_markdown([], "Empty")
    data = reviews.agenda_json(review, "2026-12", [row])
    assert data["review"] == "monthly"
    assert data["items"][0]["due_at"] == START.isoformat()
    assert data["items"][0]["carried"] is True


def test_unknown_reviews_are_named() -> None:
    error = reviews.UnknownReview("weekly", ["monthly", "quarterly"])
    assert "weekly" in str(error)
    assert "monthly, quarterly" in str(error)
    assert error.exit_code == 3
