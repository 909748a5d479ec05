"""Every kind of definition problem is reported at its exact file, line and column."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.unit.definition_texts import MINIMAL
from workflow import DefinitionError, load_definition
from workflow.definition.loader import load_catalog


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """Return the 1-based (line, column) of the nth occurrence of needle in text."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def problems(tmp_path: Path, text: str, name: str = "wf.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(str(path))
    return [str(p) for p in caught.value.problems]


def expect(tmp_path: Path, text: str, needle: str, fragment: str, nth: int = 0) -> None:
    """Assert that one problem sits at `needle` and says `fragment`."""
    found = problems(tmp_path, text)
    line, column = where(text, needle, nth)
    prefix = f"{tmp_path / 'wf.yaml'}:{line}:{column}: "
    matching = [p for p in found if p.startswith(prefix) and fragment in p]
    assert matching, f"expected {prefix}…{fragment}… in:\n" + "\n".join(found)


def test_minimal_definition_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    definition = load_definition(str(path))
    assert definition.id == "mini"
    assert definition.leaves() == ("new", "doing", "done")


# -- YAML level -----------------------------------------------------------------------


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = MINIMAL.replace("title: {zh: 小流程, en: Mini}", "title: {zh: 小流程, en: Mini")
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert "YAML syntax error" in found[0]
    assert found[0].startswith(f"{tmp_path / 'wf.yaml'}:4:")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    text = MINIMAL.replace("  doing:\n", "  doing:\n    label: {zh: 甲, en: A}\n", 1)
    expect(tmp_path, text, "label: {zh: 辦理", "duplicate key 'label'")


def test_yaml_1_2_keeps_on_and_yes_as_strings(tmp_path: Path) -> None:
    text = MINIMAL.replace("  doing:\n", "  on:\n").replace("to: doing", "to: on")
    text = text.replace("from: doing", "from: on")
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    definition = load_definition(str(path))
    assert "on" in definition.states


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("version: 1", "version: !!python/object:os.getpid {}")
    expect(tmp_path, text, "!!python", "tags")


# -- schema level (pydantic, mapped back to positions) ---------------------------------


def test_unknown_key_suggests_the_near_miss(tmp_path: Path) -> None:
    text = MINIMAL.replace("    label: {zh: 辦理", "    lable: {zh: 辦理")
    expect(tmp_path, text, "lable", "unknown key 'lable'; did you mean 'label'?")


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    text = MINIMAL.replace("amount: 2", "amount: two")
    expect(tmp_path, text, "two", "expected a whole number, got a string")


def test_literal_with_near_miss(tmp_path: Path) -> None:
    text = MINIMAL.replace("unit: working_days", "unit: working_day")
    expect(tmp_path, text, "working_day}", "did you mean 'working_days'?")


def test_invalid_name_as_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("  doing:\n", "  Doing-It:\n").replace("doing", "Doing-It")
    expect(tmp_path, text, "Doing-It:", "not a valid key")


def test_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    text = MINIMAL.replace("    label: {zh: 新, en: New}\n", "")
    expect(tmp_path, text, "new:", "missing required key 'label'")


def test_null_value_points_at_its_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("    label: {zh: 辦理, en: Doing}\n", "")
    expect(tmp_path, text, "doing:", "expected a mapping, got null")


def test_union_errors_are_merged_into_one_message(tmp_path: Path) -> None:
    text = MINIMAL.replace("from: new", "from: {a: 1}")
    found = problems(tmp_path, text)
    line, column = where(text, "{a: 1}")
    assert any(p.startswith(f"{tmp_path / 'wf.yaml'}:{line}:{column}:") for p in found), found


# -- cross-references (second pass) -----------------------------------------------------


def test_unknown_target_state(tmp_path: Path) -> None:
    text = MINIMAL.replace("to: done", "to: dnoe")
    expect(tmp_path, text, "dnoe", "unknown state 'dnoe'; did you mean 'done'?")


def test_unknown_source_state(tmp_path: Path) -> None:
    text = MINIMAL.replace("from: new", "from: [nwe]")
    expect(tmp_path, text, "nwe", "unknown state 'nwe'; did you mean 'new'?")


def test_unknown_role(tmp_path: Path) -> None:
    text = MINIMAL.replace("roles: [office, unit]", "roles: [office, unti]")
    expect(tmp_path, text, "unti", "unknown role 'unti'; did you mean 'unit'?")


def test_role_bound_to_unknown_field(tmp_path: Path) -> None:
    text = MINIMAL.replace("    field: unit\n", "    field: unitt\n")
    expect(tmp_path, text, "unitt", "unknown field 'unitt'; did you mean 'unit'?")


def test_role_bound_to_a_non_reference_field(tmp_path: Path) -> None:
    text = MINIMAL.replace("    field: unit\n", "    field: count\n")
    expect(tmp_path, text, "count", "is an integer, not a reference", nth=1)


def test_unreachable_state(tmp_path: Path) -> None:
    text = MINIMAL.replace("    to: doing\n", "    to: done\n")
    expect(tmp_path, text, "doing:", "cannot be reached")


def test_state_from_which_no_final_state_is_reachable(tmp_path: Path) -> None:
    text = MINIMAL.replace("    from: doing\n    to: done\n", "    from: doing\n    to: new\n")
    found = problems(tmp_path, text)
    assert any("no final state can be reached from state 'new'" in p for p in found), found
    assert any("no final state can be reached from state 'doing'" in p for p in found), found


def test_duplicate_event_name_from_one_state(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  - name: start\n    label: {zh: 再開始, en: Start again}\n"
        "    from: new\n    to: done\n    roles: office\n"
    )
    expect(tmp_path, text, "start\n    label: {zh: 再開始", "already defined from state 'new'")


def test_deadline_on_a_final_state(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    final: true\n", "    final: true\n    deadline: {amount: 1, unit: hours}\n"
    )
    expect(tmp_path, text, "{amount: 1, unit: hours}", "cannot have a deadline")


def test_initial_state_must_exist(tmp_path: Path) -> None:
    text = MINIMAL.replace("initial: new", "initial: neww")
    expect(tmp_path, text, "neww", "did you mean 'new'?")


def test_events_may_not_leave_final_states(tmp_path: Path) -> None:
    text = MINIMAL.replace("    from: doing\n", "    from: [doing, done]\n")
    expect(tmp_path, text, "done]", "final")


def test_start_event_must_enter_the_state(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "deadline: {amount: 2, unit: working_days}",
        "deadline: {amount: 2, unit: working_days, start_event: finish}",
    )
    expect(tmp_path, text, "finish}", "cannot start its clock")


def test_enum_default_must_be_an_option(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "      talent: {zh: 人才, en: Talent}\n",
        "      talent: {zh: 人才, en: Talent}\n    default: talnet\n",
    )
    expect(tmp_path, text, "talnet", "did you mean 'talent'?")


# -- expressions ----------------------------------------------------------------------


def _with_guard(guard: str) -> str:
    return MINIMAL.replace("    roles: office\n", f'    roles: office\n    guard: "{guard}"\n', 1)


def test_guard_syntax_error(tmp_path: Path) -> None:
    text = _with_guard("item.count >")
    found = problems(tmp_path, text)
    line, _ = where(text, "guard:")
    assert any(f":{line}:" in p and "syntax" in p for p in found), found


def test_guard_unknown_name_is_pointed_at_inside_the_expression(tmp_path: Path) -> None:
    text = _with_guard("item.cuont > 1")
    expect(tmp_path, text, "cuont", "did you mean 'item.count'?")


def test_guard_enum_literal_typo(tmp_path: Path) -> None:
    text = _with_guard("item.category == 'polcy'")
    expect(tmp_path, text, "'polcy'", "did you mean 'policy'?")


def test_guard_must_be_boolean(tmp_path: Path) -> None:
    text = _with_guard("item.count + 1")
    found = problems(tmp_path, text)
    assert any("boolean" in p for p in found), found


def test_set_effect_type_mismatch(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    roles: office\n", "    roles: office\n    effects:\n      - set: {count: \"'x'\"}\n", 1
    )
    expect(tmp_path, text, "\"'x'\"", "field 'count' is an integer")


def test_set_effect_unknown_field_points_at_the_key(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    roles: office\n", "    roles: office\n    effects:\n      - set: {cont: 1}\n", 1
    )
    expect(tmp_path, text, "cont: 1", "unknown field 'cont'; did you mean 'count'?")


def test_extend_deadline_needs_a_deadline(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    roles: [office, unit]\n",
        "    roles: [office, unit]\n    effects:\n      - extend_deadline: {by: 2}\n",
    )
    expect(tmp_path, text, "{by: 2}", "has no deadline to extend")


# -- every problem, not the first ---------------------------------------------------


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    text = MINIMAL.replace("to: done", "to: dnoe").replace("roles: [office, unit]", "roles: [x]")
    found = problems(tmp_path, text)
    assert any("dnoe" in p for p in found)
    assert any("unknown role 'x'" in p for p in found)


def test_catalog_collects_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL.replace("to: done", "to: nope"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(MINIMAL.replace("id: mini", "id: 9bad"), encoding="utf-8")
    (tmp_path / "c.yaml").write_text(MINIMAL.replace("id: mini", "id: fine"), encoding="utf-8")
    catalog, found = load_catalog([str(tmp_path)])
    assert catalog.ids() == ("fine",)
    assert {Path(p.file).name for p in found} == {"a.yaml", "b.yaml"}


# -- bounded, safe loading ------------------------------------------------------------

ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi", strict=True)
)


def test_alias_bomb_is_refused_in_milliseconds(tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 400
    started = time.perf_counter()
    found = problems(tmp_path, ALIAS_BOMB)
    assert time.perf_counter() - started < 0.5
    assert "alias bomb" in found[0]


@pytest.mark.parametrize(
    "text", ["[" * 100_000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200))]
)
def test_deep_nesting_is_refused_quickly(tmp_path: Path, text: str) -> None:
    started = time.perf_counter()
    found = problems(tmp_path, text)
    assert time.perf_counter() - started < 0.5
    assert "nesting is deeper" in found[0]


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    started = time.perf_counter()
    found = problems(tmp_path, "x: " + "y" * 5_000_000)
    assert time.perf_counter() - started < 0.5
    assert "larger than the limit" in found[0]
