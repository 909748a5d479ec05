"""Garbage in, problems out: never a crash, never a traceback, always a position."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.definition_texts import MINIMAL
from workflow import DefinitionError, load_definition
from workflow.definition.yamlsource import read_yaml

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


def _check(text: str) -> None:
    lines = text.count("\n") + 2
    error: DefinitionError | None = None
    try:
        load_definition("fuzz.yaml", text)
    except DefinitionError as caught:
        error = caught
    if error is None:
        return  # the input happened to be a valid definition: that is allowed too
    assert error.problems, "a DefinitionError must carry at least one problem"
    for problem in error.problems:
        assert problem.file == "fuzz.yaml"
        assert 1 <= problem.line <= lines
        assert problem.column >= 1
        assert problem.message
        assert "Traceback" not in problem.message


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@FUZZ
@given(json_values)
def test_arbitrary_json_documents(value: Any) -> None:
    _check(json.dumps(value, ensure_ascii=False))


@FUZZ
@given(st.data())
def test_mutated_valid_definition_lines(data: st.DataObject) -> None:
    lines = MINIMAL.splitlines(keepends=True)
    index = data.draw(st.integers(0, len(lines) - 1))
    replacement = data.draw(
        st.sampled_from(["", "  ", "x: [", "- 1\n", "  on: yes\n", "&a b\n", "*zz\n"])
        | st.text(max_size=30)
    )
    lines[index] = replacement
    _check("".join(lines))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


@FUZZ
@given(st.data())
def test_valid_definition_with_one_node_replaced(data: st.DataObject) -> None:
    document = read_yaml("fuzz.yaml", MINIMAL).data
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = data.draw(json_values)
    _check(json.dumps(document, ensure_ascii=False, indent=1))
