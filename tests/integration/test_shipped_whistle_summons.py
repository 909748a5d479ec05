"""The shipped ``whistle_summons`` workflow (吹哨報到), walked on the real engine.

The tour reaches every state and fires every event on every backend; the
other tests (SQLite) prove who may act, the guards, the per-unit hour clocks
of the report-in branches and their ladder, the working-day ladder of the
other steps, and the notification intents.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.shipped_walks import ON_SQLITE, Intent, Walk, person, utc, walk
from workflow.errors import EventNotAllowed, GuardFailed, NotAuthorized

__all__ = ["walk"]

WORKFLOW = "whistle_summons"

DISTRICT = person("district.he", "district_office")  # acts for d_jianghan
OTHER_DISTRICT = person("district.tang", "district_office")  # d_wuchang
COMMISSIONER = person("comm.sun", "commissioner")  # assigned to e_pixel
OTHER_COMMISSIONER = person("comm.guo", "commissioner")
OFFICE = person("office.li", "office")
LEADER = person("leader.wu", "leader")
ENTERPRISE = person("ent.zhao", "enterprise")
CULTURE = person("unit.chen", "called_unit")
FINANCE = person("unit.qian", "called_unit")
HR = person("unit.zhou", "called_unit")
CYBER = person("unit.bai", "called_unit")  # never called below

DATA: dict[str, Any] = {
    "enterprise": "e_pixel",
    "district": "d_jianghan",
    "sector": "animation_games",
    "title": "園區用電增容",
    "description": "The studio's new render farm needs a larger power connection this month.",
}


def _report(measures: str = "We send an engineer to the site today.") -> dict[str, Any]:
    return {"verdict": "agree", "measures": measures, "contact_person": "王工"}


def _whistle(walk: Walk, units: list[str]) -> Any:
    item = walk.start(WORKFLOW, DISTRICT, DATA)
    return walk.fire(item, "blow_whistle", DISTRICT, {"called_units": units})


def test_tour_reaches_every_state_and_fires_every_event(walk: Walk) -> None:
    definition = walk.engine.catalog.get(WORKFLOW)
    # A: raised by the commissioner, called, reported in, resolved and closed.
    a = walk.start(WORKFLOW, COMMISSIONER, DATA)
    assert a.state == "preparing"
    a = walk.fire(a, "amend", DISTRICT, {"description": "Power connection for 2 MW."})
    a = walk.fire(
        a,
        "blow_whistle",
        DISTRICT,
        {"called_units": ["u_culture", "u_finance"], "meeting_place": "江漢區政務中心"},
    )
    assert (a.state, a.data["called_units"]) == ("reporting", ["u_culture", "u_finance"])
    a = walk.fire(a, "call_more", OFFICE, {"unit": "u_hr"})
    assert sorted(b.unit for b in walk.engine.branches(a.id)) == ["u_culture", "u_finance", "u_hr"]
    a = walk.fire(a, "report_in", CULTURE, _report())
    a = walk.fire(a, "report_in", FINANCE, _report("We check the subsidy for the grid fee."))
    assert a.state == "reporting"
    a = walk.fire(a, "report_in", HR, _report("Nothing for us; we stand by."))
    assert a.state == "resolving"  # every called unit has reported in
    a = walk.fire(a, "extend_resolution", OFFICE, {"days": 2}, reason="Grid works next week.")
    a = walk.fire(
        a,
        "close_summons",
        DISTRICT,
        {"result": "The grid company connects 2 MW on the 12th.", "outcome": "solved"},
    )
    assert (a.state, a.is_open, a.data["outcome"]) == ("closed", False, "solved")
    # B: raised by the district, called off.
    b = walk.start(WORKFLOW, DISTRICT, DATA)
    b = walk.fire(b, "cancel", DISTRICT, reason="The enterprise solved it with the grid company.")
    assert (b.state, b.is_open) == ("cancelled", False)
    # C: raised by the office, closed by a meeting's decision.
    c = walk.start(WORKFLOW, OFFICE, DATA)
    c = walk.fire(c, "close_by_decision", LEADER, reason="Settled at the monthly meeting.")
    assert c.state == "closed"

    reached = {s for item in (a, b, c) for s in walk.states(item.id)}
    assert reached == set(definition.leaves())
    fired = walk.fired(a.id) | walk.fired(b.id) | walk.fired(c.id)
    assert fired == {e.name for e in definition.spec.events} | {"report_in"}


@ON_SQLITE
def test_who_may_start_and_act(walk: Walk) -> None:
    # Another district's officials cannot summon for Jianghan's enterprise; nor can the
    # enterprise itself, or a commissioner not assigned to it.
    for who in (OTHER_DISTRICT, ENTERPRISE, OTHER_COMMISSIONER):
        with pytest.raises(NotAuthorized) as caught:
            walk.start(WORKFLOW, who, DATA)
        assert caught.value.event == "start"
    item = walk.start(WORKFLOW, COMMISSIONER, DATA)
    # Only the summoning district blows the whistle.
    for who in (COMMISSIONER, OTHER_DISTRICT, OFFICE):
        walk.refused(
            item,
            NotAuthorized,
            lambda w=who: walk.engine.fire(
                item.id, "blow_whistle", w, {"called_units": ["u_culture"]}
            ),
        )
    item = walk.fire(item, "blow_whistle", DISTRICT, {"called_units": ["u_culture", "u_finance"]})
    # A department that was not called cannot report in; a called one only once.
    walk.refused(
        item, NotAuthorized, lambda: walk.engine.fire(item.id, "report_in", CYBER, _report())
    )
    item = walk.fire(item, "report_in", CULTURE, _report())
    error = walk.refused(
        item, NotAuthorized, lambda: walk.engine.fire(item.id, "report_in", CULTURE, _report())
    )
    assert error.reason == "its unit's branch has already answered"
    # Closing is for the resolving step only.
    walk.refused(
        item,
        EventNotAllowed,
        lambda: walk.engine.fire(
            item.id, "close_summons", DISTRICT, {"result": "x" * 12, "outcome": "solved"}
        ),
    )


@ON_SQLITE
def test_guards_say_what_to_fix(walk: Walk) -> None:
    item = _whistle(walk, ["u_culture"])
    error = walk.refused(
        item,
        GuardFailed,
        lambda: walk.engine.fire(item.id, "call_more", DISTRICT, {"unit": "u_culture"}),
    )
    assert error.guard_message == "That department has already been called."
    item = walk.fire(item, "report_in", CULTURE, _report())
    assert item.state == "resolving"
    referred = {"result": "Handed to the problem list.", "outcome": "referred"}
    error = walk.refused(
        item,
        GuardFailed,
        lambda: walk.engine.fire(item.id, "close_summons", DISTRICT, referred),
    )
    assert error.guard_message_zh == "轉入問題清單辦理的,須填寫問題編號"
    item = walk.fire(item, "close_summons", DISTRICT, {**referred, "issue_ref": "EI-2026-0042"})
    assert (item.state, item.data["issue_ref"]) == ("closed", "EI-2026-0042")


@ON_SQLITE
def test_when_no_called_department_takes_it_on_the_district_calls_others(walk: Walk) -> None:
    item = _whistle(walk, ["u_culture", "u_hr"])
    not_ours = {**_report("Not our remit: power supply."), "verdict": "disagree"}
    item = walk.fire(item, "report_in", CULTURE, not_ours)
    item = walk.fire(item, "report_in", HR, not_ours)
    assert item.state == "preparing"
    (clock,) = walk.running(item.id)
    assert clock.scope == "preparing"  # a fresh working-day clock to call others
    item = walk.fire(item, "blow_whistle", DISTRICT, {"called_units": ["u_finance"]})
    latest = max(b.opened_seq for b in walk.engine.branches(item.id))
    assert [b.unit for b in walk.engine.branches(item.id) if b.opened_seq == latest] == [
        "u_finance"
    ]
    # One agreeing department among others is enough to go on together.
    item = walk.fire(item, "report_in", FINANCE, _report())
    assert item.state == "resolving"


@ON_SQLITE
def test_each_called_unit_has_four_hours_and_silence_climbs_the_branch_ladder(
    walk: Walk,
) -> None:
    walk.clock.set(utc(2, 2))  # Monday 10:00 in Shanghai
    item = _whistle(walk, ["u_culture", "u_finance"])
    clocks = walk.running(item.id)
    assert sorted((d.scope, d.unit, d.amount) for d in clocks) == [
        ("reporting", "hours", 4),
        ("reporting", "hours", 4),
    ]
    assert {d.due_at for d in clocks} == {utc(2, 6)}  # 14:00, round the clock
    assert all(d.branch_id is not None for d in clocks)
    # Culture reports in at 11:00: its clock ends, met.
    walk.clock.set(utc(2, 3))
    item = walk.fire(item, "report_in", CULTURE, _report())
    (finance_clock,) = walk.running(item.id)
    finance_branch = next(b for b in walk.engine.branches(item.id) if b.unit == "u_finance")
    assert finance_clock.branch_id == finance_branch.id

    assert walk.tick(utc(2, 5, 59)).claimed == 0
    report = walk.tick(utc(2, 6))
    assert [(a.item_id, a.fired) for a in report.actions] == [(item.id, ("reminder",))]
    assert walk.engine.get(item.id).data["escalation_level"] == "reminder"
    reminder = [i for i in walk.intents(item.id) if i.kind == "escalation"]
    assert reminder == [
        Intent(reminder[0].seq, "district_office", "escalation", False, "escalation"),
        Intent(reminder[0].seq, "office", "escalation", False, "escalation"),
    ]
    # Four hours after the due time: the task-force leaders.
    assert walk.tick(utc(2, 9, 59)).claimed == 0
    assert [a.fired for a in walk.tick(utc(2, 10)).actions] == [("task_force",)]
    # Two working days after the due time (Wednesday 17:30): the monthly meeting.
    assert walk.tick(utc(4, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(4, 9, 30)).actions] == [("monthly_review",)]
    agenda = walk.intents_at(walk.engine.get(item.id))
    assert [(i.role, i.template) for i in agenda] == [
        ("office", "escalation"),
        ("district_office", "review_agenda"),
    ]
    assert walk.tick(utc(20, 0)).claimed == 0  # each level once
    assert walk.escalations(item.id) == [
        ("reminder", "fired"),
        ("task_force", "fired"),
        ("monthly_review", "fired"),
    ]
    stored = walk.engine.get(item.id)
    assert (stored.state, stored.data["escalation_level"]) == ("reporting", "monthly_review")
    # Silence is not consent: the branch is still open, and finance may still report in.
    assert {b.unit: b.status for b in walk.engine.branches(item.id)} == {
        "u_culture": "answered",
        "u_finance": "open",
    }
    item = walk.fire(stored, "report_in", FINANCE, _report())
    assert item.state == "resolving"


@ON_SQLITE
def test_the_working_day_steps_climb_the_workflow_ladder(walk: Walk) -> None:
    item = walk.start(WORKFLOW, DISTRICT, DATA)  # Monday 09:00
    (clock,) = walk.running(item.id)
    assert (clock.scope, clock.due_at) == ("preparing", utc(3, 9, 30))  # Tuesday 17:30
    # One working day before: Monday 17:30.
    assert walk.tick(utc(2, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(2, 9, 30)).actions] == [("warning",)]
    assert [(i.role, i.template) for i in walk.intents(item.id)] == [
        ("district_office", "escalation")
    ]
    assert [a.fired for a in walk.tick(utc(3, 9, 30)).actions] == [("reminder",)]
    # Three working days after Tuesday 17:30: Friday 17:30, onto the monthly meeting.
    assert walk.tick(utc(6, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(6, 9, 30)).actions] == [("monthly_review",)]
    assert walk.engine.get(item.id).data["escalation_level"] == "monthly_review"
    assert [e for e in walk.events(item.id) if e.startswith("@")] == [
        "@escalate:warning",
        "@escalate:reminder",
        "@escalate:monthly_review",
    ]


@ON_SQLITE
def test_notifications_go_to_the_called_units_and_the_enterprise(walk: Walk) -> None:
    item = walk.start(WORKFLOW, DISTRICT, DATA)
    assert walk.intents(item.id) == []  # raising it disturbs no one
    item = walk.fire(item, "blow_whistle", DISTRICT, {"called_units": ["u_culture"]})
    assert [(i.role, i.template, i.urgent) for i in walk.intents_at(item)] == [
        ("called_unit", "event", False),
        ("commissioner", "event", False),
    ]
    item = walk.fire(item, "report_in", CULTURE, _report())
    assert walk.intents_at(item) == []
    item = walk.fire(
        item, "close_summons", DISTRICT, {"result": "Connected on the 12th.", "outcome": "solved"}
    )
    assert [i.role for i in walk.intents_at(item)] == ["enterprise", "commissioner", "office"]
