"""Every report's figures against hand-computed expectations, on SQLite, PostgreSQL, MariaDB.

The history is the fixed one of :mod:`tests.integration.report_history`
(seven items, two districts, two units, driven through the real engine on a
manual clock); each expectation below is worked out by hand from that story,
with the working days of November 2026 (no holidays: Monday to Friday).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event

from tests.backends import Backend
from tests.integration.engine_fixtures import DIRECTORY, shipped_catalog
from tests.integration.report_history import NOW, START, Story, local, make_history
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.reports import BadReportPeriod, Report, ReportError, UnknownReport, build_report
from workflow.reports.model import Section
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine


@dataclass
class History:
    """An engine on one backend holding the fixed history."""

    engine: Engine
    story: Story


@pytest.fixture
def history(backend: Backend) -> Iterator[History]:
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        clock = ManualClock(START)
        engine = Engine.from_engine(
            sa,
            definitions=shipped_catalog(),
            directory=DIRECTORY,
            clock=clock,
            prefix=backend.prefix,
        )
        yield History(engine, make_history(engine, clock))
    finally:
        sa.dispose()


def rows(section: Section) -> list[dict[str, Any]]:
    """The section's rows as dicts keyed by column."""
    keys = [c.key for c in section.columns]
    return [dict(zip(keys, row, strict=True)) for row in section.rows]


def by_group(report: Report) -> dict[str, dict[str, Any]]:
    return {row["group"]: row for row in rows(report.sections[0])}


def _circular_by_district(engine: Engine) -> None:
    report = build_report(engine, "circular", "2026-11", by="district", lang="en")
    assert report.as_of == local(12, 1, 0)  # the period is over: its end
    found = by_group(report)
    assert list(found) == ["d_jianghan", "d_wuchang", "Total"]
    jianghan, wuchang, total = found["d_jianghan"], found["d_wuchang"], found["Total"]
    # Jianghan: B and C raised and closed, both within the unit's limits; first sign-fors
    # after 1 (B: 2->3 Nov) and 3 working days (C: 2->5 Nov); closures after 5 (B: 2->9 Nov)
    # and 11 (C: 2->17 Nov); C was reopened once; revisits: B satisfied, C unsatisfied,
    # C basically satisfied.
    assert jianghan == {
        "rank": 1,
        "group": "d_jianghan",
        "received": 2,
        "closed": 2,
        "closed_on_time": 2,
        "on_time_rate": 1.0,
        "sign_for_median": 2.0,
        "sign_for_p90": 3,
        "closure_median": 8.0,
        "closure_p90": 11,
        "reopen_rate": 0.5,
        "satisfaction_rate": pytest.approx(2 / 3),
        "overdue_reminder": 0,
        "overdue_monthly_review": 0,
        "overdue_quarterly_dispatch": 0,
        # October: A on time and G late (1 of 2), rank 1 of 1; one item raised (A).
        "rank_change": 0,
        "received_change": 1,
        "closed_change": 0,
        "on_time_rate_change": 50.0,
    }
    # Wuchang: D, E, F raised; E closed late after 18 working days (4 -> 30 Nov); sign-fors
    # after 1 (D), 2 (E) and 1 (F); E satisfied; D and E reminded, D onto the monthly review.
    assert wuchang == {
        "rank": 2,
        "group": "d_wuchang",
        "received": 3,
        "closed": 1,
        "closed_on_time": 0,
        "on_time_rate": 0.0,
        "sign_for_median": 1.0,
        "sign_for_p90": 2,
        "closure_median": 18.0,
        "closure_p90": 18,
        "reopen_rate": 0.0,
        "satisfaction_rate": 1.0,
        "overdue_reminder": 2,
        "overdue_monthly_review": 1,
        "overdue_quarterly_dispatch": 0,
        "rank_change": None,  # nothing happened there in October
        "received_change": 3,
        "closed_change": 1,
        "on_time_rate_change": None,
    }
    # Everyone: sign-fors [1, 1, 1, 2, 3] (p90: the 5th), closures [5, 11, 18].
    assert (total["rank"], total["received"], total["closed"], total["closed_on_time"]) == (
        None,
        5,
        3,
        2,
    )
    assert total["on_time_rate"] == pytest.approx(2 / 3)
    assert (total["sign_for_median"], total["sign_for_p90"]) == (1.0, 3)
    assert (total["closure_median"], total["closure_p90"]) == (11.0, 18)
    assert total["reopen_rate"] == pytest.approx(1 / 3)
    assert total["satisfaction_rate"] == 0.75
    assert (
        total["overdue_reminder"],
        total["overdue_monthly_review"],
        total["overdue_quarterly_dispatch"],
    ) == (2, 1, 0)
    assert (total["received_change"], total["closed_change"]) == (4, 1)
    assert total["on_time_rate_change"] == 16.7


def _circular_by_unit(engine: Engine) -> None:
    found = by_group(build_report(engine, "circular", "2026-11", by="unit", lang="en"))
    culture, finance = found["u_culture"], found["u_finance"]
    # Culture: B, C, F raised; B and C closed on time; in October A (on time): rank 1 then too.
    assert (culture["rank"], culture["received"], culture["closed"]) == (1, 3, 2)
    assert (culture["sign_for_median"], culture["sign_for_p90"]) == (1.0, 3)  # [1, 3, 1]
    assert (culture["rank_change"], culture["closed_change"]) == (0, 1)
    # Finance: D, E raised; E closed late; in October G (late): rank 2 then too.
    assert (finance["rank"], finance["received"], finance["closed"]) == (2, 2, 1)
    assert (finance["on_time_rate"], finance["sign_for_median"]) == (0.0, 1.5)  # [1, 2]
    assert (finance["rank_change"], finance["closed_change"], finance["on_time_rate_change"]) == (
        0,
        0,
        0.0,
    )


def _problem_list(engine: Engine, story: Story) -> None:
    report = build_report(engine, "problem-list", "2026-11", lang="en")
    items = rows(report.section("items"))
    # Open at the end of November: F (culture) and D (finance), by unit.
    assert [(r["group"], r["item"]) for r in items] == [
        ("u_culture", story.f),
        ("u_finance", story.d),
    ]
    f, d = items
    # F: raised Fri 20 Nov, 6 working days to Mon 30 Nov; due 15 working days after its
    # sign-for on 23 Nov (14 Dec 17:30); never escalated; last step its sign-for.
    assert (f["received"], f["age"], f["due"], f["overdue"]) == (
        dt.date(2026, 11, 20),
        6,
        local(12, 14, 17, 30),
        0,
    )
    assert (f["level"], f["last_action"], f["last_at"]) == ("—", "Sign for", local(11, 23))
    assert (f["title"], f["district"], f["state"]) == ("Publicity slot", "d_wuchang", "Handling")
    # D: raised Tue 3 Nov, 19 working days; due 25 Nov 17:30 (15 after 4 Nov): 3 days late
    # (26, 27, 30 Nov); the monthly review level fired at the tick of 30 Nov 20:00.
    assert (d["age"], d["due"], d["overdue"]) == (19, local(11, 25, 17, 30), 3)
    assert d["level"] == "Onto the monthly review"
    assert (d["last_action"], d["last_at"]) == (
        "Escalated: Onto the monthly review",
        local(11, 30, 20),
    )
    assert rows(report.section("summary")) == [
        {"group": "u_culture", "open": 1, "overdue": 0},
        {"group": "u_finance", "open": 1, "overdue": 1},
    ]
    # In the middle of November, E was open too (and C, reopened, and B not yet closed).
    mid = build_report(engine, "problem-list", "2026-11", now=local(11, 6, 12), lang="en")
    assert [r["item"] for r in rows(mid.section("items"))] == [
        story.b,
        story.c,
        story.d,
        story.e,
    ]


def _dispatch_sheet(engine: Engine, story: Story) -> None:
    report = build_report(engine, "dispatch-sheet", "2026-Q4", lang="en")
    # G reached the quarterly dispatch on 21 Aug: the agenda of the 1 Oct meeting (2026-Q4).
    (entry,) = rows(report.section("items"))
    assert entry == {
        "item": story.g,
        "title": "Studio lease subsidy",
        "enterprise": "e_pixel",
        "district": "d_jianghan",
        "unit": "u_finance",
        "state": "Closed and struck off",
        "agenda": "2026-Q4",
        "level": "Onto the quarterly dispatch by city leaders",
        "added_at": local(8, 21),
        "reason": "escalated",
        "decisions": "Set a new deadline by decision (Leaders: 10 more days)",
        "resolved_at": local(10, 13),
    }
    steps = [(r["event"], r["actor"]) for r in rows(report.section("history"))]
    assert steps[:3] == [("Raised", "zhao"), ("Accept and dispatch", "li"), ("Sign for", "qian")]
    assert steps[3:7] == [
        (f"Escalated: {level}", "engine")
        for level in (
            "Due-soon warning",
            "Overdue reminder (催辦)",
            "Onto the monthly review",
            "Onto the quarterly dispatch by city leaders",
        )
    ]
    assert steps[7] == ("Set a new deadline by decision", "wu")
    assert steps[-1] == ("Strike off the list", "li")
    # The half-year and the year cover the same agenda; the third quarter's is empty.
    assert rows(build_report(engine, "dispatch-sheet", "2026-H2").section("items"))[0]["item"] == (
        story.g
    )
    assert build_report(engine, "dispatch-sheet", "2026-Q3").section("items").rows == ()
    # Before the decision, the sheet made then shows none.
    early = build_report(engine, "dispatch-sheet", "2026-Q4", now=local(10, 9), lang="en")
    (undecided,) = rows(early.section("items"))
    assert (undecided["decisions"], undecided["resolved_at"], undecided["state"]) == (
        None,
        None,
        "Handling",
    )


def _assessment(engine: Engine) -> None:
    report = build_report(engine, "assessment", "2026", lang="en")
    units = {r["group"]: r for r in rows(report.section("units"))}
    # Culture: A, B, C closed on time (1.0); revisits A, B satisfied, C unsatisfied then
    # basically satisfied (0.75); C reopened (1 of 3); first sign-fors after 1, 1, 3, 1
    # working days (3 of 4 within one).
    culture = units["u_culture"]
    assert (culture["rank"], culture["received"], culture["closed"]) == (1, 4, 3)
    assert (culture["on_time_rate"], culture["satisfaction_rate"]) == (1.0, 0.75)
    assert culture["reopen_rate"] == pytest.approx(1 / 3)
    assert culture["prompt_sign_for_rate"] == 0.75
    assert culture["score"] == pytest.approx(
        100 * (0.4 + 0.3 * 0.75 + 0.15 * 2 / 3 + 0.15 * 0.75), abs=0.051
    )
    # Finance: G and E closed late (0.0); both satisfied (1.0); no reopen; sign-fors after
    # 1 (G), 1 (D), 2 (E): 2 of 3 prompt. 100 x (0.3 + 0.15 + 0.15 x 2/3) = 55.0.
    finance = units["u_finance"]
    assert (finance["rank"], finance["on_time_rate"], finance["satisfaction_rate"]) == (2, 0.0, 1.0)
    assert (finance["reopen_rate"], finance["score"]) == (0.0, 55.0)
    districts = {r["group"]: r for r in rows(report.section("districts"))}
    # Jianghan: G, A, B, C: 3 of 4 on time, 4 of 5 revisits satisfied, 1 of 4 reopened,
    # 3 of 4 prompt: 100 x (0.4 x 0.75 + 0.3 x 0.8 + 0.15 x 0.75 + 0.15 x 0.75) = 76.5.
    assert (districts["d_jianghan"]["rank"], districts["d_jianghan"]["score"]) == (1, 76.5)
    assert (districts["d_wuchang"]["rank"], districts["d_wuchang"]["score"]) == (2, 55.0)


def test_every_report_matches_the_hand_computed_history(history: History) -> None:
    engine, story = history.engine, history.story
    _circular_by_district(engine)
    _circular_by_unit(engine)
    _problem_list(engine, story)
    _dispatch_sheet(engine, story)
    _assessment(engine)


def test_a_past_period_does_not_change_as_later_events_happen(history: History) -> None:
    engine = history.engine
    october = build_report(engine, "circular", "2026-10", lang="en")
    later = build_report(engine, "circular", "2026-10", now=NOW + dt.timedelta(days=400))
    assert october.sections == later.sections
    # October: A and G closed in Jianghan, one on time.
    (jianghan, total) = rows(october.sections[0])
    assert (jianghan["group"], jianghan["closed"], jianghan["on_time_rate"]) == (
        "d_jianghan",
        2,
        0.5,
    )
    assert total["group"] == "Total"


def test_a_report_asked_wrongly_says_what_to_give(history: History) -> None:
    engine = history.engine
    with pytest.raises(UnknownReport, match="known: problem-list"):
        build_report(engine, "ranking", "2026-11")
    with pytest.raises(BadReportPeriod, match="2026-Q3"):
        build_report(engine, "circular", "2026-13")
    with pytest.raises(BadReportPeriod, match="quarter"):
        build_report(engine, "dispatch-sheet", "2026-11")
    with pytest.raises(ReportError, match="district, unit, sector"):
        build_report(engine, "circular", "2026-11", by="category")
    with pytest.raises(ReportError, match="no report rules"):
        build_report(engine, "circular", "2026-11", workflow_id="whistle_summons")


def test_queries_are_one_per_table_whatever_the_number_of_items(history: History) -> None:
    engine = history.engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    target = engine.store.engine
    event.listen(target, "before_cursor_execute", count)
    try:
        build_report(engine, "circular", "2026-11")
        circular = len(statements)
        statements.clear()
        build_report(engine, "dispatch-sheet", "2026-Q4")
        dispatch = len(statements)
        statements.clear()
        build_report(engine, "problem-list", "2026-11")
        problems = len(statements)
    finally:
        event.remove(target, "before_cursor_execute", count)
    # items, history, deadlines, escalations (+ agenda entries for the dispatch sheet)
    assert (circular, dispatch, problems) == (4, 5, 4)
