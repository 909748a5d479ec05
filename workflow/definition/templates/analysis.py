"""What a template file says, found without rendering it: its problems and the fields it reads.

:func:`analyse` parses one template file and reports, each at its line and
column: syntax errors; the rules of the template language (exactly the
blocks ``subject`` and ``body`` at the top level; no ``include``,
``extends`` or ``import``; no names starting with ``_``; only the filters
and tests the sandbox provides); variables the notification's context
does not have; attributes the context's objects do not have; and names of
the context reused for the template's own variables.

It also lists the ``item.data`` fields the template reads, for two uses:
the payload of a notification carries only those fields (personal data
only where the message needs it), and ``workflow validate`` checks them
against the fields of every workflow whose notifications use the template.
A field read under ``is defined`` or ``| default(...)`` anywhere in the
template is *optional*: a workflow without it is no error. A template that
reads ``item.data`` as a whole (``item.data[name]``, ``item.data | ...``, or
``item`` passed to a macro) reads every field; its field list is ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.environment import Environment
from jinja2.exceptions import TemplateSyntaxError
from jinja2.meta import find_undeclared_variables

from workflow.definition.pydantic_errors import suggest
from workflow.definition.templates.filters import REMOVED_FILTERS
from workflow.definition.templates.sandbox import BLOCKS
from workflow.errors import Problem, TemplateError, TemplateSecurityError, TemplateSyntaxProblem

__all__ = [
    "DIGEST_VARIABLES",
    "MESSAGE_VARIABLES",
    "Analysis",
    "FieldUse",
    "analyse",
]

MESSAGE_VARIABLES: Mapping[str, frozenset[str] | None] = {
    "kind": None,
    "workflow": frozenset({"id", "version", "title"}),
    "item": frozenset({"id", "state", "state_label", "created_at", "data", "link"}),
    "event": frozenset({"name", "label", "actor", "role", "reason", "at"}),
    "level": frozenset({"name", "label"}),
    "deadline": frozenset({"due_at", "state", "provisional"}),
    "review": frozenset({"name", "label", "period"}),
    "recipient": frozenset({"id", "name", "role"}),
    "urgent": None,
    "locale": None,
    "now": None,
}
"""The context of a message template: each variable, and its attributes (None: a plain value)."""

DIGEST_VARIABLES: Mapping[str, frozenset[str] | None] = {
    "recipient": frozenset({"id", "name", "role"}),
    "locale": None,
    "channel": None,
    "messages": None,
    "count": None,
    "now": None,
}
"""The context of the ``digest`` template."""

_OPTIONAL_TESTS = frozenset({"defined", "undefined"})
_OPTIONAL_FILTERS = frozenset({"default", "d"})


@dataclass(frozen=True)
class FieldUse:
    """A read of ``item.data.<field>`` at a line and column of the template file."""

    field: str
    line: int
    column: int
    optional: bool
    """The template tests the field (``is defined``, ``| default``) somewhere."""


@dataclass(frozen=True)
class Analysis:
    """What :func:`analyse` found in one template file."""

    problems: tuple[Problem, ...]
    fatal: TemplateError | None
    """The first problem that makes the file unrenderable, as the error a render raises."""
    fields: frozenset[str] | None
    """The ``item.data`` fields read; None when the template reads ``item.data`` as a whole."""
    uses: tuple[FieldUse, ...]


class _Findings:
    def __init__(self, path: str, name: str, lines: list[str]) -> None:
        self.path = path
        self.name = name
        self.lines = lines
        self.problems: list[Problem] = []
        self.fatal: TemplateError | None = None

    def column(self, line: int, pattern: str) -> int:
        if 1 <= line <= len(self.lines):
            found = re.search(pattern, self.lines[line - 1])
            if found is not None:
                group = "at" if "at" in found.re.groupindex else 0
                return found.start(group) + 1
        return 1

    def add(
        self,
        line: int,
        pattern: str,
        message: str,
        *,
        fatal: type[TemplateError] | None = None,
    ) -> None:
        self.problems.append(Problem(self.path, line, self.column(line, pattern), message))
        if fatal is not None and self.fatal is None:
            self.fatal = fatal(message, template=self.name, file=self.path, line=line)


def _word(name: str) -> str:
    return rf"(?<![\w.])(?P<at>{re.escape(name)})\b"


def _member(owner: str, attribute: str) -> str:
    quoted = re.escape(attribute)
    return rf"(?<![\w.])(?P<at>{re.escape(owner)})\s*(?:\.\s*{quoted}\b|\[\s*['\"]{quoted}['\"])"


def _walk(node: nodes.Node, parents: dict[int, nodes.Node]) -> Iterator[nodes.Node]:
    for child in node.iter_child_nodes():
        parents[id(child)] = node
        yield child
        yield from _walk(child, parents)


def _key(node: nodes.Node) -> str | None:
    """Return the attribute or constant key a Getattr/Getitem node reads, if it is one."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value
    return None


def _reads(parent: nodes.Node | None, child: nodes.Node) -> str | None:
    """Return the key ``parent`` reads from ``child`` (``child.key``, ``child['key']``)."""
    if parent is None or getattr(parent, "node", None) is not child:
        return None
    return _key(parent)


def analyse(
    environment: Environment,
    *,
    name: str,
    path: str,
    source: str,
    variables: Mapping[str, frozenset[str] | None],
) -> tuple[Analysis, nodes.Template | None]:
    """Parse and check one template file; return what was found and its syntax tree.

    The tree is None when the file does not parse.
    """
    found = _Findings(path, name, source.splitlines())
    try:
        tree = environment.parse(source, name, path)
    except TemplateSyntaxError as error:
        line = error.lineno or 1
        found.add(
            line, r"\S", f"template syntax error: {error.message}", fatal=TemplateSyntaxProblem
        )
        return Analysis(tuple(found.problems), found.fatal, frozenset(), ()), None
    parents: dict[int, nodes.Node] = {}
    every = list(_walk(tree, parents))
    _check_structure(tree, every, found)
    _check_constructs(environment, every, found)
    _check_variables(environment, tree, every, variables, found)
    fields, uses = _fields(every, parents, found) if "item" in variables else (frozenset(), [])
    return Analysis(tuple(found.problems), found.fatal, fields, tuple(uses)), tree


def _check_structure(tree: nodes.Template, every: list[nodes.Node], found: _Findings) -> None:
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, nodes.Block) and node.name in BLOCKS:
            seen.add(node.name)
            continue
        if isinstance(node, nodes.Output) and all(
            isinstance(child, nodes.TemplateData) and not child.data.strip() for child in node.nodes
        ):
            continue
        found.add(
            node.lineno,
            r"\S",
            "only {% block subject %} and {% block body %} may stand at the top level of a "
            "template (what is outside them is never shown; put macros and sets inside a block)",
        )
    for block in BLOCKS:
        if block not in seen:
            found.add(
                1,
                r"\S",
                f"the template has no {{% block {block} %}}; every template defines "
                "{% block subject %} and {% block body %}",
                fatal=TemplateSyntaxProblem,
            )
    for node in every:
        if isinstance(node, nodes.Block) and node not in tree.body:
            found.add(
                node.lineno,
                rf"\bblock\s+(?P<at>{re.escape(node.name)})\b",
                f"block {node.name!r} inside another block: only subject and body are blocks",
            )


def _check_constructs(environment: Environment, every: list[nodes.Node], found: _Findings) -> None:
    for node in every:
        if isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            found.add(
                node.lineno,
                r"\{%-?\s*(?P<at>extends|include|import|from)\b",
                "templates may not extend, include or import other templates; each template "
                "stands alone",
                fatal=TemplateSecurityError,
            )
            continue
        key = _key(node)
        if key is not None and key.startswith("_"):
            pattern = rf"(?:\.\s*|\[\s*['\"])(?P<at>{re.escape(key)})"
            found.add(
                node.lineno,
                pattern,
                f"`{key}`: names starting with _ are Python internals, which templates may "
                "not reach",
                fatal=TemplateSecurityError,
            )
        elif isinstance(node, nodes.Filter):
            _check_named(node.name, environment.filters, "filter", node.lineno, found)
        elif isinstance(node, nodes.Test):
            _check_named(node.name, environment.tests, "test", node.lineno, found)


def _check_named(
    name: str, known: Mapping[str, object], kind: str, line: int, found: _Findings
) -> None:
    if name in known:
        return
    pattern = (
        rf"\|\s*(?P<at>{re.escape(name)})\b"
        if kind == "filter"
        else rf"\bis\s+(?:not\s+)?(?P<at>{re.escape(name)})\b"
    )
    if kind == "filter" and name in REMOVED_FILTERS:
        found.add(
            line,
            pattern,
            f"the filter {name!r} is not available in notification templates",
            fatal=TemplateSecurityError,
        )
        return
    found.add(
        line,
        pattern,
        f"unknown {kind} {name!r}{suggest(name, list(known))}",
        fatal=TemplateSyntaxProblem,
    )


def _check_variables(
    environment: Environment,
    tree: nodes.Template,
    every: list[nodes.Node],
    variables: Mapping[str, frozenset[str] | None],
    found: _Findings,
) -> None:
    try:
        undeclared = find_undeclared_variables(tree)
    except TemplateSyntaxError as error:
        # An unknown filter or test stops the compiler; it is reported already.
        if found.fatal is None:
            message = f"template error: {error.message}"
            found.add(error.lineno or 1, r"\S", message, fatal=TemplateSyntaxProblem)
        return
    known = sorted({*variables, *environment.globals})
    reported: set[str] = set()
    stored = {n.name for n in every if isinstance(n, nodes.Name) and n.ctx != "load"}
    for node in every:
        if not isinstance(node, nodes.Name):
            continue
        if node.ctx == "load" and node.name in undeclared and node.name not in known:
            if node.name not in reported:
                reported.add(node.name)
                hint = suggest(node.name, known) or f"; templates see: {', '.join(known)}"
                found.add(node.lineno, _word(node.name), f"unknown variable {node.name!r}{hint}")
        elif node.ctx != "load" and node.name in variables and node.name not in reported:
            reported.add(node.name)
            found.add(
                node.lineno,
                _word(node.name),
                f"{node.name!r} is a variable of the notification; give the template's own "
                "variable another name",
            )
    for node in every:
        key = _key(node)
        owner = getattr(node, "node", None)
        if key is None or not isinstance(owner, nodes.Name) or owner.ctx != "load":
            continue
        attributes = variables.get(owner.name)
        if attributes is None or owner.name in stored or key in attributes:
            continue
        hint = suggest(key, sorted(attributes)) or f"; it has: {', '.join(sorted(attributes))}"
        found.add(
            node.lineno,
            _member(owner.name, key),
            f"`{owner.name}.{key}`: {owner.name} has no attribute {key!r}{hint}",
        )


def _fields(
    every: list[nodes.Node], parents: dict[int, nodes.Node], found: _Findings
) -> tuple[frozenset[str] | None, list[FieldUse]]:
    dynamic = False
    reads: list[tuple[str, nodes.Node]] = []
    for node in every:
        if not (isinstance(node, nodes.Name) and node.name == "item" and node.ctx == "load"):
            continue
        parent = parents.get(id(node))
        key = _reads(parent, node)
        if key is None:
            dynamic = True  # the whole item goes somewhere: any field may be read
            continue
        if key != "data" or parent is None:
            continue
        outer = parents.get(id(parent))
        field = _reads(outer, parent)
        call = parents.get(id(outer))
        called = isinstance(call, nodes.Call) and call.node is outer
        if field is None or outer is None or called:
            dynamic = True  # item.data[name], item.data.items(): any field
            continue
        reads.append((field, outer))
    optional = set()
    for field, node in reads:
        around = parents.get(id(node))
        guarded = (isinstance(around, nodes.Test) and around.name in _OPTIONAL_TESTS) or (
            isinstance(around, nodes.Filter) and around.name in _OPTIONAL_FILTERS
        )
        if guarded and getattr(around, "node", None) is node:
            optional.add(field)
    uses: list[FieldUse] = []
    for field, node in reads:
        pattern = (
            rf"(?<![\w.])(?P<at>item)\s*(?:\.\s*data|\[\s*['\"]data['\"]\s*\])\s*"
            rf"(?:\.\s*{re.escape(field)}\b|\[\s*['\"]{re.escape(field)}['\"])"
        )
        line = node.lineno
        uses.append(FieldUse(field, line, found.column(line, pattern), field in optional))
    fields = None if dynamic else frozenset(field for field, _ in reads)
    return fields, uses
