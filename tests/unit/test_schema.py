"""The JSON Schema for editors: shipped, in sync, and agreeing with the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import DEFINITIONS
from tests.unit.definition_texts import MINIMAL
from workflow import load_definition
from workflow.definition.schema import fragment_schema, json_schema, schema_text
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


# -- the loader and the schema agree ------------------------------------------------------


def test_a_single_guard_object_is_accepted_by_both(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    roles: office\n",
        "    roles: office\n    guard: {expr: item.count > 0, message: {zh: 不行, en: No.}}\n",
        1,
    )
    assert not list(_validator().iter_errors(read_yaml("x.yaml", text).data))
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_definition(str(path)).spec.events[0].guard[0].expr == "item.count > 0"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("  count:\n", "  Count:\n"), "a field name"),
        (("  office:\n    group", "  the-office:\n    group"), "a role name"),
        (("  doing:\n", "  Doing:\n"), "a state name"),
        (("      talent: {zh", "      Talent: {zh"), "an enum option"),
    ],
)
def test_schema_checks_names_used_as_keys(change: tuple[str, str], where: str) -> None:
    data = read_yaml("x.yaml", MINIMAL.replace(*change)).data
    pending = list(_validator().iter_errors(data))
    messages = []
    while pending:  # errors inside `anyOf` branches are in their context
        error = pending.pop()
        messages.append(error.message)
        pending.extend(error.context or ())
    assert any("does not match '^[a-z][a-z0-9_]{0,62}$'" in m for m in messages), where


# -- the schema of partials ---------------------------------------------------------------

SHIPPED_FRAGMENT = DEFINITIONS / "workflow-fragment.schema.json"


def _fragment_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SHIPPED_FRAGMENT.read_text(encoding="utf-8")))


def test_shipped_fragment_schema_is_in_sync_with_the_models() -> None:
    assert SHIPPED_FRAGMENT.read_text(encoding="utf-8") == schema_text(fragment=True), (
        "definitions/workflow-fragment.schema.json is stale: run `workflow schema --fragment "
        "-o definitions/workflow-fragment.schema.json`"
    )
    jsonschema.Draft202012Validator.check_schema(fragment_schema())


@pytest.mark.parametrize(
    "path", sorted((DEFINITIONS / "_shared").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_partials_satisfy_the_fragment_schema(path: Path) -> None:
    data = read_yaml(str(path)).data
    assert [e.message for e in _fragment_validator().iter_errors(data)] == []
    assert "$schema=../workflow-fragment.schema.json" in path.read_text(encoding="utf-8")


def test_fragment_schema_takes_what_a_partial_may_hold() -> None:
    validator = _fragment_validator()
    assert not list(validator.iter_errors({}))
    partial = "x-g: &g {group: office}\nroles:\n  boss: *g\nevents: []\n"
    assert not list(validator.iter_errors(read_yaml("p.yaml", partial).data))
    assert list(validator.iter_errors({"id": "mini"}))
    assert list(validator.iter_errors({"roles": {"boss": {"grup": "x"}}}))
