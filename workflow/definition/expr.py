"""The expression language of workflow definitions: small, statically checked, bounded.

Guards (``item.category == 'financing'``), computed values (``item.reopen_count + 1``)
and conditions are written as strings in YAML. They are checked once, when a definition
loads, against the declared fields, and evaluated many times at run time.

Why this design:

* Never ``eval``. Definitions are data written by people who are not the engine's
  developers; running them as Python would hand them the interpreter.
* Not a CEL library. The CEL implementations available for Python evaluate well, but they
  neither type-check against *our* declared fields (enum options, references, nullability)
  nor report column positions we can turn into ``file:line:column`` problems.
* Not simpleeval and the like. They evaluate the tree dynamically with a deny-list of
  dangerous things, so mistakes surface at run time, in production, not at load time.
* Instead Python's own parser (``ast.parse(mode="eval")``) is used *only as a parser*: it
  gives exact positions for free. The tree is walked with an allow-list of node types,
  type-checked, and turned into a tree of small closures. Anything not allowed is an error
  that names the construct.
* Cost is bounded: there are no loops, comprehensions, exponentiation, repetition or calls
  to arbitrary code, and the source length, node count and nesting depth are capped, as are
  the sizes of integers and strings an evaluation may produce.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import enum
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "ANY",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "INTEGER",
    "MAX_DEPTH",
    "MAX_INTEGER",
    "MAX_NODES",
    "MAX_SOURCE_LENGTH",
    "MAX_STRING_LENGTH",
    "NULL",
    "NUMBER",
    "STRING",
    "CompiledExpression",
    "EvaluationError",
    "ExprType",
    "ExpressionError",
    "Kind",
    "Scope",
    "a_or_an",
    "assignable",
    "compile_expression",
    "describe",
    "enum_of",
    "list_of",
    "nullable",
    "ref_to",
]

MAX_SOURCE_LENGTH = 2000
"""Longest accepted expression source, in characters (checked before parsing)."""
MAX_NODES = 200
"""Most expression nodes (names, literals, operators, calls) one expression may have."""
MAX_DEPTH = 32
"""Deepest nesting of expression nodes."""
MAX_STRING_LENGTH = 100_000
"""Longest string a concatenation may produce at run time."""
MAX_INTEGER = 2**63 - 1
"""Largest integer magnitude arithmetic may produce (keeps big-number costs bounded)."""


class Kind(enum.Enum):
    """The kind of value an expression produces."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    LIST = "list"
    NULL = "null"
    ANY = "any"


@dataclass(frozen=True)
class ExprType:
    """A static type: a kind plus nullability, list element type, enum options or reference.

    ``options`` is set for enums and for string literals (a literal is a one-option enum,
    which is what lets :func:`assignable` check literal values against enum fields).
    """

    kind: Kind
    nullable: bool = False
    item: ExprType | None = None
    options: tuple[str, ...] | None = None
    ref: str | None = None

    def __str__(self) -> str:
        if self.kind is Kind.LIST:
            base = "list" if self.item is None else f"list of {self.item}"
        else:
            base = f"{self.ref} reference" if self.ref is not None else self.kind.value
        return f"nullable {base}" if self.nullable and self.kind is not Kind.NULL else base


STRING = ExprType(Kind.STRING)
INTEGER = ExprType(Kind.INTEGER)
NUMBER = ExprType(Kind.NUMBER)
BOOLEAN = ExprType(Kind.BOOLEAN)
DATE = ExprType(Kind.DATE)
DATETIME = ExprType(Kind.DATETIME)
NULL = ExprType(Kind.NULL, nullable=True)
ANY = ExprType(Kind.ANY)

Scope = Mapping[str, Mapping[str, ExprType]]
"""Namespace (``item``, ``input``, ...) -> attribute -> declared type."""
Context = Mapping[str, Mapping[str, object]]
_Eval = Callable[[Context], object]
_NUMERIC = frozenset({Kind.INTEGER, Kind.NUMBER})


def list_of(item: ExprType) -> ExprType:
    """Return the type of a list whose elements have type ``item``."""
    return ExprType(Kind.LIST, item=item)


def enum_of(options: Iterable[str]) -> ExprType:
    """Return a string type restricted to ``options``."""
    return ExprType(Kind.STRING, options=tuple(options))


def a_or_an(word: str) -> str:
    """Return the indefinite article for ``word``: ``an integer``, ``a unit``, ``an enum``."""
    lowered = word.lower()
    if lowered.startswith(("uni", "use", "usu", "eu", "one")):
        return "a"
    return "an" if lowered[:1] in ("a", "e", "i", "o", "u") else "a"


def _plural(t: ExprType) -> str:
    if t.kind is Kind.NULL:
        return "nulls"
    if t.ref is not None:
        base = f"references to {'people' if t.ref == 'person' else t.ref + 's'}"
    elif t.kind is Kind.ANY:
        base = "values"
    elif t.kind is Kind.LIST:
        base = "lists"
    else:
        base = f"{t.kind.value}s"
    return base + (" or nulls" if t.nullable else "")


def describe(t: ExprType) -> str:
    """Say what a type is in words, for messages: ``an integer``, ``a boolean or null``."""
    if t.kind is Kind.NULL:
        return "null"
    if t.kind is Kind.ANY:
        return "any value"
    if t.kind is Kind.LIST:
        text = "a list" if t.item is None else f"a list of {_plural(t.item)}"
    elif t.ref is not None:
        text = f"a reference to {a_or_an(t.ref)} {t.ref}"
    elif t.options is not None and len(t.options) == 1:
        text = f"the text {t.options[0]!r}"
    elif t.options is not None:
        shown = ", ".join(repr(option) for option in t.options[:6])
        text = f"one of {shown}" + (", …" if len(t.options) > 6 else "")
    else:
        text = f"{a_or_an(t.kind.value)} {t.kind.value}"
    return text + (" or null" if t.nullable else "")


def ref_to(kind: str) -> ExprType:
    """Return the type of a string that references a directory entry of ``kind`` (e.g. unit)."""
    return ExprType(Kind.STRING, ref=kind)


def nullable(t: ExprType) -> ExprType:
    """Return ``t``, also allowing null."""
    return replace(t, nullable=True)


def assignable(value: ExprType, target: ExprType) -> bool:
    """Tell whether a value of type ``value`` may be stored where ``target`` is declared."""
    if Kind.ANY in (value.kind, target.kind):
        return True
    if value.kind is Kind.NULL:
        return target.nullable
    if value.nullable and not target.nullable:
        return False
    if value.kind is not target.kind and (value.kind, target.kind) != (Kind.INTEGER, Kind.NUMBER):
        return False
    if target.options is not None and not set(value.options or [None]) <= set(target.options):
        return False
    if target.ref is not None and value.ref not in (None, target.ref):
        return False
    if target.item is not None and value.item is not None:
        return assignable(value.item, target.item)
    return True


def _unify(a: ExprType, b: ExprType) -> ExprType | None:
    """Return the type that holds values of both ``a`` and ``b``, or None if none does."""
    if a.kind is Kind.NULL:
        return nullable(b)
    if b.kind is Kind.NULL:
        return nullable(a)
    either_null = a.nullable or b.nullable
    if {a.kind, b.kind} <= _NUMERIC:
        kind = Kind.INTEGER if a.kind is b.kind is Kind.INTEGER else Kind.NUMBER
        return ExprType(kind, nullable=either_null)
    if a.kind is not b.kind or a.ref != b.ref:
        return None
    if a.kind is Kind.LIST:
        item = a.item if b.item is None else b.item if a.item is None else _unify(a.item, b.item)
        return None if item is None and a.item is not None else ExprType(Kind.LIST, item=item)
    options = None
    if a.options is not None and b.options is not None:
        options = tuple(dict.fromkeys((*a.options, *b.options)))
    return ExprType(a.kind, nullable=either_null, options=options)


def _comparable(a: ExprType, b: ExprType) -> bool:
    kinds = {a.kind, b.kind}
    if Kind.ANY in kinds or Kind.NULL in kinds or kinds <= _NUMERIC:
        return True
    if a.kind is not b.kind or (a.ref and b.ref and a.ref != b.ref):
        return False
    return a.item is None or b.item is None or _comparable(a.item, b.item)


def _orderable(a: ExprType, b: ExprType) -> bool:
    kinds = {a.kind, b.kind}
    if Kind.NULL in kinds:
        return False
    if Kind.ANY in kinds or kinds <= _NUMERIC:
        return True
    return len(kinds) == 1 and a.kind in (Kind.STRING, Kind.DATE, Kind.DATETIME)


class ExpressionError(Exception):
    """An expression is invalid; ``offset`` is the 0-based character offset of the problem.

    Internal to definition loading: the loader turns it into a positioned ``Problem``.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class EvaluationError(Exception):
    """Evaluating a compiled expression failed (null arithmetic, division by zero, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression, ready to evaluate.

    ``names`` are the (namespace, attribute) pairs it reads, so callers can tell which
    fields a guard depends on.
    """

    source: str
    type: ExprType
    names: frozenset[tuple[str, str]]
    _run: _Eval = field(repr=False, compare=False)

    def evaluate(self, context: Context) -> object:
        """Evaluate against ``context`` (namespace -> attribute -> value); missing means null.

        Raises :class:`EvaluationError`, and nothing else for values of the declared types.
        """
        try:
            return self._run(context)
        except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            # Only reachable when the context holds values of undeclared types (or
            # absurdly nested lists in an ANY-typed value).
            raise EvaluationError(f"cannot evaluate {self.source!r}: {exc}") from exc


# ---- run-time helpers ---------------------------------------------------------------------

_ARITH: dict[type[ast.operator], tuple[str, Callable[[object, object], object]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Mod: ("%", operator.mod),
}
_ORDER: dict[str, Callable[[Any, Any], object]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_RUNTIME_NAMES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _describe(value: object) -> str:
    if value is None:
        return "null"
    return _RUNTIME_NAMES.get(type(value), type(value).__name__)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _truth(value: object) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    raise EvaluationError(f"expected a boolean, got {_describe(value)}")


def _checked_number(value: object) -> object:
    if isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise EvaluationError(f"integer overflow (the limit is {MAX_INTEGER})")
    if isinstance(value, float) and not math.isfinite(value):
        raise EvaluationError("arithmetic overflow: the result is not a finite number")
    return value


def _arith(symbol: str, fn: Callable[[object, object], object], a: object, b: object) -> object:
    if a is None or b is None:
        raise EvaluationError(f"cannot apply '{symbol}' to null")
    if symbol == "+" and isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_STRING_LENGTH:
            raise EvaluationError(f"string too long (the limit is {MAX_STRING_LENGTH} characters)")
        return a + b
    if not (_is_number(a) and _is_number(b)):
        raise EvaluationError(f"cannot apply '{symbol}' to {_describe(a)} and {_describe(b)}")
    try:
        return _checked_number(fn(a, b))
    except ZeroDivisionError:
        raise EvaluationError("division by zero") from None
    except OverflowError:
        raise EvaluationError("arithmetic overflow") from None


def _sign(value: object, negate: bool) -> object:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise EvaluationError(f"unary minus/plus needs a number, got {_describe(value)}")
    return _checked_number(-value if negate else value)


def _contains(container: object, value: object) -> bool:
    if isinstance(container, str):
        return isinstance(value, str) and value in container
    return container is not None and value in container  # type: ignore[operator]


def _compare(symbol: str, a: object, b: object) -> bool:
    if symbol == "==":
        return a == b
    if symbol == "!=":
        return a != b
    if symbol in ("in", "not in"):
        return _contains(b, a) is (symbol == "in")
    if a is None or b is None:
        return False
    try:
        return bool(_ORDER[symbol](a, b))
    except TypeError:
        # e.g. naive vs timezone-aware datetimes
        raise EvaluationError(f"cannot compare {_describe(a)} and {_describe(b)}") from None


def _to_date(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise EvaluationError(f"{value[:40]!r} is not an ISO date") from None
    return value


def _to_datetime(value: object) -> object:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise EvaluationError(f"{value[:40]!r} is not an ISO datetime") from None
    return value


def _len(value: object) -> int:
    return 0 if value is None else len(value)  # type: ignore[arg-type]


def _is_set(value: object) -> bool:
    return not (value is None or (isinstance(value, str | list) and len(value) == 0))


def _case(method: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise EvaluationError(f"{method}() needs a string, got {_describe(value)}")
        return value.lower() if method == "lower" else value.upper()

    return convert


_FUNCTIONS: dict[str, Callable[[object], object]] = {
    "len": _len,
    "is_set": _is_set,
    "lower": _case("lower"),
    "upper": _case("upper"),
}
_LITERAL_NAMES: dict[str, object] = {"true": True, "false": False, "null": None}
_PYTHON_SPELLINGS = {True: "true", False: "false", None: "null"}
_CALLS_ALLOWED = "function calls other than len(), is_set(), lower(), upper() are not allowed"
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_FORBIDDEN: dict[type[ast.AST], str] = {
    **dict.fromkeys(_COMPREHENSIONS, "comprehensions are not allowed"),
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambda expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not allowed; join strings with +",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed; use a list [...]",
    ast.Tuple: "tuples are not allowed; use a list [...]",
    ast.Starred: "starred expressions are not allowed",
}
_BAD_OPERATORS: dict[type[ast.AST], str] = {
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.Invert: "~",
}
_COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_NOT_LITERAL = object()


def _const(value: object) -> _Eval:
    if isinstance(value, list):
        items = tuple(value)
        return lambda _context: list(items)  # a fresh list: callers may mutate results
    return lambda _context: value


def _suggest(word: str, candidates: Iterable[str], prefix: str = "") -> str:
    options = list(candidates)
    match = difflib.get_close_matches(word, options, n=1) or difflib.get_close_matches(
        word.lower(), options, n=1
    )
    return f"; did you mean '{prefix}{match[0]}'?" if match else ""


# ---- compile time -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    type: ExprType
    fn: _Eval
    src: ast.expr
    literal: object = _NOT_LITERAL
    label: str | None = None  # "item.category", for enum messages
    parts: tuple[_Node, ...] = ()  # list literal elements, for enum messages


def _literal(src: ast.expr, type_: ExprType, value: object, parts: tuple[_Node, ...] = ()) -> _Node:
    return _Node(type_, _const(value), src, value, parts=parts)


class _Compiler:
    def __init__(self, text: str, shift: int, scope: Scope) -> None:
        self.text, self.shift, self.scope = text, shift, scope
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        self.names: set[tuple[str, str]] = set()

    def pos(self, lineno: int | None, col: int | None) -> int:
        """Turn the parser's (1-based line, UTF-8 byte column) into a character offset."""
        if lineno is None or col is None:
            return 0
        start = self.starts[max(0, min(lineno - 1, len(self.starts) - 1))]
        head = self.text[start:].encode("utf-8", "surrogatepass")[:col]
        return start + len(head.decode("utf-8", "ignore"))

    def error(self, at: ast.expr | int, message: str) -> ExpressionError:
        offset = at if isinstance(at, int) else self.pos(at.lineno, at.col_offset)
        return ExpressionError(message, self.shift + offset)

    def op_offset(self, left: ast.expr, right: ast.expr, symbol: str) -> int:
        start = self.pos(left.end_lineno, left.end_col_offset)
        found = self.text.find(symbol, start, self.pos(right.lineno, right.col_offset))
        return found if found >= 0 else start

    def compile(self, node: ast.expr, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise self.error(node, f"expression is nested too deeply (limit {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.List):
            return self.list_literal(node, depth)
        if isinstance(node, ast.BoolOp):
            return self.boolop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.IfExp):
            return self.conditional(node, depth)
        message = _FORBIDDEN.get(type(node), f"{type(node).__name__} expressions are not allowed")
        raise self.error(node, message)

    def constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if value is None or isinstance(value, bool):
            spelling = _PYTHON_SPELLINGS[value]
            raise self.error(node, f"'{value}' is not allowed; did you mean '{spelling}'?")
        if isinstance(value, str):
            return _literal(node, ExprType(Kind.STRING, options=(value,)), value)
        if isinstance(value, int):
            if abs(value) > MAX_INTEGER:
                raise self.error(node, f"integer literal too large (the limit is {MAX_INTEGER})")
            return _literal(node, INTEGER, value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(node, "number literal too large")
            return _literal(node, NUMBER, value)
        raise self.error(node, f"{type(value).__name__} literals are not allowed")

    def name(self, node: ast.Name) -> _Node:
        name = node.id
        if name in _LITERAL_NAMES:
            value = _LITERAL_NAMES[name]
            return _literal(node, NULL if value is None else BOOLEAN, value)
        if name in self.scope:
            raise self.error(node, f"'{name}' is a namespace; use one of its attributes: {name}.x")
        if name in _FUNCTIONS:
            raise self.error(node, f"'{name}' is a function; call it: {name}(...)")
        suggestion = _suggest(name, [*self.scope, *_LITERAL_NAMES])
        raise self.error(node, f"unknown name '{name}'{suggestion}")

    def attribute(self, node: ast.Attribute) -> _Node:
        if node.attr.startswith("_"):
            raise self.error(node, "attributes starting with '_' are not allowed")
        base = node.value
        if not isinstance(base, ast.Name):
            raise self.error(node, "attributes can only be read from a namespace, as in item.x")
        namespace, attr = base.id, node.attr
        attributes = self.scope.get(namespace)
        if attributes is None:
            suggestion = _suggest(namespace, self.scope)
            raise self.error(base, f"unknown namespace '{namespace}'{suggestion}")
        declared = attributes.get(attr)
        if declared is None:
            end = self.pos(node.end_lineno, node.end_col_offset)
            suggestion = _suggest(attr, attributes, prefix=f"{namespace}.")
            message = f"unknown attribute '{attr}' of {namespace}{suggestion}"
            raise self.error(max(0, end - len(attr)), message)
        self.names.add((namespace, attr))

        def read(context: Context) -> object:
            values = context.get(namespace)
            return None if values is None else values.get(attr)

        fn = read
        if declared.kind in (Kind.DATE, Kind.DATETIME):
            convert = _to_date if declared.kind is Kind.DATE else _to_datetime
            fn = lambda context: convert(read(context))  # noqa: E731
        return _Node(declared, fn, node, label=f"{namespace}.{attr}")

    def list_literal(self, node: ast.List, depth: int) -> _Node:
        parts = tuple(self.compile(element, depth + 1) for element in node.elts)
        for part in parts:
            if part.literal is _NOT_LITERAL or isinstance(part.literal, list):
                raise self.error(part.src, "list elements must be literals (strings, numbers, ...)")
        typed = [part for part in parts if part.type.kind is not Kind.NULL]
        item: ExprType | None = None
        if typed:
            kinds = {part.type.kind for part in typed}
            if kinds <= _NUMERIC:
                kind = Kind.INTEGER if kinds == {Kind.INTEGER} else Kind.NUMBER
            elif len(kinds) == 1:
                kind = typed[0].type.kind
            else:
                odd = next(p for p in typed if p.type.kind is not typed[0].type.kind)
                raise self.error(odd.src, "list elements must all have the same type")
            strings = tuple(dict.fromkeys(str(p.literal) for p in typed))
            options = strings if kind is Kind.STRING else None
            item = ExprType(kind, nullable=len(typed) < len(parts), options=options)
        elif parts:
            item = NULL
        type_ = ExprType(Kind.LIST, item=item)
        return _literal(node, type_, [part.literal for part in parts], parts)

    def conditional(self, node: ast.IfExp, depth: int) -> _Node:
        """Compile ``a if c else b``.

        Both branches must agree on a type; only one is evaluated.
        """
        test = self.compile(node.test, depth + 1)
        self.need_boolean(test, "the condition of 'x if c else y'")
        body, orelse = self.compile(node.body, depth + 1), self.compile(node.orelse, depth + 1)
        result = _unify(body.type, orelse.type)
        if result is None:
            raise self.error(
                node.orelse,
                f"both branches of 'x if c else y' must have one type, got {body.type} "
                f"and {orelse.type}",
            )
        check, yes, no = test.fn, body.fn, orelse.fn
        return _Node(
            result, lambda context: yes(context) if _truth(check(context)) else no(context), node
        )

    def need_boolean(self, node: _Node, what: str) -> None:
        if node.type.kind not in (Kind.BOOLEAN, Kind.ANY):
            raise self.error(node.src, f"{what} needs a boolean, got {node.type}")

    def boolop(self, node: ast.BoolOp, depth: int) -> _Node:
        is_and = isinstance(node.op, ast.And)
        parts = [self.compile(value, depth + 1) for value in node.values]
        for part in parts:
            self.need_boolean(part, "'and'" if is_and else "'or'")
        fns = tuple(part.fn for part in parts)

        def run(context: Context) -> object:
            for fn in fns:
                if _truth(fn(context)) is not is_and:
                    return not is_and
            return is_and

        return _Node(BOOLEAN, run, node)

    def unary(self, node: ast.UnaryOp, depth: int) -> _Node:
        if type(node.op) in _BAD_OPERATORS:
            raise self.error(node, f"the '{_BAD_OPERATORS[type(node.op)]}' operator is not allowed")
        operand = self.compile(node.operand, depth + 1)
        fn = operand.fn
        if isinstance(node.op, ast.Not):
            self.need_boolean(operand, "'not'")
            return _Node(BOOLEAN, lambda context: not _truth(fn(context)), node)
        kind = operand.type.kind
        if kind not in (Kind.INTEGER, Kind.NUMBER, Kind.ANY):
            raise self.error(operand.src, f"unary minus/plus needs a number, got {operand.type}")
        result = ExprType(Kind.NUMBER if kind is Kind.ANY else kind)
        negate = isinstance(node.op, ast.USub)
        if _is_number(operand.literal):
            return _literal(node, result, _sign(operand.literal, negate))
        return _Node(result, lambda context: _sign(fn(context), negate), node)

    def binop(self, node: ast.BinOp, depth: int) -> _Node:
        bad = _BAD_OPERATORS.get(type(node.op))
        if bad is not None:
            at = self.op_offset(node.left, node.right, bad)
            raise self.error(at, f"the '{bad}' operator is not allowed")
        symbol, op = _ARITH[type(node.op)]
        left, right = self.compile(node.left, depth + 1), self.compile(node.right, depth + 1)
        kinds = {left.type.kind, right.type.kind}
        if symbol == "+" and kinds <= {Kind.STRING, Kind.ANY} and Kind.STRING in kinds:
            result = STRING
        elif kinds <= _NUMERIC:
            integer = kinds == {Kind.INTEGER} and symbol != "/"
            result = INTEGER if integer else NUMBER
        elif Kind.ANY in kinds and kinds <= _NUMERIC | {Kind.ANY}:
            result = ANY if symbol == "+" and kinds == {Kind.ANY} else NUMBER
        else:
            extra = " (repetition is not allowed)" if symbol == "*" else ""
            message = f"cannot apply '{symbol}' to {left.type} and {right.type}{extra}"
            raise self.error(self.op_offset(node.left, node.right, symbol), message)
        lf, rf = left.fn, right.fn
        return _Node(result, lambda context: _arith(symbol, op, lf(context), rf(context)), node)

    def compare(self, node: ast.Compare, depth: int) -> _Node:
        sources = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if type(op) not in _COMPARISONS:
                at = self.op_offset(sources[i], sources[i + 1], "is")
                raise self.error(at, "'is' is not allowed; use == or !=")
        operands = [self.compile(source, depth + 1) for source in sources]
        symbols = [_COMPARISONS[type(op)] for op in node.ops]
        for i, symbol in enumerate(symbols):
            operands[i], operands[i + 1] = self.check_pair(symbol, operands[i], operands[i + 1])
        first = operands[0].fn
        steps = tuple(zip(symbols, (o.fn for o in operands[1:]), strict=True))

        def run(context: Context) -> object:
            left = first(context)
            for symbol, fn in steps:
                right = fn(context)
                if not _compare(symbol, left, right):
                    return False
                left = right
            return True

        return _Node(BOOLEAN, run, node)

    def check_pair(self, symbol: str, left: _Node, right: _Node) -> tuple[_Node, _Node]:
        word = symbol.split(maxsplit=1)[0]
        where = self.op_offset(left.src, right.src, word)
        if symbol in ("in", "not in"):
            container = right.type
            if container.kind is Kind.LIST:
                if container.item is not None and not _comparable(left.type, container.item):
                    raise self.error(where, f"cannot look for {left.type} in {container}")
            elif container.kind is Kind.STRING:
                if left.type.kind not in (Kind.STRING, Kind.ANY):
                    raise self.error(where, f"cannot look for {left.type} in a string")
            elif container.kind is not Kind.ANY:
                raise self.error(where, f"'{symbol}' needs a list or a string, got {container}")
            self.check_membership(left, right)
            return left, right
        left, right = self.date_literal(left, right), self.date_literal(right, left)
        if symbol in ("==", "!="):
            if not _comparable(left.type, right.type):
                raise self.error(where, f"cannot compare {left.type} with {right.type}")
            for enum_side, literal in ((left, right), (right, left)):
                options = enum_side.type.options
                if options is not None and enum_side.literal is _NOT_LITERAL:
                    self.check_option(literal, options, enum_side.label)
        elif not _orderable(left.type, right.type):
            raise self.error(where, f"cannot use '{symbol}' on {left.type} and {right.type}")
        return left, right

    def date_literal(self, node: _Node, other: _Node) -> _Node:
        """Read a string literal next to a date(time) as an ISO date(time), checked now."""
        kind = other.type.kind
        if kind not in (Kind.DATE, Kind.DATETIME) or not isinstance(node.literal, str):
            return node
        parse = dt.date.fromisoformat if kind is Kind.DATE else dt.datetime.fromisoformat
        try:
            value = parse(node.literal)
        except ValueError:
            raise self.error(node.src, f"{node.literal!r} is not an ISO {kind.value}") from None
        return _literal(node.src, ExprType(kind), value)

    def check_membership(self, needle: _Node, container: _Node) -> None:
        item = container.type.item
        if needle.type.options is not None and needle.literal is _NOT_LITERAL:
            for part in container.parts:
                self.check_option(part, needle.type.options, needle.label)
        elif item is not None and item.options is not None and container.literal is _NOT_LITERAL:
            self.check_option(needle, item.options, container.label)

    def check_option(self, node: _Node, options: tuple[str, ...], label: str | None) -> None:
        value = node.literal
        if isinstance(value, str) and value not in options:
            of = f" of {label}" if label else ""
            listed, hint = ", ".join(options), _suggest(value, options)
            message = f"{value!r} is not an option{of} (options: {listed}){hint}"
            raise self.error(node.src, message)

    def call(self, node: ast.Call, depth: int) -> _Node:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in _FUNCTIONS:
            hint = _suggest(func.id, _FUNCTIONS) if isinstance(func, ast.Name) else ""
            raise self.error(node, _CALLS_ALLOWED + hint)
        name = func.id
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise self.error(node, f"{name}() takes exactly one argument")
        arg = self.compile(node.args[0], depth + 1)
        kind = arg.type.kind
        if name == "len" and kind not in (Kind.STRING, Kind.LIST, Kind.ANY):
            raise self.error(arg.src, f"len() needs a string or a list, got {arg.type}")
        if name in ("lower", "upper") and kind not in (Kind.STRING, Kind.ANY):
            raise self.error(arg.src, f"{name}() needs a string, got {arg.type}")
        if name == "len":
            result = INTEGER
        elif name == "is_set":
            result = BOOLEAN
        else:
            result = ExprType(Kind.STRING, nullable=arg.type.nullable or kind is Kind.ANY)
        fn, function = arg.fn, _FUNCTIONS[name]
        return _Node(result, lambda context: function(fn(context)), node)

    def expect(self, root: _Node, expect: ExprType) -> None:
        if expect.options is not None:
            self.check_option(root, expect.options, None)
        if expect.item is not None and expect.item.options is not None:
            for part in root.parts:
                self.check_option(part, expect.item.options, None)
        if assignable(root.type, expect):
            return
        got, want = root.type, expect
        if got.kind is want.kind is Kind.LIST and got.item and want.item:
            got, want = got.item, want.item
        hint = ""
        if got.options is not None and want.options is not None:
            extra = ", ".join(repr(o) for o in got.options if o not in want.options)
            hint = f" (it may be {extra}; options here: {', '.join(want.options)})"
        elif root.type.nullable and assignable(replace(root.type, nullable=False), expect):
            hint = " (it may be null" + ("; compare it: x == true)" if want == BOOLEAN else ")")
        # Guards and choices take a boolean that may be null: say what they want.
        wanted = "a boolean (true/false)" if expect.kind is Kind.BOOLEAN else describe(expect)
        raise self.error(root.src, f"expected {wanted} expression, got {describe(root.type)}{hint}")


def _syntax_error(text: str, shift: int, exc: SyntaxError) -> ExpressionError:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    line = max(0, min((exc.lineno or 1) - 1, len(starts) - 1))
    offset = min(len(text), starts[line] + max(0, (exc.offset or 1) - 1))
    detail = exc.msg or "invalid syntax"
    if not exc.offset:  # the parser reports column 0 when the text ends too early
        offset = len(text.rstrip())
        detail = "unexpected end of expression" if detail == "invalid syntax" else detail
    message = "invalid syntax" if detail == "invalid syntax" else f"invalid syntax: {detail}"
    return ExpressionError(message, shift + offset)


def _parse(text: str, shift: int) -> ast.Expression:
    try:
        # Warnings (e.g. invalid escape sequences) become errors, and never reach the
        # process-wide warning machinery. catch_warnings is not thread-safe; loading
        # definitions happens once at start-up.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(text, shift, exc) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is nested too deeply", shift) from None
    except ValueError as exc:  # null bytes, lone surrogates
        at = exc.start if isinstance(exc, UnicodeError) and hasattr(exc, "start") else 0
        raise ExpressionError(f"invalid characters in expression: {exc}", shift + at) from None
    except Warning as exc:
        raise ExpressionError(f"invalid syntax: {exc}", shift) from None


def compile_expression(
    source: str, scope: Scope, expect: ExprType | None = None
) -> CompiledExpression:
    """Parse and type-check ``source`` against ``scope``; raise :class:`ExpressionError`.

    When ``expect`` is given, the expression's type must be :func:`assignable` to it (guards
    pass :data:`BOOLEAN`, ``set:`` effects the field's type).
    """
    if len(source) > MAX_SOURCE_LENGTH:
        message = f"expression too long ({len(source)} characters; limit {MAX_SOURCE_LENGTH})"
        raise ExpressionError(message, MAX_SOURCE_LENGTH)
    text = source.lstrip()
    shift = len(source) - len(text)
    if not text:
        raise ExpressionError("empty expression", 0)
    if "\0" in text:
        raise ExpressionError("null characters are not allowed", shift + text.index("\0"))
    tree = _parse(text, shift)
    count = 0
    for node in ast.walk(tree):
        count += isinstance(node, ast.expr)
        if count > MAX_NODES:
            raise ExpressionError(f"expression too complex (more than {MAX_NODES} parts)", 0)
    compiler = _Compiler(text, shift, scope)
    root = compiler.compile(tree.body, 1)
    if expect is not None:
        compiler.expect(root, expect)
    return CompiledExpression(source, root.type, frozenset(compiler.names), root.fn)
