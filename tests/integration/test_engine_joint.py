"""Joint handling (會辦): branches, answers, completion rules and rounds, on every backend.

The shipped definition covers the `all` rule; the other rules and `then`
choices on `joint.disagreed` use a small definition written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_fixtures import ACTORS, Harness, actor, catalog_from_yaml, wf
from workflow.core.engine import Core
from workflow.core.values import Branch, ItemSnapshot
from workflow.errors import EventNotAllowed, InvalidInput, NotAuthorized

__all__ = ["wf"]

OPINION = {"verdict": "agree", "opinion": "No objection from us."}


def _round(wf: Harness | Core, item_id: int) -> list[Branch]:
    """The branches of the item's latest round."""
    engine = wf.engine if isinstance(wf, Harness) else wf
    branches = engine.branches(item_id)
    latest = max(b.opened_seq for b in branches)
    return [b for b in branches if b.opened_seq == latest]


def _status(branches: list[Branch]) -> dict[str, str]:
    return {b.unit: b.status for b in branches}


def _answer(wf: Harness, item: ItemSnapshot, who: str, data: dict[str, Any]) -> ItemSnapshot:
    return wf.engine.fire(item.id, "give_opinion", actor(who, "co_unit"), data)


def test_branches_open_per_co_unit_and_all_must_answer(wf: Harness) -> None:
    item = wf.drive("joint_handling")
    branches = wf.engine.branches(item.id)
    assert [(b.unit, b.status, b.state) for b in branches] == [
        ("u_finance", "open", "joint_handling"),
        ("u_hr", "open", "joint_handling"),
    ]
    assert {b.opened_seq for b in branches} == {item.version}  # the request_joint row
    assert all(b.opened_at == wf.clock.now() for b in branches)
    assert [e.name for e in wf.engine.available_events(item.id, ACTORS["co_unit"])] == [
        "give_opinion"
    ]

    item = _answer(wf, item, "qian", OPINION)
    assert (item.state, item.version) == ("joint_handling", 5)  # an answer bumps the version
    row = wf.engine.history(item.id)[-1]
    assert (row.kind, row.event, row.actor_id, row.actor_role) == (
        "answer",
        "give_opinion",
        "qian",
        "co_unit",
    )
    assert row.input == {"unit": "u_finance", **OPINION}
    finance = next(b for b in wf.engine.branches(item.id) if b.unit == "u_finance")
    assert (finance.status, finance.verdict, finance.answered_by) == ("answered", "agree", "qian")
    assert finance.answer == {"opinion": "No objection from us."}
    assert wf.engine.available_events(item.id, ACTORS["co_unit"]) == []

    item = _answer(wf, item, "zhou", {"verdict": "disagree", "opinion": "Needs a budget."})
    # `all` answered: the engine moved the item on by itself.
    assert (item.state, item.version) == ("handling", 7)
    auto = wf.engine.history(item.id)[-1]
    assert (auto.kind, auto.event, auto.from_state, auto.to_state) == (
        "auto",
        "@joint_complete",
        "joint_handling",
        "handling",
    )
    assert (auto.actor_id, auto.actor_role, auto.seq) == ("engine", None, 7)
    assert auto.input == {
        "total": 2,
        "answered": 2,
        "agreed": 1,
        "disagreed": 1,
        "lead_agreed": None,
    }
    assert _status(wf.engine.branches(item.id)) == {"u_finance": "answered", "u_hr": "answered"}
    wf.verified(item.id)


def test_only_the_branch_unit_answers_once_with_a_verdict(wf: Harness) -> None:
    item = wf.drive("joint_handling")
    # A unit without a branch (and so without the binding), the lead unit, no role.
    for who, why in [
        (actor("ma", "co_unit"), "does not act for the item's co_units"),
        (actor("chen", "co_unit"), "does not act for the item's co_units"),
        (actor("qian", "unit"), "it needs one of the roles co_unit"),
    ]:
        error = wf.refused(
            item.id,
            NotAuthorized,
            lambda w=who: wf.engine.fire(item.id, "give_opinion", w, OPINION),
        )
        assert (error.item_id, error.event, error.state) == (
            item.id,
            "give_opinion",
            "joint_handling",
        )
        assert (error.actor_id, error.roles) == (who.id, ("co_unit",))
        assert why in error.reason
    # The verdict is required and must be agree or disagree; the answer's own input too.
    for data, field in [
        ({"opinion": "Fine."}, "verdict"),
        ({"verdict": "maybe", "opinion": "Fine."}, "verdict"),
        ({"verdict": "agree"}, "opinion"),
        ({**OPINION, "unit": "u_hr"}, "unit"),
    ]:
        error = wf.refused(item.id, InvalidInput, lambda d=data: _answer(wf, item, "qian", d))
        assert field in dict(error.errors)
    error = wf.refused(
        item.id,
        InvalidInput,
        lambda: wf.engine.fire(item.id, "give_opinion", ACTORS["co_unit"], OPINION, reason="Hm."),
    )
    assert error.field == "reason"

    item = _answer(wf, item, "qian", OPINION)
    # Another co-unit's member answers for its own branch only; qian cannot answer twice.
    error = wf.refused(item.id, NotAuthorized, lambda: _answer(wf, item, "qian", OPINION))
    assert error.reason == "its unit's branch has already answered"
    assert _status(wf.engine.branches(item.id)) == {"u_finance": "answered", "u_hr": "open"}
    wf.verified(item.id)


def test_added_co_unit_joins_the_round_and_completion_waits_for_it(wf: Harness) -> None:
    item = wf.drive("joint_handling")
    first_round = wf.engine.branches(item.id)[0].opened_seq
    item = _answer(wf, item, "qian", OPINION)
    item = wf.engine.fire(item.id, "add_co_unit", ACTORS["office"], {"unit": "u_tax"})
    assert item.data["co_units"] == ["u_finance", "u_hr", "u_tax"]
    assert wf.engine.history(item.id)[-1].changes == {"co_units": ["u_finance", "u_hr", "u_tax"]}
    branches = wf.engine.branches(item.id)
    assert {b.opened_seq for b in branches} == {first_round}  # the same round
    assert _status(branches) == {"u_finance": "answered", "u_hr": "open", "u_tax": "open"}

    item = _answer(wf, item, "zhou", OPINION)
    assert item.state == "joint_handling"  # u_tax has not answered yet
    item = wf.engine.fire(item.id, "add_co_unit", ACTORS["unit"], {"unit": "u_land"})
    item = _answer(wf, item, "ma", OPINION)
    assert item.state == "joint_handling"
    item = _answer(wf, item, "he", {"verdict": "disagree", "opinion": "Not our land."})
    assert item.state == "handling"
    assert wf.engine.history(item.id)[-1].input == {
        "total": 4,
        "answered": 4,
        "agreed": 3,
        "disagreed": 1,
        "lead_agreed": None,
    }
    wf.verified(item.id)


def test_leaving_cancels_open_branches_and_reentry_opens_a_new_round(wf: Harness) -> None:
    item = wf.drive("joint_handling")
    item = _answer(wf, item, "qian", OPINION)
    item = wf.engine.fire(
        item.id, "transfer", ACTORS["office"], {"lead_unit": "u_land"}, reason="Land matter."
    )
    assert item.state == "dispatched"
    assert _status(wf.engine.branches(item.id)) == {"u_finance": "answered", "u_hr": "cancelled"}
    error = wf.refused(item.id, EventNotAllowed, lambda: _answer(wf, item, "zhou", OPINION))
    assert error.state == "dispatched"

    land = actor("he", "unit")
    item = wf.engine.fire(item.id, "sign_for", land)
    item = wf.engine.fire(item.id, "request_joint", land, {"co_units": ["u_tax", "u_finance"]})
    second = _round(wf, item.id)
    assert [(b.unit, b.status) for b in second] == [("u_tax", "open"), ("u_finance", "open")]
    assert second[0].opened_seq == item.version
    assert len(wf.engine.branches(item.id)) == 4
    # u_hr belongs to the old round only; u_finance answers afresh in the new one.
    wf.refused(item.id, NotAuthorized, lambda: _answer(wf, item, "zhou", OPINION))
    item = _answer(wf, item, "qian", OPINION)
    item = _answer(wf, item, "ma", OPINION)
    assert item.state == "handling"
    assert _status(_round(wf, item.id)) == {"u_tax": "answered", "u_finance": "answered"}
    wf.verified(item.id)


def test_joint_handling_entered_twice_after_completion(wf: Harness) -> None:
    item = wf.drive("joint_handling")
    item = _answer(wf, item, "qian", OPINION)
    item = _answer(wf, item, "zhou", OPINION)
    assert item.state == "handling"
    item = wf.engine.fire(item.id, "request_joint", ACTORS["unit"], {"co_units": ["u_hr"]})
    assert _status(_round(wf, item.id)) == {"u_hr": "open"}
    item = _answer(wf, item, "zhou", OPINION)
    assert item.state == "handling"
    assert [h.kind for h in wf.engine.history(item.id)].count("auto") == 2
    wf.verified(item.id)


# -- the other completion rules, on a small definition --------------------------------------

_DEFINITION = """\
id: joint_{rule}
version: 1
title: {{zh: 會辦, en: Joint {rule}}}
initial: draft
started_by: office
fields:
  title: {{type: string, required: true}}
  lead_unit: {{type: ref, ref: unit}}
  co_units: {{type: list, items: ref, ref: unit}}
  rounds: {{type: integer, default: 0}}
roles:
  office: {{group: coordinating_office}}
  unit: {{field: lead_unit}}
  co_unit: {{field: co_units}}
states:
  draft: {{label: {{zh: 草稿, en: Draft}}}}
  consulting:
    label: {{zh: 會辦, en: Consulting}}
    joint:
      units: co_units
      lead: lead_unit
      role: co_unit
      answer:
        name: answer
        label: {{zh: 答復, en: Answer}}
        reason: optional
      complete_when: {completion}
      then:
        - when: joint.disagreed > 0
          state: rework
        - state: agreed
  rework: {{label: {{zh: 返工, en: Rework}}}}
  agreed: {{label: {{zh: 同意, en: Agreed}}, final: true}}
events:
  - name: consult
    label: {{zh: 會辦, en: Consult}}
    from: [draft, rework]
    to: consulting
    roles: office
    input:
      lead_unit: {{type: ref, ref: unit, required: true}}
      co_units: {{type: list, items: ref, ref: unit, required: true, min_length: 1}}
    effects:
      - set: {{lead_unit: input.lead_unit, co_units: input.co_units, rounds: item.rounds + 1}}
"""

_RULES = {
    "any": "{rule: any}",
    "at_least": "{rule: at_least, count: 2}",
    "at_least_many": "{rule: at_least, count: 9}",
    "lead_and_quorum": "{rule: lead_and_quorum, count: 1}",
}

_UNITS = {"u_culture": "chen", "u_finance": "qian", "u_hr": "zhou", "u_tax": "ma"}


class _Custom:
    """An engine over the small definitions, with helpers."""

    def __init__(self, wf: Harness, tmp_path: Path) -> None:
        texts = [
            _DEFINITION.format(rule=name, completion=completion)
            for name, completion in _RULES.items()
        ]
        self.wf = wf
        self.engine = wf.engine_with(catalog_from_yaml(tmp_path, *texts))

    def consult(
        self, rule: str, co_units: list[str], item: ItemSnapshot | None = None
    ) -> ItemSnapshot:
        if item is None:
            item = self.engine.start(f"joint_{rule}", ACTORS["office"], {"title": "Plan"})
        return self.engine.fire(
            item.id,
            "consult",
            ACTORS["office"],
            {"lead_unit": "u_culture", "co_units": co_units},
        )

    def answer(self, item: ItemSnapshot, unit: str, verdict: str) -> ItemSnapshot:
        return self.engine.fire(
            item.id, "answer", actor(_UNITS[unit], "co_unit"), {"verdict": verdict}
        )

    def verified(self, item: ItemSnapshot) -> ItemSnapshot:
        assert self.engine.verify(item.id) == []
        return self.engine.get(item.id)


@pytest.fixture
def custom(wf: Harness, tmp_path: Path) -> _Custom:
    return _Custom(wf, tmp_path)


def test_rule_any_and_then_on_disagreement(custom: _Custom) -> None:
    item = custom.consult("any", ["u_finance", "u_hr", "u_tax"])
    item = custom.answer(item, "u_hr", "disagree")
    assert item.state == "rework"
    assert custom.engine.history(item.id)[-1].input == {
        "total": 3,
        "answered": 1,
        "agreed": 0,
        "disagreed": 1,
        "lead_agreed": None,
    }
    assert _status(custom.engine.branches(item.id)) == {
        "u_finance": "cancelled",
        "u_hr": "answered",
        "u_tax": "cancelled",
    }
    # Back from rework: a new round; this time one agreement is enough to finish.
    item = custom.consult("any", ["u_finance", "u_tax"], item)
    assert (item.data["rounds"], len(custom.engine.branches(item.id))) == (2, 5)
    item = custom.answer(item, "u_tax", "agree")
    assert (item.state, item.is_open) == ("agreed", False)
    assert _status(_round(custom.engine, item.id)) == {
        "u_finance": "cancelled",
        "u_tax": "answered",
    }
    custom.verified(item)


def test_rule_at_least(custom: _Custom) -> None:
    item = custom.consult("at_least", ["u_finance", "u_hr", "u_tax"])
    item = custom.answer(item, "u_finance", "agree")
    assert item.state == "consulting"
    item = custom.answer(item, "u_tax", "agree")
    assert item.state == "agreed"
    assert _status(custom.engine.branches(item.id))["u_hr"] == "cancelled"
    with pytest.raises(EventNotAllowed):
        custom.answer(item, "u_hr", "agree")
    custom.verified(item)

    # A count larger than the branches asks for every branch.
    many = custom.consult("at_least_many", ["u_finance", "u_hr"])
    many = custom.answer(many, "u_finance", "agree")
    assert many.state == "consulting"
    many = custom.answer(many, "u_hr", "disagree")
    assert many.state == "rework"
    custom.verified(many)


def test_rule_lead_and_quorum(custom: _Custom) -> None:
    item = custom.consult("lead_and_quorum", ["u_finance", "u_hr"])
    # The lead unit has a branch of its own under this rule.
    assert _status(custom.engine.branches(item.id)) == {
        "u_culture": "open",
        "u_finance": "open",
        "u_hr": "open",
    }
    item = custom.answer(item, "u_finance", "agree")
    item = custom.answer(item, "u_hr", "agree")
    assert item.state == "consulting"  # a quorum of others, but not the lead
    assert [e.name for e in custom.engine.available_events(item.id, actor("chen", "co_unit"))] == [
        "answer"
    ]
    item = custom.answer(item, "u_culture", "agree")
    assert item.state == "agreed"
    assert custom.engine.history(item.id)[-1].input == {
        "total": 3,
        "answered": 3,
        "agreed": 3,
        "disagreed": 0,
        "lead_agreed": True,
    }
    custom.verified(item)

    # The lead first, then one other: complete, and a disagreement sends it back.
    other = custom.consult("lead_and_quorum", ["u_finance", "u_hr"])
    other = custom.answer(other, "u_culture", "disagree")
    assert other.state == "consulting"
    other = custom.answer(other, "u_hr", "agree")
    assert other.state == "rework"
    assert custom.engine.history(other.id)[-1].input["lead_agreed"] is False
    assert _status(custom.engine.branches(other.id))["u_finance"] == "cancelled"
    custom.verified(other)


_STARTS_JOINT = """\
id: panel_first
version: 1
title: {zh: 會審, en: Panel first}
initial: panel
started_by: office
fields:
  title: {type: string, required: true}
  co_units: {type: list, items: ref, ref: unit, required: true, min_length: 1}
roles:
  office: {group: coordinating_office}
  co_unit: {field: co_units}
states:
  panel:
    label: {zh: 會審, en: Panel}
    joint:
      units: co_units
      role: co_unit
      answer: {name: vote, label: {zh: 表決, en: Vote}}
      complete_when: {rule: all}
      then: decided
  decided: {label: {zh: 已決, en: Decided}, final: true}
events:
  - name: cancel
    label: {zh: 撤銷, en: Cancel}
    from: panel
    to: decided
    roles: office
"""


def test_item_starting_in_joint_handling_opens_its_branches(wf: Harness, tmp_path: Path) -> None:
    engine = wf.engine_with(catalog_from_yaml(tmp_path, _STARTS_JOINT))
    item = engine.start(
        "panel_first", ACTORS["office"], {"title": "Budget", "co_units": ["u_finance", "u_hr"]}
    )
    branches = engine.branches(item.id)
    assert [(b.unit, b.status, b.opened_seq) for b in branches] == [
        ("u_finance", "open", 1),
        ("u_hr", "open", 1),
    ]
    item = engine.fire(item.id, "vote", actor("qian", "co_unit"), {"verdict": "agree"})
    item = engine.fire(item.id, "vote", actor("zhou", "co_unit"), {"verdict": "agree"})
    assert (item.state, item.version) == ("decided", 4)
    assert engine.verify(item.id) == []
