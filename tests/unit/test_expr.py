"""Tests for the workflow expression language (workflow.definition.expr)."""

from __future__ import annotations

import ast
import builtins
import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow.definition.expr import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    INTEGER,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    MAX_STRING_LENGTH,
    NULL,
    NUMBER,
    STRING,
    CompiledExpression,
    EvaluationError,
    ExpressionError,
    ExprType,
    Kind,
    a_or_an,
    assignable,
    compile_expression,
    describe,
    enum_of,
    list_of,
    nullable,
    ref_to,
)

CATEGORY = enum_of(["policy", "financing", "complaint"])
TAGS = enum_of(["red", "green"])

SCOPE: dict[str, dict[str, ExprType]] = {
    "item": {
        "category": CATEGORY,
        "co_units": list_of(ref_to("unit")),
        "lead_unit": nullable(ref_to("unit")),
        "reopen_count": INTEGER,
        "count": nullable(INTEGER),
        "amount": NUMBER,
        "title": STRING,
        "note": nullable(STRING),
        "urgent": BOOLEAN,
        "flag": nullable(BOOLEAN),
        "due": nullable(DATE),
        "opened_at": nullable(DATETIME),
        "closed_at": nullable(DATETIME),
        "tags": list_of(TAGS),
        "scores": list_of(INTEGER),
    },
    "input": {
        "satisfaction": enum_of(["satisfied", "unsatisfied"]),
        "comment": nullable(STRING),
        "new_due": nullable(DATE),
    },
    "actor": {"id": ref_to("user"), "role": STRING, "extra": ANY},
    "joint": {"count": INTEGER},
}


def compiled(source: str, expect: ExprType | None = None) -> CompiledExpression:
    return compile_expression(source, SCOPE, expect)


def run(source: str, **namespaces: Mapping[str, object]) -> object:
    return compiled(source).evaluate(namespaces)


def error(source: str, expect: ExprType | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compiled(source, expect)
    return info.value


def eval_error(source: str, **namespaces: Mapping[str, object]) -> EvaluationError:
    with pytest.raises(EvaluationError) as info:
        run(source, **namespaces)
    return info.value


# ---- literals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value", "kind"),
    [
        ("1", 1, Kind.INTEGER),
        ("-3", -3, Kind.INTEGER),
        ("1.5", 1.5, Kind.NUMBER),
        ("'a'", "a", Kind.STRING),
        ('"a b"', "a b", Kind.STRING),
        ("true", True, Kind.BOOLEAN),
        ("false", False, Kind.BOOLEAN),
        ("null", None, Kind.NULL),
        ("['a', 'b']", ["a", "b"], Kind.LIST),
        ("[1, -2.5]", [1, -2.5], Kind.LIST),
        ("[]", [], Kind.LIST),
    ],
)
def test_literals(source: str, value: object, kind: Kind) -> None:
    expr = compiled(source)
    assert expr.evaluate({}) == value
    assert expr.type.kind is kind
    assert expr.names == frozenset()


def test_list_literal_types() -> None:
    assert compiled("[1, 2]").type == list_of(INTEGER)
    assert compiled("[1, 2.0]").type == list_of(NUMBER)
    assert compiled("[null, 1]").type == list_of(nullable(INTEGER))
    assert compiled("['a', 'b', 'a']").type == list_of(enum_of(["a", "b"]))


def test_list_results_are_fresh() -> None:
    expr = compiled("['a']")
    first = expr.evaluate({})
    assert isinstance(first, list)
    first.append("b")
    assert expr.evaluate({}) == ["a"]


@pytest.mark.parametrize(
    ("python", "ours"), [("True", "true"), ("False", "false"), ("None", "null")]
)
def test_python_spellings_are_rejected(python: str, ours: str) -> None:
    problem = error(f"item.flag == {python}")
    assert f"did you mean '{ours}'" in problem.message
    assert problem.offset == 13


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("[item.count]", "list elements must be literals"),
        ("[1, 'a']", "list elements must all have the same type"),
        ("99999999999999999999", "integer literal too large"),
        ("1e999", "number literal too large"),
        ("b'x'", "bytes literals are not allowed"),
        ("1j", "complex literals are not allowed"),
        ("...", "ellipsis literals are not allowed"),
    ],
)
def test_bad_literals(source: str, message: str) -> None:
    assert message in error(source).message


# ---- arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value", "type_"),
    [
        ("item.reopen_count + 1", 4, INTEGER),
        ("item.reopen_count - 5", -2, INTEGER),
        ("item.reopen_count * 2", 6, INTEGER),
        ("item.reopen_count / 2", 1.5, NUMBER),
        ("item.reopen_count % 2", 1, INTEGER),
        ("-item.reopen_count", -3, INTEGER),
        ("+item.reopen_count", 3, INTEGER),
        ("item.amount * 2", 5.0, NUMBER),
        ("item.reopen_count + item.amount", 5.5, NUMBER),
        ("item.title + '!'", "hi!", STRING),
        ("1 + 2 * 3", 7, INTEGER),
        ("(1 + 2) * 3", 9, INTEGER),
        ("7 % -3", -2, INTEGER),
    ],
)
def test_arithmetic(source: str, value: object, type_: ExprType) -> None:
    expr = compiled(source)
    assert expr.type == type_
    assert expr.evaluate({"item": {"reopen_count": 3, "amount": 2.5, "title": "hi"}}) == value


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("item.count + 'x'", 11, "cannot apply '+' to nullable integer and string"),
        ("'x' * 1000", 4, "repetition is not allowed"),
        ("item.co_units * 2", 14, "cannot apply '*'"),
        ("item.title - 'a'", 11, "cannot apply '-' to string and string"),
        ("item.urgent + 1", 12, "cannot apply '+' to boolean and integer"),
        ("null + 1", 5, "cannot apply '+' to null and integer"),
        ("-item.title", 1, "unary minus/plus needs a number, got string"),
        ("item.due + 1", 9, "cannot apply '+' to nullable date"),
    ],
)
def test_arithmetic_type_errors(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert message in problem.message
    assert problem.offset == offset


def test_arithmetic_with_null_fails_at_run_time() -> None:
    assert "null" in eval_error("item.count + 1", item={"count": None}).message
    assert "null" in eval_error("-item.count", item={}).message


@pytest.mark.parametrize("source", ["item.reopen_count / 0", "item.reopen_count % 0", "1.5 / 0"])
def test_division_by_zero(source: str) -> None:
    assert eval_error(source, item={"reopen_count": 4}).message == "division by zero"


def test_integer_overflow_is_an_evaluation_error() -> None:
    problem = eval_error("item.reopen_count * item.reopen_count", item={"reopen_count": 2**40})
    assert "integer overflow" in problem.message


def test_float_overflow_is_an_evaluation_error() -> None:
    assert "finite" in eval_error("item.amount * item.amount", item={"amount": 1e200}).message


def test_string_concatenation_is_bounded() -> None:
    half = "x" * (MAX_STRING_LENGTH // 2)
    assert run("item.title + item.title", item={"title": half}) == half * 2
    problem = eval_error("item.title + item.title + 'y'", item={"title": half})
    assert "string too long" in problem.message


# ---- booleans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("item.urgent and true", True),
        ("item.urgent and false", False),
        ("false or item.urgent", True),
        ("not item.urgent", False),
        ("item.flag or false", False),  # null counts as false
        ("not item.flag", True),
        ("item.flag and true", False),
        ("item.urgent and item.urgent and not item.flag", True),
    ],
)
def test_boolean_operators(source: str, value: bool) -> None:
    assert run(source, item={"urgent": True, "flag": None}) is value


def test_and_or_short_circuit() -> None:
    item = {"count": None}
    assert run("false and item.count + 1 > 0", item=item) is False
    assert run("true or item.count + 1 > 0", item=item) is True
    eval_error("true and item.count + 1 > 0", item=item)
    eval_error("false or item.count + 1 > 0", item=item)


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("not item.count", 4, "'not' needs a boolean, got nullable integer"),
        ("item.urgent and 1", 16, "'and' needs a boolean, got integer"),
        ("item.title or item.urgent", 0, "'or' needs a boolean, got string"),
        ("not null", 4, "'not' needs a boolean, got null"),
    ],
)
def test_boolean_type_errors(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert problem.message == message
    assert problem.offset == offset


def test_any_typed_values_must_be_boolean_at_run_time() -> None:
    assert run("not actor.extra", actor={"extra": False}) is True
    assert "expected a boolean" in eval_error("not actor.extra", actor={"extra": 3}).message


# ---- comparisons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("item.reopen_count == 3", True),
        ("item.reopen_count != 3", False),
        ("item.reopen_count == 3.0", True),
        ("item.reopen_count < 4", True),
        ("item.reopen_count <= 3", True),
        ("item.reopen_count > 3", False),
        ("item.reopen_count >= 4", False),
        ("item.title < 'zz'", True),
        ("item.title == 'hi'", True),
        ("item.co_units == ['u1', 'u2']", True),
        ("item.lead_unit == 'u1'", True),
        ("item.lead_unit in item.co_units", True),
        ("'u3' not in item.co_units", True),
        ("item.reopen_count in [1, 2, 3]", True),
        ("item.reopen_count not in [1, 2, 3]", False),
        ("'i' in item.title", True),
        ("'x' in item.title", False),
        ("'x' not in item.title", True),
        ("item.note == null", True),
        ("null == item.note", True),
        ("item.note != null", False),
        ("item.title != null", True),
    ],
)
def test_comparisons(source: str, value: bool) -> None:
    item = {"reopen_count": 3, "title": "hi", "co_units": ["u1", "u2"], "lead_unit": "u1"}
    assert run(source, item=item) is value


@pytest.mark.parametrize(("count", "value"), [(0, False), (1, True), (4, True), (5, False)])
def test_chained_comparison(count: int, value: bool) -> None:
    expr = compiled("1 <= item.reopen_count < 5")
    assert expr.type == BOOLEAN
    assert expr.evaluate({"item": {"reopen_count": count}}) is value


def test_chained_comparison_short_circuits() -> None:
    assert run("1 > 2 > item.count + 1", item={"count": None}) is False


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_ordering_with_null_is_false(op: str) -> None:
    assert run(f"item.count {op} 5", item={"count": None}) is False
    assert run(f"5 {op} item.count", item={}) is False


def test_membership_with_null_container() -> None:
    assert run("'red' in item.tags", item={}) is False
    assert run("'red' not in item.tags", item={}) is True
    assert run("item.note in item.title", item={"title": "abc"}) is False


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("item.title == 1", 11, "cannot compare string with integer"),
        ("item.urgent == 'yes'", 12, "cannot compare boolean with string"),
        ("item.lead_unit == actor.id", 15, "cannot compare nullable unit reference with user"),
        ("item.urgent < true", 12, "cannot use '<' on boolean and boolean"),
        ("item.count < null", 11, "cannot use '<' on nullable integer and null"),
        ("item.due < item.opened_at", 9, "cannot use '<' on nullable date and nullable datetime"),
        ("item.reopen_count > 'a'", 18, "cannot use '>' on integer and string"),
        ("1 in item.title", 2, "cannot look for integer in a string"),
        ("'x' in item.scores", 4, "cannot look for string in list of integer"),
        ("1 in item.reopen_count", 2, "'in' needs a list or a string, got integer"),
        ("1 not in 2", 2, "'not in' needs a list or a string, got integer"),
        ("item.note is null", 10, "'is' is not allowed; use == or !="),
        ("item.note is not null", 10, "'is' is not allowed; use == or !="),
    ],
)
def test_comparison_type_errors(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert message in problem.message
    assert problem.offset == offset


# ---- dates ---------------------------------------------------------------------------------


def test_iso_date_strings_in_context() -> None:
    assert run(
        "item.due < input.new_due", item={"due": "2024-01-31"}, input={"new_due": "2024-02-01"}
    )
    assert run(
        "item.due == input.new_due",
        item={"due": "2024-02-01"},
        input={"new_due": dt.date(2024, 2, 1)},
    )
    # a datetime stored in a date field counts by its date
    assert run(
        "item.due == input.new_due",
        item={"due": dt.datetime(2024, 2, 1, 9)},
        input={"new_due": "2024-02-01"},
    )


def test_date_literals_are_checked_when_compiled() -> None:
    assert run("item.due < '2024-02-01'", item={"due": "2024-01-31"}) is True
    assert run("'2024-02-01' <= item.due", item={"due": dt.date(2024, 2, 1)}) is True
    assert run(
        "item.opened_at >= '2024-01-01T10:00:00+00:00'", item={"opened_at": "2024-01-01T11:00:00Z"}
    )
    problem = error("item.due < '2024-13-01'")
    assert problem.message == "'2024-13-01' is not an ISO date"
    assert problem.offset == 11


def test_datetimes() -> None:
    item = {"opened_at": "2024-01-01T10:00:00", "closed_at": dt.datetime(2024, 1, 2)}
    assert run("item.opened_at < item.closed_at", item=item) is True
    # a plain date in a datetime field counts as its midnight
    assert run(
        "item.opened_at == item.closed_at",
        item={"opened_at": dt.date(2024, 1, 2), "closed_at": dt.datetime(2024, 1, 2)},
    )


def test_date_run_time_failures() -> None:
    assert "not an ISO date" in eval_error("item.due < '2024-01-01'", item={"due": "soon"}).message
    naive, aware = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    problem = eval_error(
        "item.opened_at < item.closed_at", item={"opened_at": naive, "closed_at": aware}
    )
    assert "cannot compare" in problem.message


# ---- functions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("len(item.title)", 3),
        ("len(item.co_units)", 2),
        ("len(item.note)", 0),  # null counts as empty
        ("len(['a'])", 1),
        ("is_set(item.title)", True),
        ("is_set(item.note)", False),
        ("is_set(item.count)", True),  # 0 is a value
        ("is_set(item.tags)", False),  # empty list
        ("is_set(item.flag)", False),  # missing
        ("is_set('')", False),
        ("lower(item.title)", "abc"),
        ("upper(item.title)", "ABC"),
        ("lower(item.note)", None),
        ("upper(item.category) == 'POLICY'", True),
    ],
)
def test_functions(source: str, value: object) -> None:
    item = {
        "title": "aBc",
        "co_units": ["u1", "u2"],
        "note": None,
        "count": 0,
        "tags": [],
        "category": "policy",
    }
    assert run(source, item=item) == value


def test_function_types() -> None:
    assert compiled("len(item.title)").type == INTEGER
    assert compiled("is_set(item.note)").type == BOOLEAN
    assert compiled("lower(item.title)").type == STRING
    assert compiled("lower(item.note)").type == nullable(STRING)


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("len(item.count)", 4, "len() needs a string or a list, got nullable integer"),
        ("lower(1)", 6, "lower() needs a string, got integer"),
        ("upper(item.co_units)", 6, "upper() needs a string, got list of unit reference"),
        ("len(1, 2)", 0, "len() takes exactly one argument"),
        ("len()", 0, "len() takes exactly one argument"),
        ("len(x=item.title)", 0, "len() takes exactly one argument"),
        ("len(*item.co_units)", 0, "len() takes exactly one argument"),
        ("item.urgent and lenn(item.title) > 0", 16, "did you mean 'len'?"),
        ("len", 0, "'len' is a function; call it: len(...)"),
    ],
)
def test_function_errors(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert message in problem.message
    assert problem.offset == offset


# ---- enum checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "bad", "suggestion"),
    [
        ("item.category == 'polcy'", 17, "polcy", "policy"),
        ("item.category != 'financng'", 17, "financng", "financing"),
        ("'complant' == item.category", 0, "complant", "complaint"),
        ("item.category in ['policy', 'finanzing']", 28, "finanzing", "financing"),
        ("item.category not in ['plicy']", 22, "plicy", "policy"),
        ("'gren' in item.tags", 0, "gren", "green"),
        ("input.satisfaction == 'unsatisfed'", 22, "unsatisfed", "unsatisfied"),
    ],
)
def test_enum_literals_are_checked(source: str, offset: int, bad: str, suggestion: str) -> None:
    problem = error(source)
    assert problem.message.startswith(f"'{bad}' is not an option of ")
    assert "(options: " in problem.message
    assert problem.message.endswith(f"; did you mean '{suggestion}'?")
    assert problem.offset == offset


def test_enum_message_lists_options() -> None:
    problem = error("item.category == 'xyz'")
    assert problem.message == (
        "'xyz' is not an option of item.category (options: policy, financing, complaint)"
    )


def test_valid_enum_comparisons() -> None:
    assert run("item.category == 'policy'", item={"category": "policy"}) is True
    assert run("item.category in ['policy', 'financing']", item={"category": "complaint"}) is False
    assert run("'red' in item.tags", item={"tags": ["red"]}) is True
    # no literal involved: nothing to check statically
    assert run("upper(item.category) == 'XYZ'", item={"category": "policy"}) is False


# ---- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("itme.category", 0, "unknown namespace 'itme'; did you mean 'item'?"),
        ("item.catgory", 5, "unknown attribute 'catgory' of item; did you mean 'item.category'?"),
        ("item.reopen_count > 1 and item.urgnt", 31, "did you mean 'item.urgent'?"),
        ("(1 +\n  item.cont)", 12, "did you mean 'item.count'?"),
        ("foo", 0, "unknown name 'foo'"),
        ("TRUE", 0, "unknown name 'TRUE'; did you mean 'true'?"),
        ("item", 0, "'item' is a namespace; use one of its attributes: item.x"),
        ("item.category.name", 0, "attributes can only be read from a namespace"),
        ("'abc'.upper", 0, "attributes can only be read from a namespace"),
        ("nope.x", 0, "unknown namespace 'nope'"),
    ],
)
def test_unknown_names(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert message in problem.message
    assert problem.offset == offset


def test_names_read() -> None:
    expr = compiled("item.reopen_count + joint.count > item.reopen_count and is_set(actor.id)")
    assert expr.names == frozenset({("item", "reopen_count"), ("joint", "count"), ("actor", "id")})


def test_missing_values_are_null() -> None:
    expr = compiled("item.count")
    assert expr.evaluate({}) is None
    assert expr.evaluate({"item": {}}) is None
    assert expr.evaluate({"item": {"count": 2}}) == 2


def test_any_typed_attributes() -> None:
    assert compiled("actor.extra + 1").type == NUMBER
    assert run("actor.extra + 1", actor={"extra": 2}) == 3
    assert run("actor.extra == 'x'", actor={"extra": "x"}) is True
    eval_error("actor.extra + 1", actor={"extra": "x"})


# ---- forbidden constructs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        (
            "open('x')",
            0,
            "function calls other than len(), is_set(), lower(), upper() are not allowed",
        ),
        ("item.urgent and __import__('os')", 16, "function calls other than len()"),
        ("item.title.upper()", 0, "function calls other than len()"),
        ("len(item.title)(1)", 0, "function calls other than len()"),
        ("item.__class__", 0, "attributes starting with '_' are not allowed"),
        ("().__class__.__bases__", 0, "attributes starting with '_' are not allowed"),
        ("item.co_units[0]", 0, "subscripts are not allowed"),
        ("item.title[1:]", 0, "subscripts are not allowed"),
        ("lambda: 1", 0, "lambda expressions are not allowed"),
        ("[x for x in item.co_units]", 0, "comprehensions are not allowed"),
        ("{x for x in item.co_units}", 0, "comprehensions are not allowed"),
        ("{x: 1 for x in item.co_units}", 0, "comprehensions are not allowed"),
        ("len(x for x in item.co_units)", 3, "comprehensions are not allowed"),  # its parens
        ("2 ** 3", 2, "the '**' operator is not allowed"),
        ("item.reopen_count // 2", 18, "the '//' operator is not allowed"),
        ("1 << 2", 2, "the '<<' operator is not allowed"),
        ("1 | 2", 2, "the '|' operator is not allowed"),
        ("~1", 0, "the '~' operator is not allowed"),
        ("(x := 1)", 1, "assignment expressions (:=) are not allowed"),
        ("f'{item.title}'", 0, "f-strings are not allowed"),
        ("{'a': 1}", 0, "dict literals are not allowed"),
        ("{1, 2}", 0, "set literals are not allowed"),
        ("(1, 2)", 0, "tuples are not allowed"),
        ("'x' * 1000", 4, "cannot apply '*' to string and integer (repetition is not allowed)"),
        ("['x'] * 1000", 6, "cannot apply '*' to list of string and integer"),
    ],
)
def test_forbidden_constructs(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert message in problem.message
    assert problem.offset == offset


def test_never_evaluates_python(monkeypatch: pytest.MonkeyPatch) -> None:
    real_compile = builtins.compile

    def parse_only(*args: Any, **kwargs: Any) -> Any:
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        assert flags & ast.PyCF_ONLY_AST, "compile() used for something other than parsing"
        return real_compile(*args, **kwargs)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("eval/exec must never be used")

    monkeypatch.setattr(builtins, "compile", parse_only)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert run(
        "len(item.title) + 1 > 2 and item.category in ['policy']",
        item={"title": "ab", "category": "policy"},
    )


# ---- syntax errors and limits --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("item.count +", 12, "invalid syntax: unexpected end of expression"),
        ("item.count item.count", 11, "invalid syntax"),
        ("'é' + $", 6, "invalid syntax"),
        ("(item.count", 0, "invalid syntax: '(' was never closed"),
        ("item.count = 1", 11, "invalid syntax"),
        ("'abc", 0, "invalid syntax: unterminated string literal"),
        ("'\\d'", 0, "invalid syntax: invalid escape sequence"),
        ("item.count\x00", 10, "null characters are not allowed"),
        ("'\ud800'", 1, "invalid characters"),
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("item.count +\n 1", 12, "invalid syntax"),
    ],
)
def test_syntax_errors(source: str, offset: int, message: str) -> None:
    problem = error(source)
    assert problem.message.startswith(message)
    assert problem.offset == offset


@pytest.mark.parametrize(
    ("source", "offset"),
    [
        ("  itme.x", 2),  # leading whitespace is skipped, offsets still count it
        ("\n itme.x", 2),
        ("'é' + itme.x", 6),  # character offsets, not UTF-8 byte offsets
        ("(1 +\n  itme.x)", 7),
        ("(1 +\r\n  itme.x)", 8),
        ("(1 +\r  itme.x)", 7),
        ("('ü' +\n 'é' + itme.x)", 14),
    ],
)
def test_offsets_are_character_offsets_into_the_source(source: str, offset: int) -> None:
    assert error(source).offset == offset


def test_source_length_limit() -> None:
    longest = "'" + "a" * (MAX_SOURCE_LENGTH - 2) + "'"
    assert compiled(longest).evaluate({}) == "a" * (MAX_SOURCE_LENGTH - 2)
    problem = error(longest + " ")
    assert "too long" in problem.message
    assert problem.offset == MAX_SOURCE_LENGTH


def test_depth_limit() -> None:
    ok = "not " * (MAX_DEPTH - 1) + "true"
    assert compiled(ok).evaluate({}) is (MAX_DEPTH % 2 == 1)
    problem = error("not " * MAX_DEPTH + "true")
    assert "nested too deeply" in problem.message
    assert problem.offset == 4 * MAX_DEPTH  # the first node past the limit


def test_node_limit() -> None:
    ok = "[" + ", ".join(["1"] * (MAX_NODES - 1)) + "]"
    assert compiled(ok).type == list_of(INTEGER)
    problem = error("[" + ", ".join(["1"] * MAX_NODES) + "]")
    assert "too complex" in problem.message


@pytest.mark.parametrize(
    "source",
    [
        "-" * 1999 + "1",
        "(" * 1000 + "1" + ")" * 999,
        "[" * 999,
        "not " * 499 + "x",
        "+".join(["1"] * 999),
    ],
)
def test_pathological_nesting_is_an_expression_error(source: str) -> None:
    error(source)


# ---- expected types and assignability ------------------------------------------------------


def test_expect() -> None:
    assert compiled("item.urgent", BOOLEAN).type == BOOLEAN
    assert compiled("item.reopen_count + 1", NUMBER).type == INTEGER
    problem = error("item.reopen_count + 1", BOOLEAN)
    assert problem.message == "expected a boolean (true/false) expression, got an integer"
    assert problem.offset == 0
    problem = error("item.flag", BOOLEAN)
    assert problem.message.startswith(
        "expected a boolean (true/false) expression, got a boolean or null"
    )
    assert "x == true" in problem.message
    assert compiled("item.flag == true", BOOLEAN).evaluate({}) is False
    assert "expected an integer expression" in error("item.amount", INTEGER).message


def test_expect_a_condition() -> None:
    # Guards and choices take a boolean that may be null (null counts as false).
    condition = nullable(BOOLEAN)
    assert compiled("item.flag", condition).type == nullable(BOOLEAN)
    problem = error("item.reopen_count + 1", condition)
    assert problem.message == "expected a boolean (true/false) expression, got an integer"
    problem = error("item.note", condition)
    assert problem.message == "expected a boolean (true/false) expression, got a string or null"


@pytest.mark.parametrize(
    ("type_", "words"),
    [
        (INTEGER, "an integer"),
        (nullable(BOOLEAN), "a boolean or null"),
        (ref_to("unit"), "a reference to a unit"),
        (ref_to("enterprise"), "a reference to an enterprise"),
        (list_of(ref_to("person")), "a list of references to people"),
        (list_of(nullable(INTEGER)), "a list of integers or nulls"),
        (enum_of(["open", "closed"]), "one of 'open', 'closed'"),
        (enum_of(["x"]), "the text 'x'"),
        (NULL, "null"),
        (ANY, "any value"),
    ],
)
def test_describe(type_: ExprType, words: str) -> None:
    assert describe(type_) == words


@pytest.mark.parametrize(
    ("word", "article"),
    [("integer", "an"), ("enum", "an"), ("enterprise", "an"), ("unit", "a"), ("string", "a")],
)
def test_a_or_an(word: str, article: str) -> None:
    assert a_or_an(word) == article


def test_expect_enum() -> None:
    status = enum_of(["open", "closed"])
    assert compiled("'closed'", status).evaluate({}) == "closed"
    problem = error("'clsed'", status)
    assert (
        problem.message
        == "'clsed' is not an option (options: open, closed); did you mean 'closed'?"
    )
    problem = error("['open', 'clsed']", list_of(status))
    assert problem.offset == 9
    assert "'category' in" not in error("item.category", enum_of(["policy"])).message
    assert (
        "it may be 'financing', 'complaint'" in error("item.category", enum_of(["policy"])).message
    )
    assert compiled("item.category", nullable(CATEGORY)).type == CATEGORY


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        (INTEGER, NUMBER, True),
        (NUMBER, INTEGER, False),
        (nullable(INTEGER), INTEGER, False),
        (INTEGER, nullable(INTEGER), True),
        (NULL, nullable(STRING), True),
        (NULL, STRING, False),
        (STRING, BOOLEAN, False),
        (enum_of(["a"]), enum_of(["a", "b"]), True),
        (enum_of(["a", "c"]), enum_of(["a", "b"]), False),
        (STRING, enum_of(["a"]), False),
        (enum_of(["a"]), STRING, True),
        (ref_to("unit"), STRING, True),
        (STRING, ref_to("unit"), True),
        (ref_to("unit"), ref_to("unit"), True),
        (ref_to("user"), ref_to("unit"), False),
        (list_of(INTEGER), list_of(NUMBER), True),
        (list_of(STRING), list_of(INTEGER), False),
        (list_of(enum_of(["a"])), list_of(enum_of(["a", "b"])), True),
        (ExprType(Kind.LIST), list_of(INTEGER), True),
        (ANY, INTEGER, True),
        (STRING, ANY, True),
        (DATE, DATETIME, False),
        (DATETIME, nullable(DATETIME), True),
    ],
)
def test_assignable(value: ExprType, target: ExprType, expected: bool) -> None:
    assert assignable(value, target) is expected


def test_type_names() -> None:
    assert str(nullable(list_of(ref_to("unit")))) == "nullable list of unit reference"
    assert str(NULL) == "null"
    assert str(CATEGORY) == "string"


def test_error_classes() -> None:
    assert ExpressionError.__mro__[1:] == (Exception, BaseException, object)
    assert EvaluationError.__mro__[1:] == (Exception, BaseException, object)
    problem = ExpressionError("bad", 3)
    assert (problem.message, problem.offset, str(problem)) == ("bad", 3, "bad")


def compile_offset(source: str) -> int:
    """Compile; return the error offset, or 0 on success (any other exception escapes)."""
    try:
        compiled(source)
    except ExpressionError as problem:
        return problem.offset
    return 0


# ---- properties ----------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=MAX_SOURCE_LENGTH + 10))
def test_compile_never_raises_anything_but_expression_error(source: str) -> None:
    assert 0 <= compile_offset(source) <= len(source)


TOKENS = [
    "item.reopen_count", "item.count", "item.title", "item.category", "item.tags", "item.due",
    "actor.extra", "1", "2.5", "'a'", "'policy'", "true", "null", "[1, 2]", "(", ")", "[", "]",
    "+", "-", "*", "/", "%", "**", "==", "<", ">=", "in", "not", "and", "or", "len(", "is_set(",
    "lower(", ",", ".", "'", ":", "lambda", "if", "else", "é", "\n", "\\", "#", "__class__",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join))
def test_compile_on_token_soup(source: str) -> None:
    assert 0 <= compile_offset(source) <= len(source)


def values_of(type_: ExprType) -> st.SearchStrategy[object]:
    strategy: st.SearchStrategy[object]
    if type_.kind is Kind.INTEGER:
        strategy = st.integers()
    elif type_.kind is Kind.NUMBER:
        strategy = st.integers() | st.floats()
    elif type_.kind is Kind.BOOLEAN:
        strategy = st.booleans()
    elif type_.kind is Kind.STRING:
        strategy = st.sampled_from(type_.options) if type_.options else st.text(max_size=20)
    elif type_.kind is Kind.DATE:
        strategy = (
            st.dates() | st.dates().map(dt.date.isoformat) | st.datetimes() | st.text(max_size=12)
        )
    elif type_.kind is Kind.DATETIME:
        moments = st.datetimes(timezones=st.none() | st.just(dt.UTC))
        strategy = moments | moments.map(dt.datetime.isoformat) | st.dates() | st.text(max_size=12)
    elif type_.kind is Kind.LIST:
        assert type_.item is not None
        strategy = st.lists(values_of(type_.item), max_size=4)
    else:  # ANY: JSON-like
        strategy = st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=5,
        )
    return st.none() | strategy if type_.nullable else strategy


CONTEXTS = st.fixed_dictionaries(
    {},
    optional={
        namespace: st.fixed_dictionaries(
            {}, optional={name: values_of(type_) for name, type_ in attributes.items()}
        )
        for namespace, attributes in SCOPE.items()
    },
)

EXPRESSIONS = [
    "item.category == 'financing' and len(item.co_units) >= 2",
    "item.reopen_count + 1",
    "item.reopen_count * item.reopen_count - item.count % 7",
    "item.amount / item.reopen_count",
    "item.amount % item.amount",
    "-item.amount + item.count",
    "item.title + item.note",
    "item.note + item.note + item.note",
    "1 <= item.count < 5 or item.flag",
    "not item.flag and item.urgent",
    "item.due < input.new_due",
    "item.due == '2024-01-01'",
    "item.opened_at <= item.closed_at",
    "item.opened_at > '2024-01-01T00:00:00+00:00'",
    "item.opened_at != item.closed_at",
    "item.lead_unit in item.co_units",
    "'red' in item.tags",
    "item.note in item.title",
    "len(item.note) + len(item.tags)",
    "is_set(item.lead_unit) and is_set(item.scores)",
    "lower(item.note) == upper(item.title)",
    "item.scores == [1, 2]",
    "actor.extra == 1 or actor.extra in [1, 2]",
    "actor.extra + actor.extra",
    "actor.extra - 1 > actor.extra",
    "not actor.extra",
    "len(actor.extra)",
    "lower(actor.extra)",
    "'a' in actor.extra",
    "actor.extra < actor.extra",
    "item.amount < item.count",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXPRESSIONS), CONTEXTS)
def test_evaluate_never_raises_anything_but_evaluation_error(
    source: str, context: dict[str, dict[str, object]]
) -> None:
    with contextlib.suppress(EvaluationError):
        compiled(source).evaluate(context)


ATOMS = [
    *(f"{namespace}.{name}" for namespace, attributes in SCOPE.items() for name in attributes),
    "0", "1", "-1", "2.5", "''", "'a'", "'policy'", "'red'", "'2024-01-01'", "true", "false",
    "null", "['a', 'b']", "[1, 2]", "[]",
]  # fmt: skip


def expressions() -> st.SearchStrategy[str]:
    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.sampled_from(
            ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]
        )
        return (
            st.tuples(inner, binary, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
            | st.tuples(st.sampled_from(["not ", "-"]), inner).map("".join)
            | st.tuples(st.sampled_from(["len", "is_set", "lower", "upper"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"
            )
        )

    return st.recursive(st.sampled_from(ATOMS), grow, max_leaves=8)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), CONTEXTS)
def test_generated_expressions_fail_only_with_our_errors(
    source: str, context: dict[str, dict[str, object]]
) -> None:
    try:
        expr = compiled(source)
    except ExpressionError:
        return
    with contextlib.suppress(EvaluationError):
        expr.evaluate(context)


# ---- conditional expressions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "urgent", "value"),
    [
        ("1 if item.urgent else 2", True, 1),
        ("1 if item.urgent else 2", False, 2),
        ("'high' if item.urgent else 'low'", False, "low"),
    ],
)
def test_conditional_expression(source: str, urgent: bool, value: object) -> None:
    assert run(source, item={"urgent": urgent}) == value


def test_conditional_evaluates_only_the_branch_taken() -> None:
    assert run("1 if item.urgent else 1 / 0", item={"urgent": True}) == 1


def test_conditional_types_unify() -> None:
    assert compiled("1 if item.urgent else 2.5").type == NUMBER
    assert compiled("item.reopen_count if item.urgent else null").type == nullable(INTEGER)
    assert compiled("'a' if item.urgent else 'b'").type.options == ("a", "b")


def test_conditional_branches_must_agree() -> None:
    problem = error("1 if item.urgent else 'x'")
    assert "both branches" in problem.message
    assert problem.offset == 22


def test_conditional_condition_must_be_boolean() -> None:
    assert "needs a boolean" in error("1 if item.reopen_count else 2").message
