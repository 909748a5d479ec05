"""Every way the engine refuses, on every backend.

Each refusal is checked for its exception type and the attributes a host
needs to act on it, and for leaving no trace: the item (version, state,
data), its history and its branches are exactly as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_fixtures import (
    ACTORS,
    START_DATA,
    Harness,
    actor,
    catalog_from_yaml,
    wf,
)
from workflow.core.values import Actor
from workflow.errors import (
    ConcurrentUpdate,
    EventNotAllowed,
    GuardFailed,
    InvalidInput,
    ItemNotFound,
    NotAuthorized,
    Refused,
    UnknownEvent,
)

__all__ = ["wf"]


def _refuse(
    wf: Harness,
    item_id: int,
    expected: type[Exception],
    event: str,
    who: Actor | str,
    data: dict[str, Any] | None = None,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Any:
    """Fire, expect ``expected``, check nothing changed, and check the common attributes."""
    acting = ACTORS[who] if isinstance(who, str) else who
    state = wf.engine.get(item_id).state
    error = wf.refused(
        item_id,
        expected,
        lambda: wf.engine.fire(
            item_id, event, acting, data, reason=reason, expected_version=expected_version
        ),
    )
    if isinstance(error, Refused):
        assert (error.item_id, error.event, error.state) == (item_id, event, state)
    return error


def test_unknown_item(wf: Harness) -> None:
    with pytest.raises(ItemNotFound) as caught:
        wf.engine.fire(424242, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
    assert caught.value.item_id == 424242
    for read in (
        wf.engine.get,
        wf.engine.history,
        wf.engine.branches,
        wf.engine.verify,
        lambda i: wf.engine.available_events(i, ACTORS["office"]),
    ):
        with pytest.raises(ItemNotFound):
            read(424242)
    assert wf.engine.list() == []


def test_unknown_event_suggests_the_close_one(wf: Harness) -> None:
    item = wf.start()
    error = _refuse(wf, item.id, UnknownEvent, "acept", "office", {"lead_unit": "u_culture"})
    assert "did you mean 'accept'?" in str(error)
    assert "accept" in error.known
    assert "give_opinion" in error.known  # answers are events too
    error = _refuse(wf, item.id, UnknownEvent, "fly_to_the_moon", "office")
    assert "did you mean" not in str(error)
    # The engine's own join event cannot be fired from outside.
    _refuse(wf, item.id, UnknownEvent, "@joint_complete", "office")


def test_event_not_allowed_in_this_state(wf: Harness) -> None:
    item = wf.start()
    error = _refuse(wf, item.id, EventNotAllowed, "sign_for", "unit")
    assert error.allowed == (
        "amend",
        "accept",
        "reject",
        "merge_duplicate",
        "withdraw",
        "assign_supervisor",
        "close_by_decision",
    )
    handling = wf.drive("handling")
    error = _refuse(
        wf, handling.id, EventNotAllowed, "give_opinion", "co_unit", {"verdict": "agree"}
    )
    assert "give_opinion" not in error.allowed
    assert "reply" in error.allowed
    joint = wf.drive("joint_handling")
    error = _refuse(wf, joint.id, EventNotAllowed, "reply", "unit")
    assert "give_opinion" in error.allowed
    assert "add_co_unit" in error.allowed
    closed = wf.drive("closed")
    error = _refuse(wf, closed.id, EventNotAllowed, "withdraw", "enterprise")
    assert error.allowed == ()


def test_actor_lacks_the_role(wf: Harness) -> None:
    item = wf.start()
    error = _refuse(wf, item.id, NotAuthorized, "accept", "unit", {"lead_unit": "u_culture"})
    assert (error.actor_id, error.roles) == ("chen", ("office",))
    assert error.reason == "it needs one of the roles office; the actor acts as unit"
    error = _refuse(wf, item.id, NotAuthorized, "withdraw", "no_role")
    assert error.roles == ("enterprise", "commissioner")
    assert error.reason.endswith("the actor acts as no role")
    # The person is in the office group, but does not claim the office role now.
    error = _refuse(wf, item.id, NotAuthorized, "reject", actor("li", "leader"), reason="No.")
    assert error.actor_id == "li"


def test_actor_holds_the_role_but_not_for_this_item(wf: Harness) -> None:
    item = wf.start()
    error = _refuse(
        wf, item.id, NotAuthorized, "amend", "other_enterprise", {"description": "Mine now."}
    )
    assert (error.actor_id, error.roles) == ("qiao", ("enterprise", "commissioner"))
    assert error.reason == "does not act for the item's enterprise (role 'enterprise')"
    error = _refuse(wf, item.id, NotAuthorized, "withdraw", "other_commissioner")
    assert (
        error.reason == "not among the commissioners of the item's enterprise (role 'commissioner')"
    )
    error = _refuse(wf, item.id, NotAuthorized, "accept", "not_office", {"lead_unit": "u_hr"})
    assert error.reason == "not a member of group 'coordinating_office' (role 'office')"

    dispatched = wf.drive("dispatched")
    error = _refuse(wf, dispatched.id, NotAuthorized, "sign_for", "other_unit")
    assert (error.actor_id, error.roles) == ("ma", ("unit",))
    assert error.reason == "does not act for the item's lead_unit (role 'unit')"

    replied = wf.drive("replied")
    error = _refuse(
        wf,
        replied.id,
        NotAuthorized,
        "record_revisit",
        "other_commissioner",
        {"satisfaction": "satisfied"},
    )
    assert error.actor_id == "lin"
    # Claiming two roles and holding neither: both misses are named.
    error = _refuse(
        wf, item.id, NotAuthorized, "withdraw", actor("ma", "enterprise", "commissioner")
    )
    assert "enterprise (role 'enterprise')" in error.reason
    assert "(role 'commissioner')" in error.reason


def test_guard_false_names_the_guard_and_its_message(wf: Harness) -> None:
    disputed = wf.drive("disputed")
    error = _refuse(
        wf, disputed.id, GuardFailed, "redispatch", "office", {"lead_unit": "u_culture"}
    )
    assert error.guard == "input.lead_unit != item.lead_unit"
    assert error.guard_message == "Pick another unit, or rule that the assignment stands."

    handling = wf.drive("handling")
    error = _refuse(
        wf, handling.id, GuardFailed, "transfer", "office", {"lead_unit": "u_culture"}, reason="X"
    )
    assert (error.guard, error.guard_message) == ("input.lead_unit != item.lead_unit", None)
    error = _refuse(
        wf, handling.id, GuardFailed, "request_joint", "unit", {"co_units": ["u_hr", "u_culture"]}
    )
    assert error.guard == "item.lead_unit not in input.co_units"

    joint = wf.drive("joint_handling")
    error = _refuse(wf, joint.id, GuardFailed, "add_co_unit", "office", {"unit": "u_hr"})
    assert error.guard_message == "That unit already takes part."
    _refuse(wf, joint.id, GuardFailed, "add_co_unit", "unit", {"unit": "u_culture"})

    replied = wf.drive("replied")
    error = _refuse(
        wf,
        replied.id,
        GuardFailed,
        "record_revisit",
        "commissioner",
        {"satisfaction": "unsatisfied"},
    )
    assert error.guard == "input.satisfaction != 'unsatisfied' or is_set(input.comment)"
    assert error.guard_message == "Say why the enterprise is unsatisfied."
    assert "is false: Say why" in str(error)


def test_invalid_input(wf: Harness) -> None:
    item = wf.start()
    error = _refuse(wf, item.id, InvalidInput, "accept", "office", {})
    assert (error.field, error.problem) == ("lead_unit", "is required")
    error = _refuse(wf, item.id, InvalidInput, "accept", "office", {"lead_unt": "u_culture"})
    fields = dict(error.errors)
    assert fields["lead_unit"] == "is required"
    assert "did you mean 'lead_unit'?" in fields["lead_unt"]
    error = _refuse(wf, item.id, InvalidInput, "accept", "office", {"lead_unit": 7})
    assert error.field == "lead_unit"
    error = _refuse(wf, item.id, InvalidInput, "accept", "office", ["u_culture"])  # type: ignore[arg-type]
    assert error.field == "input"
    error = _refuse(
        wf, item.id, InvalidInput, "merge_duplicate", "office", {"duplicate_of": "x" * 201}
    )
    assert error.field == "duplicate_of"
    assert "at most 200" in error.problem
    assert "xxxx" not in str(error)  # the value typed is never echoed
    _refuse(wf, item.id, InvalidInput, "merge_duplicate", "office", {"duplicate_of": ""})

    handling = wf.drive("handling")
    error = _refuse(
        wf, handling.id, InvalidInput, "request_extension", "unit", {"days": "5"}, reason="Why"
    )
    assert error.field == "days"
    error = _refuse(
        wf, handling.id, InvalidInput, "request_extension", "unit", {"days": 31}, reason="Why"
    )
    assert error.field == "days"
    error = _refuse(
        wf,
        handling.id,
        InvalidInput,
        "reply",
        "unit",
        {"result": "It is all sorted now.", "resolution": "fixed"},
    )
    assert error.field == "resolution"
    error = _refuse(
        wf, handling.id, InvalidInput, "reply", "unit", {"result": "Done.", "resolution": "solved"}
    )
    assert error.field == "result"
    dispatched = wf.drive("dispatched")
    error = _refuse(wf, dispatched.id, InvalidInput, "sign_for", "unit", {"note": "x"})
    assert "expected: none" in error.problem


def test_reason_required_or_not_allowed(wf: Harness) -> None:
    dispatched = wf.drive("dispatched")
    error = _refuse(wf, dispatched.id, InvalidInput, "return_to_office", "unit")
    assert (error.field, error.problem) == ("reason", "is required for this event")
    _refuse(wf, dispatched.id, InvalidInput, "return_to_office", "unit", reason="   ")
    error = _refuse(wf, dispatched.id, InvalidInput, "sign_for", "unit", reason="Gladly.")
    assert (error.field, error.problem) == ("reason", "this event takes no reason")
    error = _refuse(wf, dispatched.id, InvalidInput, "return_to_office", "unit", reason="x" * 2001)
    assert error.field == "reason"


def test_start_refusals_write_nothing(wf: Harness) -> None:
    start = wf.engine.start
    missing = {k: v for k, v in START_DATA.items() if k != "category"}
    cases: list[tuple[Actor, dict[str, Any], type[Exception], str]] = [
        (ACTORS["enterprise"], missing, InvalidInput, "category"),
        (ACTORS["enterprise"], {**START_DATA, "sector": "mining"}, InvalidInput, "sector"),
        (ACTORS["enterprise"], {**START_DATA, "titel": "x"}, InvalidInput, "titel"),
        (ACTORS["enterprise"], {**START_DATA, "title": "t" * 121}, InvalidInput, "title"),
        (ACTORS["enterprise"], {**START_DATA, "reopen_count": -1}, InvalidInput, "reopen_count"),
    ]
    for who, data, expected, field in cases:
        with pytest.raises(expected) as caught:
            start("enterprise_issue", who, data)
        error = caught.value
        assert isinstance(error, InvalidInput)
        assert (error.item_id, error.event, error.state) == (None, "start", None)
        assert field in dict(error.errors), (field, error.errors)
    with pytest.raises(InvalidInput) as caught:
        start("enterprise_issue", ACTORS["enterprise"], {**START_DATA, "titel": "x"})
    assert "did you mean 'title'?" in caught.value.problem
    # Fields only events set (start_fields): an enterprise cannot raise a problem
    # already assigned to a unit, rated, or escalated — even with valid values.
    for forged in (
        {"lead_unit": "u_culture"},
        {"satisfaction": "satisfied"},
        {"escalation_level": "quarterly_dispatch"},
        {"reopen_count": 0},
    ):
        with pytest.raises(InvalidInput) as caught:
            start("enterprise_issue", ACTORS["enterprise"], {**START_DATA, **forged})
        ((field, problem),) = [(f, p) for f, p in caught.value.errors if f in forged]
        assert problem == "is set by the workflow's events, not when an item is started"

    denials = [
        (ACTORS["unit"], "it needs one of the roles enterprise, commissioner, office"),
        (ACTORS["no_role"], "the actor acts as no role"),
        (ACTORS["other_enterprise"], "does not act for the item's enterprise"),
        (ACTORS["other_commissioner"], "not among the commissioners"),
        (ACTORS["not_office"], "not a member of group 'coordinating_office'"),
    ]
    for who, why in denials:
        with pytest.raises(NotAuthorized) as denied:
            start("enterprise_issue", who, START_DATA)
        assert (denied.value.item_id, denied.value.event, denied.value.state) == (
            None,
            "start",
            None,
        )
        assert denied.value.actor_id == who.id
        assert denied.value.roles == ("enterprise", "commissioner", "office")
        assert why in denied.value.reason
    assert wf.engine.list() == []
    # An enterprise raises for itself; the commissioner for an enterprise it serves.
    assert (
        wf.engine.start(
            "enterprise_issue",
            ACTORS["other_enterprise"],
            {
                **START_DATA,
                "enterprise": "e_other",
            },
        ).state
        == "collected"
    )


def test_stale_expected_version(wf: Harness) -> None:
    item = wf.drive("dispatched")
    error = _refuse(wf, item.id, ConcurrentUpdate, "sign_for", "unit", expected_version=1)
    assert (error.expected, error.actual) == (1, 2)
    assert "expected version 1, but it is at version 2" in str(error)
    # A stale version wins over every other check: the caller must reload first.
    _refuse(wf, item.id, ConcurrentUpdate, "no_such_event", "unit", expected_version=3)
    moved = wf.engine.fire(item.id, "sign_for", ACTORS["unit"], expected_version=2)
    assert (moved.state, moved.version) == ("handling", 3)
    wf.verified(item.id)


_TWINS = """\
id: twins
version: 1
title: {zh: 同名事件, en: Twin events}
initial: first
started_by: office
fields:
  title: {type: string, required: true}
  text: {type: text}
  amount: {type: integer}
  co_units: {type: list, items: ref, ref: unit}
roles:
  office: {group: coordinating_office}
  co_unit: {field: co_units}
states:
  first: {label: {zh: 一, en: First}}
  second: {label: {zh: 二, en: Second}}
  panel:
    label: {zh: 會審, en: Panel}
    joint:
      units: co_units
      role: co_unit
      answer:
        name: note
        label: {zh: 表決, en: Vote}
        input:
          score: {type: integer, required: true}
      complete_when: {rule: all}
      then: done
  done: {label: {zh: 完成, en: Done}, final: true}
events:
  - name: note
    label: {zh: 記錄, en: Note}
    from: first
    to: second
    roles: office
    input:
      text: {type: text, required: true}
    effects:
      - set: {text: input.text}
  - name: note
    label: {zh: 記錄, en: Note}
    from: second
    to: panel
    roles: office
    input:
      amount: {type: integer, required: true}
      co_units: {type: list, items: ref, ref: unit, required: true}
    effects:
      - set: {amount: input.amount, co_units: input.co_units}
"""


def test_input_follows_the_declaration_for_the_state(wf: Harness, tmp_path: Path) -> None:
    """One event name declared per state, each with its own input (and an answer sharing it)."""
    engine = wf.engine_with(catalog_from_yaml(tmp_path, _TWINS))
    office = ACTORS["office"]
    item = engine.start("twins", office, {"title": "Twins"})
    with pytest.raises(InvalidInput) as caught:
        engine.fire(item.id, "note", office, {"amount": 3})
    assert dict(caught.value.errors)["text"] == "is required"
    item = engine.fire(item.id, "note", office, {"text": "first note"})
    with pytest.raises(InvalidInput) as caught:
        engine.fire(item.id, "note", office, {"text": "again"})
    assert dict(caught.value.errors)["amount"] == "is required"
    item = engine.fire(item.id, "note", office, {"amount": 3, "co_units": ["u_hr"]})
    assert item.state == "panel"
    with pytest.raises(InvalidInput) as caught:
        engine.fire(item.id, "note", actor("zhou", "co_unit"), {"verdict": "agree"})
    assert dict(caught.value.errors)["score"] == "is required"
    item = engine.fire(item.id, "note", actor("zhou", "co_unit"), {"verdict": "agree", "score": 4})
    assert item.state == "done"
    assert engine.verify(item.id) == []
