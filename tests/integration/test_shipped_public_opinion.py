"""The shipped ``public_opinion`` workflow (負面輿情處置), walked on the real engine.

The tour reaches every state and fires every event on every backend; the
other tests (SQLite) prove who may act, the guard, the hour clocks of every
step (round the clock, not office hours) with their ladders, and that every
notification is urgent.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.shipped_walks import ON_SQLITE, Walk, person, utc, walk
from workflow.errors import GuardFailed, NotAuthorized

__all__ = ["walk"]

WORKFLOW = "public_opinion"

MONITOR = person("monitor.cao", "monitor")
OFFICE = person("office.li", "office")
LEADER = person("leader.wu", "leader")
COMMISSIONER = person("comm.sun", "commissioner")  # assigned to e_pixel
OTHER_COMMISSIONER = person("comm.guo", "commissioner")
ENTERPRISE = person("ent.zhao", "enterprise")
CYBER = person("unit.bai", "unit")  # u_cyber, named to lead below
MARKET = person("unit.kong", "unit")  # u_market

DATA: dict[str, Any] = {
    "enterprise": "e_pixel",
    "district": "d_jianghan",
    "sector": "animation_games",
    "title": "游戲防沉迷被指失效",
    "summary": "A viral post claims minors can bypass the game's play-time limits.",
    "platform": "weibo",
}
ASSESSMENT = {"severity": "major", "lead_unit": "u_cyber"}
FACTS = {"facts": "The bypass used an old client version, withdrawn in October."}
RESPONSE = {"response": "Statement: old clients are blocked; limits apply to every account."}


def _following_up(walk: Walk) -> Any:
    item = walk.start(WORKFLOW, MONITOR, DATA)
    item = walk.fire(item, "assess", OFFICE, ASSESSMENT)
    item = walk.fire(item, "confirm", COMMISSIONER, FACTS)
    return walk.fire(item, "respond", CYBER, RESPONSE)


def test_tour_reaches_every_state_and_fires_every_event(walk: Walk) -> None:
    definition = walk.engine.catalog.get(WORKFLOW)
    a = walk.start(WORKFLOW, MONITOR, DATA)
    assert a.state == "detected"
    a = walk.fire(a, "assess", OFFICE, ASSESSMENT)
    assert (a.state, a.data["severity"], a.data["lead_unit"]) == ("verifying", "major", "u_cyber")
    a = walk.fire(a, "confirm", COMMISSIONER, FACTS)
    a = walk.fire(a, "respond", CYBER, RESPONSE)
    assert a.state == "following_up"
    a = walk.fire(a, "add_follow_up", MONITOR, {"note": "Reposts falling since noon."})
    a = walk.fire(a, "flare_up", MONITOR, reason="A video repeats the claim.")
    assert (a.state, a.data["relapse_count"]) == ("responding", 1)
    a = walk.fire(a, "respond", ENTERPRISE, {"response": "Video reply with the test results."})
    a = walk.fire(a, "close", OFFICE, {"outcome": "clarified"})
    assert (a.state, a.is_open, a.data["outcome"]) == ("closed", False, "clarified")
    b = walk.start(WORKFLOW, OFFICE, DATA)
    b = walk.fire(b, "dismiss", OFFICE, reason="A complaint about another company.")
    assert b.state == "dismissed"

    reached = set(walk.states(a.id)) | set(walk.states(b.id))
    assert reached == set(definition.leaves())
    assert walk.fired(a.id) | walk.fired(b.id) == {e.name for e in definition.spec.events}


@ON_SQLITE
def test_who_may_start_and_act(walk: Walk) -> None:
    for who in (ENTERPRISE, OTHER_COMMISSIONER, person("unit.bai", "monitor")):
        with pytest.raises(NotAuthorized) as caught:
            walk.start(WORKFLOW, who, DATA)
        assert caught.value.event == "start"
    item = walk.start(WORKFLOW, COMMISSIONER, DATA)
    # Only the office assesses.
    for who in (MONITOR, COMMISSIONER, person("monitor.cao", "office")):
        walk.refused(
            item, NotAuthorized, lambda w=who: walk.engine.fire(item.id, "assess", w, ASSESSMENT)
        )
    item = walk.fire(item, "assess", OFFICE, ASSESSMENT)
    # The named department verifies with the commissioner; another department may not.
    walk.refused(item, NotAuthorized, lambda: walk.engine.fire(item.id, "confirm", MARKET, FACTS))
    walk.refused(
        item, NotAuthorized, lambda: walk.engine.fire(item.id, "confirm", ENTERPRISE, FACTS)
    )
    item = walk.fire(item, "confirm", CYBER, FACTS)
    item = walk.fire(item, "respond", COMMISSIONER, RESPONSE)
    walk.refused(
        item,
        NotAuthorized,
        lambda: walk.engine.fire(item.id, "close", MONITOR, {"outcome": "subsided"}),
    )


@ON_SQLITE
def test_closing_needs_a_follow_up_note(walk: Walk) -> None:
    item = _following_up(walk)
    error = walk.refused(
        item,
        GuardFailed,
        lambda: walk.engine.fire(item.id, "close", OFFICE, {"outcome": "subsided"}),
    )
    assert error.guard_message == "Record at least one follow-up note before closing."
    item = walk.fire(item, "add_follow_up", CYBER, {"note": "Quiet for 48 hours."})
    item = walk.fire(item, "close", OFFICE, {"outcome": "subsided"})
    assert item.data["follow_up_notes"] == ["Quiet for 48 hours."]


@ON_SQLITE
def test_an_unassessed_report_chases_the_office_then_the_leaders_within_hours(
    walk: Walk,
) -> None:
    item = walk.start(WORKFLOW, MONITOR, DATA)  # Monday 09:00 in Shanghai
    (clock,) = walk.running(item.id)
    assert (clock.scope, clock.unit, clock.due_at) == ("detected", "hours", utc(2, 2))
    assert walk.tick(utc(2, 1, 59)).claimed == 0
    assert [a.fired for a in walk.tick(utc(2, 2)).actions] == [("reminder",)]
    assert [(i.role, i.urgent) for i in walk.intents(item.id)] == [("office", True)]
    assert [a.fired for a in walk.tick(utc(2, 4)).actions] == [("task_force",)]
    assert [(i.role, i.urgent) for i in walk.intents(item.id)][1:] == [
        ("leader", True),
        ("office", True),
    ]
    assert walk.engine.get(item.id).data["escalation_level"] == "task_force"


@ON_SQLITE
def test_every_step_runs_in_hours_round_the_clock(walk: Walk) -> None:
    # Registered on Friday 6 November at 22:00 in Shanghai: the clocks ignore the weekend.
    walk.clock.set(utc(6, 14))
    item = walk.start(WORKFLOW, MONITOR, DATA)
    assert walk.running(item.id)[0].due_at == utc(6, 15)
    walk.clock.set(utc(6, 14, 30))
    item = walk.fire(item, "assess", OFFICE, ASSESSMENT)
    assert [(d.scope, d.due_at) for d in walk.running(item.id)] == [("verifying", utc(6, 16, 30))]
    # Unverified at its due time: the office, the department and the commissioner, at once.
    report = walk.tick(utc(6, 16, 30))
    assert [a.fired for a in report.actions] == [("reminder",)]
    reminder = [i for i in walk.intents(item.id) if i.kind == "escalation"]
    assert [(i.role, i.urgent) for i in reminder] == [
        ("office", True),
        ("unit", True),
        ("commissioner", True),
    ]
    walk.clock.set(utc(6, 17))
    item = walk.fire(item, "confirm", CYBER, FACTS)
    assert [(d.scope, d.due_at) for d in walk.running(item.id)] == [("responding", utc(6, 21))]
    walk.clock.set(utc(6, 20))
    item = walk.fire(item, "respond", CYBER, RESPONSE)
    # Seventy-two hours of follow-up: Monday 9 November, 04:00 in Shanghai.
    (clock,) = walk.running(item.id)
    assert (clock.scope, clock.due_at) == ("following_up", utc(9, 20))
    assert walk.tick(utc(9, 19, 59)).claimed == 0
    assert [a.fired for a in walk.tick(utc(9, 20)).actions] == [("reminder",)]
    assert [a.fired for a in walk.tick(utc(9, 22)).actions] == [("task_force",)]
    assert walk.escalations(item.id) == [
        ("reminder", "fired"),  # verifying
        ("reminder", "fired"),  # following up
        ("task_force", "fired"),
    ]


@ON_SQLITE
def test_every_notification_is_urgent(walk: Walk) -> None:
    item = _following_up(walk)
    item = walk.fire(item, "add_follow_up", MONITOR, {"note": "Falling."})
    item = walk.fire(item, "flare_up", OFFICE, reason="Picked up by a news site.")
    item = walk.fire(item, "respond", CYBER, RESPONSE)
    item = walk.fire(item, "close", OFFICE, {"outcome": "subsided"})
    intents = walk.intents(item.id)
    assert [i.role for i in intents] == [
        "unit",  # assess
        "commissioner",
        "office",  # confirm
        "enterprise",
        "office",  # respond
        "monitor",
        "unit",  # flare_up
        "commissioner",
        "office",
        "office",  # respond again
        "monitor",
        "unit",  # close
        "commissioner",
        "enterprise",
    ]
    assert all(i.urgent for i in intents)
    assert {i.template for i in intents} == {"event"}
