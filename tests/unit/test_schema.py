"""The JSON Schema for editors: shipped, in sync, and agreeing with the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import DEFINITIONS
from tests.unit.definition_texts import MINIMAL
from workflow.definition.schema import json_schema, schema_text
from workflow.definition.yamlsource import read_yaml

SHIPPED = DEFINITIONS / "workflow.schema.json"


def test_shipped_schema_is_in_sync_with_the_models() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(), (
        "definitions/workflow.schema.json is stale: run `workflow schema -o "
        "definitions/workflow.schema.json`"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_schema_round_trips_through_json() -> None:
    assert json.loads(schema_text()) == json_schema()


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", sorted(DEFINITIONS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_definitions_satisfy_the_schema(path: Path) -> None:
    data = read_yaml(str(path)).data
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("version: 1", "version: one"), "wrong type"),
        (("    label: {zh: 辦理, en: Doing}", "    lable: {zh: 辦理, en: Doing}"), "unknown key"),
        (("unit: working_days", "unit: fortnights"), "unknown deadline unit"),
        (("id: mini", "id: Mini-Flow"), "bad identifier"),
    ],
)
def test_schema_rejects_what_the_loader_rejects(change: tuple[str, str], reason: str) -> None:
    data = read_yaml("x.yaml", MINIMAL.replace(*change)).data
    assert list(_validator().iter_errors(data)), reason


def test_schema_accepts_the_minimal_definition() -> None:
    assert not list(_validator().iter_errors(read_yaml("x.yaml", MINIMAL).data))
