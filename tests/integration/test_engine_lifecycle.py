"""The shipped ``enterprise_issue`` lifecycle, walked path by path on every backend.

Each test ends with the engine's own check: the item's history replays to its
stored state and data, without gaps in ``seq``, and ``version`` counts the rows.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.engine_fixtures import ACTORS, PATHS, Harness, actor, wf
from workflow.core.values import ItemSnapshot
from workflow.errors import GuardFailed, NotAuthorized

__all__ = ["wf"]

OPEN_STATES = [
    "collected",
    "dispatched",
    "disputed",
    "handling",
    "joint_handling",
    "suspended",
    "replied",
    "awaiting_sign_off",
    "closing",
]


def _fire(
    wf: Harness,
    item: ItemSnapshot,
    event: str,
    who: str,
    data: dict[str, object] | None = None,
    reason: str | None = None,
) -> ItemSnapshot:
    return wf.engine.fire(item.id, event, ACTORS[who], data, reason=reason)


def _events(wf: Harness, item: ItemSnapshot) -> list[tuple[str, str, str | None, str]]:
    return [(h.kind, h.event, h.from_state, h.to_state) for h in wf.engine.history(item.id)]


def test_main_path_from_collection_to_strike_off(wf: Harness) -> None:
    item = wf.start()
    assert (item.state, item.version, item.is_open) == ("collected", 1, True)
    assert item.data["source"] == "enterprise"  # the field's default
    assert item.data["reopen_count"] == 0
    assert item.created_by == "zhao"

    item = _fire(wf, item, "amend", "enterprise", {"description": "Venue for 40 people, mocap."})
    assert item.state == "collected"
    assert item.data["description"] == "Venue for 40 people, mocap."
    wf.clock.advance(dt.timedelta(hours=3))
    item = _fire(wf, item, "accept", "office", {"lead_unit": "u_culture"})
    assert (item.state, item.data["lead_unit"]) == ("dispatched", "u_culture")
    assert item.updated_at == wf.clock.now()
    item = _fire(wf, item, "sign_for", "unit")
    assert item.state == "handling"
    item = _fire(
        wf,
        item,
        "reply",
        "unit",
        {"result": "The park's studio is yours from May.", "resolution": "solved"},
    )
    assert (item.state, item.data["resolution"]) == ("replied", "solved")
    item = _fire(wf, item, "record_revisit", "commissioner", {"satisfaction": "satisfied"})
    assert (item.state, item.data["satisfaction"]) == ("awaiting_sign_off", "satisfied")
    assert item.data["reopen_count"] == 0
    item = _fire(wf, item, "sign_off", "enterprise")
    assert item.state == "closing"
    assert item.is_open
    assert item.closed_at is None
    wf.clock.advance(dt.timedelta(days=1))
    item = _fire(wf, item, "strike_off", "office")
    assert (item.state, item.is_open, item.version) == ("closed", False, 8)
    assert item.closed_at == wf.clock.now()

    assert wf.engine.get(item.id) == item
    history = wf.engine.history(item.id)
    assert [h.seq for h in history] == list(range(1, 9))
    assert [(h.event, h.actor_id, h.actor_role) for h in history] == [
        ("start", "zhao", "enterprise"),
        ("amend", "zhao", "enterprise"),
        ("accept", "li", "office"),
        ("sign_for", "chen", "unit"),
        ("reply", "chen", "unit"),
        ("record_revisit", "sun", "commissioner"),
        ("sign_off", "zhao", "enterprise"),
        ("strike_off", "li", "office"),
    ]
    assert {h.definition_hash for h in history} == {item.definition_hash}
    assert history[2].input == {"lead_unit": "u_culture"}
    assert history[2].changes == {"lead_unit": "u_culture"}
    assert history[3].changes is None  # signing for changes no field
    assert wf.engine.list(is_open=False) == [item]
    wf.verified(item.id)


def test_start_by_commissioner_and_office(wf: Harness) -> None:
    by_commissioner = wf.start("commissioner", source="commissioner")
    by_office = wf.start("office", source="monthly_meeting")
    assert wf.engine.history(by_commissioner.id)[0].actor_role == "commissioner"
    assert wf.engine.history(by_office.id)[0].actor_role == "office"
    assert by_office.data["source"] == "monthly_meeting"
    assert by_office.id != by_commissioner.id
    for item in (by_commissioner, by_office):
        wf.verified(item.id)


def test_returned_item_is_redispatched_to_another_unit(wf: Harness) -> None:
    item = wf.drive("disputed")
    row = wf.engine.history(item.id)[-1]
    assert (row.event, row.reason) == ("return_to_office", "Venues belong to the land bureau.")
    item = _fire(wf, item, "redispatch", "office", {"lead_unit": "u_land"})
    assert (item.state, item.data["lead_unit"]) == ("dispatched", "u_land")
    # The unit the item was taken from no longer acts on it; the new one does.
    with pytest.raises(NotAuthorized):
        _fire(wf, item, "sign_for", "unit")
    item = wf.engine.fire(item.id, "sign_for", actor("he", "unit"))
    assert item.state == "handling"
    wf.verified(item.id)


def test_returned_item_assignment_upheld_or_rejected(wf: Harness) -> None:
    upheld = _fire(wf, wf.drive("disputed"), "uphold_assignment", "office", reason="It is yours.")
    assert (upheld.state, upheld.data["lead_unit"]) == ("dispatched", "u_culture")
    upheld = _fire(wf, upheld, "sign_for", "unit")
    assert upheld.state == "handling"

    rejected = _fire(wf, wf.drive("disputed"), "reject", "office", reason="Out of scope.")
    assert (rejected.state, rejected.is_open) == ("rejected", False)
    assert rejected.closed_at is not None
    for item in (upheld, rejected):
        wf.verified(item.id)


def test_merge_duplicate_and_reject_from_collected(wf: Harness) -> None:
    merged = wf.drive("merged")
    assert (merged.state, merged.is_open, merged.data["duplicate_of"]) == (
        "merged",
        False,
        "EI-2026-0001",
    )
    assert wf.engine.history(merged.id)[-1].reason is None  # the reason is optional
    rejected = wf.drive("rejected")
    assert rejected.state == "rejected"
    for item in (merged, rejected):
        wf.verified(item.id)


@pytest.mark.parametrize("source", ["handling", "joint_handling", "suspended"])
def test_transfer_from_processing(wf: Harness, source: str) -> None:
    item = wf.drive(source)
    item = _fire(wf, item, "transfer", "office", {"lead_unit": "u_tax"}, reason="Tax matter.")
    assert (item.state, item.data["lead_unit"]) == ("dispatched", "u_tax")
    assert _events(wf, item)[-1] == ("event", "transfer", source, "dispatched")
    # Joint handling left behind: no branch stays open.
    assert all(b.status == "cancelled" for b in wf.engine.branches(item.id))
    item = wf.engine.fire(item.id, "sign_for", actor("ma", "unit"))
    assert item.state == "handling"
    wf.verified(item.id)


def test_extension_requested_approved_and_denied(wf: Harness) -> None:
    item = wf.drive("handling")
    item = _fire(wf, item, "request_extension", "unit", {"days": 5}, reason="Survey needed.")
    assert (item.data["extension_pending"], item.data["extension_days"]) == (True, 5)
    # Pending: no second request, no reply, no approving more than asked.
    failed = wf.refused(
        item.id,
        GuardFailed,
        lambda: _fire(wf, item, "request_extension", "unit", {"days": 2}, reason="More."),
    )
    assert failed.guard_message == "An extension request is already pending."
    failed = wf.refused(
        item.id,
        GuardFailed,
        lambda: _fire(
            wf, item, "reply", "unit", {"result": "Done, all of it.", "resolution": "solved"}
        ),
    )
    assert failed.guard == "not item.extension_pending"
    failed = wf.refused(
        item.id, GuardFailed, lambda: _fire(wf, item, "approve_extension", "office", {"days": 6})
    )
    assert failed.guard == "input.days <= item.extension_days"
    item = _fire(wf, item, "approve_extension", "office", {"days": 3})
    assert (item.state, item.data["extension_pending"]) == ("handling", False)
    assert wf.engine.history(item.id)[-1].input == {"days": 3}
    # Nothing pending any more: neither approving nor denying again.
    failed = wf.refused(
        item.id, GuardFailed, lambda: _fire(wf, item, "approve_extension", "office", {"days": 1})
    )
    assert failed.guard == "item.extension_pending"
    wf.refused(
        item.id, GuardFailed, lambda: _fire(wf, item, "deny_extension", "office", reason="No.")
    )

    item = _fire(wf, item, "request_extension", "unit", {"days": 10}, reason="Again.")
    # The office may decide a request while the item is suspended (anywhere in processing).
    item = _fire(wf, item, "suspend", "unit", reason="Waiting for the district.")
    item = _fire(wf, item, "deny_extension", "office", reason="Ten days is too long.")
    assert (item.state, item.data["extension_pending"], item.data["extension_days"]) == (
        "suspended",
        False,
        None,
    )
    item = _fire(wf, item, "resume", "unit")
    item = _fire(
        wf, item, "reply", "unit", {"result": "Solved within time.", "resolution": "solved"}
    )
    assert item.state == "replied"
    wf.verified(item.id)


def test_suspend_and_resume(wf: Harness) -> None:
    item = wf.drive("suspended")
    assert wf.engine.history(item.id)[-1].reason == "Waiting for the district's plan."
    item = _fire(wf, item, "resume", "office", reason="  The plan is out.\n")
    assert item.state == "handling"
    assert wf.engine.history(item.id)[-1].reason == "The plan is out."  # stored trimmed
    item = _fire(wf, item, "suspend", "unit", reason="Again waiting.")
    item = _fire(wf, item, "resume", "unit", reason="   ")
    assert item.state == "handling"
    assert wf.engine.history(item.id)[-1].reason is None  # a blank optional reason is none
    assert [e[1] for e in _events(wf, item)][-4:] == ["suspend", "resume", "suspend", "resume"]
    wf.verified(item.id)


def test_withdraw_from_every_open_state(wf: Harness) -> None:
    for number, state in enumerate(OPEN_STATES):
        item = wf.drive(state)
        who = "enterprise" if number % 2 else "commissioner"
        reason = None if number % 3 else "No longer needed."
        item = _fire(wf, item, "withdraw", who, reason=reason)
        assert (item.state, item.is_open) == ("withdrawn", False), state
        assert _events(wf, item)[-1] == ("event", "withdraw", state, "withdrawn")
        assert all(b.status != "open" for b in wf.engine.branches(item.id))
        wf.verified(item.id)


def test_close_by_decision_from_every_open_state(wf: Harness) -> None:
    for number, state in enumerate(OPEN_STATES):
        item = wf.drive(state)
        who = "office" if number % 2 else "leader"
        item = _fire(wf, item, "close_by_decision", who, reason="Monthly meeting decision.")
        assert (item.state, item.is_open) == ("closed", False), state
        assert wf.engine.history(item.id)[-1].actor_role == who
        assert all(b.status != "open" for b in wf.engine.branches(item.id))
        wf.verified(item.id)


def test_paths_reach_every_leaf_state(wf: Harness) -> None:
    definition = wf.engine.catalog.get("enterprise_issue")
    assert set(PATHS) == set(definition.leaves())
    item = wf.drive("closed")
    assert wf.engine.available_events(item.id, ACTORS["office"]) == []
    wf.verified(item.id)


def test_unsatisfied_revisit_reopens_handling(wf: Harness) -> None:
    item = wf.drive("replied")
    # Unsatisfied needs a comment (the guard), and then sends the item back to the unit.
    wf.refused(
        item.id,
        GuardFailed,
        lambda: _fire(wf, item, "record_revisit", "commissioner", {"satisfaction": "unsatisfied"}),
    )
    item = _fire(
        wf,
        item,
        "record_revisit",
        "commissioner",
        {"satisfaction": "unsatisfied", "comment": "The venue is too small."},
        reason="Phoned the founder.",
    )
    assert (item.state, item.data["reopen_count"], item.data["satisfaction"]) == (
        "dispatched",
        1,
        "unsatisfied",
    )
    assert wf.engine.history(item.id)[-1].changes == {
        "satisfaction": "unsatisfied",
        "reopen_count": 1,
    }
    item = _fire(wf, item, "sign_for", "unit")
    item = _fire(
        wf, item, "reply", "unit", {"result": "A larger hall is booked.", "resolution": "solved"}
    )
    item = _fire(
        wf, item, "record_revisit", "commissioner", {"satisfaction": "basically_satisfied"}
    )
    assert (item.state, item.data["reopen_count"]) == ("awaiting_sign_off", 1)
    item = _fire(wf, item, "sign_off", "commissioner")
    item = _fire(wf, item, "strike_off", "office")
    assert (item.state, item.data["result"]) == ("closed", "A larger hall is booked.")
    wf.verified(item.id)


def test_objection_at_sign_off_reopens_handling(wf: Harness) -> None:
    item = wf.drive("awaiting_sign_off")
    item = _fire(wf, item, "object", "enterprise", reason="Nothing has changed for us.")
    assert (item.state, item.data["reopen_count"]) == ("dispatched", 1)
    for step in PATHS["awaiting_sign_off"][1:]:  # the same path again, from dispatched
        item = wf.step(item, step)
    item = _fire(wf, item, "object", "enterprise", reason="Still nothing.")
    assert item.data["reopen_count"] == 2
    wf.verified(item.id)
