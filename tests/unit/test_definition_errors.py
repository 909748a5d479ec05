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
    expect(tmp_path, text, "count", "is an integer field, not a reference", nth=1)


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
    expect(
        tmp_path,
        text,
        "finish}",
        "the clock of 'new' can only be started by an event that enters it or fires inside "
        "it without leaving; 'finish' does neither",
    )


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
    expect(
        tmp_path,
        text,
        "item.count + 1",
        "expected a boolean (true/false) expression, got an integer",
    )


def test_a_boolean_that_may_be_null_is_a_guard(tmp_path: Path) -> None:
    text = _with_guard("item.flag").replace(
        "roles:\n  office:", "  flag:\n    type: boolean\nroles:\n  office:", 1
    )
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    load_definition(str(path))


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


# -- literal values: dates, ranges, lengths, nulls -----------------------------------


def _with_field(declaration: str) -> str:
    """MINIMAL with one more item field, `extra`, declared by the given YAML lines."""
    return MINIMAL.replace("roles:\n  office:", f"  extra:\n{declaration}roles:\n  office:", 1)


def _with_effect(effect: str) -> str:
    """MINIMAL whose `start` event has one effect."""
    return MINIMAL.replace("    roles: office\n", f"    roles: office\n    effects:\n{effect}", 1)


def test_unquoted_impossible_date_is_a_positioned_problem(tmp_path: Path) -> None:
    text = _with_field("    type: date\n    default: 2024-02-30\n")
    found = problems(tmp_path, text)
    line, column = where(text, "2024-02-30")
    assert found == [
        f"{tmp_path / 'wf.yaml'}:{line}:{column}: '2024-02-30' is not a valid date "
        "(ISO text such as '2024-03-01')"
    ]


def test_unquoted_dates_stay_text(tmp_path: Path) -> None:
    text = _with_field("    type: date\n    default: 2024-03-01\n")
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_definition(str(path)).spec.fields["extra"].default == "2024-03-01"


def test_datetime_default_needs_a_time_zone(tmp_path: Path) -> None:
    text = _with_field("    type: datetime\n    default: 2024-03-01T09:30:00\n")
    expect(tmp_path, text, "2024-03-01T09:30:00", "'2024-03-01T09:30:00' has no time zone")
    aware = _with_field("    type: datetime\n    default: 2024-03-01T09:30:00+08:00\n")
    path = tmp_path / "ok.yaml"
    path.write_text(aware, encoding="utf-8")
    load_definition(str(path))


@pytest.mark.parametrize(
    ("declaration", "needle", "message"),
    [
        (
            "    type: integer\n    min: 1\n    max: 5\n    default: 7\n",
            "7",
            "7 is above the maximum of 5 ('max')",
        ),
        (
            "    type: number\n    min: 0.5\n    default: 0\n",
            "0\n",
            "0 is below the minimum of 0.5 ('min')",
        ),
        (
            "    type: string\n    max_length: 3\n    default: abcd\n",
            "abcd",
            "the text has 4 characters, more than the maximum of 3 ('max_length')",
        ),
        (
            "    type: string\n    min_length: 5\n    default: abc\n",
            "abc",
            "the text has 3 characters, fewer than the minimum of 5 ('min_length')",
        ),
        (
            f"    type: string\n    default: {'x' * 201}\n",
            "x" * 201,
            "the text has 201 characters, more than the maximum of 200 "
            "(the default for string fields)",
        ),
        (
            "    type: list\n    max_length: 1\n    default: [a, b]\n",
            "[a, b]",
            "the list has 2 elements, more than the maximum of 1 ('max_length')",
        ),
        (
            "    type: list\n    min_length: 2\n    default: [a]\n",
            "[a]",
            "the list has 1 element, fewer than the minimum of 2 ('min_length')",
        ),
    ],
)
def test_default_must_respect_the_bounds(
    tmp_path: Path, declaration: str, needle: str, message: str
) -> None:
    text = _with_field(declaration)
    expect(tmp_path, text, needle, message, nth=text.count(needle) - 1)


@pytest.mark.parametrize(("kind", "implicit"), [("string", 200), ("text", 20000), ("list", 100)])
def test_min_length_above_the_implicit_maximum(tmp_path: Path, kind: str, implicit: int) -> None:
    text = _with_field(f"    type: {kind}\n    min_length: {implicit + 1}\n")
    expect(
        tmp_path,
        text,
        str(implicit + 1),
        f"'min_length' is {implicit + 1}, above the maximum length of "
        f"a {kind} field without 'max_length' ({implicit}); give a 'max_length'",
    )


def test_min_length_with_a_max_length_is_fine(tmp_path: Path) -> None:
    text = _with_field("    type: string\n    min_length: 300\n    max_length: 400\n")
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    load_definition(str(path))


def test_literal_null_cannot_empty_a_required_field(tmp_path: Path) -> None:
    text = _with_effect("      - set: {extra: null}\n").replace(
        "roles:\n  office:", "  extra:\n    type: string\n    required: true\nroles:\n  office:", 1
    )
    expect(tmp_path, text, "null}", "field 'extra' is required, so it cannot be set to null")


def test_literal_null_may_empty_an_optional_field(tmp_path: Path) -> None:
    text = _with_effect("      - set: {unit: null}\n")
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    load_definition(str(path))


def test_set_literal_is_checked_against_the_bounds(tmp_path: Path) -> None:
    text = _with_effect("      - set: {count: -1}\n").replace(
        "    default: 0\n", "    default: 0\n    min: 0\n"
    )
    expect(tmp_path, text, "-1}", "-1 is below the minimum of 0 ('min')")


# -- messages say what they mean, in plain English -------------------------------------


def test_messages_use_the_right_article(tmp_path: Path) -> None:
    text = _with_effect("      - set: {extra: item.unit}\n").replace(
        "roles:\n  office:", "  extra:\n    type: ref\n    ref: enterprise\nroles:\n  office:", 1
    )
    expect(
        tmp_path,
        text,
        "item.unit}",
        "field 'extra' is a reference to an enterprise, but the expression gives "
        "a reference to a unit or null",
    )


def test_text_fields_are_called_text_fields(tmp_path: Path) -> None:
    text = _with_effect("      - set: {extra: item.count}\n").replace(
        "roles:\n  office:", "  extra:\n    type: text\nroles:\n  office:", 1
    )
    expect(
        tmp_path,
        text,
        "item.count}",
        "field 'extra' is a text field, but the expression gives an integer",
    )


# -- joint handling: no stuck items, a role the units hold ------------------------------

JOINT_FIELDS = """\
  co_units:
    type: list
    items: ref
    ref: unit
roles:
  co_unit:
    field: co_units
"""


def _with_joint(then: str, *, role: str = "co_unit", extra: str = "") -> str:
    """MINIMAL whose `doing` state does joint handling over `co_units`."""
    joint = (
        "    joint:\n"
        "      units: co_units\n"
        f"      role: {role}\n"
        f"{extra}"
        "      answer: {name: opine, label: {zh: 意見, en: Opinion}}\n"
        "      complete_when: {rule: all}\n"
        f"      then:{then}"
    )
    text = MINIMAL.replace("roles:\n", JOINT_FIELDS, 1)
    return text.replace(
        "    label: {zh: 辦理, en: Doing}\n", f"    label: {{zh: 辦理, en: Doing}}\n{joint}", 1
    )


def test_joint_with_a_fallback_is_valid(tmp_path: Path) -> None:
    text = _with_joint(
        "\n        - when: joint.disagreed > 0\n          state: new\n        - state: done\n"
    )
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    load_definition(str(path))


def test_joint_then_needs_a_fallback(tmp_path: Path) -> None:
    text = _with_joint(
        "\n        - when: joint.disagreed > 0\n          state: new\n"
        "        - when: joint.agreed > 0\n          state: done\n"
    )
    expect(
        tmp_path,
        text,
        "when: joint.agreed",
        "the last choice must have no 'when', or an item could be stuck in joint handling "
        "when none matches",
    )


def test_event_choices_need_no_fallback(tmp_path: Path) -> None:
    # An event whose choices all fail is refused, and nothing changes: nothing gets stuck.
    text = MINIMAL.replace(
        "    to: done\n", "    to:\n      - when: item.count > 0\n        state: done\n"
    )
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    load_definition(str(path))


def test_joint_role_must_be_bound_to_the_units(tmp_path: Path) -> None:
    text = _with_joint(" done\n", role="office")
    expect(
        tmp_path,
        text,
        "office\n      answer",
        "role 'office' is bound to the group 'office', so no unit with a branch would hold it; "
        "the role of joint handling must be bound (field:) to 'co_units'",
    )
    text = _with_joint(" done\n", role="unit")
    expect(tmp_path, text, "unit\n      answer", "role 'unit' is bound to the field 'unit'")


def test_lead_and_quorum_role_may_be_bound_to_the_lead(tmp_path: Path) -> None:
    text = _with_joint(" done\n", role="unit", extra="      lead: unit\n").replace(
        "complete_when: {rule: all}", "complete_when: {rule: lead_and_quorum, count: 1}"
    )
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    load_definition(str(path))
    # With another rule, the lead has no branch of its own, so the lead field will not do.
    text = text.replace("{rule: lead_and_quorum, count: 1}", "{rule: all}")
    expect(tmp_path, text, "unit\n      lead", "bound (field:) to 'co_units'")


# -- positions inside expressions written over several lines ------------------------------


def _with_raw_guard(lines: str) -> str:
    """MINIMAL whose `start` event has the guard written as given (YAML after `guard:`)."""
    return MINIMAL.replace("    roles: office\n", f"    roles: office\n    guard:{lines}", 1)


@pytest.mark.parametrize(
    "guard",
    [
        # folded: the lines are joined with spaces
        " >-\n      item.count > 1\n      and item.count < 10\n      and item.cuont != 5\n",
        " >\n      item.count > 1\n      and item.count < 10\n      and item.cuont != 5\n",
        # literal: the line breaks are kept, so the expression needs its parentheses
        " |-\n      (item.count > 1\n        and item.count < 10\n        and item.cuont != 5)\n",
        " |\n      (item.count > 1\n\n       and item.cuont != 5)\n",
        # plain and quoted scalars over several lines are folded too
        "\n      item.count > 1 and\n        item.count < 10 and\n        item.cuont != 5\n",
        ' "item.count > 1 and\n      item.count < 10 and\n      item.cuont != 5"\n',
        " 'item.count > 1 and\n      item.count < 10 and\n      item.cuont != 5'\n",
        # an anchor before the block, and a single guard object
        " &g >-\n      item.count > 1\n      and item.cuont != 5\n",
        "\n      expr: >-\n        item.count > 1\n        and item.cuont != 5\n",
        "\n      - item.count > 0\n      - >-\n"
        "        item.count > 1\n        and item.cuont != 5\n",
    ],
    ids=[
        "folded-strip",
        "folded-clip",
        "literal-strip",
        "literal-blank-line",
        "plain",
        "double-quoted",
        "single-quoted",
        "anchor",
        "guard-object",
        "list-item",
    ],
)
def test_expression_problem_in_a_multi_line_scalar(tmp_path: Path, guard: str) -> None:
    text = _with_raw_guard(guard)
    expect(tmp_path, text, "cuont", "unknown attribute 'cuont' of item")


def test_end_of_a_folded_expression(tmp_path: Path) -> None:
    text = _with_raw_guard(" >-\n      item.count > 1\n      and item.count <\n")
    line, column = where(text, "item.count <")
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path / 'wf.yaml'}:{line}:{column + len('item.count <')}: "
        "invalid syntax: unexpected end of expression"
    ], found


def test_double_quoted_escapes_keep_the_column(tmp_path: Path) -> None:
    text = _with_raw_guard(' "item.count > 1 and \\"x\\" != \\u0027y\\u0027 and item.cuont"\n')
    expect(tmp_path, text, "cuont", "unknown attribute 'cuont' of item")


# -- start_fields -----------------------------------------------------------------------


def test_start_fields_name_known_fields_and_every_required_one(tmp_path: Path) -> None:
    text = MINIMAL.replace("initial: new\n", "initial: new\nstart_fields: [titel]\n", 1)
    text = text.replace(
        "  category:\n    type: enum\n", "  category:\n    type: enum\n    required: true\n"
    )
    assert "start_fields" in text
    assert "required: true" in text
    expect(tmp_path, text, "titel", "unknown field 'titel'")
    found = problems(tmp_path, text)
    assert any("field 'category' is required and has no default" in p for p in found)


def test_an_alias_inside_its_own_node_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # A top-level sequence that contains itself: the data would be infinite.
    found = problems(tmp_path, "&a [*a, *a]\n")
    where = tmp_path / "wf.yaml"
    assert found == [
        f"{where}:1:1: an alias refers to a node that contains it: the data would never end"
    ]
