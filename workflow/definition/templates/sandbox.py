"""The Jinja2 environment notification templates render in.

With :mod:`.filters` and :mod:`.limits`, this
is the only code that touches Jinja2's runtime.

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
The caps themselves are :class:`~workflow.definition.templates.limits.Limits`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from jinja2 import StrictUndefined, nodes
from jinja2.environment import Environment, Template
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer

from workflow.definition.templates.filters import FILTERS
from workflow.definition.templates.limits import (
    Limits,
    capped_range,
    check_add,
    check_multiply,
    check_power,
    check_spec,
    checked,
    metered,
    printf,
    rendering,
    replaced_length,
    spend,
    take,
    tick,
    want_string,
)
from workflow.errors import (
    TemplateError,
    TemplateLimitExceeded,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    TemplateUndefined,
)

__all__ = [
    "BLOCKS",
    "Guards",
    "SandboxEnvironment",
    "as_template_error",
    "compile_template",
    "harden",
    "render_blocks",
]

BLOCKS = ("subject", "body")
"""The blocks every template defines, rendered separately."""


class _CappedFormatter(SandboxedFormatter):
    """``str.format`` under the sandbox's attribute rules, with widths capped."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_spec(format_spec, "str.format")
        tick()
        return checked(super().format_field(value, format_spec), "str.format")


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
            check_spec(args[0], "strftime")
        return args
    what = f"str.{name}"
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        want_string(max(args[0], len(owner)), what)
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        want_string(replaced_length(owner, str(args[0]), str(args[1]), count), what)
    elif name == "join" and args:
        parts = take(args[0], what)
        total = sum(len(p) for p in parts if isinstance(p, str))
        want_string(total + len(owner) * max(len(parts) - 1, 0), what)
        return (parts, *args[1:])
    return args


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
        self.filters = dict(FILTERS)
        self.globals = {
            "range": capped_range,
            "dict": dict,
            "namespace": Namespace,
            "cycler": Cycler,
            "joiner": Joiner,
        }

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Run an operator after checking that its result stays within the caps."""
        tick()
        what = f"`{operator}`"
        if operator == "*":
            check_multiply(left, right, what)
        elif operator == "+":
            check_add(left, right, what)
        elif operator == "**":
            check_power(left, right, what)
        elif operator == "%" and isinstance(left, str):
            return printf(left, right)
        return checked(self.binop_table[operator](left, right), what)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call something from a template: a macro, a global, an allowed method."""
        tick()
        if isinstance(obj, types.BuiltinMethodType):
            if isinstance(obj.__self__, types.ModuleType | type(None)):
                raise TemplateSecurityError(
                    f"`{obj.__qualname__}` is not available in notification templates"
                )
            args = _check_builtin_method(obj, args)
        return checked(super().call(context, obj, *args, **kwargs), "a call")

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
            return str(checked(formatter.vformat(text, args, kwargs), "str.format"))

        return functools.update_wrapper(wrapper, value)


# -- guards the rewritten syntax tree calls --------------------------------------------------


class Guards(Extension):
    """Guard methods the rewritten templates call (see :func:`harden`); adds no syntax."""

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """Wrap the iterable of a ``{% for %}`` loop: each step checks the deadline."""
        return metered(iter(iterable))

    def concat(self, *parts: Any) -> str:
        """Join ``a ~ b``, refusing a result over the string cap before building it."""
        texts = [str(part) for part in parts]
        want_string(sum(len(t) for t in texts), "`~`")
        spend(sum(len(t) for t in texts))
        return "".join(texts)

    def emit(self, value: Any) -> str:
        """Count a piece of output (also inside macros and ``{% set %}`` blocks)."""
        tick()
        text = value if isinstance(value, str) else str(value)
        want_string(len(text), "the output")
        spend(len(text))
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
            # Literal text stays unescaped even inside {% autoescape true %}.
            value: nodes.Node = (
                nodes.MarkSafeIfAutoescape(
                    nodes.Const(child.data, lineno=child.lineno), lineno=child.lineno
                )
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


# -- rendering ----------------------------------------------------------------------------


def compile_template(
    environment: Environment, source: str, name: str, path: str, globals_: Mapping[str, Any]
) -> Template:
    """Parse, :func:`harden` and compile a template; Jinja2's errors become ours."""
    try:
        tree = harden(environment.parse(source, name, path), environment)
        code = environment.compile(tree, name, path)
    except TemplateSyntaxError as error:
        raise TemplateSyntaxProblem(
            f"template syntax error: {error.message}", template=name, file=path, line=error.lineno
        ) from None
    return environment.template_class.from_code(
        environment, code, environment.make_globals(dict(globals_)), None
    )


def as_template_error(error: Exception) -> TemplateError:
    """Return the TemplateError that stands for whatever a render raised."""
    if isinstance(error, TemplateError):
        return error
    if isinstance(error, UndefinedError):
        message = str(error.message or error)
        named = re.search(r"'([^']+)' is undefined|has no attribute '([^']+)'", message)
        variable = next((g for g in named.groups() if g), message) if named else message
        return TemplateUndefined(variable, message)
    if isinstance(error, SecurityError):
        return TemplateSecurityError(str(error))
    if isinstance(error, RecursionError):
        return TemplateLimitExceeded(
            "recursion depth", sys.getrecursionlimit(), "macros or recursive loops nest too deeply"
        )
    if isinstance(error, MemoryError):
        return TemplateLimitExceeded("memory", 0, "the render ran out of memory")
    return TemplateError(f"{type(error).__name__}: {error}")


def render_blocks(template: Template, context: Mapping[str, Any], limits: Limits) -> dict[str, str]:
    """Render the subject and body blocks of a hardened template within ``limits``.

    Output is counted as it streams, so an over-long block stops at the cap
    rather than after it has been built. Every failure is raised as a
    :class:`~workflow.errors.TemplateError` (the original as its cause).
    """
    try:
        return _render_blocks(template, context, limits)
    except TemplateError:
        raise
    except Exception as error:
        raise as_template_error(error) from error


def _render_blocks(
    template: Template, context: Mapping[str, Any], limits: Limits
) -> dict[str, str]:
    with rendering(limits):
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
                tick()
            rendered[block] = "".join(pieces)
        return rendered
