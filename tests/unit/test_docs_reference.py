"""The language reference (docs/reference.md) is generated from the models and kept in sync."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from tests.conftest import REPO
from workflow.cli.main import main
from workflow.definition import model
from workflow.definition.reference import reference_text

REFERENCE = REPO / "docs" / "reference.md"


def _models() -> list[type[BaseModel]]:
    return [
        value
        for name in model.__all__
        if isinstance(value := getattr(model, name), type) and issubclass(value, BaseModel)
    ]


def _section(text: str, name: str) -> str:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no section for {name}"
    return match.group(1)


def test_committed_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == reference_text(), (
        "docs/reference.md is stale: run `workflow schema --reference -o docs/reference.md`"
    )


@pytest.mark.parametrize("spec", _models(), ids=lambda spec: spec.__name__)
def test_every_key_of_every_model_has_a_row_with_its_description(
    spec: type[BaseModel],
) -> None:
    section = _section(reference_text(), spec.__name__)
    for name, info in spec.model_fields.items():
        key = info.alias or name
        rows = [line for line in section.splitlines() if line.startswith(f"| `{key}` |")]
        assert len(rows) == 1, f"{spec.__name__}.{key}: {rows}"
        assert info.description is not None
        assert info.description.replace("|", "\\|") in rows[0]
        assert ("**required**" in rows[0]) == info.is_required()


def test_rows_say_types_defaults_allowed_values_and_nesting() -> None:
    text = reference_text()
    event = _section(text, "EventSpec")
    assert "| `reason` | one of `none`, `optional`, `required` | `none` |" in event
    assert "| `from` | name or list of names (at least 1) | **required** |" in event
    assert "| `input` | map of name → [FieldSpec](#fieldspec) | empty map |" in event
    assert (
        "| `notify` | name or list of (name or [NotifySpec](#notifyspec)) | empty list |" in event
    )
    assert (
        "| `guard` | string or [GuardSpec](#guardspec) or list of (string or [GuardSpec]" in event
    )
    deadline = _section(text, "DeadlineSpec")
    assert "| `amount` | integer from 1 to 100000 | **required** |" in deadline
    assert "`deadline` of [StateSpec](#statespec)" in deadline
    assert "`deadline` of [JointSpec](#jointspec)" in deadline
    # A group state holds states: the nesting is shown as a section used in itself.
    assert "`states` of [StateSpec](#statespec)" in _section(text, "StateSpec")


def test_schema_command_prints_the_reference() -> None:
    result = CliRunner().invoke(main, ["schema", "--reference"])
    assert result.exit_code == 0, result.output
    assert result.output == reference_text()


def test_schema_command_refuses_fragment_with_reference() -> None:
    result = CliRunner().invoke(main, ["schema", "--reference", "--fragment"])
    assert result.exit_code == 2
    assert "not both" in result.output
