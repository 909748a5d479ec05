"""Tests for workflow.definition.diff: a definition change, section by section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS, REPO
from workflow.definition.compiled import Definition
from workflow.definition.diff import diff_definitions, state_impact
from workflow.definition.loader import load_definition

V2_FIXTURE = REPO / "tests" / "fixtures" / "enterprise_issue_v2.yaml"


def shipped_with_v2(folder: Path) -> Path:
    """Copy the shipped definitions and the version-2 fixture into ``folder``; return it."""
    target = folder / "definitions"
    shutil.copytree(DEFINITIONS, target)
    shutil.copy(V2_FIXTURE, target / "enterprise_issue_v2.yaml")
    return target


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Definition, Definition]:
    folder = shipped_with_v2(tmp_path_factory.mktemp("v2"))
    return (
        load_definition(str(folder / "enterprise_issue.yaml")),
        load_definition(str(folder / "enterprise_issue_v2.yaml")),
    )


def edited(folder: Path, name: str, *replacements: tuple[str, str]) -> Definition:
    """Load the shipped enterprise_issue with text replacements, as a file in ``folder``."""
    text = (DEFINITIONS / "enterprise_issue.yaml").read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    target = folder / "definitions"
    if not target.exists():
        shutil.copytree(DEFINITIONS, target)
    path = target / name
    path.write_text(text, encoding="utf-8")
    return load_definition(str(path))


def test_the_version_two_fixture_lists_exactly_its_changes(
    versions: tuple[Definition, Definition],
) -> None:
    old, new = versions
    found = diff_definitions(old, new)
    assert [(c.kind, c.path, c.old, c.new) for c in found.changes] == [
        ("changed", "version", 1, 2),
        (
            "added",
            "fields.info_request",
            None,
            {
                "type": "text",
                "label": {"zh": "補充材料要求", "en": "Information requested"},
                "required": False,
            },
        ),
        ("changed", "states.processing.deadline.amount", 15, 10),
        (
            "added",
            "states.awaiting_info",
            None,
            {
                "label": {"zh": "待企業補充材料", "en": "Awaiting more information"},
                "final": False,
                "deadline": {"amount": 5, "unit": "working_days"},
                "pauses_clock": False,
                "parent": "open",
            },
        ),
        ("removed", "events.amend", found.changes[4].old, None),
        ("added", "events.ask_for_info", None, found.changes[5].new),
        ("added", "events.provide_info", None, found.changes[6].new),
        ("changed", "escalation.levels.monthly_review.after", 3, 2),
    ]
    assert found.changes[4].old["from"] == ["collected"]
    assert found.changes[5].new["to"] == [{"state": "awaiting_info"}]
    assert [c.section for c in found.changes] == [
        "workflow",
        "fields",
        "states",
        "states",
        "events",
        "events",
        "events",
        "escalation",
    ]
    assert not found.identical
    assert (found.workflow_id, found.old_version, found.new_version) == ("enterprise_issue", 1, 2)


def test_each_change_has_a_one_line_description(versions: tuple[Definition, Definition]) -> None:
    descriptions = [c.description for c in diff_definitions(*versions).changes]
    assert descriptions == [
        "workflow: version 1 → 2",
        "field 'info_request' added: 'Information requested', text",
        "state 'processing': deadline amount 15 → 10",
        "state 'awaiting_info' added: 'Awaiting more information', in open, "
        "deadline 5 working_days",
        "event 'amend' removed (was 'Amend the description', from collected, "
        "by enterprise, commissioner)",
        "event 'ask_for_info' added: 'Ask for more information', from collected, "
        "to awaiting_info, by office",
        "event 'provide_info' added: 'Provide the information', from awaiting_info, "
        "to collected, by enterprise, commissioner",
        "workflow ladder level 'monthly_review': after 3 → 2",
    ]


def test_a_definition_against_itself_has_no_changes(
    versions: tuple[Definition, Definition],
) -> None:
    old, _ = versions
    found = diff_definitions(old, old)
    assert found.changes == ()
    assert found.renames == ()
    assert found.identical


def test_the_diff_is_plain_json(versions: tuple[Definition, Definition]) -> None:
    found = diff_definitions(*versions)
    data = json.loads(json.dumps(found.as_json()))
    assert data["old_version"] == 1
    assert data["new_version"] == 2
    assert len(data["changes"]) == 8
    assert data["changes"][2] == {
        "kind": "changed",
        "section": "states",
        "path": "states.processing.deadline.amount",
        "old": 15,
        "new": 10,
        "description": "state 'processing': deadline amount 15 → 10",
    }


def test_what_items_in_each_state_meet(versions: tuple[Definition, Definition]) -> None:
    old, new = versions
    collected = state_impact(old, new, "collected")
    assert collected.events_lost == ("amend",)
    assert collected.events_gained == ("ask_for_info",)
    assert not collected.deadline_changed
    # Every time limit climbs the workflow's ladder, whose monthly review moved.
    assert collected.ladder_changed
    for state in ("handling", "joint_handling", "suspended"):
        inside = state_impact(old, new, state)
        assert inside.deadline_changed, state
        assert (inside.events_lost, inside.events_gained) == ((), ()), state
    assert not state_impact(old, new, "replied").deadline_changed
    closed = state_impact(old, new, "closed")
    assert not closed.affected
    assert not closed.removed


def test_a_removed_state_and_changed_event_details(tmp_path: Path) -> None:
    old = load_definition(str(DEFINITIONS / "enterprise_issue.yaml"))
    new = edited(
        tmp_path,
        "renamed.yaml",
        ("version: 1\n", "version: 2\n"),
        ("      closing:\n", "      striking_off:\n"),
        ("    from: closing\n", "    from: striking_off\n"),
        ("    to: closing\n", "    to: striking_off\n"),
        (
            "    notify: [enterprise, commissioner]\n    reason: required\n",
            "    notify: [enterprise]\n    reason: optional\n",
        ),
        ("    roles: [leader, office]\n", "    roles: [office, leader, commissioner]\n"),
        (
            "      monthly_meeting: {zh: 月度例會, en: Monthly service meeting}\n",
            "      monthly_meeting: {zh: 月度例會, en: Monthly service meeting}\n"
            "      hotline: {zh: 熱線, en: Hotline}\n",
        ),
        ('    cron: "0 9 1 * *"\n', '    cron: "0 9 2 * *"\n'),
    )
    found = diff_definitions(old, new)
    by_path = {c.path: c for c in found.changes}
    assert by_path["states.closing"].kind == "removed"
    assert by_path["states.striking_off"].kind == "added"
    assert by_path["events.sign_off.to"].new == [{"state": "striking_off"}]
    assert by_path["events.strike_off.from"].description == (
        "event 'strike_off': from +striking_off -closing"
    )
    assert by_path["events.reject.reason"].old == "required"
    assert by_path["events.reject.notify"].new == ["enterprise"]
    assert by_path["events.assign_supervisor.roles"].description == (
        "event 'assign_supervisor': roles +commissioner"
    )
    assert by_path["fields.source.options.hotline"].kind == "added"
    assert (
        by_path["reviews.monthly.cron"].description
        == "review 'monthly': cron 0 9 1 * * → 0 9 2 * *"
    )
    [hint] = found.renames
    assert (hint.section, hint.old, hint.new) == ("states", "closing", "striking_off")
    assert "--map closing=striking_off" in hint.description
    impact = state_impact(old, new, "closing")
    assert impact.removed
    assert impact.events_lost == (
        "strike_off",
        "withdraw",
        "assign_supervisor",
        "close_by_decision",
    )


def test_roles_that_reorder_only_are_no_change(tmp_path: Path) -> None:
    old = load_definition(str(DEFINITIONS / "enterprise_issue.yaml"))
    new = edited(
        tmp_path,
        "reordered.yaml",
        ("    roles: [leader, office]\n", "    roles: [office, leader]\n"),
    )
    assert diff_definitions(old, new).changes == ()


def test_state_ladders_and_joint_settings(tmp_path: Path) -> None:
    old = load_definition(str(DEFINITIONS / "enterprise_issue.yaml"))
    new = edited(
        tmp_path,
        "ladder.yaml",
        ("version: 1\n", "version: 3\n"),
        (
            '      replied:\n        label: {zh: 已答復待回訪, en: "Replied, awaiting revisit"}\n'
            "        deadline: {amount: 5, unit: working_days}\n",
            '      replied:\n        label: {zh: 已答復待回訪, en: "Replied, awaiting revisit"}\n'
            "        deadline: {amount: 5, unit: working_days}\n"
            "        escalation:\n          levels:\n"
            "            - {name: nudge, label: {zh: 提醒, en: Nudge}, after: 1,"
            " notify: [office]}\n",
        ),
        ("              unanswered: agree\n", "              unanswered: wait\n"),
        (
            "              deadline: {amount: 5, unit: working_days}\n              complete_when",
            "              deadline: {amount: 3, unit: working_days}\n              complete_when",
        ),
    )
    found = diff_definitions(old, new)
    by_path = {c.path: c for c in found.changes}
    assert by_path["states.replied.escalation"].kind == "added"
    assert by_path["states.joint_handling.joint.unanswered"].description == (
        "state 'joint_handling': joint unanswered agree → wait"
    )
    assert by_path["states.joint_handling.joint.deadline.amount"].old == 5
    joint = state_impact(old, new, "joint_handling")
    assert (joint.deadline_changed, joint.ladder_changed) == (True, False)
    assert not state_impact(old, new, "handling").deadline_changed
    replied = state_impact(old, new, "replied")
    assert replied.ladder_changed
    assert not replied.deadline_changed
    assert not state_impact(old, new, "closing").ladder_changed
