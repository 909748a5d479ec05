"""Diagrams with time limits, escalation ladders and one item's highlighted path."""

# ruff: noqa: RUF001 - expected output holds the minus sign and Mermaid-safe lookalikes

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from tests.unit.test_graph import DOT, NO_DOT, make_definition, raw_spec, text
from workflow.definition.compiled import Definition
from workflow.definition.graph import ItemPath, PathStep, to_dot, to_mermaid


def with_ladders() -> dict[str, Any]:
    """The permit workflow of test_graph with a workflow ladder and one state's own ladder."""
    raw = raw_spec()
    raw["escalation"] = {
        "levels": [
            {"name": "warning", "label": text("Warning", "預警"), "before": 1},
            {"name": "reminder", "label": text("Reminder", "催辦"), "after": 0},
            {"name": "monthly_review", "label": text("Review", "月度例會"), "after": 3},
            {
                "name": "late_call",
                "label": text("Call", "電話"),
                "after": 4,
                "unit": "hours",
            },
        ]
    }
    working = raw["states"]["handling"]["states"]["working"]
    working["escalation"] = {
        "levels": [
            {"name": "nudge", "label": text("Nudge", "提醒"), "before": 2},
            {"name": "chase", "label": text("Chase", "追辦"), "after": 1},
        ]
    }
    return raw


@pytest.fixture
def laddered() -> Definition:
    return make_definition(with_ladders())


# The history of one item: submitted, signed for, a note, consulted, back by joint
# completion (the engine's own move), then rejected.
HISTORY = ItemPath(
    (
        PathStep(1, "@start", None, "draft"),
        PathStep(2, "submit", "draft", "assigned"),
        PathStep(3, "sign_for", "assigned", "working"),
        PathStep(4, "add_note", "working", "working"),
        PathStep(5, "consult", "working", "consult"),
        PathStep(6, "@joint_complete", "consult", "working"),
        PathStep(7, "consult", "working", "consult"),
        PathStep(8, "@joint_complete", "consult", "working"),
        PathStep(9, "reject", "working", "rejected"),
    )
)


def test_deadlines_are_drawn_with_a_clock(laddered: Definition) -> None:
    mermaid = to_mermaid(laddered)
    assert '        state "Assigned<br/>⏱ 48 h" as assigned' in mermaid
    dot = to_dot(laddered)
    assert '"assigned" [label=<Assigned<BR/><FONT POINT-SIZE="10">⏱ 48 h</FONT>>];' in dot


def test_a_states_own_ladder_is_drawn_on_it(laddered: Definition) -> None:
    mermaid = to_mermaid(laddered)
    assert (
        '        state "Working<br/>⏱ 10 working days (clock from sign_for)'
        '<br/>⚠ nudge −2 wd · chase +1 wd" as working'
    ) in mermaid
    assert "⚠ nudge −2 wd · chase +1 wd</FONT>>];" in to_dot(laddered)
    assert "⚠ 提醒 −2 工作日 · 追辦 +1 工作日" in to_mermaid(laddered, lang="zh")


def test_the_workflow_ladder_is_a_legend(laddered: Definition) -> None:
    lines = to_mermaid(laddered).splitlines()
    # Deadlines that climb the workflow's ladder are in hours (the assigned state) only:
    # the offsets are in hours, except a level that names its own unit.
    assert lines[-3:] == [
        '    state "⚠ escalation ladder<br/>warning −1 h<br/>reminder 0<br/>monthly review +3 h'
        '<br/>late call +4 h" as Ladder',
        "    classDef ladder fill:#f8f9fa,stroke:#adb5bd,stroke-dasharray:4 4",
        "    class Ladder ladder",
    ]
    dot = to_dot(laddered)
    assert (
        '"Ladder" [shape=note, fontsize=10, style=dashed, color="#adb5bd", '
        'label=<⚠ escalation ladder<BR/><FONT POINT-SIZE="10">warning −1 h</FONT>'
    ) in dot


def test_a_ladder_over_mixed_units_says_so() -> None:
    raw = with_ladders()
    raw["states"]["suspended"]["deadline"] = {"amount": 3, "unit": "working_days"}
    legend = to_mermaid(make_definition(raw)).splitlines()[-3]
    assert legend.startswith(
        "    state \"⚠ escalation ladder (in each time limit's unit)<br/>warning −1<br/>"
    )
    assert "late call +4 h" in legend


def test_no_legend_without_a_workflow_ladder() -> None:
    plain = make_definition(raw_spec())
    assert "Ladder" not in to_mermaid(plain)
    assert "Ladder" not in to_dot(plain)


def test_the_path_of_an_item_in_mermaid(laddered: Definition) -> None:
    lines = to_mermaid(laddered, path=HISTORY).splitlines()
    assert "        assigned --> working : ▶ 3 Sign for [Officer]" in lines
    assert "        working --> working : ▶ 4 Add note [Officer, unit]" in lines
    assert "        working --> consult : ▶ 5, 7 Consult [Officer]" in lines
    assert "        consult --> working : ▶ 6, 8 joint complete (if joint.disagreed › 0)" in lines
    assert "    draft --> assigned : ▶ 2 Submit [Applicant]" in lines
    # Of two events on one arrow, only the one taken is numbered.
    assert (
        "    working --> rejected : Decide [Officer] (else)<br/>▶ 9 Reject [Officer] ✎ reason"
        in (lines)
    )
    assert "    consult --> approved : joint complete (else)" in lines
    assert lines[-4:] == [
        "    classDef visited fill:#fff3bf,stroke:#f08c00,stroke-width:2px",
        "    classDef current fill:#ffd43b,stroke:#e8590c,stroke-width:3px",
        "    class draft,assigned,working,consult visited",
        "    class rejected current",
    ]
    # Without a path, nothing is numbered or coloured.
    plain = to_mermaid(laddered)
    assert "▶" not in plain
    assert "visited" not in plain


def test_the_path_of_an_item_in_dot(laddered: Definition) -> None:
    dot = to_dot(laddered, path=HISTORY)
    taken = 'color="#e8590c", fontcolor="#e8590c", penwidth=2.5'
    assert f'"__start__" -> "draft" [{taken}];' in dot
    assert f'"draft" -> "assigned" [label=<<B>▶ 2 Submit [Applicant]</B>>, {taken}];' in dot
    assert (
        '"working" -> "rejected" [label=<Decide [Officer] (else)<BR/>'
        f"<B>▶ 9 Reject [Officer] ✎ reason</B>>, {taken}];"
    ) in dot
    assert '"consult" -> "approved" [label=<joint complete (else)>, style=dashed];' in dot
    assert (
        '"draft" [label=<Draft &quot;v1&quot;: &lt;b&gt;new&lt;/b&gt;>, '
        'style="rounded,filled", fillcolor="#fff3bf", color="#f08c00"];'
    ) in dot
    assert (
        '"rejected" [label=<Rejected>, peripheries=2, style="rounded,filled,bold", '
        'fillcolor="#ffd43b", color="#e8590c", penwidth=3];'
    ) in dot
    assert '"approved" [label=<Approved>, peripheries=2];' in dot


def test_a_group_wide_event_and_a_migration_on_the_path() -> None:
    definition = make_definition(raw_spec())
    path = ItemPath(
        (
            PathStep(1, "@start", None, "draft"),
            PathStep(2, "submit", "draft", "assigned"),
            PathStep(3, "@migrate", "assigned", "assigned"),
            PathStep(4, "suspend", "assigned", "suspended"),
        )
    )
    mermaid = to_mermaid(definition, path=path)
    # `suspend` is declared on the group: the arrow leaving the group is the one taken.
    assert "    handling --> suspended : ▶ 4 Suspend [Officer] ✎ reason" in mermaid
    assert "▶ 3" not in mermaid
    assert "    class suspended current" in mermaid
    assert path.visited() == ("draft", "assigned", "suspended")
    assert path.current == "suspended"


def test_the_highlighted_dot_renders_to_svg(laddered: Definition) -> None:
    if DOT is None:
        pytest.skip(NO_DOT)
    svg = subprocess.run(
        [shutil.which("dot") or "dot", "-Tsvg"],
        input=to_dot(laddered, path=HISTORY).encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "#e8590c" in svg
    assert "escalation ladder" in svg
