"""The shipped ``policy_application`` workflow (政策申報), walked on the real engine.

The tour reaches every state and fires every event on every backend; the
other tests (SQLite) prove who may act, the guards, the working-day clocks
of preparation and review with their ladders, and the notification intents.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.integration.shipped_walks import ON_SQLITE, Walk, person, utc, walk
from workflow.errors import GuardFailed, NotAuthorized

__all__ = ["walk"]

WORKFLOW = "policy_application"

ENTERPRISE = person("ent.zhao", "enterprise")  # e_pixel
OTHER_ENTERPRISE = person("ent.qin", "enterprise")  # e_inkmotion
COMMISSIONER = person("comm.sun", "commissioner")  # assigned to e_pixel
OTHER_COMMISSIONER = person("comm.guo", "commissioner")
OFFICE = person("office.li", "office")
LEADER = person("leader.wu", "leader")
FINANCE = person("unit.qian", "authority")  # acts for u_finance
CULTURE = person("unit.chen", "authority")  # acts for u_culture

DATA: dict[str, Any] = {
    "enterprise": "e_pixel",
    "district": "d_jianghan",
    "sector": "animation_games",
    "title": "原創動漫扶持資金申報",
    "policy": "數字創意產業發展專項資金",
    "requested_amount": 50,
}
FILING = {"authority_unit": "u_finance", "application_no": "SZCY-2026-0117"}
MATERIALS = {"materials": "Business licence, audited accounts, project plan."}


def _filed(walk: Walk) -> Any:
    item = walk.start(WORKFLOW, ENTERPRISE, DATA)
    item = walk.fire(item, "update_materials", COMMISSIONER, MATERIALS)
    return walk.fire(item, "file", COMMISSIONER, FILING)


def test_tour_reaches_every_state_and_fires_every_event(walk: Walk) -> None:
    definition = walk.engine.catalog.get(WORKFLOW)
    # A: prepared with help, extended, filed, returned, supplemented, approved.
    a = walk.start(WORKFLOW, ENTERPRISE, DATA)
    assert a.state == "preparing"
    a = walk.fire(a, "update_materials", COMMISSIONER, MATERIALS)
    a = walk.fire(a, "extend_preparation", OFFICE, {"days": 5}, reason="The audit is late.")
    a = walk.fire(a, "file", COMMISSIONER, FILING)
    assert (a.state, a.data["authority_unit"]) == ("under_review", "u_finance")
    a = walk.fire(
        a, "return_for_supplements", FINANCE, {"supplement_request": "Add the 2025 tax record."}
    )
    assert a.state == "supplementing"
    a = walk.fire(a, "update_materials", ENTERPRISE, {"materials": "…and the 2025 tax record."})
    a = walk.fire(a, "resubmit", ENTERPRISE)
    assert (a.state, a.data["supplement_count"]) == ("under_review", 1)
    a = walk.fire(a, "set_new_deadline", LEADER, {"days": 10}, reason="Budget round in December.")
    a = walk.fire(
        a, "approve", FINANCE, {"granted_amount": 40, "note": "Within this year's quota."}
    )
    assert (a.state, a.is_open) == ("approved", False)
    assert (a.data["decision"], a.data["granted_amount"]) == ("approved", 40)
    # B: filed and rejected.
    b = _filed(walk)
    b = walk.fire(b, "reject", FINANCE, reason="The project started before the programme.")
    assert (b.state, b.data["decision"]) == ("rejected", "rejected")
    # C: given up.
    c = walk.start(WORKFLOW, COMMISSIONER, DATA)
    c = walk.fire(c, "withdraw", ENTERPRISE, reason="We apply next year.")
    assert c.state == "withdrawn"

    reached = {s for item in (a, b, c) for s in walk.states(item.id)}
    assert reached == set(definition.leaves())
    fired = walk.fired(a.id) | walk.fired(b.id) | walk.fired(c.id)
    assert fired == {e.name for e in definition.spec.events}


@ON_SQLITE
def test_who_may_start_and_act(walk: Walk) -> None:
    for who in (OTHER_ENTERPRISE, OTHER_COMMISSIONER, OFFICE):
        with pytest.raises(NotAuthorized) as caught:
            walk.start(WORKFLOW, who, DATA)
        assert caught.value.event == "start"
    item = walk.start(WORKFLOW, COMMISSIONER, DATA)
    walk.refused(
        item,
        NotAuthorized,
        lambda: walk.engine.fire(item.id, "update_materials", OTHER_ENTERPRISE, MATERIALS),
    )
    walk.refused(
        item,
        NotAuthorized,
        lambda: walk.engine.fire(
            item.id, "extend_preparation", COMMISSIONER, {"days": 3}, reason="Late."
        ),
    )
    item = walk.fire(item, "update_materials", ENTERPRISE, MATERIALS)
    item = walk.fire(item, "file", ENTERPRISE, FILING)
    # Only the deciding department decides; not another department, not the commissioner.
    for who in (CULTURE, person("comm.sun", "authority"), person("comm.sun", "commissioner")):
        walk.refused(
            item,
            NotAuthorized,
            lambda w=who: walk.engine.fire(item.id, "approve", w, {"granted_amount": 10}),
        )


@ON_SQLITE
def test_guards_say_what_to_fix(walk: Walk) -> None:
    item = walk.start(WORKFLOW, ENTERPRISE, DATA)
    error = walk.refused(
        item, GuardFailed, lambda: walk.engine.fire(item.id, "file", COMMISSIONER, FILING)
    )
    assert error.guard_message == "Record the application materials before filing."
    item = walk.fire(item, "update_materials", COMMISSIONER, MATERIALS)
    item = walk.fire(item, "file", COMMISSIONER, FILING)
    error = walk.refused(
        item,
        GuardFailed,
        lambda: walk.engine.fire(item.id, "approve", FINANCE, {"granted_amount": 50.5}),
    )
    assert error.guard_message_zh == "支持金額不能超過申請金額"
    item = walk.fire(item, "approve", FINANCE, {"granted_amount": 50})
    assert item.state == "approved"


@ON_SQLITE
def test_preparation_has_ten_working_days_with_a_warning_two_before(walk: Walk) -> None:
    item = walk.start(WORKFLOW, ENTERPRISE, DATA)  # Monday 2 November, 09:00
    (clock,) = walk.running(item.id)
    # Ten working days: Monday 16 November, 17:30 in Shanghai.
    assert (clock.scope, clock.due_at) == ("preparing", utc(16, 9, 30))
    # Two working days before: Thursday 12 November, 17:30.
    assert walk.tick(utc(12, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(12, 9, 30)).actions] == [("warning",)]
    assert [(i.role, i.template) for i in walk.intents(item.id)] == [
        ("commissioner", "escalation"),
        ("enterprise", "escalation"),
    ]
    assert [a.fired for a in walk.tick(utc(16, 9, 30)).actions] == [("reminder",)]
    assert walk.engine.get(item.id).data["escalation_level"] == "reminder"
    assert walk.tick(utc(30, 9, 30)).claimed == 0  # the ladder is done
    assert walk.escalations(item.id) == [("warning", "fired"), ("reminder", "fired")]


@ON_SQLITE
def test_a_slow_review_climbs_its_own_ladder_to_the_monthly_meeting(walk: Walk) -> None:
    walk.clock.set(utc(3, 2))  # Tuesday 3 November, 10:00
    item = _filed(walk)
    (clock,) = walk.running(item.id)
    # Twenty working days: Tuesday 1 December, 17:30 in Shanghai.
    assert (clock.scope, clock.due_at) == ("under_review", utc(1, 9, 30, month=12))
    # Three working days before it: Thursday 26 November, to the department only.
    assert walk.tick(utc(26, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(26, 9, 30)).actions] == [("warning",)]
    assert [i.role for i in walk.intents(item.id) if i.kind == "escalation"] == ["authority"]
    assert [a.fired for a in walk.tick(utc(1, 9, 30, month=12)).actions] == [("reminder",)]
    # Five working days late: Tuesday 8 December, onto the monthly service meeting.
    assert walk.tick(utc(8, 9, 29, month=12)).claimed == 0
    assert [a.fired for a in walk.tick(utc(8, 9, 30, month=12)).actions] == [("monthly_review",)]
    assert walk.engine.get(item.id).data["escalation_level"] == "monthly_review"
    entries = walk.engine.store.tables.review_entries
    with walk.sa.connect() as conn:
        rows = conn.execute(
            select(entries.c.review, entries.c.period).where(entries.c.item_id == item.id)
        ).all()
    assert [tuple(r) for r in rows] == [("monthly", "2027-01")]
    # The level tells the office; the review tells the department its review is on the agenda.
    last = walk.intents_at(walk.engine.get(item.id))
    assert [(i.role, i.template, i.kind) for i in last] == [
        ("office", "escalation", "escalation"),
        ("authority", "review_agenda", "review"),
    ]


@ON_SQLITE
def test_a_return_for_supplements_gives_five_days_then_a_fresh_review_clock(walk: Walk) -> None:
    item = _filed(walk)  # Monday 2 November
    walk.clock.set(utc(4, 2))  # Wednesday 10:00
    item = walk.fire(item, "return_for_supplements", FINANCE, {"supplement_request": "Tax."})
    (clock,) = walk.running(item.id)
    assert (clock.scope, clock.due_at) == ("supplementing", utc(11, 9, 30))  # next Wednesday
    walk.clock.set(utc(5, 2))
    item = walk.fire(item, "resubmit", COMMISSIONER)
    (clock,) = walk.running(item.id)
    # Twenty working days from Thursday 5 November: Thursday 3 December.
    assert (clock.scope, clock.due_at) == ("under_review", utc(3, 9, 30, month=12))
    statuses = sorted((d.scope, d.status) for d in walk.deadlines(item.id))
    assert statuses == [
        ("preparing", "met"),
        ("supplementing", "met"),
        ("under_review", "met"),
        ("under_review", "running"),
    ]


@ON_SQLITE
def test_notifications_reach_the_department_and_the_enterprise(walk: Walk) -> None:
    item = walk.start(WORKFLOW, ENTERPRISE, DATA)
    item = walk.fire(item, "update_materials", COMMISSIONER, MATERIALS)
    assert walk.intents(item.id) == []
    item = walk.fire(item, "file", COMMISSIONER, FILING)
    assert [(i.role, i.template, i.urgent) for i in walk.intents_at(item)] == [
        ("authority", "event", False),
        ("office", "event", False),
    ]
    item = walk.fire(item, "approve", FINANCE, {"granted_amount": 30})
    assert [i.role for i in walk.intents_at(item)] == ["enterprise", "commissioner"]
