"""The one module that owns the Jinja2 environment notification templates render in.

Templates are written by workflow authors, so they are treated as untrusted
code. Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` keeps
them away from Python internals; on its own it does not bound what they
cost (``{{ 'x' * 200000000 }}`` takes hundreds of megabytes). This module
adds the bounds, in three layers:

* **operation caps** - every operation that can build a large value in one
  C-level step is checked *before* it runs: ``*`` and ``+`` on strings and
  lists, ``**`` and ``*`` on integers, printf-style ``%`` and ``str.format``
  widths and precisions, ``range``, the padding and joining filters and
  string methods (``center``, ``indent``, ``replace``, ``join``, ...);
* **a budget** - every value built (operator results, filter and method
  results, every piece of output, buffered or not) is counted against a
  per-render allowance, so memory stays bounded even when each single
  step is small;
* **a deadline** - every loop iteration, call (macros included), operator,
  filter and output piece checks the render's clock, so a ``{% for %}``
  bomb stops within the time cap. Work between two checks is one bounded
  operation.

To make the last two sound, each template's syntax tree is rewritten before
it is compiled: the iterable of every ``{% for %}`` loop, every ``~``
concatenation and every piece of output pass through guard methods of the
:class:`Guards` extension (names a template cannot spell or shadow).

Builtin methods are allowed by name (``str.upper``, ``dict.items``, ...;
anything else is refused), filters are Jinja2's own minus those that make
no sense in plain text or reach around the sandbox (``attr``, ``safe``,
``tojson``, ``random``, ...), and there is one addition: ``datetime``.
Every refusal raises a :class:`~workflow.errors.TemplateError` subclass.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import itertools
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import StrictUndefined, nodes
from jinja2.environment import Environment, Template
from jinja2.ext import Extension
from jinja2.filters import (
    FILTERS,
    do_batch,
    do_indent,
    do_replace,
    do_slice,
    do_sum,
    do_wordwrap,
    make_attrgetter,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Cycler, Joiner, Namespace, pass_context, pass_environment
from jinja2.utils import pass_eval_context as _pass_eval_context
from jinja2.visitor import NodeTransformer

from workflow.errors import TemplateError, TemplateLimitExceeded, TemplateSecurityError

__all__ = [
    "BLOCKS",
    "DEFAULT_LIMITS",
    "REMOVED_FILTERS",
    "Guards",
    "Limits",
    "SandboxEnvironment",
    "harden",
    "render_blocks",
]

BLOCKS = ("subject", "body")
"""The blocks every template defines, rendered separately."""


@dataclass(frozen=True)
class Limits:
    """The caps on one render. Sizes are in characters, items or bits."""

    output_bytes: int = 64 * 1024
    """Each block's output, in UTF-8 bytes (checked while it streams)."""
    render_seconds: float = 0.2
    """Wall time for one render (both blocks)."""
    string_length: int = 256 * 1024
    """The longest string any one operation may build."""
    items: int = 100_000
    """The longest list (or range) any one operation may build."""
    int_bits: int = 8192
    """The largest integer (about 2,466 decimal digits)."""
    width: int = 1000
    """The largest width or precision in a format (``%10s``, ``{:>10}``, ``%10Y``)."""
    budget: int = 2_000_000
    """Everything built during one render: characters of strings and output, items of lists."""


DEFAULT_LIMITS = Limits()
"""The limits used unless a template set is given others."""


# -- the per-render state: deadline and budget --------------------------------------------


class _Render:
    """What one render has used so far."""

    __slots__ = ("deadline", "limits", "spent")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.render_seconds
        self.spent = 0


_current: contextvars.ContextVar[_Render | None] = contextvars.ContextVar(
    "workflow_template_render", default=None
)


def _limits() -> Limits:
    state = _current.get()
    return state.limits if state is not None else DEFAULT_LIMITS


def _tick() -> None:
    """Stop the render once its time is up."""
    state = _current.get()
    if state is not None and time.monotonic() > state.deadline:
        seconds = state.limits.render_seconds
        raise TemplateLimitExceeded(
            "render time",
            seconds,
            f"the render took longer than {seconds * 1000:.0f} ms; loop over less data",
        )


def _spend(amount: int) -> None:
    state = _current.get()
    if state is None:
        return
    state.spent += amount
    if state.spent > state.limits.budget:
        raise TemplateLimitExceeded(
            "render budget",
            state.limits.budget,
            f"the template built more than {state.limits.budget:,} characters and list "
            "items in one render",
        )


def _want_string(length: int, what: str) -> None:
    cap = _limits().string_length
    if length > cap:
        raise TemplateLimitExceeded(
            "string length",
            cap,
            f"{what} would build a string of {length:,} characters; at most {cap:,} are allowed",
        )


def _want_items(count: int, what: str) -> None:
    cap = _limits().items
    if count > cap:
        raise TemplateLimitExceeded(
            "list length",
            cap,
            f"{what} would build {count:,} items; at most {cap:,} are allowed",
        )


def _want_bits(bits: int, what: str) -> None:
    cap = _limits().int_bits
    if bits > cap:
        raise TemplateLimitExceeded(
            "integer size",
            cap,
            f"{what} would build an integer of about {bits:,} bits; at most {cap:,} are allowed",
        )


def _want_width(digits: str, what: str) -> None:
    cap = _limits().width
    # Compare lengths first: int() of a long digit string is itself slow (and refused).
    if len(digits.lstrip("0")) > len(str(cap)) or int(digits) > cap:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise TemplateLimitExceeded(
            "format width", cap, f"{what} asks for a width of {shown}; at most {cap} is allowed"
        )


def _checked(value: Any, what: str) -> Any:
    """Check and count a value just built."""
    if isinstance(value, str):
        _want_string(len(value), what)
        _spend(len(value))
    elif isinstance(value, list | tuple | dict | set | frozenset):
        _want_items(len(value), what)
        _spend(len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        _want_bits(value.bit_length(), what)
    return value


def _metered(iterator: Iterator[Any]) -> Iterator[Any]:
    for item in iterator:
        _tick()
        yield item


def _take(value: Iterable[Any], what: str) -> list[Any]:
    """Materialise an iterable, refusing it past the list cap."""
    cap = _limits().items
    taken = list(itertools.islice(_metered(iter(value)), cap + 1))
    _want_items(len(taken), what)
    _spend(len(taken))
    return taken


# -- formats --------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)?", re.DOTALL)


def _check_spec(spec: str, what: str) -> None:
    """Refuse a format spec (``>10``, ``.3f``, ``%Y``) with a number over the width cap."""
    for digits in _DIGITS.findall(spec):
        _want_width(digits, what)


def _check_printf(fmt: str, what: str) -> None:
    """Refuse ``%*d`` and widths or precisions over the cap in a printf-style format."""
    for match in _PRINTF.finditer(fmt):
        width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        for part in (width, precision):
            if part == "*":
                raise TemplateLimitExceeded(
                    "format width",
                    _limits().width,
                    f"{what} takes its width from an argument (`*`); write the width out",
                )
            if part:
                _want_width(part, what)


def _printf(fmt: str, values: Any) -> str:
    _check_printf(fmt, "the % format")
    result: str = fmt % values
    return str(_checked(result, "the % format"))


class _CappedFormatter(SandboxedFormatter):
    """``str.format`` under the sandbox's attribute rules, with widths capped."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec, "str.format")
        _tick()
        return _checked(super().format_field(value, format_spec), "str.format")


# -- builtin methods ----------------------------------------------------------------------

_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "find",
        "index",
        "isalnum",
        "isalpha",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
    }
)
_METHODS: Mapping[type, frozenset[str]] = {
    str: _STR_METHODS,
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    range: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
    set: frozenset({"isdisjoint", "issubset", "issuperset", "copy"}),
    frozenset: frozenset({"isdisjoint", "issubset", "issuperset", "copy"}),
    float: frozenset({"is_integer"}),
    int: frozenset({"bit_length"}),
    dt.datetime: frozenset(
        {"date", "time", "isoformat", "strftime", "weekday", "isoweekday", "timestamp"}
    ),
    dt.date: frozenset({"isoformat", "strftime", "weekday", "isoweekday"}),
    dt.time: frozenset({"isoformat", "strftime"}),
    dt.timedelta: frozenset({"total_seconds"}),
}
"""The methods of builtin types a template may call; any other builtin method is refused."""


def _check_builtin_method(method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse a builtin method not in :data:`_METHODS`; cap those that build big strings.

    Returns the arguments to call with (a ``join`` argument is materialised
    here so that its size can be checked).
    """
    owner = method.__self__
    name = method.__name__
    allowed = next((_METHODS[kind] for kind in type(owner).__mro__ if kind in _METHODS), None)
    if allowed is None or name not in allowed:
        raise TemplateSecurityError(
            f"`{type(owner).__name__}.{name}()` is not available in notification templates"
        )
    if not isinstance(owner, str):
        if name == "strftime" and args and isinstance(args[0], str):
            _check_spec(args[0], "strftime")
        return args
    what = f"str.{name}"
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _want_string(max(args[0], len(owner)), what)
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        _want_string(_replaced_length(owner, str(args[0]), str(args[1]), count), what)
    elif name == "join" and args:
        parts = _take(args[0], what)
        total = sum(len(p) for p in parts if isinstance(p, str))
        _want_string(total + len(owner) * max(len(parts) - 1, 0), what)
        return (parts, *args[1:])
    return args


def _replaced_length(text: str, old: str, new: str, count: int) -> int:
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


# -- the environment ----------------------------------------------------------------------


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with operation caps, a budget and a deadline.

    ``StrictUndefined``, no autoescaping (templates make plain text; the
    webhook channels JSON-encode it), no compile-time constant folding (so
    nothing a template says runs outside a render's limits).
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            optimized=False,
            auto_reload=False,
            extensions=[Guards],
            **options,
        )
        self.filters = dict(_FILTERS)
        self.globals = {
            "range": _range,
            "dict": dict,
            "namespace": Namespace,
            "cycler": Cycler,
            "joiner": Joiner,
        }

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Run an operator after checking that its result stays within the caps."""
        _tick()
        what = f"`{operator}`"
        if operator == "*":
            _check_multiply(left, right, what)
        elif operator == "+":
            _check_add(left, right, what)
        elif operator == "**":
            _check_power(left, right, what)
        elif operator == "%" and isinstance(left, str):
            return _printf(left, right)
        return _checked(self.binop_table[operator](left, right), what)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call something from a template: a macro, a global, an allowed method."""
        _tick()
        if isinstance(obj, types.BuiltinMethodType):
            if isinstance(obj.__self__, types.ModuleType | type(None)):
                raise TemplateSecurityError(
                    f"`{obj.__qualname__}` is not available in notification templates"
                )
            args = _check_builtin_method(obj, args)
        return _checked(super().call(context, obj, *args, **kwargs), "a call")

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Prefer a dict's key to its method: ``item.data.items`` is the field ``items``."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """Refuse at once (not later, when the undefined value is used)."""
        raise TemplateSecurityError(
            f"access to `{attribute}` of a {type(obj).__name__} is not allowed in templates"
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Route ``str.format``/``format_map`` (however reached) through a capped formatter."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType):
            return None
        if value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        text = str(value.__self__)
        is_map = value.__name__ == "format_map"
        formatter = _CappedFormatter(self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                kwargs, args = args[0], ()
            return str(_checked(formatter.vformat(text, args, kwargs), "str.format"))

        return functools.update_wrapper(wrapper, value)


def _check_multiply(left: Any, right: Any, what: str) -> None:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            total = len(sequence) * max(count, 0)
            if isinstance(sequence, str):
                _want_string(total, what)
            else:
                _want_items(total, what)
            return
    if isinstance(left, int) and isinstance(right, int):
        _want_bits(left.bit_length() + right.bit_length(), what)


def _check_add(left: Any, right: Any, what: str) -> None:
    if isinstance(left, str) and isinstance(right, str):
        _want_string(len(left) + len(right), what)
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        _want_items(len(left) + len(right), what)


def _check_power(base: Any, exponent: Any, what: str) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _want_bits(base.bit_length() * exponent, what)


def _range(*args: int) -> range:
    """``range`` capped at the list length limit."""
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = _limits().items + 1
    _want_items(length, "range()")
    return numbers


# -- guards the rewritten syntax tree calls --------------------------------------------------


class Guards(Extension):
    """Guard methods the rewritten templates call (see :func:`harden`); adds no syntax."""

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """Wrap the iterable of a ``{% for %}`` loop: each step checks the deadline."""
        return _metered(iter(iterable))

    def concat(self, *parts: Any) -> str:
        """Join ``a ~ b``, refusing a result over the string cap before building it."""
        texts = [str(part) for part in parts]
        _want_string(sum(len(t) for t in texts), "`~`")
        _spend(sum(len(t) for t in texts))
        return "".join(texts)

    def emit(self, value: Any) -> str:
        """Count a piece of output (also inside macros and ``{% set %}`` blocks)."""
        _tick()
        text = str(value)
        _want_string(len(text), "the output")
        _spend(len(text))
        return text


_GUARDS = f"{Guards.__module__}.{Guards.__qualname__}"


class _Harden(NodeTransformer):
    def _guard(self, method: str, args: list[nodes.Node], lineno: int) -> nodes.Call:
        return nodes.Call(
            nodes.ExtensionAttribute(_GUARDS, method, lineno=lineno),
            cast("list[nodes.Expr]", args),
            [],
            None,
            None,
            lineno=lineno,
        )

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._guard("iterate", [node.iter], node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._guard("concat", list[nodes.Node](node.nodes), node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        guarded: list[nodes.Expr] = []
        for child in node.nodes:
            value: nodes.Node = (
                nodes.Const(child.data, lineno=child.lineno)
                if isinstance(child, nodes.TemplateData)
                else child
            )
            guarded.append(self._guard("emit", [value], child.lineno))
        node.nodes = guarded
        return node


def harden(tree: nodes.Template, environment: Environment) -> nodes.Template:
    """Rewrite a parsed template so loops, ``~`` and output pass through :class:`Guards`."""
    hardened = _Harden().visit(tree)
    if not isinstance(hardened, nodes.Template):
        raise TemplateError("internal: the template tree lost its root")
    hardened.set_environment(environment)
    return hardened


# -- filters ------------------------------------------------------------------------------

REMOVED_FILTERS = frozenset(
    {
        "attr",
        "e",
        "escape",
        "forceescape",
        "pprint",
        "random",
        "safe",
        "tojson",
        "urlencode",
        "urlize",
        "xmlattr",
    }
)
"""Jinja2 filters notification templates do not get: HTML-only, random, or ways around
the sandbox's attribute rules (``attr``)."""


def _center(value: Any, width: int = 80) -> str:
    text = str(value)
    _want_string(max(width, len(text)), "center")
    return text.center(width)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise TemplateError("format takes either positional or keyword arguments, not both")
    return _printf(str(value), kwargs or args)


@_pass_eval_context
def _replace(
    eval_ctx: EvalContext, value: Any, old: Any, new: Any, count: int | None = None
) -> str:
    _want_string(
        _replaced_length(str(value), str(old), str(new), -1 if count is None else count),
        "replace",
    )
    return str(do_replace(eval_ctx, str(value), str(old), str(new), count))


@pass_environment
def _join(
    environment: Environment, value: Iterable[Any], d: str = "", attribute: str | None = None
) -> str:
    items = _take(value, "join")
    if attribute is not None:
        getter = make_attrgetter(environment, attribute)
        items = [getter(item) for item in items]
    texts = [str(item) for item in items]
    _want_string(sum(len(t) for t in texts) + len(str(d)) * max(len(texts) - 1, 0), "join")
    return str(d).join(texts)


def _indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(value)
    pad = width if isinstance(width, int) else len(str(width))
    _want_string(len(text) + (text.count("\n") + 1) * max(pad, 0), "indent")
    return do_indent(text, width, first, blank)


@pass_environment
def _wordwrap(
    environment: Environment,
    value: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(value)
    separator = environment.newline_sequence if wrapstring is None else str(wrapstring)
    _want_string((len(text) + 1) * (1 + len(separator)), "wordwrap")
    return do_wordwrap(environment, text, width, break_long_words, wrapstring, break_on_hyphens)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> list[list[Any]]:
    _want_items(linecount, "batch")
    return list(do_batch(_take(value, "batch"), linecount, fill_with))


def _slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> list[list[Any]]:
    _want_items(slices, "slice")
    return list(do_slice(_take(value, "slice"), slices, fill_with))


@pass_environment
def _sum(
    environment: Environment,
    iterable: Iterable[Any],
    attribute: str | int | None = None,
    start: Any = 0,
) -> Any:
    if not isinstance(start, int | float):
        raise TemplateSecurityError("sum adds numbers only (join lists or strings instead)")
    return do_sum(environment, _take(iterable, "sum"), attribute, start)


def _list(value: Iterable[Any]) -> list[Any]:
    return _take(value, "list")


_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = "一二三四五六日"
_STRFTIME_DIRECTIVES = re.compile(r"%[^aAbBdHIjmMpSyYzZ%]")


@pass_context
def _datetime(context: Context, value: Any, style: str = "short") -> str:
    """Format a date or time for people.

    ``style`` is ``short`` (2026-12-03 17:30), ``date``, ``time``, ``long``
    (with the weekday, in the template's language) or a ``strftime`` pattern
    of plain directives.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise TemplateError(f"datetime: {value!r} is not a date or time") from None
    if not isinstance(value, dt.date):
        raise TemplateError(f"datetime: expected a date or time, got {type(value).__name__}")
    moment = value if isinstance(value, dt.datetime) else None
    day = value.date() if isinstance(value, dt.datetime) else value
    clock = f" {moment:%H:%M}" if moment is not None else ""
    english = str(context.get("locale") or "zh").startswith("en")
    if style == "short":
        return f"{day:%Y-%m-%d}{clock}"
    if style == "date":
        return f"{day:%Y-%m-%d}"
    if style == "time":
        return f"{moment:%H:%M}" if moment is not None else ""
    if style == "long":
        weekday = day.weekday()
        if english:
            when = f", {moment:%H:%M}" if moment is not None else ""
            month = _MONTHS_EN[day.month - 1]
            return f"{_WEEKDAYS_EN[weekday]} {day.day} {month} {day.year}{when}"
        return f"{day.year}年{day.month}月{day.day}日（星期{_WEEKDAYS_ZH[weekday]}）{clock.strip()}"  # noqa: RUF001
    if "%" not in style:
        raise TemplateError(
            f"datetime: unknown style {style!r}; use short, date, time, long or a strftime pattern"
        )
    bad = _STRFTIME_DIRECTIVES.search(style)
    if bad is not None:
        raise TemplateError(f"datetime: the directive {bad.group()!r} is not supported")
    _want_string(len(style) * 16, "datetime")
    return value.strftime(style)


def _metered_filter(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wrap a filter: deadline before, size check and count after (generators metered)."""

    @functools.wraps(function)
    def filtered(*args: Any, **kwargs: Any) -> Any:
        _tick()
        result = function(*args, **kwargs)
        if isinstance(result, types.GeneratorType):
            return _metered(result)
        return _checked(result, f"the {name} filter")

    return filtered


_REPLACEMENTS: Mapping[str, Callable[..., Any]] = {
    "batch": _batch,
    "center": _center,
    "datetime": _datetime,
    "format": _format,
    "indent": _indent,
    "join": _join,
    "list": _list,
    "replace": _replace,
    "slice": _slice,
    "sum": _sum,
    "wordwrap": _wordwrap,
}
_FILTERS: Mapping[str, Callable[..., Any]] = {
    name: _metered_filter(_REPLACEMENTS.get(name, function), name)
    for name, function in {**FILTERS, **_REPLACEMENTS}.items()
    if name not in REMOVED_FILTERS
}


# -- rendering ----------------------------------------------------------------------------


def render_blocks(template: Template, context: Mapping[str, Any], limits: Limits) -> dict[str, str]:
    """Render the subject and body blocks of a hardened template within ``limits``.

    Output is counted as it streams, so an over-long block stops at the cap
    rather than after it has been built.
    """
    state = _Render(limits)
    token = _current.set(state)
    try:
        jinja_context = template.new_context(dict(context))
        rendered: dict[str, str] = {}
        for block in BLOCKS:
            pieces: list[str] = []
            size = 0
            for chunk in template.blocks[block](jinja_context):
                size += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8"))
                if size > limits.output_bytes:
                    raise TemplateLimitExceeded(
                        "output size",
                        limits.output_bytes,
                        f"the {block} block is longer than {limits.output_bytes:,} bytes",
                    )
                pieces.append(chunk)
                _tick()
            rendered[block] = "".join(pieces)
        return rendered
    finally:
        _current.reset(token)
