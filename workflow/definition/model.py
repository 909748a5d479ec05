"""The workflow definition language, as pydantic models.

These models are the single description of what a YAML definition may say:
the loader validates against them, ``workflow schema`` derives the JSON Schema
from them, and the documentation's language reference is generated from the
same field descriptions, so the three cannot drift apart.

The models check shape and local types only. Whether names refer to things
that exist (states, roles, fields), whether every state is reachable and
whether expressions type-check is the job of :mod:`workflow.definition.checks`,
which runs as a second pass so that its problems point at exact positions too.

Every model forbids unknown keys: a typo such as ``lable:`` is an error with a
"did you mean" hint rather than something silently ignored. Later capabilities
(escalation ladders, reviews, notifications) add new optional keys here
without changing the meaning of existing ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    WrapSerializer,
)

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_TEMPLATES",
    "DIGEST_TEMPLATE",
    "FRAGMENT_KEYS",
    "IDENTIFIER_PATTERN",
    "TEMPLATE_NAME_PATTERN",
    "Choice",
    "CompletionSpec",
    "DeadlineSpec",
    "DeadlineUnit",
    "EffectSpec",
    "EscalationSpec",
    "EventSpec",
    "ExtendDeadlineSpec",
    "FieldSpec",
    "FieldType",
    "GuardSpec",
    "Identifier",
    "JointAnswerSpec",
    "JointSpec",
    "LevelSpec",
    "LocalText",
    "NotifySpec",
    "ReasonPolicy",
    "RefKind",
    "ReviewSpec",
    "RoleSpec",
    "StateSpec",
    "UnansweredPolicy",
    "WorkflowSpec",
]

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
"""A name of a state, event, field or role: lower-case letters, digits, ``_``."""

TEMPLATE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
"""A notification template's name: the file ``_templates/NAME.LOCALE.j2`` holds it."""

DEFAULT_TEMPLATES: Mapping[str, str] = MappingProxyType(
    {"event": "event", "escalation": "escalation", "review": "review_agenda"}
)
"""The template a ``notify`` entry uses when it names none, by where it is declared
(an event, an escalation level, a review); the engine ships each of them."""

DIGEST_TEMPLATE = "digest"
"""The template of a digest (many messages to one person in one); it has its own context."""

FieldType = Literal[
    "string", "text", "integer", "number", "boolean", "date", "datetime", "enum", "list", "ref"
]
RefKind = Literal["enterprise", "unit", "district", "person"]
DeadlineUnit = Literal["working_days", "calendar_days", "hours"]
ReasonPolicy = Literal["none", "optional", "required"]
UnansweredPolicy = Literal["wait", "agree", "disagree"]
CompletionRule = Literal["all", "any", "at_least", "lead_and_quorum"]

JsonScalar = str | int | float | bool | None

FRAGMENT_KEYS = ("fields", "roles", "states", "events")
"""The sections an included file (a partial) may hold; its `x-` keys are ignored."""

DEFAULT_MAX_LENGTH: dict[str, int] = {"string": 200, "text": 20000, "list": 100}
"""Length caps of a field that declares no ``max_length``, so no value is unbounded.

The engine validates item data and input against them; ``validate`` checks
``min_length`` and literal values (defaults, ``set:`` constants) against them.
"""


class _Spec(BaseModel):
    """Base of all definition models: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LocalText(_Spec):
    """A text in both languages of the Service Express: Chinese and English."""

    zh: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="The Chinese text."
    )
    en: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="The English text."
    )


class FieldSpec(_Spec):
    """A typed datum an item carries, or an input an event takes."""

    type: FieldType = Field(
        description=(
            "The value's type. `ref` is a reference to a directory entry (see `ref`); "
            "`list` is a list of strings or of references (see `items`)."
        )
    )
    label: LocalText | None = Field(default=None, description="What forms and tables call it.")
    description: LocalText | None = Field(default=None, description="Help text for people.")
    required: bool = Field(
        default=False,
        description=(
            "Item fields: must be given when the item starts. Event inputs: must be given "
            "when the event fires."
        ),
    )
    default: Any = Field(
        default=None, description="The value used when none is given; must fit the type."
    )
    options: dict[Identifier, LocalText] | None = Field(
        default=None, description="For `enum`: the allowed values, each with its labels."
    )
    items: Literal["string", "ref"] | None = Field(
        default=None, description="For `list`: the type of the elements (default `string`)."
    )
    ref: RefKind | None = Field(
        default=None,
        description="For `ref`, or a `list` of `ref` items: which kind of directory entry.",
    )
    min: float | None = Field(default=None, description="For `integer`/`number`: the minimum.")
    max: float | None = Field(default=None, description="For `integer`/`number`: the maximum.")
    min_length: int | None = Field(
        default=None, ge=0, description="For `string`/`text`/`list`: the minimum length."
    )
    max_length: int | None = Field(
        default=None,
        ge=1,
        description=(
            "For `string`/`text`/`list`: the maximum length (defaults: "
            + ", ".join(f"{kind} {limit}" for kind, limit in DEFAULT_MAX_LENGTH.items())
            + ")."
        ),
    )


class RoleSpec(_Spec):
    """A named role and how it is bound for an item.

    A role is bound either to a fixed directory group (everyone in the group
    holds it for every item) or to the entry held in one of the item's fields
    (the unit in ``lead_unit``), optionally through a directory relation of
    that entry (the ``commissioners`` of the enterprise in ``enterprise``).
    """

    label: LocalText | None = Field(default=None, description="The role's name for people.")
    description: LocalText | None = Field(default=None, description="What the role does.")
    group: Identifier | None = Field(
        default=None, description="A fixed directory group whose members hold this role."
    )
    field: Identifier | None = Field(
        default=None,
        description="An item field of type `ref` (or a list of refs) naming who holds the role.",
    )
    relation: Identifier | None = Field(
        default=None,
        description=(
            "With `field`: a directory relation followed from the entry in that field "
            "(e.g. `commissioners` of an enterprise)."
        ),
    )


class DeadlineSpec(_Spec):
    """A time limit (SLA) for the work in a state or a joint-handling branch."""

    amount: int = Field(ge=1, le=100000, description="How many units of time.")
    unit: DeadlineUnit = Field(
        description=(
            "`working_days` follow the business calendar (statutory holidays and "
            "adjusted working weekends), `calendar_days` and `hours` do not."
        )
    )
    start_event: Identifier | None = Field(
        default=None,
        description=(
            "Start the clock when this event fires (e.g. the unit's `sign_for`) instead of "
            "when the state is entered."
        ),
    )


def _as_list(value: object) -> object:
    """Accept a single name where a list of names is expected (``from: triage``)."""
    return [value] if isinstance(value, str) else value


class NotifySpec(_Spec):
    """Who hears of something (roles of the item), with which template."""

    to: Annotated[
        list[Identifier],
        BeforeValidator(_as_list, json_schema_input_type=Identifier | list[Identifier]),
        Field(min_length=1),
    ] = Field(
        description=(
            "The roles to notify; the directory turns each into people (the unit's contact, "
            "the enterprise's commissioner, the members of a group)."
        )
    )
    template: Annotated[str, StringConstraints(pattern=TEMPLATE_NAME_PATTERN)] | None = Field(
        default=None,
        description=(
            "The template (`_templates/NAME.LOCALE.j2` beside the definitions); default "
            "`event`, `escalation` or `review_agenda` by where the notification is declared."
        ),
    )
    urgent: bool = Field(
        default=False,
        description=(
            "Deliver even in quiet hours and outside digests (e.g. a public-opinion incident)."
        ),
    )


def _notify_shorthand(value: object) -> object:
    """Accept ``notify: unit`` and ``notify: [unit, office]``: one notification per role."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [{"to": [entry]} if isinstance(entry, str) else entry for entry in value]
    return value


def _notify_compact(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """Write a plain one-role notification back as its role name.

    The content hash is taken over this form, so ``notify: [unit]`` hashes as
    it did before notifications had templates, and stored items stay pinned.
    """
    dumped = handler(value)
    return [
        entry["to"][0]
        if isinstance(entry, dict) and set(entry) == {"to"} and len(entry["to"]) == 1
        else entry
        for entry in dumped
    ]


NotifyList = Annotated[
    list[NotifySpec],
    BeforeValidator(
        _notify_shorthand,
        json_schema_input_type=Identifier | list[Identifier | NotifySpec],
    ),
    WrapSerializer(_notify_compact),
]
"""``notify:``: a role, a list of roles, or a list of :class:`NotifySpec`."""


class GuardSpec(_Spec):
    """A condition that must hold for an event to fire."""

    expr: Annotated[str, StringConstraints(min_length=1)] = Field(
        description=(
            "A boolean expression over `item`, `input` and `actor` (see expressions); "
            "null (an unset boolean) counts as false."
        )
    )
    message: LocalText | None = Field(
        default=None, description="What the refusal says when the condition is false."
    )


def _guard_shorthand(value: object) -> object:
    """Turn ``guard: "expr"`` shorthands into guard objects, in a list."""
    items = [value] if isinstance(value, str | dict) else value
    if isinstance(items, list):
        return [{"expr": item} if isinstance(item, str) else item for item in items]
    return items


class Choice(_Spec):
    """One possible target of an event; the first whose ``when`` holds is taken."""

    when: str | None = Field(
        default=None,
        description=(
            "A boolean expression (null counts as false); omit it on the last, fallback choice."
        ),
    )
    state: Identifier = Field(description="The state to move to.")


def _target_shorthand(value: object) -> object:
    """Turn ``to: state`` into a one-element list of choices."""
    if isinstance(value, str):
        return [{"state": value}]
    return value


class ExtendDeadlineSpec(_Spec):
    """Move the current deadline later (an approved extension)."""

    by: int | str = Field(
        description="How much: a whole number, or an integer expression such as `input.days`."
    )
    unit: DeadlineUnit | None = Field(
        default=None, description="The unit of `by`; defaults to the deadline's own unit."
    )


class EffectSpec(_Spec):
    """One change an event makes to the item; give exactly one of the keys."""

    set: dict[Identifier, JsonScalar] | None = Field(
        default=None,
        description=(
            "Fields to set. A string value is an expression (quote literal text: "
            "`\"'meeting'\"`); numbers, booleans and null are taken as they are."
        ),
    )
    assign: dict[Identifier, str] | None = Field(
        default=None,
        description=(
            "Roles to hand over: maps a role bound to a field to an expression giving the "
            "new holder, e.g. `{unit: input.unit}`."
        ),
    )
    append: dict[Identifier, str] | None = Field(
        default=None,
        description=(
            "List fields to add to: maps the field to an expression giving the element. "
            "Adding a unit to a joint-handling list opens its branch."
        ),
    )
    extend_deadline: ExtendDeadlineSpec | None = Field(
        default=None, description="Extend the deadline of the state the event fires in."
    )


class EventSpec(_Spec):
    """An event (transition) that an actor fires on an item."""

    name: Identifier = Field(description="The event's name, used by APIs and the CLI.")
    label: LocalText = Field(description="What buttons and history call it.")
    description: LocalText | None = Field(default=None, description="Help text for people.")
    from_: Annotated[
        list[Identifier],
        BeforeValidator(_as_list, json_schema_input_type=Identifier | list[Identifier]),
        Field(min_length=1),
    ] = Field(
        alias="from",
        description="The state(s) it may fire from; a group state stands for all its states.",
    )
    to: Annotated[
        list[Choice] | None,
        BeforeValidator(_target_shorthand, json_schema_input_type=Identifier | list[Choice]),
    ] = Field(
        default=None,
        description=(
            "The target state, or a list of choices tried in order; when no choice holds, "
            "the event is refused and nothing changes. Omitted: the event stays in its state "
            "(an internal event)."
        ),
    )
    roles: Annotated[
        list[Identifier],
        BeforeValidator(_as_list, json_schema_input_type=Identifier | list[Identifier]),
        Field(min_length=1),
    ] = Field(description="The roles that may fire it.")
    input: dict[Identifier, FieldSpec] = Field(
        default_factory=dict, description="The data the event takes, with validation."
    )
    guard: Annotated[
        list[GuardSpec],
        BeforeValidator(
            _guard_shorthand, json_schema_input_type=str | GuardSpec | list[str | GuardSpec]
        ),
    ] = Field(
        default_factory=list,
        description="Condition(s) that must all hold; each may carry its refusal message.",
    )
    reason: ReasonPolicy = Field(
        default="none", description="Whether the actor must (or may) give a reason."
    )
    effects: list[EffectSpec] = Field(
        default_factory=list, description="Changes made to the item, in order."
    )
    notify: NotifyList = Field(
        default_factory=list,
        description="Who is notified when the event fires (written to the outbox with it).",
    )


class JointAnswerSpec(_Spec):
    """The event each joint-handling branch answers with."""

    name: Identifier = Field(description="The answer event's name.")
    label: LocalText = Field(description="What buttons and history call it.")
    input: dict[Identifier, FieldSpec] = Field(
        default_factory=dict,
        description="Data the answer takes besides its `verdict` (agree or disagree).",
    )
    reason: ReasonPolicy = Field(default="none", description="Whether a reason is needed.")


class CompletionSpec(_Spec):
    """When a joint-handling state is complete."""

    rule: CompletionRule = Field(
        description=(
            "`all` branches answered, `any` one, `at_least` `count` of them, or "
            "`lead_and_quorum`: the lead unit and `count` others."
        )
    )
    count: int | None = Field(
        default=None, ge=1, description="For `at_least` and `lead_and_quorum`."
    )


class JointSpec(_Spec):
    """Fan the work of a state out to one parallel branch per unit in a list field."""

    units: Identifier = Field(description="A `list` field of unit references: one branch each.")
    lead: Identifier | None = Field(
        default=None,
        description=(
            "A `ref` field holding the lead unit. With `lead_and_quorum` the lead unit gets a "
            "branch of its own; it need not be listed in `units`."
        ),
    )
    role: Identifier = Field(
        description=(
            "The role a branch's unit answers as: a role bound (`field:`) to the `units` field "
            "(with `lead_and_quorum`, to `units` or to `lead`)."
        )
    )
    answer: JointAnswerSpec = Field(description="The event each branch answers with.")
    deadline: DeadlineSpec | None = Field(default=None, description="Each branch's own deadline.")
    complete_when: CompletionSpec = Field(description="The completion rule.")
    unanswered: UnansweredPolicy = Field(
        default="wait",
        description=(
            "What a branch unanswered at its deadline counts as: `wait` (still open), "
            "`agree` (no reply counts as consent) or `disagree`."
        ),
    )
    then: Annotated[
        list[Choice],
        BeforeValidator(_target_shorthand, json_schema_input_type=Identifier | list[Choice]),
        Field(min_length=1),
    ] = Field(
        description=(
            "Where the item goes when complete: a state, or choices whose `when` may use "
            "`joint.total`, `joint.answered`, `joint.agreed`, `joint.disagreed`, "
            "`joint.lead_agreed`; the last choice must have no `when`."
        )
    )


class LevelSpec(_Spec):
    """One rung of an escalation ladder, placed relative to the deadline's due time."""

    name: Identifier = Field(description="The level's name (e.g. `warning`, `reminder`).")
    label: LocalText = Field(description="What history and agendas call it.")
    before: int | None = Field(
        default=None, ge=0, description="Fire this long before the due time (give this or `after`)."
    )
    after: int | None = Field(
        default=None, ge=0, description="Fire this long after the due time (0 = at the due time)."
    )
    unit: DeadlineUnit | None = Field(
        default=None, description="The unit of `before`/`after`; defaults to the deadline's unit."
    )
    notify: NotifyList = Field(
        default_factory=list,
        description="Who is notified when the level fires (template default `escalation`).",
    )
    review: Identifier | None = Field(
        default=None, description="Put the item on the next occurrence of this review's agenda."
    )
    set: dict[Identifier, JsonScalar] | None = Field(
        default=None,
        description="Fields to set (flags, priority); string values are expressions over `item`.",
    )
    fire: Identifier | None = Field(
        default=None,
        description="An event the engine fires itself at this level (if it can fire then).",
    )


class EscalationSpec(_Spec):
    """The ladder an overdue item climbs, and what happens after downtime."""

    levels: list[LevelSpec] = Field(min_length=1, description="The levels, earliest first.")
    catch_up: Literal["all", "highest"] = Field(
        default="all",
        description=(
            "After downtime, when several levels are past: fire `all` missed levels once, in "
            "order, or only the `highest` (the skipped ones are recorded in history)."
        ),
    )


class ReviewSpec(_Spec):
    """A periodic review meeting whose agenda escalated items join."""

    label: LocalText = Field(description="The review's name (e.g. the monthly service meeting).")
    period: Literal["month", "quarter", "half_year", "year"] = Field(
        description=(
            "Which period one occurrence covers; agendas are named by it (2026-11, 2026-Q4)."
        )
    )
    cron: str = Field(
        description=(
            "When the meeting happens, as a 5-field cron line in the calendar's time zone "
            "(e.g. `0 9 1 * *`: 09:00 on the 1st of each month)."
        )
    )
    carry_over: bool = Field(
        default=True,
        description="Items still unresolved after a meeting stay on the next occurrence's agenda.",
    )
    decisions: Annotated[
        list[Identifier],
        BeforeValidator(_as_list, json_schema_input_type=Identifier | list[Identifier]),
    ] = Field(
        default_factory=list,
        description="Events that record the meeting's decision on an item (they resolve it).",
    )
    notify: NotifyList = Field(
        default_factory=list,
        description=(
            "Who is notified when an item joins this review's agenda "
            "(template default `review_agenda`)."
        ),
    )


class StateSpec(_Spec):
    """A state of the lifecycle, or a group of states (when it has ``states``)."""

    label: LocalText = Field(description="What lists and diagrams call it.")
    description: LocalText | None = Field(default=None, description="Help text for people.")
    final: bool = Field(default=False, description="The lifecycle ends here; no events leave.")
    deadline: DeadlineSpec | None = Field(default=None, description="The state's time limit.")
    pauses_clock: bool = Field(
        default=False,
        description="Suspension: deadline clocks stop while the item is here and resume after.",
    )
    joint: JointSpec | None = Field(
        default=None, description="Joint handling: parallel branches, one per unit."
    )
    escalation: EscalationSpec | None = Field(
        default=None,
        description="This state's own ladder for its deadline (else the workflow's is used).",
    )
    states: dict[Identifier, StateSpec] | None = Field(
        default=None,
        description=(
            "Child states: this state becomes a group. Events from a group fire from any "
            "state inside it; items are always in a leaf state."
        ),
    )


class WorkflowSpec(_Spec):
    """One workflow: the whole lifecycle of one kind of item."""

    id: Identifier = Field(description="The workflow's id, stable across versions.")
    version: int = Field(ge=1, description="The version number; raise it for every change.")
    title: LocalText = Field(description="The workflow's name.")
    description: LocalText | None = Field(default=None, description="What it is for.")
    include: list[str] = Field(
        default_factory=list,
        description=(
            "Files (relative to this one, inside its folder) whose `fields`, `roles`, "
            "`states` and `events` are merged into this definition."
        ),
    )
    initial: Identifier = Field(description="The state every new item starts in.")
    started_by: Annotated[
        list[Identifier],
        BeforeValidator(_as_list, json_schema_input_type=Identifier | list[Identifier]),
        Field(min_length=1),
    ] = Field(
        description=(
            "The roles that may start an item, checked against the new item's data "
            "(an enterprise may only raise problems for itself)."
        )
    )
    fields: dict[Identifier, FieldSpec] = Field(
        default_factory=dict, description="The data an item carries."
    )
    start_fields: list[Identifier] | None = Field(
        default=None,
        description=(
            "The fields the data of a new item may give (default: every field). The others "
            "only events' effects set, so no one starts an item with, say, its responsible "
            "unit, its satisfaction or its escalation level already filled in."
        ),
    )
    roles: dict[Identifier, RoleSpec] = Field(description="Who takes part, and how bound.")
    states: dict[Identifier, StateSpec] = Field(description="The states (top level).")
    events: list[EventSpec] = Field(description="The events (transitions).")
    escalation: EscalationSpec | None = Field(
        default=None, description="The ladder every deadline of this workflow climbs when late."
    )
    reviews: dict[Identifier, ReviewSpec] = Field(
        default_factory=dict, description="Periodic reviews that escalated items are put before."
    )


StateSpec.model_rebuild()
