"""Turn pydantic's validation errors into positioned, readable problems.

pydantic reports a location as a tuple of keys that mixes data keys with its
own markers (union members, validator names, ``[key]`` for dict keys). We walk
the actual data along that tuple, skipping markers, to find the node the error
is about, then look its position up in the source map. Several errors on one
node (one per member of a union) become one message listing what was expected.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from workflow.definition.model import WorkflowSpec
from workflow.definition.yamlsource import Path, SourceMap
from workflow.errors import Problem

__all__ = ["problems_from_validation_error", "suggest"]

_KIND_OF_TYPE = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "none_required": "null",
}


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _walk(data: Any, loc: Sequence[int | str]) -> tuple[Path, Any, bool]:
    """Follow ``loc`` through ``data``; return (data path, node, is_dict_key)."""
    path: list[str | int] = []
    node = data
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
            continue
        if isinstance(node, dict):
            present = isinstance(part, str) and part in node
        else:
            present = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if present:
            path.append(part)
            node = node[part]
    return tuple(path), node, is_key


def _unwrap(annotation: Any) -> list[Any]:
    """Return the concrete types inside Optional/Union/Annotated/list/dict values."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    return [annotation]


def _model_at(path: Path) -> type[BaseModel] | None:
    """Find which model validates the mapping at ``path`` (for key suggestions)."""
    current: list[Any] = [WorkflowSpec]
    for part in path:
        following: list[Any] = []
        for candidate in current:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for name, info in candidate.model_fields.items():
                    if part in (name, info.alias):
                        following.extend(_unwrap(info.annotation))
            else:
                origin = typing.get_origin(candidate)
                args = typing.get_args(candidate)
                if origin is dict and isinstance(part, str):
                    following.extend(_unwrap(args[1]))
                elif origin is list and isinstance(part, int):
                    following.extend(_unwrap(args[0]))
        current = following
    for candidate in current:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _message(error: Any, path: Path, node: Any, is_key: bool) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        name = error["loc"][-1]
        return f"missing required key {name!r}"
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        model = _model_at(path[:-1])
        allowed = _keys_of(model) if model else []
        hint = suggest(name, allowed)
        if not hint and allowed:
            hint = f"; expected one of: {', '.join(allowed)}"
        return f"unknown key {name!r}{hint}"
    if kind == "string_pattern_mismatch":
        what = "key" if is_key else "name"
        return (
            f"{node if not is_key else path[-1]!r} is not a valid {what}: use lower-case letters, "
            "digits and '_', starting with a letter (at most 63 characters)"
        )
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = suggest(str(node), options) if isinstance(node, str) else ""
        return f"{node!r} is not allowed here; expected one of: {', '.join(options)}{hint}"
    if kind in _KIND_OF_TYPE:
        return f"expected {_KIND_OF_TYPE[kind]}, got {_describe(node)}"
    if kind in (
        "too_short",
        "too_long",
        "greater_than_equal",
        "less_than_equal",
        "string_too_short",
    ):
        return str(error["msg"]).replace("Input should", "should").replace("Value should", "should")
    return str(error["msg"])


def problems_from_validation_error(
    error: ValidationError, data: Any, positions: SourceMap
) -> list[Problem]:
    """Map every pydantic error to a problem at the line and column it concerns."""
    by_node: dict[tuple[Path, bool, str, int, int], list[str]] = {}
    for item in error.errors(include_url=False):
        path, node, is_key = _walk(data, item["loc"])
        located = positions.nearest(path)
        # A null value has no text of its own: point at its key instead.
        if item["type"] == "missing" or is_key or item["type"] == "extra_forbidden" or node is None:
            line, column = located.key_line, located.key_column
        else:
            line, column = located.line, located.column
        if item["type"] == "missing":
            # The missing key belongs to the mapping at `path`; point at that mapping's key.
            line, column = located.key_line, located.key_column
        group = (path, is_key, located.file, line, column)
        by_node.setdefault(group, []).append(_message(item, path, node, is_key))
    problems: list[Problem] = []
    for (_path, _is_key, file, line, column), messages in by_node.items():
        unique = list(dict.fromkeys(messages))
        if len(unique) > 1:
            expected = [m.split(", got ")[0].removeprefix("expected ") for m in unique]
            if all(m.startswith("expected ") for m in unique):
                text = (
                    f"expected {' or '.join(dict.fromkeys(expected))}, got "
                    + unique[0].split(", got ")[-1]
                )
                problems.append(Problem(file, line, column, text))
                continue
        problems.extend(Problem(file, line, column, m) for m in unique)
    return problems
