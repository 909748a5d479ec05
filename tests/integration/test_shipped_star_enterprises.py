"""The shipped ``star_enterprises`` workflow (明星企業榜單), walked on the real engine.

The tour reaches every state and fires every event on every backend; the
other tests (SQLite) prove the weighted scoring by hand-computed figures,
that admission resets whatever a nomination carried, who may act, the
guards, the working-day ladder and the notification intents.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.shipped_walks import ON_SQLITE, Walk, person, utc, walk
from workflow.errors import GuardFailed, InvalidInput, NotAuthorized

__all__ = ["walk"]

WORKFLOW = "star_enterprises"

COMMISSIONER = person("comm.sun", "commissioner")  # assigned to e_pixel
OTHER_COMMISSIONER = person("comm.guo", "commissioner")
ENTERPRISE = person("ent.zhao", "enterprise")
OFFICE = person("office.li", "office")
LEADER = person("leader.wu", "leader")
FANG = person("judge.fang", "judge")
SHI = person("judge.shi", "judge")
YUAN = person("judge.yuan", "judge")

DATA: dict[str, Any] = {
    "enterprise": "e_pixel",
    "district": "d_jianghan",
    "sector": "animation_games",
    "title": "像素工坊游戲 2026年下半年",
    "round": "2026-H2",
    "recommendation": "Two original titles topped the charts; 300 new jobs in Wuhan.",
}
# Marks per judge: social contribution, business results, technology, business model.
MARKS = {
    FANG: (90, 80, 70, 60),
    SHI: (80, 70, 90, 50),
    YUAN: (70, 90, 80, 70),
}


def _marks(judge: Any) -> dict[str, float]:
    social, business, technology, model = MARKS[judge]
    return {"social": social, "business": business, "technology": technology, "model": model}


def _admitted(walk: Walk, weights: dict[str, int] | None = None, **data: Any) -> Any:
    item = walk.start(WORKFLOW, COMMISSIONER, {**DATA, **data})
    return walk.fire(item, "admit", OFFICE, weights or {})


def _scored(walk: Walk) -> Any:
    item = _admitted(walk)
    for judge in (FANG, SHI, YUAN):
        item = walk.fire(item, "score", judge, _marks(judge))
    return item


def test_tour_reaches_every_state_and_fires_every_event(walk: Walk) -> None:
    definition = walk.engine.catalog.get(WORKFLOW)
    a = _scored(walk)
    a = walk.fire(a, "close_scoring", OFFICE)
    assert a.state == "under_review"
    a = walk.fire(a, "approve_listing", LEADER, {"note": "Listed."})
    assert a.state == "awaiting_publication"
    a = walk.fire(
        a,
        "publish",
        OFFICE,
        {"channels": ["長江日報", "地鐵電視"]},
    )
    assert (a.state, a.data["channels"]) == ("published", ["長江日報", "地鐵電視"])
    b = _scored(walk)
    b = walk.fire(b, "close_scoring", OFFICE)
    b = walk.fire(b, "decline_listing", LEADER, reason="Below the line this round.")
    assert b.state == "not_listed"
    c = walk.start(WORKFLOW, OFFICE, DATA)
    c = walk.fire(c, "declare_ineligible", OFFICE, reason="Listed less than a year.")
    assert c.state == "ineligible"
    d = walk.start(WORKFLOW, COMMISSIONER, DATA)
    d = walk.fire(d, "withdraw", ENTERPRISE, reason="We prefer next round.")
    assert d.state == "withdrawn"

    items = (a, b, c, d)
    reached = {s for item in items for s in walk.states(item.id)}
    assert reached == set(definition.leaves())
    fired = set().union(*(walk.fired(item.id) for item in items))
    assert fired == {e.name for e in definition.spec.events}


@ON_SQLITE
def test_the_total_is_the_weighted_average_of_the_judges_marks(walk: Walk) -> None:
    item = _admitted(walk)
    weights = {k: item.data[k] for k in item.data if k.startswith("weight_")}
    assert weights == {
        "weight_social": 30,
        "weight_business": 30,
        "weight_technology": 20,
        "weight_model": 20,
    }
    item = walk.fire(item, "score", FANG, _marks(FANG))
    # One judge: the averages are that judge's marks; (90*30 + 80*30 + 70*20 + 60*20) / 100.
    assert item.data["score_count"] == 1
    assert item.data["total"] == pytest.approx(77.0)
    item = walk.fire(item, "score", SHI, _marks(SHI))
    item = walk.fire(item, "score", YUAN, _marks(YUAN))
    # Averages 80, 80, 80, 60: (80*30 + 80*30 + 80*20 + 60*20) / 100 = 76.
    assert [item.data[f"score_{c}"] for c in ("social", "business", "technology", "model")] == [
        pytest.approx(80.0),
        pytest.approx(80.0),
        pytest.approx(80.0),
        pytest.approx(60.0),
    ]
    assert item.data["total"] == pytest.approx(76.0)
    assert item.data["scored_by"] == ["judge.fang", "judge.shi", "judge.yuan"]


@ON_SQLITE
def test_the_office_sets_the_rounds_weights_at_admission(walk: Walk) -> None:
    weights = {
        "weight_social": 10,
        "weight_business": 10,
        "weight_technology": 40,
        "weight_model": 40,
    }
    item = _admitted(walk, weights)
    for judge in (FANG, SHI, YUAN):
        item = walk.fire(item, "score", judge, _marks(judge))
    # (80*10 + 80*10 + 80*40 + 60*40) / 100 = 72.
    assert item.data["total"] == pytest.approx(72.0)
    nominated = walk.start(WORKFLOW, COMMISSIONER, DATA)
    error = walk.refused(
        nominated,
        GuardFailed,
        lambda: walk.engine.fire(nominated.id, "admit", OFFICE, {**weights, "weight_model": 50}),
    )
    assert error.guard_message == "The four weights must add up to 100."


@ON_SQLITE
def test_a_nomination_cannot_bring_its_own_weights_marks_or_judges(walk: Walk) -> None:
    # start_fields: the scoring fields are the events' to set, never the nominator's.
    forged: dict[str, Any] = {
        "weight_social": 100,
        "weight_business": 0,
        "weight_technology": 0,
        "weight_model": 0,
        "sum_social": 300,
        "score_count": 3,
        "scored_by": ["judge.fang", "judge.shi", "judge.yuan"],
        "total": 100,
    }
    with pytest.raises(InvalidInput) as caught:
        walk.start(WORKFLOW, COMMISSIONER, {**DATA, **forged})
    refused = dict(caught.value.errors)
    assert set(refused) == set(forged)
    assert set(refused.values()) == {"is set by the workflow's events, not when an item is started"}
    # Admission still resets the scoring, so a re-admitted round starts clean.
    item = _admitted(walk)
    assert (item.data["weight_social"], item.data["score_count"], item.data["scored_by"]) == (
        30,
        0,
        [],
    )
    assert item.data["total"] is None
    error = walk.refused(
        item, GuardFailed, lambda: walk.engine.fire(item.id, "close_scoring", OFFICE)
    )
    assert error.guard_message == "At least three judges must have scored."


@ON_SQLITE
def test_who_may_nominate_score_and_review(walk: Walk) -> None:
    for who in (OTHER_COMMISSIONER, ENTERPRISE, FANG):
        with pytest.raises(NotAuthorized) as caught:
            walk.start(WORKFLOW, who, DATA)
        assert caught.value.event == "start"
    item = walk.start(WORKFLOW, COMMISSIONER, DATA)
    walk.refused(item, NotAuthorized, lambda: walk.engine.fire(item.id, "admit", COMMISSIONER, {}))
    item = walk.fire(item, "admit", OFFICE, {})
    # Judges score, each once; not the office, nor someone outside the panel.
    for who in (person("office.li", "judge"), person("office.li", "office")):
        walk.refused(
            item, NotAuthorized, lambda w=who: walk.engine.fire(item.id, "score", w, _marks(FANG))
        )
    item = walk.fire(item, "score", FANG, _marks(FANG))
    error = walk.refused(
        item, GuardFailed, lambda: walk.engine.fire(item.id, "score", FANG, _marks(SHI))
    )
    assert error.guard_message_zh == "每位評委只能評分一次"
    walk.refused(
        item,
        InvalidInput,
        lambda: walk.engine.fire(item.id, "score", SHI, {**_marks(SHI), "social": 101}),
    )
    for judge in (SHI, YUAN):
        item = walk.fire(item, "score", judge, _marks(judge))
    item = walk.fire(item, "close_scoring", OFFICE)
    # The task-force leaders review; the office cannot list an enterprise itself.
    walk.refused(item, NotAuthorized, lambda: walk.engine.fire(item.id, "approve_listing", OFFICE))


@ON_SQLITE
def test_each_step_has_working_days_and_a_ladder(walk: Walk) -> None:
    item = walk.start(WORKFLOW, COMMISSIONER, DATA)  # Monday 2 November, 09:00
    (clock,) = walk.running(item.id)
    # Five working days: Monday 9 November, 17:30 in Shanghai.
    assert (clock.scope, clock.due_at) == ("nominated", utc(9, 9, 30))
    assert walk.tick(utc(6, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(6, 9, 30)).actions] == [("warning",)]  # Friday
    assert [a.fired for a in walk.tick(utc(9, 9, 30)).actions] == [("reminder",)]
    # Three working days late: Thursday 12 November, the task-force leaders.
    assert walk.tick(utc(12, 9, 29)).claimed == 0
    assert [a.fired for a in walk.tick(utc(12, 9, 30)).actions] == [("task_force",)]
    assert [(i.role, i.template) for i in walk.intents(item.id)] == [
        ("office", "escalation"),
        ("office", "escalation"),
        ("leader", "escalation"),
    ]
    # Admitted late on Friday 13 November: ten working days of scoring, a fresh ladder.
    walk.clock.set(utc(13, 2))
    item = walk.fire(item, "admit", OFFICE, {})
    (clock,) = walk.running(item.id)
    assert (clock.scope, clock.due_at) == ("scoring", utc(27, 9, 30))
    assert [(d.scope, d.status) for d in walk.deadlines(item.id)] == [
        ("nominated", "late"),
        ("scoring", "running"),
    ]


@ON_SQLITE
def test_notifications_reach_the_judges_the_leaders_and_the_enterprise(walk: Walk) -> None:
    item = walk.start(WORKFLOW, COMMISSIONER, DATA)
    assert walk.intents(item.id) == []
    item = walk.fire(item, "admit", OFFICE, {})
    assert [(i.role, i.template) for i in walk.intents_at(item)] == [
        ("judge", "event"),
        ("commissioner", "event"),
    ]
    for judge in (FANG, SHI, YUAN):
        item = walk.fire(item, "score", judge, _marks(judge))
        assert walk.intents_at(item) == []  # scoring disturbs no one
    item = walk.fire(item, "close_scoring", OFFICE)
    assert [i.role for i in walk.intents_at(item)] == ["leader"]
    item = walk.fire(item, "approve_listing", LEADER, {})
    item = walk.fire(item, "publish", OFFICE, {"channels": ["長江日報"]})
    assert [i.role for i in walk.intents_at(item)] == ["enterprise", "commissioner"]
