"""What a new version of a definition changes, as data rather than text.

A text diff of two YAML files shows moved lines, reflowed labels and the
split into included files; an author needs to know which states, events,
roles, fields, deadlines, escalation levels and reviews changed, and what the
running items will notice. :func:`diff_definitions` compares two loaded
definitions section by section and returns one :class:`Change` per
difference, each with its path (``states.processing.deadline.amount``), the
old and new values and a one-line description.

Lists whose entries have names are compared by name (events, escalation
levels), nested states are compared flat (a state that moves into another
group shows as a change of its ``parent``), and lists of roles or states
where order means nothing are compared as sets. A removed state and an added
one that look alike are reported as a :class:`RenameHint`, since running
items in the old state then need ``--map OLD=NEW`` to migrate.

:func:`state_impact` tells what an item in one leaf state would notice when
moved to the new version: the state gone, its clock or ladder changed, events
it could fire no longer there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from workflow.definition.compiled import Definition
from workflow.definition.model import EscalationSpec

__all__ = [
    "Change",
    "ChangeKind",
    "DefinitionDiff",
    "RenameHint",
    "StateImpact",
    "diff_definitions",
    "state_impact",
]

ChangeKind = Literal["added", "removed", "changed"]

# Lists of names in which order carries no meaning: compared as sets.
_NAME_SETS = frozenset({"from", "roles", "started_by", "start_fields", "decisions"})
# Workflow keys that are compared by their own section (or not at all: `include`
# is how the files are split, which the content hash already ignores).
_SECTIONS = ("fields", "roles", "states", "events", "escalation", "reviews")
_SKIPPED = frozenset({"include", *_SECTIONS})
# Attributes two states or events must share to look like one renamed.
_RENAME_THRESHOLD = 0.6
_VALUE_MAX = 80


@dataclass(frozen=True)
class Change:
    """One difference between two versions of a definition.

    ``path`` names the place in the definition with dots
    (``events.reply.input.result.required``); ``old`` is None for an addition
    and ``new`` is None for a removal; ``section`` is the top-level part it
    belongs to (``workflow``, ``fields``, ``roles``, ``states``, ``events``,
    ``escalation``, ``reviews``).
    """

    kind: ChangeKind
    section: str
    path: str
    old: Any
    new: Any
    description: str

    def as_json(self) -> dict[str, Any]:
        """Return the change as plain JSON values."""
        return {
            "kind": self.kind,
            "section": self.section,
            "path": self.path,
            "old": self.old,
            "new": self.new,
            "description": self.description,
        }


@dataclass(frozen=True)
class RenameHint:
    """A removed state (or event) and an added one that look like one renamed."""

    section: str
    old: str
    new: str
    shared: tuple[str, ...]
    """The attributes both have alike (parent, deadline, label, …)."""

    @property
    def description(self) -> str:
        """Say what the hint suggests, in one line."""
        noun = "state" if self.section == "states" else "event"
        why = ", ".join(self.shared) or "its attributes"
        text = f"{noun} {self.old!r} removed and {self.new!r} added look like a rename (same {why})"
        if self.section == "states":
            text += f"; migrate items with --map {self.old}={self.new}"
        return text

    def as_json(self) -> dict[str, Any]:
        """Return the hint as plain JSON values."""
        return {
            "section": self.section,
            "old": self.old,
            "new": self.new,
            "shared": list(self.shared),
            "description": self.description,
        }


@dataclass(frozen=True)
class DefinitionDiff:
    """Every difference from one definition version to another."""

    workflow_id: str
    old_version: int
    new_version: int
    old_hash: str
    new_hash: str
    changes: tuple[Change, ...]
    renames: tuple[RenameHint, ...]

    @property
    def identical(self) -> bool:
        """Tell whether the two versions have the same content (the same hash)."""
        return self.old_hash == self.new_hash

    def section(self, name: str) -> tuple[Change, ...]:
        """Return the changes of one section (``states``, ``events``, …), in order."""
        return tuple(change for change in self.changes if change.section == name)

    def as_json(self) -> dict[str, Any]:
        """Return the diff as plain JSON values."""
        return {
            "workflow": self.workflow_id,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
            "identical": self.identical,
            "changes": [change.as_json() for change in self.changes],
            "renames": [hint.as_json() for hint in self.renames],
        }


@dataclass(frozen=True)
class StateImpact:
    """What an item in one leaf state of the old version meets in the new one."""

    state: str
    removed: bool
    """The state is no longer a leaf of the new version: items need a mapping to migrate."""
    deadline_changed: bool
    """The time limits that run in this state (its own and its groups') differ."""
    ladder_changed: bool
    """The escalation ladder those time limits climb differs."""
    events_lost: tuple[str, ...]
    """Events an item here could fire before and no longer can."""
    events_gained: tuple[str, ...]
    """Events an item here can fire only in the new version."""

    @property
    def affected(self) -> bool:
        """Tell whether an item in this state notices anything at all."""
        return bool(
            self.removed
            or self.deadline_changed
            or self.ladder_changed
            or self.events_lost
            or self.events_gained
        )


def diff_definitions(old: Definition, new: Definition) -> DefinitionDiff:
    """Compare two versions of a definition and return every difference, section by section."""
    before, after = _comparable(old), _comparable(new)
    changes: list[Change] = []
    for key in sorted(set(before["workflow"]) | set(after["workflow"])):
        changes.extend(
            _compare(
                "workflow",
                ("workflow", key),
                before["workflow"].get(key),
                after["workflow"].get(key),
            )
        )
    for section in _SECTIONS:
        changes.extend(_compare(section, (section,), before[section], after[section]))
    return DefinitionDiff(
        workflow_id=new.id,
        old_version=old.version,
        new_version=new.version,
        old_hash=old.hash,
        new_hash=new.hash,
        changes=tuple(changes),
        renames=tuple(_renames("states", before, after) + _renames("events", before, after)),
    )


def state_impact(old: Definition, new: Definition, state: str) -> StateImpact:
    """Tell what an item in leaf ``state`` of ``old`` meets when moved to ``new``."""
    removed = state not in new.states or new.is_group(state)
    before_events = _fireable(old, state)
    after_events = () if removed else _fireable(new, state)
    if removed:
        deadline_changed = ladder_changed = False
    else:
        old_clocks, new_clocks = _clocks(old, state), _clocks(new, state)
        deadline_changed = [c[0] for c in old_clocks] != [c[0] for c in new_clocks]
        ladder_changed = [c[1] for c in old_clocks] != [c[1] for c in new_clocks]
    return StateImpact(
        state=state,
        removed=removed,
        deadline_changed=deadline_changed,
        ladder_changed=ladder_changed,
        events_lost=tuple(e for e in before_events if e not in after_events),
        events_gained=tuple(e for e in after_events if e not in before_events),
    )


# -- making two definitions comparable -----------------------------------------------------


def _dump(model: Any) -> Any:
    return _compact(model.model_dump(mode="json", by_alias=True, exclude_none=True))


def _compact(value: Any) -> Any:
    """Write each plain one-role notification as its role name, as authors write it."""
    if isinstance(value, dict):
        return {
            key: [_plain_notify(entry) for entry in item]
            if key == "notify" and isinstance(item, list)
            else _compact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value


def _plain_notify(entry: Any) -> Any:
    if (
        isinstance(entry, dict)
        and not entry.get("urgent")
        and entry.get("template") is None
        and isinstance(entry.get("to"), list)
        and len(entry["to"]) == 1
    ):
        return entry["to"][0]
    return entry


def _comparable(definition: Definition) -> dict[str, dict[str, Any]]:
    """Return the definition as nested dicts keyed by name, one per section."""
    spec = definition.spec
    whole = _dump(spec)
    states: dict[str, Any] = {}
    for name, state in definition.states.items():
        flat = {k: v for k, v in _dump(state).items() if k != "states"}
        flat["parent"] = definition.parents.get(name)
        if state.states:
            flat["group"] = True
        states[name] = flat
    events: dict[str, Any] = {}
    for event in spec.events:
        key = event.name
        # The same name may be declared again for other states; number the repeats.
        counter = 2
        while key in events:
            key = f"{event.name}[{counter}]"
            counter += 1
        events[key] = {k: v for k, v in _dump(event).items() if k != "name"}
    return {
        "workflow": {k: v for k, v in whole.items() if k not in _SKIPPED},
        "fields": whole.get("fields", {}),
        "roles": whole.get("roles", {}),
        "states": {name: _ladder_by_name(value) for name, value in states.items()},
        "events": events,
        "escalation": _ladder_by_name(whole.get("escalation")) or {},
        "reviews": whole.get("reviews", {}),
    }


def _ladder_by_name(value: Any) -> Any:
    """Key the levels of a ladder (or of a state's own ladder) by their names."""
    if not isinstance(value, dict):
        return value
    if "levels" in value and isinstance(value["levels"], list):
        levels = {level["name"]: _without(level, "name") for level in value["levels"]}
        return {**value, "levels": levels}
    if isinstance(value.get("escalation"), dict):
        return {**value, "escalation": _ladder_by_name(value["escalation"])}
    return value


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


# -- comparing -----------------------------------------------------------------------------


def _is_text(value: Any) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and bool(value) and set(value) <= {"en", "zh"}


def _compare(section: str, path: tuple[str, ...], old: Any, new: Any) -> Iterator[Change]:
    """Yield the changes from ``old`` to ``new`` at ``path``, recursing into named mappings."""
    if old == new:
        return
    if old is None:
        yield _change("added", section, path, None, new)
        return
    if new is None:
        yield _change("removed", section, path, old, None)
        return
    if isinstance(old, dict) and isinstance(new, dict) and not _is_text(old):
        for key in [*old, *(k for k in new if k not in old)]:
            yield from _compare(section, (*path, key), old.get(key), new.get(key))
        return
    unordered = path[-1] in _NAME_SETS and isinstance(old, list) and isinstance(new, list)
    if unordered and sorted(map(str, old)) == sorted(map(str, new)):
        return
    yield _change("changed", section, path, old, new)


def _change(kind: ChangeKind, section: str, path: tuple[str, ...], old: Any, new: Any) -> Change:
    dotted = ".".join(path[1:] if section == "workflow" else path)
    return Change(kind, section, dotted, old, new, _describe(kind, section, path, old, new))


# -- describing ----------------------------------------------------------------------------


def _subject(section: str, path: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Split a path into what it is about ("state 'handling'") and the attribute path."""
    nouns = {
        "fields": "field",
        "roles": "role",
        "states": "state",
        "events": "event",
        "reviews": "review",
    }
    if section == "workflow":
        return "workflow", path[1:]
    if section == "escalation":
        if len(path) >= 3 and path[1] == "levels":
            return f"workflow ladder level {path[2]!r}", path[3:]
        return "workflow ladder", path[1:]
    if len(path) < 2:
        return section, ()
    subject = f"{nouns[section]} {path[1]!r}"
    rest = path[2:]
    if section == "states" and len(rest) >= 3 and rest[:2] == ("escalation", "levels"):
        return f"{subject} ladder level {rest[2]!r}", rest[3:]
    if section == "states" and rest[:1] == ("escalation",):
        return f"{subject} ladder", rest[1:]
    return subject, rest


def _describe(kind: ChangeKind, section: str, path: tuple[str, ...], old: Any, new: Any) -> str:
    subject, rest = _subject(section, path)
    where = " ".join(rest)
    if kind == "added":
        summary = _summary(section, rest, new)
        return f"{subject}: {where} added ({summary})" if where else f"{subject} added: {summary}"
    if kind == "removed":
        summary = _summary(section, rest, old)
        if where:
            return f"{subject}: {where} removed (was {summary})"
        return f"{subject} removed (was {summary})"
    if rest and rest[-1] in _NAME_SETS and isinstance(old, list) and isinstance(new, list):
        plus = [f"+{n}" for n in new if n not in old]
        minus = [f"-{n}" for n in old if n not in new]
        return f"{subject}: {where} {' '.join(plus + minus)}"
    return f"{subject}: {where} {_value(old)} → {_value(new)}"


def _summary(section: str, rest: tuple[str, ...], value: Any) -> str:
    """Summarise an added or removed entry in a few words."""
    if not isinstance(value, dict) or _is_text(value):
        return _value(value)
    if rest == ("deadline",) or rest[-1:] == ("deadline",):
        return _deadline(value)
    parts: list[str] = []
    label = value.get("label")
    if _is_text(label):
        parts.append(repr(label["en"]))
    if "type" in value:
        parts.append(value["type"] + (", required" if value.get("required") else ""))
    if value.get("parent"):
        parts.append(f"in {value['parent']}")
    if isinstance(value.get("deadline"), dict):
        parts.append("deadline " + _deadline(value["deadline"]))
    if value.get("final"):
        parts.append("final")
    if "from" in value:
        parts.append(f"from {', '.join(value['from'])}")
    if "to" in value:
        parts.append(f"to {_targets(value['to'])}")
    if "roles" in value and isinstance(value["roles"], list):
        parts.append(f"by {', '.join(value['roles'])}")
    for offset in ("before", "after"):
        if offset in value:
            parts.append(f"{offset} {value[offset]}")
    if value.get("review"):
        parts.append(f"review {value['review']}")
    if "options" in value and isinstance(value["options"], dict):
        parts.append(f"options {', '.join(value['options'])}")
    return ", ".join(parts) if parts else _value(value)


def _deadline(value: Mapping[str, Any]) -> str:
    text = f"{value.get('amount')} {value.get('unit')}"
    if value.get("start_event"):
        text += f" from {value['start_event']}"
    return text


def _targets(choices: Any) -> str:
    if not isinstance(choices, list):
        return _value(choices)
    parts = []
    for choice in choices:
        if not isinstance(choice, dict):
            return _value(choices)
        when = choice.get("when")
        parts.append(f"{choice.get('state')} if {when}" if when else str(choice.get("state")))
    return "; else ".join(parts) if len(parts) > 1 else "".join(parts)


def _value(value: Any) -> str:
    """Write a value short enough for one line."""
    if value is None:
        text = "none"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = str(value)
    elif _is_text(value):
        text = repr(value.get("en", value.get("zh")))
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(c, dict) and "state" in c for c in value)
    ):
        text = _targets(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = "[" + ", ".join(value) + "]"
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _VALUE_MAX else text[: _VALUE_MAX - 1] + "…"


# -- renames -------------------------------------------------------------------------------


def _renames(section: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[RenameHint]:
    """Pair each removed entry with the most alike added one, if alike enough."""
    old, new = before[section], after[section]
    gone = [name for name in old if name not in new]
    came = [name for name in new if name not in old]
    hints: list[RenameHint] = []
    for name in gone:
        best: tuple[float, str, tuple[str, ...]] | None = None
        for candidate in came:
            score, shared = _likeness(old[name], new[candidate])
            if score >= _RENAME_THRESHOLD and (best is None or score > best[0]):
                best = (score, candidate, shared)
        if best is not None:
            came.remove(best[1])
            hints.append(RenameHint(section, name, best[1], best[2]))
    return hints


def _likeness(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[float, tuple[str, ...]]:
    """Return the share of attributes two entries have alike, and which ones."""
    # Attributes both leave empty say nothing about likeness.
    keys = [
        k for k in dict.fromkeys([*old, *new]) if k != "description" and (old.get(k) or new.get(k))
    ]
    if not keys:
        return 0.0, ()
    shared = tuple(k for k in keys if old.get(k) == new.get(k))
    old_label, new_label = old.get("label"), new.get("label")
    # A relabelled entry often keeps one of its two texts.
    if (
        "label" not in shared
        and _is_text(old_label)
        and _is_text(new_label)
        and any(old_label.get(lang) == new_label.get(lang) for lang in ("en", "zh"))
    ):
        shared = (*shared, "label")
    return len(shared) / len(keys), shared


# -- what an item notices ------------------------------------------------------------------


def _fireable(definition: Definition, state: str) -> tuple[str, ...]:
    names = [event.name for event in definition.events_from(state)]
    joint = definition.states[state].joint
    if joint is not None:
        names.append(joint.answer.name)
    return tuple(dict.fromkeys(names))


def _clocks(definition: Definition, state: str) -> list[tuple[Any, Any]]:
    """Return, innermost first, each time limit running in ``state`` and the ladder it climbs."""
    found: list[tuple[Any, Any]] = []
    joint = definition.states[state].joint
    for scope in (state, *definition.ancestors(state)):
        spec = definition.states[scope]
        ladder: EscalationSpec | None = spec.escalation or definition.spec.escalation
        ladder_json = _dump(ladder) if ladder is not None else None
        if spec.deadline is not None:
            found.append((_dump(spec.deadline), ladder_json))
        if scope == state and joint is not None and joint.deadline is not None:
            # Each joint-handling branch has a clock of its own.
            found.append(({"branch": _dump(joint.deadline)}, ladder_json))
    return found
