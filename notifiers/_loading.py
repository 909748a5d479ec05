"""Reading the notifier configuration's raw data: ``${ENV}`` substitution and error positions.

:func:`substitute` replaces environment references in every string value
and records each unset variable as a positioned problem; :func:`problems_from`
turns pydantic's validation errors into positioned problems whose text
never holds a value taken from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from notifiers.redaction import Redactor
from workflow.definition.yamlsource import Path, SourceMap
from workflow.errors import Problem

__all__ = ["problems_from", "substitute"]

_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def substitute(
    value: Any,
    path: Path,
    positions: SourceMap,
    env: Mapping[str, str],
    used: list[str],
    problems: list[Problem],
) -> Any:
    """Replace ``${NAME}`` in every string value; record missing names as problems."""
    if isinstance(value, dict):
        return {
            k: substitute(v, (*path, k), positions, env, used, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            substitute(v, (*path, i), positions, env, used, problems) for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(found: re.Match[str]) -> str:
        if found[0] == "$$":
            return "$"
        where = positions.nearest(path)
        dotted = ".".join(str(part) for part in path)
        if found[1] is None:
            problems.append(
                Problem(
                    where.file,
                    where.line,
                    where.column,
                    f"{dotted}: '${{' must be followed by a variable name and '}}' "
                    "(write '$$' for a literal '$')",
                )
            )
            return ""
        name = found[1]
        if name not in env:
            problems.append(
                Problem(
                    where.file,
                    where.line,
                    where.column,
                    f"{dotted}: the environment variable {name} is not set",
                )
            )
            return ""
        used.append(env[name])
        return env[name]

    return _ENV_REFERENCE.sub(replace, value)


def _walk(data: Any, loc: Sequence[int | str]) -> tuple[Path, Any, bool]:
    """Follow pydantic's ``loc`` through the data, skipping its own markers (union tags)."""
    path: list[str | int] = []
    node = data
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
            continue
        in_mapping = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            path.append(part)
            node = node[part]
    return tuple(path), node, is_key


def _message(
    item: Any,
    path: Path,
    node: Any,
    is_key: bool,
    data: Any,
    keys_of: Callable[[Path, Any], list[str]],
    channel_types: Sequence[str],
) -> str:
    kind = item["type"]
    if kind == "missing":
        return f"missing required key {item['loc'][-1]!r}"
    if kind == "extra_forbidden":
        allowed = keys_of(path[:-1], data)
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {path[-1]!r}{hint}"
    if kind == "union_tag_invalid":
        tag = node.get("type") if isinstance(node, dict) else None
        return f"unknown channel type {tag!r}; expected one of: {', '.join(channel_types)}"
    if kind == "union_tag_not_found":
        return f"missing required key 'type' (one of: {', '.join(channel_types)})"
    if kind == "string_pattern_mismatch" and is_key:
        return (
            f"{path[-1]!r} is not a valid channel name: use lower-case letters, digits and '_', "
            "starting with a letter"
        )
    if kind == "string_pattern_mismatch" and path == ("default_locale",):
        return "expected a locale such as 'zh' or 'en-US'"
    return str(item["msg"]).removeprefix("Value error, ")


def problems_from(
    error: ValidationError,
    data: Any,
    positions: SourceMap,
    scrub: Redactor,
    keys_of: Callable[[Path, Any], list[str]],
    channel_types: Sequence[str],
) -> list[Problem]:
    """Turn pydantic's errors into positioned problems that hold no secret."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False, include_input=False):
        path, node, is_key = _walk(data, item["loc"])
        if item["type"] == "union_tag_invalid" and isinstance(node, dict) and "type" in node:
            path = (*path, "type")
        located = positions.nearest(path)
        at_key = item["type"] in ("missing", "extra_forbidden", "union_tag_not_found") or is_key
        line, column = (
            (located.key_line, located.key_column) if at_key else (located.line, located.column)
        )
        message = _message(item, path, node, is_key, data, keys_of, channel_types)
        if item["type"] == "union_tag_invalid":
            path = path[:-1]
        dotted = ".".join(str(part) for part in path)
        text = f"{dotted}: {message}" if dotted else message
        problems.append(Problem(located.file, line, column, scrub(text)))
    return problems
