"""Tests for workflow.definition.graph: Mermaid, DOT and SVG drawings of a lifecycle."""

# ruff: noqa: RUF001 - expected output holds Chinese punctuation and Mermaid-safe lookalikes

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from workflow.definition.compiled import Definition
from workflow.definition.graph import (
    FORMATS,
    GraphvizFailed,
    GraphvizMissing,
    render_svg,
    to_dot,
    to_mermaid,
)
from workflow.definition.model import StateSpec, WorkflowSpec
from workflow.errors import WorkflowError

DOT = shutil.which("dot")
NO_DOT = (
    "!!! Graphviz `dot` is NOT installed: SVG rendering and DOT validity are NOT tested "
    "(apt-get install graphviz) !!!"
)


def text(en: str, zh: str) -> dict[str, str]:
    return {"en": en, "zh": zh}


def raw_spec() -> dict[str, Any]:
    return {
        "id": "permit",
        "version": 2,
        "title": text("Building permit", "施工許可"),
        "initial": "draft",
        "started_by": ["officer"],
        "fields": {
            "units": {"type": "list", "items": "ref", "ref": "unit"},
            "score": {"type": "integer"},
        },
        "roles": {
            "applicant": {"label": text("Applicant", "申請人"), "group": "public"},
            "officer": {"label": text("Officer", "經辦人"), "group": "staff"},
            "unit": {"field": "units"},
        },
        "states": {
            "draft": {"label": text('Draft "v1": <b>new</b>', "草稿")},
            "handling": {
                "label": text("Handling", "辦理中"),
                "states": {
                    "assigned": {
                        "label": text("Assigned", "已派單"),
                        "deadline": {"amount": 48, "unit": "hours"},
                    },
                    "working": {
                        "label": text("Working", "辦理"),
                        "deadline": {
                            "amount": 10,
                            "unit": "working_days",
                            "start_event": "sign_for",
                        },
                    },
                    "consult": {
                        "label": text("Consultation", "會辦"),
                        "joint": {
                            "units": "units",
                            "role": "unit",
                            "answer": {
                                "name": "give_opinion",
                                "label": text("Give opinion", "出具意見"),
                                "reason": "required",
                            },
                            "deadline": {"amount": 1, "unit": "calendar_days"},
                            "complete_when": {"rule": "at_least", "count": 2},
                            "then": [
                                {"when": "joint.disagreed > 0", "state": "working"},
                                {"state": "approved"},
                            ],
                        },
                    },
                },
            },
            "suspended": {"label": text("Suspended", "掛起"), "pauses_clock": True},
            "approved": {"label": text("Approved", "已批准"), "final": True},
            "rejected": {"label": text("Rejected", "已駁回"), "final": True},
        },
        "events": [
            {
                "name": "submit",
                "label": text("Submit", "提交"),
                "from": "draft",
                "to": "assigned",
                "roles": "applicant",
            },
            {
                "name": "sign_for",
                "label": text("Sign for", "簽收"),
                "from": "assigned",
                "to": "working",
                "roles": "officer",
            },
            {
                "name": "add_note",
                "label": text("Add note", "添加備註"),
                "from": "working",
                "roles": ["officer", "unit"],
            },
            {
                "name": "consult",
                "label": text("Consult", "發起會辦"),
                "from": "working",
                "to": "consult",
                "roles": "officer",
            },
            {
                "name": "decide",
                "label": text("Decide", "決定"),
                "from": "working",
                "to": [
                    {
                        "when": "item.score >= 60 and item.score <= 100 and input.ok == true",
                        "state": "approved",
                    },
                    {"state": "rejected"},
                ],
                "roles": "officer",
            },
            {
                "name": "reject",
                "label": text("Reject", "駁回"),
                "from": "working",
                "to": "rejected",
                "roles": "officer",
                "reason": "required",
            },
            {
                "name": "suspend",
                "label": text("Suspend", "掛起"),
                "from": "handling",
                "to": "suspended",
                "roles": "officer",
                "reason": "required",
            },
            {
                "name": "remind",
                "label": text("Remind", "催辦"),
                "from": "handling",
                "roles": "applicant",
            },
            {
                "name": "resume",
                "label": text("Resume", "恢復"),
                "from": "suspended",
                "to": "working",
                "roles": "officer",
            },
        ],
    }


def make_definition(raw: dict[str, Any]) -> Definition:
    """Build a Definition the way the loader indexes it, without reading YAML."""
    spec = WorkflowSpec.model_validate(raw)
    states: dict[str, StateSpec] = {}
    parents: dict[str, str | None] = {}

    def walk(children: dict[str, StateSpec], parent: str | None) -> None:
        for name, state in children.items():
            states[name] = state
            parents[name] = parent
            if state.states:
                walk(state.states, name)

    walk(spec.states, None)
    return Definition(
        spec=spec, hash="test", sources=(), states=states, parents=parents, expressions={}
    )


@pytest.fixture
def definition() -> Definition:
    return make_definition(raw_spec())


def test_formats_constant() -> None:
    assert FORMATS == ("mermaid", "dot", "svg")


def test_mermaid_structure(definition: Definition) -> None:
    lines = to_mermaid(definition).splitlines()
    assert lines[:5] == [
        "---",
        'title: "Building permit · v2"',
        "---",
        "stateDiagram-v2",
        "    [*] --> draft",
    ]
    expected = [
        # Mermaid cannot loop a composite state: group-wide internal events join its label.
        '    state "Handling<br/>↻ Remind [Applicant]" as handling {',
        '        state "Assigned<br/>⏱ 48 h" as assigned',
        '        state "Working<br/>⏱ 10 working days (clock from sign_for)" as working',
        '        state "Consultation<br/>joint꞉ at least 2, 1 calendar day per branch" as consult',
        "        note right of consult : answer꞉ Give opinion [unit] ✎ reason",
        "        assigned --> working : Sign for [Officer]",
        "        working --> working : Add note [Officer, unit]",
        "        working --> consult : Consult [Officer]",
        "        consult --> working : joint complete (if joint.disagreed › 0)",
        "    }",
        '    state "Suspended<br/>⏸ clock paused" as suspended',
        '    state "Approved" as approved',
        "    draft --> assigned : Submit [Applicant]",
        # Two events between the same states share one arrow.
        "    working --> rejected : Decide [Officer] (else)<br/>Reject [Officer] ✎ reason",
        # A group-wide event leaves the composite, not each leaf.
        "    handling --> suspended : Suspend [Officer] ✎ reason",
        "    consult --> approved : joint complete (else)",
        "    approved --> [*]",
        "    rejected --> [*]",
    ]
    for line in expected:
        assert line in lines, line
    assert lines.index("    }") > lines.index("        assigned --> working : Sign for [Officer]")
    # The long condition is cut short.
    decide = next(line for line in lines if line.startswith("    working --> approved"))
    assert decide == (
        "    working --> approved : Decide [Officer] (if item.score ›= 60 and item.score ‹= 100…)"
    )
    assert not any(line.startswith("    assigned --> suspended") for line in lines)


def test_mermaid_chinese_labels(definition: Definition) -> None:
    zh = to_mermaid(definition, lang="zh")
    en = to_mermaid(definition, lang="en")
    assert 'title: "施工許可 · v2"' in zh
    assert '        state "辦理<br/>⏱ 10 個工作日（自 sign_for 起算）" as working' in zh
    assert "    working --> rejected : 決定 [經辦人]（否則）<br/>駁回 [經辦人] ✎ 需填理由" in zh
    assert "        consult --> working : 會辦完成（若 joint.disagreed › 0）" in zh
    assert "會辦：至少 2 家" in zh
    assert "Working" not in zh
    assert "辦理" not in en


def test_unknown_language_refused(definition: Definition) -> None:
    with pytest.raises(ValueError, match="language"):
        to_mermaid(definition, lang="fr")
    with pytest.raises(ValueError, match="language"):
        to_dot(definition, lang="fr")


def test_mermaid_escapes_label(definition: Definition) -> None:
    mermaid = to_mermaid(definition)
    assert '    state "Draft ″v1″꞉ ‹b›new‹/b›" as draft' in mermaid.splitlines()
    labels = []
    for line in mermaid.split("stateDiagram-v2\n", 1)[1].splitlines():
        if match := re.fullmatch(r'\s*state "(.*)" as \w+( \{)?', line):
            labels.append(match[1])
        elif " : " in line:
            labels.append(line.split(" : ", 1)[1])
    assert len(labels) == 19  # 8 states, 1 note, 10 edges
    for label in labels:
        assert not set(label.replace("<br/>", "")) & set(':";{}<>#&'), label


def test_dot_content(definition: Definition) -> None:
    dot = to_dot(definition)
    assert dot.startswith('digraph "permit" {\n')
    assert "rankdir=LR" in dot
    assert "compound=true" in dot
    assert '"__start__" -> "draft";' in dot
    assert 'subgraph "cluster_handling" {' in dot
    assert "label=<Handling<BR/>" + '<FONT POINT-SIZE="10">↻ Remind [Applicant]</FONT>>;' in dot
    assert '"draft" [label=<Draft &quot;v1&quot;: &lt;b&gt;new&lt;/b&gt;>];' in dot
    assert '"approved" [label=<Approved>, peripheries=2];' in dot
    assert (
        '"working" [label=<Working<BR/><FONT POINT-SIZE="10">'
        "⏱ 10 working days (clock from sign_for)</FONT>>];"
    ) in dot
    assert (
        '"assigned" -> "suspended" [label=<Suspend [Officer] ✎ reason>, ltail="cluster_handling"];'
    ) in dot
    assert (
        '"consult" -> "working" [label=<joint complete (if joint.disagreed &gt; 0)>, style=dashed];'
    ) in dot
    assert (
        '"working" -> "rejected" [label=<Decide [Officer] (else)<BR/>Reject [Officer] ✎ reason>];'
    ) in dot
    assert '"working" -> "working" [label=<Add note [Officer, unit]>];' in dot
    assert '"__note__consult" [shape=note' in dot
    assert "會辦" in to_dot(definition, lang="zh")


def test_output_is_deterministic() -> None:
    first, second = make_definition(raw_spec()), make_definition(raw_spec())
    for lang in ("en", "zh"):
        assert to_mermaid(first, lang=lang) == to_mermaid(second, lang=lang)
        assert to_dot(first, lang=lang) == to_dot(second, lang=lang)


def test_dot_renders_to_svg(definition: Definition) -> None:
    if DOT is None:
        pytest.skip(NO_DOT)
    for lang in ("en", "zh"):
        svg = render_svg(to_dot(definition, lang=lang))
        assert svg.startswith(b"<?xml") or b"<svg" in svg
        assert "施工許可".encode() in svg or lang == "en"
    # Graphviz only warns (exit 0) about misused ltail/lhead; keep those out too.
    checked = subprocess.run(
        [DOT, "-Tcanon"], input=to_dot(definition).encode(), capture_output=True, check=True
    )
    assert b"Warning" not in checked.stderr


def test_graphviz_missing(tmp_path: Path) -> None:
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz") as caught:
        render_svg("digraph {}", dot_binary=str(tmp_path / "no-such-dot"))
    assert isinstance(caught.value, WorkflowError)


def test_graphviz_failed_on_invalid_dot() -> None:
    if DOT is None:
        pytest.skip(NO_DOT)
    with pytest.raises(GraphvizFailed, match="syntax error") as caught:
        render_svg("digraph { -> ; }")
    assert isinstance(caught.value, WorkflowError)
    assert caught.value.returncode not in (0, None)
    assert "syntax error" in caught.value.stderr


def fake_dot(tmp_path: Path, body: str) -> str:
    script = tmp_path / "dot"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_graphviz_failed_carries_stderr_head(tmp_path: Path) -> None:
    binary = fake_dot(tmp_path, "for i in $(seq 1 50); do echo line$i >&2; done; exit 3")
    with pytest.raises(GraphvizFailed) as caught:
        render_svg("digraph {}", dot_binary=binary)
    assert caught.value.returncode == 3
    assert caught.value.stderr.splitlines()[0] == "line1"
    assert "line50" not in caught.value.stderr


def test_graphviz_timeout(tmp_path: Path) -> None:
    binary = fake_dot(tmp_path, "exec sleep 10")
    with pytest.raises(GraphvizFailed, match="timed out"):
        render_svg("digraph {}", dot_binary=binary, timeout=0.2)


def test_graphviz_errors_carry_the_cli_exit_code_for_external_tools() -> None:
    from workflow.cli.main import EXIT_EXTERNAL

    assert GraphvizMissing("dot").exit_code == EXIT_EXTERNAL
    assert GraphvizFailed("boom").exit_code == EXIT_EXTERNAL
