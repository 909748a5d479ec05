"""The JSON Schema of the definition language, for editors.

Derived from the pydantic models, so it always says what the loader accepts.
The repository ships it as ``definitions/workflow.schema.json`` (a test keeps
the file in sync), and ``workflow schema`` prints it.
"""

from __future__ import annotations

import json
from typing import Any

from workflow.definition.model import WorkflowSpec

__all__ = ["SCHEMA_ID", "json_schema", "schema_text"]

SCHEMA_ID = "workflow-definition.schema.json"


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a workflow definition file."""
    schema = WorkflowSpec.model_json_schema(by_alias=True, mode="validation")
    # Top-level `x-...` keys hold YAML anchors for reuse; the loader ignores them.
    schema["patternProperties"] = {"^x-": {}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Workflow definition",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def schema_text() -> str:
    """Return the schema as the stable, pretty-printed JSON text that is shipped."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
