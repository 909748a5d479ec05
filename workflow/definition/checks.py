"""The second pass over a definition: names, types, reachability, expressions.

pydantic has checked each part's shape; this pass checks how the parts fit
together and records every problem with the data path of the node it is
about, so the loader can point at the exact line and column. It also compiles
every expression once, and the compiled forms are kept on the definition.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from workflow.definition import expr
from workflow.definition.expr import CompiledExpression, ExpressionError, ExprType
from workflow.definition.model import (
    DEFAULT_MAX_LENGTH,
    Choice,
    DeadlineSpec,
    EffectSpec,
    EscalationSpec,
    EventSpec,
    ExtendDeadlineSpec,
    FieldSpec,
    NotifySpec,
    StateSpec,
    WorkflowSpec,
)
from workflow.definition.pydantic_errors import suggest
from workflow.definition.yamlsource import Path
from workflow.schedule.cadence import cron_problem

__all__ = [
    "CheckResult",
    "Finding",
    "check_definition",
    "describe_field",
    "field_type",
    "literal_problem",
]

VERDICT_OPTIONS = ("agree", "disagree")
"""The verdict every joint-handling answer carries."""

JOINT_SCOPE: Mapping[str, ExprType] = {
    "total": expr.INTEGER,
    "answered": expr.INTEGER,
    "agreed": expr.INTEGER,
    "disagreed": expr.INTEGER,
    "lead_agreed": expr.nullable(expr.BOOLEAN),
}
ACTOR_SCOPE: Mapping[str, ExprType] = {"id": expr.STRING, "roles": expr.list_of(expr.STRING)}

CONDITION = expr.nullable(expr.BOOLEAN)
"""Guards and choices take booleans; a null (an unset boolean field) counts as false."""

Scope = Mapping[str, Mapping[str, ExprType]]
"""What an expression may name: ``item``, ``actor``, and ``input``/``joint`` where given."""


@dataclass(frozen=True)
class Finding:
    """A problem found by the second pass, at a data path.

    ``key`` says whether to point at the mapping key (a name) rather than the
    value; ``offset`` is a character offset inside an expression's text.
    """

    path: Path
    message: str
    key: bool = False
    offset: int | None = None


@dataclass
class CheckResult:
    """What the second pass found and built."""

    findings: list[Finding] = field(default_factory=list)
    states: dict[str, StateSpec] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    state_paths: dict[str, Path] = field(default_factory=dict)
    expressions: dict[Path, CompiledExpression] = field(default_factory=dict)


def field_type(spec: FieldSpec) -> ExprType:
    """Return the expression type of a field or input declaration."""
    base: ExprType
    if spec.type in ("string", "text"):
        base = expr.STRING
    elif spec.type == "integer":
        base = expr.INTEGER
    elif spec.type == "number":
        base = expr.NUMBER
    elif spec.type == "boolean":
        base = expr.BOOLEAN
    elif spec.type == "date":
        base = expr.DATE
    elif spec.type == "datetime":
        base = expr.DATETIME
    elif spec.type == "enum":
        base = expr.enum_of(tuple(spec.options or ()))
    elif spec.type == "ref":
        base = expr.ref_to(spec.ref or "unit")
    else:
        element = expr.ref_to(spec.ref or "unit") if spec.items == "ref" else expr.STRING
        base = expr.list_of(element)
    if spec.required or spec.default is not None or spec.type == "list":
        return base
    return expr.nullable(base)


class _Checker:
    """Runs every check over one spec, collecting findings."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec
        self.result = CheckResult()
        self.broken_state_references = False
        self.item_scope = {name: field_type(f) for name, f in spec.fields.items()}

    # -- helpers -------------------------------------------------------------------

    def add(
        self, path: Path, message: str, *, key: bool = False, offset: int | None = None
    ) -> None:
        self.result.findings.append(Finding(path, message, key, offset))

    def unknown(
        self, path: Path, what: str, name: str, known: Iterable[str], *, key: bool = False
    ) -> None:
        self.add(path, f"unknown {what} {name!r}{suggest(name, known)}", key=key)
        if what == "state":
            # Reachability over a graph with dangling edges would only repeat this problem.
            self.broken_state_references = True

    def compile(
        self,
        path: Path,
        source: str,
        scope: Scope,
        expect: ExprType | None,
    ) -> CompiledExpression | None:
        try:
            compiled = expr.compile_expression(source, scope, expect)
        except ExpressionError as error:
            self.add(path, error.message, offset=error.offset)
            return None
        self.result.expressions[path] = compiled
        return compiled

    def scope(
        self, inputs: Mapping[str, FieldSpec] | None = None, *, joint: bool = False
    ) -> dict[str, Mapping[str, ExprType]]:
        scope: dict[str, Mapping[str, ExprType]] = {"item": self.item_scope, "actor": ACTOR_SCOPE}
        if inputs is not None:
            scope["input"] = {name: field_type(f) for name, f in inputs.items()}
        if joint:
            scope["joint"] = JOINT_SCOPE
        return scope

    # -- states ----------------------------------------------------------------------

    def flatten_states(
        self, states: Mapping[str, StateSpec], path: Path, parent: str | None
    ) -> None:
        for name, state in states.items():
            here = (*path, name)
            if name in self.result.states:
                where = self.result.state_paths[name]
                self.add(
                    here,
                    f"state {name!r} is already defined (at {'.'.join(map(str, where))})",
                    key=True,
                )
                continue
            self.result.states[name] = state
            self.result.parents[name] = parent
            self.result.state_paths[name] = here
            if state.states is not None:
                if not state.states:
                    self.add((*here, "states"), f"group {name!r} has no states")
                if state.final:
                    self.add((*here, "final"), "a group of states cannot be final")
                if state.joint is not None:
                    self.add((*here, "joint"), "a group of states cannot do joint handling")
                if state.pauses_clock:
                    self.add((*here, "pauses_clock"), "only a leaf state can pause the clock")
                self.flatten_states(state.states, (*here, "states"), name)

    def is_group(self, name: str) -> bool:
        return bool(self.result.states[name].states)

    def leaves_under(self, name: str) -> list[str]:
        if not self.is_group(name):
            return [name]
        out: list[str] = []
        for child in self.result.states[name].states or {}:
            if child in self.result.states and self.result.parents.get(child) == name:
                out.extend(self.leaves_under(child))
        return out

    def check_states(self) -> None:
        states = self.result.states
        spec = self.spec
        if spec.initial not in states:
            self.unknown(("initial",), "state", spec.initial, states)
        elif self.is_group(spec.initial):
            children = ", ".join(self.leaves_under(spec.initial))
            self.add(
                ("initial",),
                f"the initial state must be a leaf; {spec.initial!r} is a group of: {children}",
            )
        elif states[spec.initial].final:
            self.add(("initial",), "the initial state cannot be final")
        if not any(s.final for s in states.values()):
            self.add(
                ("states",), "no state is final: every lifecycle must be able to end", key=True
            )
        for name, state in states.items():
            path = self.result.state_paths[name]
            if state.final:
                if state.deadline is not None:
                    self.add(
                        (*path, "deadline"),
                        f"final state {name!r} cannot have a deadline: nothing happens after it",
                    )
                if state.joint is not None:
                    self.add((*path, "joint"), f"final state {name!r} cannot do joint handling")
                if state.pauses_clock:
                    self.add((*path, "pauses_clock"), f"final state {name!r} has no clock to pause")
            if state.pauses_clock and state.deadline is not None:
                self.add(
                    (*path, "deadline"),
                    f"state {name!r} pauses the clock, so it cannot have a deadline of its own",
                )
            if state.deadline is not None:
                self.check_deadline_start(name, state.deadline, (*path, "deadline"))
            if state.joint is not None:
                self.check_joint(name, state, (*path, "joint"))
            if state.escalation is not None:
                has_clock = state.deadline is not None or (
                    state.joint is not None and state.joint.deadline is not None
                )
                if not has_clock:
                    self.add(
                        (*path, "escalation"),
                        f"state {name!r} has no deadline (nor joint-handling branch deadline) "
                        "to escalate",
                    )
                self.check_escalation(state.escalation, (*path, "escalation"))

    def check_deadline_start(self, state: str, deadline: DeadlineSpec, path: Path) -> None:
        event_name = deadline.start_event
        if event_name is None:
            return
        matching = [e for e in self.spec.events if e.name == event_name]
        if not matching:
            names = [e.name for e in self.spec.events]
            self.unknown((*path, "start_event"), "event", event_name, names)
            return
        scope = set(self.leaves_under(state))
        for event in matching:
            sources = {
                leaf
                for s in event.from_
                if s in self.result.states
                for leaf in self.leaves_under(s)
            }
            targets = {c.state for c in event.to or ()}
            if (event.to is None and sources & scope) or (targets & scope):
                return
        self.add(
            (*path, "start_event"),
            f"the clock of {state!r} can only be started by an event that enters it or fires "
            f"inside it without leaving; {event_name!r} does neither",
        )

    # -- fields and roles -------------------------------------------------------------

    def check_field(self, spec: FieldSpec, path: Path) -> None:
        kind = spec.type
        if kind == "enum" and not spec.options:
            self.add((*path, "type"), "an enum needs 'options'")
        if kind != "enum" and spec.options is not None:
            self.add((*path, "options"), f"'options' only applies to enum fields, not {kind}")
        if kind != "list" and spec.items is not None:
            self.add((*path, "items"), f"'items' only applies to list fields, not {kind}")
        needs_ref = kind == "ref" or (kind == "list" and spec.items == "ref")
        if needs_ref and spec.ref is None:
            self.add(
                (*path, "type"), "a reference needs 'ref': enterprise, unit, district or person"
            )
        if not needs_ref and spec.ref is not None:
            self.add((*path, "ref"), "'ref' only applies to ref fields and lists of refs")
        for bound in ("min", "max"):
            if getattr(spec, bound) is not None and kind not in ("integer", "number"):
                self.add((*path, bound), f"{bound!r} only applies to integer and number fields")
        for bound in ("min_length", "max_length"):
            if getattr(spec, bound) is not None and kind not in ("string", "text", "list"):
                self.add((*path, bound), f"{bound!r} only applies to string, text and list fields")
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            self.add((*path, "min"), "'min' is greater than 'max'")
        if (
            spec.min_length is not None
            and spec.max_length is not None
            and spec.min_length > spec.max_length
        ):
            self.add((*path, "min_length"), "'min_length' is greater than 'max_length'")
        implicit = DEFAULT_MAX_LENGTH.get(kind)
        if (
            spec.min_length is not None
            and spec.max_length is None
            and implicit is not None
            and spec.min_length > implicit
        ):
            self.add(
                (*path, "min_length"),
                f"'min_length' is {spec.min_length}, above the maximum length of "
                f"{_with_article(kind)} field without 'max_length' ({implicit}); "
                "give a 'max_length'",
            )
        if spec.default is not None:
            self.check_literal(spec.default, spec, (*path, "default"))

    def check_literal(self, value: Any, spec: FieldSpec, path: Path) -> None:
        """Check a literal value (a default, a set: constant) against a field."""
        problem = literal_problem(value, spec)
        if problem:
            self.add(path, problem)

    def check_start_fields(self) -> None:
        """Each start field exists; a required field without a default can be given at start."""
        chosen = self.spec.start_fields
        if chosen is None:
            return
        for position, name in enumerate(chosen):
            if name not in self.spec.fields:
                self.unknown(("start_fields", position), "field", name, self.spec.fields)
        for name, spec in self.spec.fields.items():
            if spec.required and spec.default is None and name not in chosen:
                self.add(
                    ("start_fields",),
                    f"field {name!r} is required and has no default, so a new item must give "
                    "it: add it to 'start_fields'",
                )

    def check_roles(self) -> None:
        for position, starter in enumerate(self.spec.started_by):
            if starter not in self.spec.roles:
                self.unknown(("started_by", position), "role", starter, self.spec.roles)
        for name, role in self.spec.roles.items():
            path: Path = ("roles", name)
            if (role.group is None) == (role.field is None):
                self.add(path, f"role {name!r} needs exactly one of 'group' or 'field'", key=True)
            if role.relation is not None and role.field is None:
                self.add(
                    (*path, "relation"), "'relation' follows the entry in 'field'; give a field"
                )
            if role.field is not None:
                target = self.spec.fields.get(role.field)
                if target is None:
                    self.unknown((*path, "field"), "field", role.field, self.spec.fields)
                elif not (
                    target.type == "ref" or (target.type == "list" and target.items == "ref")
                ):
                    self.add(
                        (*path, "field"),
                        f"field {role.field!r} is {describe_field(target)}, not a reference; "
                        "a role can only be bound to a ref field or a list of refs",
                    )

    # -- events -------------------------------------------------------------------------

    def check_choices(self, choices: list[Choice], path: Path, scope: Scope) -> None:
        for index, choice in enumerate(choices):
            here = (*path, index)
            self.check_target(choice.state, (*here, "state"))
            if choice.when is not None:
                self.compile((*here, "when"), choice.when, scope, CONDITION)
            elif index < len(choices) - 1:
                self.add(
                    here,
                    "a choice without 'when' always matches, "
                    "so the choices after it can never be taken",
                )

    def check_target(self, name: str, path: Path) -> None:
        if name not in self.result.states:
            self.unknown(path, "state", name, self.result.states)
        elif self.is_group(name):
            leaves = ", ".join(self.leaves_under(name))
            self.add(path, f"{name!r} is a group; an item must move to one of its states: {leaves}")

    def check_events(self) -> None:
        seen: dict[tuple[str, str], int] = {}
        for index, event in enumerate(self.spec.events):
            path: Path = ("events", index)
            self.check_notify(event.notify, (*path, "notify"))
            for position, source in enumerate(event.from_):
                if source not in self.result.states:
                    self.unknown((*path, "from", position), "state", source, self.result.states)
                    continue
                for leaf in self.leaves_under(source):
                    if self.result.states[leaf].final:
                        self.add(
                            (*path, "from", position), f"{leaf!r} is final: no event may leave it"
                        )
                    first = seen.setdefault((event.name, leaf), index)
                    if first != index:
                        self.add(
                            (*path, "name"),
                            f"event {event.name!r} is already defined from state {leaf!r} "
                            f"(events[{first}])",
                        )
                    joint = self.result.states[leaf].joint
                    if joint is not None and joint.answer.name == event.name:
                        self.add(
                            (*path, "name"),
                            f"event {event.name!r} is the joint-handling answer of {leaf!r}",
                        )
            for position, role in enumerate(event.roles):
                if role not in self.spec.roles:
                    self.unknown((*path, "roles", position), "role", role, self.spec.roles)
            for name, spec in event.input.items():
                self.check_field(spec, (*path, "input", name))
            scope = self.scope(event.input)
            for position, guard in enumerate(event.guard):
                self.compile((*path, "guard", position, "expr"), guard.expr, scope, CONDITION)
            if event.to is not None:
                self.check_choices(event.to, (*path, "to"), scope)
            for position, effect in enumerate(event.effects):
                self.check_effect(event, effect, (*path, "effects", position), scope)

    def check_effect(self, event: EventSpec, effect: EffectSpec, path: Path, scope: Scope) -> None:
        given = [
            k
            for k in ("set", "assign", "append", "extend_deadline")
            if getattr(effect, k) is not None
        ]
        if len(given) != 1:
            self.add(path, "an effect needs exactly one of: set, assign, append, extend_deadline")
            return
        if effect.set is not None:
            self.check_set(effect.set, (*path, "set"), scope)
        if effect.assign is not None:
            self.check_assign(effect.assign, (*path, "assign"), scope)
        if effect.append is not None:
            self.check_append(effect.append, (*path, "append"), scope)
        if effect.extend_deadline is not None:
            self.check_extend_deadline(
                event, effect.extend_deadline, (*path, "extend_deadline"), scope
            )

    def check_set(self, values: Mapping[str, Any], path: Path, scope: Scope) -> None:
        fields = self.spec.fields
        for name, value in values.items():
            here = (*path, name)
            target = fields.get(name)
            if target is None:
                self.unknown(here, "field", name, fields, key=True)
            elif isinstance(value, str):
                compiled = self.compile(here, value, scope, None)
                if compiled is not None and not expr.assignable(compiled.type, field_type(target)):
                    self.add(
                        here,
                        f"field {name!r} is {describe_field(target)}, "
                        f"but the expression gives {expr.describe(compiled.type)}",
                    )
            elif value is None and not field_type(target).nullable:
                self.add(
                    here, f"field {name!r} {_why_not_empty(target)}, so it cannot be set to null"
                )
            else:
                self.check_literal(value, target, here)

    def check_assign(self, sources: Mapping[str, str], path: Path, scope: Scope) -> None:
        fields = self.spec.fields
        for role_name, source in sources.items():
            here = (*path, role_name)
            role = self.spec.roles.get(role_name)
            if role is None:
                self.unknown(here, "role", role_name, self.spec.roles)
            elif role.field is None or role.relation is not None or role.field not in fields:
                self.add(
                    here,
                    f"role {role_name!r} is not held in a field of the item, "
                    "so it cannot be assigned",
                )
            else:
                target = fields[role.field]
                compiled = self.compile(here, source, scope, None)
                wanted = field_type(target)
                if target.type == "list" and wanted.item is not None:
                    wanted = wanted.item
                if compiled is not None and not expr.assignable(compiled.type, wanted):
                    self.add(
                        here,
                        f"role {role_name!r} is held in {role.field!r} ({describe_field(target)}), "
                        f"but the expression gives {expr.describe(compiled.type)}",
                    )

    def check_append(self, sources: Mapping[str, str], path: Path, scope: Scope) -> None:
        fields = self.spec.fields
        for name, source in sources.items():
            here = (*path, name)
            target = fields.get(name)
            if target is None:
                self.unknown(here, "field", name, fields)
            elif target.type != "list":
                self.add(
                    here,
                    f"field {name!r} is {describe_field(target)}; only lists can be appended to",
                )
            else:
                compiled = self.compile(here, source, scope, None)
                element = field_type(target).item or expr.STRING
                if compiled is not None and not expr.assignable(compiled.type, element):
                    self.add(
                        here,
                        f"each element of {name!r} must be {expr.describe(element)}, "
                        f"but the expression gives {expr.describe(compiled.type)}",
                    )

    def check_extend_deadline(
        self, event: EventSpec, extend: ExtendDeadlineSpec, path: Path, scope: Scope
    ) -> None:
        if isinstance(extend.by, str):
            self.compile((*path, "by"), extend.by, scope, expr.INTEGER)
        elif extend.by < 1:
            self.add((*path, "by"), "an extension must be at least 1")
        for source in event.from_:
            if source not in self.result.states:
                continue
            for leaf in self.leaves_under(source):
                if self.deadline_of(leaf) is None:
                    self.add(path, f"state {leaf!r} has no deadline to extend")

    def deadline_of(self, state: str) -> DeadlineSpec | None:
        current: str | None = state
        while current is not None:
            spec = self.result.states[current]
            if spec.deadline is not None:
                return spec.deadline
            current = self.result.parents.get(current)
        return None

    def check_escalation(self, escalation: EscalationSpec, path: Path) -> None:
        """Check a ladder: unique level names, one offset each, known roles/reviews/events."""
        seen: set[str] = set()
        fields = self.spec.fields
        event_names = {e.name for e in self.spec.events}
        for position, level in enumerate(escalation.levels):
            here = (*path, "levels", position)
            if level.name in seen:
                self.add((*here, "name"), f"level {level.name!r} is already on this ladder")
            seen.add(level.name)
            if (level.before is None) == (level.after is None):
                self.add(here, "a level needs exactly one of 'before' or 'after' (the due time)")
            self.check_notify(level.notify, (*here, "notify"))
            if level.review is not None and level.review not in self.spec.reviews:
                self.unknown((*here, "review"), "review", level.review, self.spec.reviews)
            if level.fire is not None and level.fire not in event_names:
                self.unknown((*here, "fire"), "event", level.fire, event_names)
            for name, value in (level.set or {}).items():
                target = fields.get(name)
                where = (*here, "set", name)
                if target is None:
                    self.unknown(where, "field", name, fields, key=True)
                elif isinstance(value, str):
                    compiled = self.compile(where, value, {"item": self.item_scope}, None)
                    if compiled is not None and not expr.assignable(
                        compiled.type, field_type(target)
                    ):
                        self.add(
                            where,
                            f"field {name!r} is {describe_field(target)}, but the expression "
                            f"gives {expr.describe(compiled.type)}",
                        )
                else:
                    self.check_literal(value, target, where)

    def check_reviews(self) -> None:
        event_names = {e.name for e in self.spec.events}
        for name, review in self.spec.reviews.items():
            path: Path = ("reviews", name)
            problem = cron_problem(review.cron)
            if problem:
                self.add((*path, "cron"), problem)
            for index, event in enumerate(review.decisions):
                if event not in event_names:
                    self.unknown((*path, "decisions", index), "event", event, event_names)
            self.check_notify(review.notify, (*path, "notify"))

    def check_notify(self, notify: Sequence[NotifySpec], path: Path) -> None:
        """Check that notifications name roles of this workflow (templates: the catalog's check)."""
        for index, spec in enumerate(notify):
            for position, role in enumerate(spec.to):
                if role not in self.spec.roles:
                    self.unknown((*path, index, "to", position), "role", role, self.spec.roles)

    def check_joint(self, name: str, state: StateSpec, path: Path) -> None:
        joint = state.joint
        assert joint is not None  # the caller checked
        fields = self.spec.fields
        units = fields.get(joint.units)
        if units is None:
            self.unknown((*path, "units"), "field", joint.units, fields)
        elif not (units.type == "list" and units.items == "ref" and units.ref == "unit"):
            self.add(
                (*path, "units"),
                f"field {joint.units!r} must be a list of unit references "
                "(type: list, items: ref, ref: unit)",
            )
        if joint.lead is not None:
            lead = fields.get(joint.lead)
            if lead is None:
                self.unknown((*path, "lead"), "field", joint.lead, fields)
            elif not (lead.type == "ref" and lead.ref == "unit"):
                self.add(
                    (*path, "lead"),
                    f"field {joint.lead!r} must be a unit reference (type: ref, ref: unit)",
                )
        rule = joint.complete_when
        role = self.spec.roles.get(joint.role)
        if role is None:
            self.unknown((*path, "role"), "role", joint.role, self.spec.roles)
        else:
            allowed = [joint.units]
            if rule.rule == "lead_and_quorum" and joint.lead is not None:
                allowed.append(joint.lead)
            if role.field not in allowed:
                if role.field is not None:
                    bound = f"is bound to the field {role.field!r}"
                elif role.group is not None:
                    bound = f"is bound to the group {role.group!r}"
                else:
                    bound = "is not bound to a field"
                where = " or ".join(repr(name) for name in allowed)
                self.add(
                    (*path, "role"),
                    f"role {joint.role!r} {bound}, so no unit with a branch would hold it; "
                    f"the role of joint handling must be bound (field:) to {where}",
                )
        if rule.rule in ("at_least", "lead_and_quorum") and rule.count is None:
            self.add((*path, "complete_when"), f"the rule {rule.rule!r} needs a 'count'")
        if rule.rule in ("all", "any") and rule.count is not None:
            self.add((*path, "complete_when", "count"), f"the rule {rule.rule!r} takes no 'count'")
        if rule.rule == "lead_and_quorum" and joint.lead is None:
            self.add(
                (*path, "complete_when", "rule"), "'lead_and_quorum' needs the joint's 'lead' field"
            )
        for input_name, spec in joint.answer.input.items():
            self.check_field(spec, (*path, "answer", "input", input_name))
            if input_name == "verdict":
                self.add(
                    (*path, "answer", "input", input_name),
                    "'verdict' is built in: every answer carries agree or disagree",
                    key=True,
                )
        if joint.deadline is not None and joint.deadline.start_event is not None:
            self.add(
                (*path, "deadline", "start_event"),
                "a branch's clock starts when its branch opens; 'start_event' does not apply",
            )
        self.check_choices(joint.then, (*path, "then"), self.scope(joint=True))
        last = len(joint.then) - 1
        if joint.then[last].when is not None:
            self.add(
                (*path, "then", last, "when"),
                "the last choice must have no 'when', or an item could be stuck in joint "
                "handling when none matches",
                key=True,
            )

    # -- reachability ---------------------------------------------------------------

    def check_reachability(self) -> None:
        states = self.result.states
        if self.spec.initial not in states or self.is_group(self.spec.initial):
            return
        edges: dict[str, set[str]] = {name: set() for name in states if not self.is_group(name)}
        for event in self.spec.events:
            targets = {
                c.state for c in event.to or () if c.state in states and not self.is_group(c.state)
            }
            for source in event.from_:
                if source in states:
                    for leaf in self.leaves_under(source):
                        edges[leaf] |= targets
        for name, spec in states.items():
            if spec.joint is not None and name in edges:
                edges[name] |= {c.state for c in spec.joint.then if c.state in edges}
        reached = _closure({self.spec.initial}, edges)
        for name in edges:
            if name not in reached:
                self.add(
                    self.result.state_paths[name],
                    f"state {name!r} cannot be reached "
                    f"from the initial state {self.spec.initial!r}",
                    key=True,
                )
        reverse: dict[str, set[str]] = {name: set() for name in edges}
        for source, targets in edges.items():
            for target in targets:
                reverse[target].add(source)
        finals = {name for name in edges if states[name].final}
        can_finish = _closure(finals, reverse)
        for name in edges:
            if name in reached and name not in can_finish:
                self.add(
                    self.result.state_paths[name],
                    f"no final state can be reached from state {name!r}: "
                    "items would be stuck there",
                    key=True,
                )

    def run(self) -> CheckResult:
        self.flatten_states(self.spec.states, ("states",), None)
        for name, spec in self.spec.fields.items():
            self.check_field(spec, ("fields", name))
        self.check_start_fields()
        self.check_roles()
        self.check_reviews()
        if self.spec.escalation is not None:
            self.check_escalation(self.spec.escalation, ("escalation",))
        self.check_states()
        self.check_events()
        if not self.broken_state_references:
            self.check_reachability()
        return self.result


def _closure(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(start)
    while queue:
        for following in edges.get(queue.popleft(), ()):
            if following not in seen:
                seen.add(following)
                queue.append(following)
    return seen


def _with_article(word: str) -> str:
    return f"{expr.a_or_an(word)} {word}"


def describe_field(spec: FieldSpec) -> str:
    """Say what a field is, for messages (``an integer field``, ``a reference to a unit``)."""
    if spec.type == "list":
        if spec.items == "ref":
            return f"a list of references to {_plural_ref(spec.ref or 'unit')}"
        return "a list of strings"
    if spec.type == "ref":
        return f"a reference to {_with_article(spec.ref or 'unit')}"
    return f"{_with_article(spec.type)} field"


def _plural_ref(kind: str) -> str:
    return "people" if kind == "person" else f"{kind}s"


def _why_not_empty(spec: FieldSpec) -> str:
    if spec.required:
        return "is required"
    if spec.type == "list":
        return "is a list"
    return "has a default"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_DATE = TypeAdapter(dt.date)
_AWARE_DATETIME = TypeAdapter(AwareDatetime)
_DATE_EXAMPLE = "'2024-03-01'"
_DATETIME_EXAMPLE = "'2024-03-01T09:30:00+08:00'"


def _date_problem(value: str, kind: str) -> str | None:
    """Check ISO date(time) text the way both the engine and expressions read it."""
    if kind == "date":
        try:
            dt.date.fromisoformat(value)
            _DATE.validate_python(value)
        except (ValueError, ValidationError):
            return f"{value!r} is not a valid date (ISO text such as {_DATE_EXAMPLE})"
        return None
    invalid = (
        f"{value!r} is not a valid datetime (ISO text with a time zone, such as "
        f"{_DATETIME_EXAMPLE})"
    )
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return invalid
    if parsed.tzinfo is None:
        return f"{value!r} has no time zone; a datetime needs one, as in {_DATETIME_EXAMPLE}"
    try:
        _AWARE_DATETIME.validate_python(value)
    except ValidationError:
        return invalid
    return None


def _length_problem(size: int, spec: FieldSpec, what: str, unit: str) -> str | None:
    """Check a text's or list's length against the field's (or the default) bounds."""
    unit = unit if size != 1 else unit.removesuffix("s")
    maximum = spec.max_length or DEFAULT_MAX_LENGTH.get(spec.type)
    if maximum is not None and size > maximum:
        where = "'max_length'" if spec.max_length else f"the default for {spec.type} fields"
        return f"{what} has {size} {unit}, more than the maximum of {maximum} ({where})"
    if spec.min_length is not None and size < spec.min_length:
        return (
            f"{what} has {size} {unit}, fewer than the minimum of {spec.min_length} ('min_length')"
        )
    return None


def literal_problem(value: Any, spec: FieldSpec) -> str | None:
    """Return why ``value`` does not fit the field, or None if it does.

    ``value`` is a literal from the YAML (a default, a ``set:`` constant); null
    is judged by the caller, which knows whether the field may be empty.
    """
    if value is None:
        return None
    kind = spec.type
    if kind in ("string", "text"):
        if not isinstance(value, str):
            return f"{value!r} is not text; write it in quotes"
        return _length_problem(len(value), spec, "the text", "characters")
    if kind == "ref":
        if not isinstance(value, str) or not value:
            return f"{value!r} is not {describe_field(spec)} (an id, as text)"
        return None
    if kind in ("integer", "number"):
        if kind == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        if not ok:
            return f"{value!r} is not {_with_article(kind)}"
        if spec.min is not None and value < spec.min:
            return f"{value!r} is below the minimum of {_number(spec.min)} ('min')"
        if spec.max is not None and value > spec.max:
            return f"{value!r} is above the maximum of {_number(spec.max)} ('max')"
        return None
    if kind == "boolean":
        return (
            None if isinstance(value, bool) else f"{value!r} is not a boolean: write true or false"
        )
    if kind == "enum":
        options = spec.options or {}
        if not isinstance(value, str) or value not in options:
            listed = ", ".join(options)
            hint = suggest(str(value), options)
            return f"{value!r} is not an option of this enum ({listed}){hint}"
        return None
    if kind in ("date", "datetime"):
        if not isinstance(value, str):
            return f"{value!r} is not {_with_article(kind)}: write ISO text in quotes"
        return _date_problem(value, kind)
    if not isinstance(value, list):
        return f"{value!r} is not {describe_field(spec)}"
    for element in value:
        if not isinstance(element, str) or not element:
            return f"{element!r} cannot be an element of {describe_field(spec)}"
    return _length_problem(len(value), spec, "the list", "elements")


def check_definition(spec: WorkflowSpec) -> CheckResult:
    """Run the second pass over a schema-valid spec."""
    return _Checker(spec).run()
