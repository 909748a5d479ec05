"""The JSON Schemas of the definition language, for editors.

Derived from the pydantic models, so they always say what the loader accepts.
The repository ships two, and tests keep both files in sync:

* ``definitions/workflow.schema.json`` describes a whole workflow file;
  ``workflow schema`` prints it.
* ``definitions/workflow-fragment.schema.json`` describes a partial, a file
  that workflows include: only ``fields``, ``roles``, ``states`` and
  ``events`` (plus ``x-`` anchor slots), none of them required;
  ``workflow schema --fragment`` prints it.
"""

from __future__ import annotations

import json
from typing import Any

from workflow.definition.model import FRAGMENT_KEYS, IDENTIFIER_PATTERN, WorkflowSpec

__all__ = [
    "FRAGMENT_SCHEMA_ID",
    "SCHEMA_ID",
    "fragment_schema",
    "json_schema",
    "schema_text",
]

SCHEMA_ID = "workflow-definition.schema.json"
FRAGMENT_SCHEMA_ID = "workflow-fragment.schema.json"

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_ANCHOR_SLOTS: dict[str, Any] = {"^x-": {}}
"""Top-level `x-...` keys hold YAML anchors for reuse; the loader ignores them."""


def _constrain_names(node: Any) -> None:
    """Make every mapping keyed by names refuse keys that are not identifiers.

    pydantic turns ``dict[Identifier, X]`` into ``patternProperties``, which
    checks the values of well-named keys but lets any other key through; a
    ``propertyNames`` pattern makes a badly spelt field, role or state name an
    error in the editor too.
    """
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if (
            isinstance(patterns, dict)
            and set(patterns) == {IDENTIFIER_PATTERN}
            and "properties" not in node
        ):
            node["propertyNames"] = {"pattern": IDENTIFIER_PATTERN}
        for value in node.values():
            _constrain_names(value)
    elif isinstance(node, list):
        for value in node:
            _constrain_names(value)


def _model_schema() -> dict[str, Any]:
    schema = WorkflowSpec.model_json_schema(by_alias=True, mode="validation")
    _constrain_names(schema)
    return schema


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a workflow definition file."""
    schema = _model_schema()
    schema["patternProperties"] = dict(_ANCHOR_SLOTS)
    return {
        "$schema": _DRAFT,
        "$id": SCHEMA_ID,
        "title": "Workflow definition",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def fragment_schema() -> dict[str, Any]:
    """Return the JSON Schema of a partial: the sections a workflow may include."""
    schema = _model_schema()
    return {
        "$schema": _DRAFT,
        "$id": FRAGMENT_SCHEMA_ID,
        "title": "Workflow definition fragment (an included partial)",
        "description": (
            "A partial that workflow definitions include: fields, roles, states and events "
            "merged into each workflow that lists it under `include`."
        ),
        "type": "object",
        "properties": {key: schema["properties"][key] for key in FRAGMENT_KEYS},
        "patternProperties": dict(_ANCHOR_SLOTS),
        "additionalProperties": False,
        "$defs": schema["$defs"],
    }


def schema_text(*, fragment: bool = False) -> str:
    """Return a schema as the stable, pretty-printed JSON text that is shipped."""
    schema = fragment_schema() if fragment else json_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
