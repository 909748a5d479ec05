"""The other shipped workflows of the plan, through the `workflow` command line (in-process).

Each passes `validate` on its own file, and `graph ID --format mermaid` draws
it with both languages' labels, every state and every event.
"""

from __future__ import annotations

import pytest

from tests.conftest import DEFINITIONS, REPO
from tests.e2e.cli import run
from workflow.definition.loader import load_definition

WORKFLOWS = ("whistle_summons", "policy_application", "public_opinion", "star_enterprises")


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_validate_accepts_the_definition(workflow: str) -> None:
    result = run("validate", f"definitions/{workflow}.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok  {workflow} v1  " in result.stderr
    assert "1 definition(s) valid" in result.stderr


def test_validate_accepts_the_whole_folder_together() -> None:
    # One review name (`monthly`) across workflows must keep one cadence, and no id repeats.
    result = run("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    for workflow in ("enterprise_issue", *WORKFLOWS):
        assert f"ok  {workflow} v1  " in result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_graph_draws_every_state_and_event_in_mermaid(workflow: str, lang: str) -> None:
    result = run("graph", workflow, "--format", "mermaid", "--lang", lang)
    # The drawing writes a colon inside a label as U+A789, which Mermaid cannot mistake.
    assert result.returncode == 0, result.stderr
    assert "\nstateDiagram-v2\n" in result.stdout
    definition = load_definition(str(DEFINITIONS / f"{workflow}.yaml"))
    for name, state in definition.states.items():
        assert f" as {name}" in result.stdout
        assert getattr(state.label, lang) in result.stdout.replace("\ua789", ":")
    for event in definition.spec.events:
        assert getattr(event.label, lang) in result.stdout.replace("\ua789", ":")


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_guides_diagrams_are_the_graph_commands_output(workflow: str) -> None:
    guide = (REPO / "docs" / "workflows.md").read_text(encoding="utf-8")
    marker = f"<!-- diagram: {workflow} -->\n```mermaid\n"
    assert marker in guide
    drawn = guide.split(marker, 1)[1].split("\n```\n", 1)[0]
    result = run("graph", workflow, "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert drawn == result.stdout.rstrip("\n")
