"""Who may fire what, where: the shipped definition's whole authorization matrix.

One item is driven into every leaf state. For every event, every role and
both sides of the role's binding (an actor bound to the item and one of the
same role who is not), plus an actor claiming no role, the engine's answer
must match what the definition says: the event fires from that state, the
actor claims one of the event's roles, and the directory binds the actor to
the item for it. The expectation is computed from the definition and the
directory's data, never by asking the engine.

The engine is probed without changing anything: each fire carries an
unknown input field, so an authorized actor gets ``InvalidInput`` (checked
after authorization) and a refused one ``NotAuthorized`` or ``EventNotAllowed``.

The denials are written as a table to ``authorization_matrix.txt`` next to
this file when ``WORKFLOW_WRITE_MATRIX=1``; otherwise the table generated is
compared with the committed one, so a change in who may do what shows up as
a diff in review.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_fixtures import (
    GROUPS,
    MEMBERS,
    PATHS,
    RELATIONS,
    Harness,
    actor,
    wf,
)
from workflow.core.values import Actor, ItemSnapshot
from workflow.definition.compiled import Definition
from workflow.errors import EventNotAllowed, InvalidInput, NotAuthorized

__all__ = ["wf"]

MATRIX_FILE = Path(__file__).with_name("authorization_matrix.txt")
PROBE = "__probe__"

# For every role of the shipped definition: an actor bound to the items the
# helpers make, and one of the same role who is not.
ROLE_ACTORS: dict[str, tuple[str, str]] = {
    "enterprise": ("zhao", "qiao"),
    "commissioner": ("sun", "lin"),
    "office": ("li", "nobody"),
    "leader": ("wu", "nobody"),
    "unit": ("chen", "ma"),
    "co_unit": ("qian", "ma"),
}
NO_ROLE = actor("zhao")


@dataclass(frozen=True)
class Cell:
    """One probe: an event in a state, fired by an actor acting in a role (or none)."""

    state: str
    event: str
    role: str  # "-" for the actor claiming no role
    bound: str  # "bound", "unbound" or "-"
    actor: Actor


@dataclass(frozen=True)
class Outcome:
    """What happened (or should happen) to a probe: allowed, not_allowed or denied."""

    verdict: str
    reason: str = ""


def _actors(definition: Definition) -> list[tuple[str, str, Actor]]:
    assert set(ROLE_ACTORS) == set(definition.spec.roles)
    found = []
    for role in definition.spec.roles:
        bound, unbound = ROLE_ACTORS[role]
        found.append((role, "bound", actor(bound, role)))
        found.append((role, "unbound", actor(unbound, role)))
    found.append(("-", "-", NO_ROLE))
    return found


def _event_names(definition: Definition) -> list[str]:
    return list(definition.event_names())


def _binds(definition: Definition, role: str, who: Actor, data: Mapping[str, Any]) -> bool:
    """Whether the directory binds ``who`` to an item with ``data`` for ``role``."""
    spec = definition.spec.roles[role]
    if spec.group is not None:
        return who.id in GROUPS.get(spec.group, [])
    assert spec.field is not None
    kind = definition.spec.fields[spec.field].ref or "person"
    value = data.get(spec.field)
    entries = value if isinstance(value, list) else [value] if value else []
    for entry in entries:
        if spec.relation is not None:
            if who.id in RELATIONS.get((kind, entry, spec.relation), []):
                return True
        elif who.id in MEMBERS.get((kind, entry), []):
            return True
    return False


def _expected(definition: Definition, cell: Cell, data: Mapping[str, Any]) -> Outcome:
    """What the definition says about one probe."""
    joint = definition.states[cell.state].joint
    roles: Sequence[str]
    if joint is not None and cell.event == joint.answer.name:
        roles = [joint.role]
    else:
        declared = [e for e in definition.events_from(cell.state) if e.name == cell.event]
        if not declared:
            return Outcome("not_allowed")
        roles = declared[0].roles
    claimed = [r for r in roles if r in cell.actor.roles]
    if not claimed:
        return Outcome("denied", "role")
    if any(_binds(definition, r, cell.actor, data) for r in claimed):
        return Outcome("allowed")
    return Outcome("denied", "binding")


def _probe(wf: Harness, item: ItemSnapshot, cell: Cell) -> Outcome:
    """Ask the engine, without changing anything."""
    with pytest.raises((EventNotAllowed, NotAuthorized, InvalidInput)) as caught:
        wf.engine.fire(item.id, cell.event, cell.actor, {PROBE: True})
    refusal = caught.value
    if isinstance(refusal, NotAuthorized):
        assert refusal.actor_id == cell.actor.id
        return Outcome("denied", refusal.reason)
    if isinstance(refusal, InvalidInput):
        # Input is checked after authorization: only the probe field may be wrong.
        assert PROBE in dict(refusal.errors), refusal.errors
        return Outcome("allowed")
    return Outcome("not_allowed")


def _kind(reason: str) -> str:
    """Tell a missing role from a missing binding by the engine's wording."""
    return "role" if reason.startswith("it needs one of the roles") else "binding"


def _items(wf: Harness) -> dict[str, ItemSnapshot]:
    return {state: wf.drive(state) for state in PATHS}


def _run(
    wf: Harness, *, only_allowed_here: bool
) -> tuple[list[tuple[Cell, Outcome]], dict[str, ItemSnapshot]]:
    definition = wf.engine.catalog.get("enterprise_issue")
    items = _items(wf)
    results: list[tuple[Cell, Outcome]] = []
    for state in definition.leaves():
        item = items[state]
        for event in _event_names(definition):
            for role, bound, who in _actors(definition):
                cell = Cell(state, event, role, bound, who)
                expected = _expected(definition, cell, item.data)
                if only_allowed_here and expected.verdict == "not_allowed":
                    continue
                got = _probe(wf, item, cell)
                assert got.verdict == expected.verdict, (cell, got, expected)
                if got.verdict == "denied":
                    assert _kind(got.reason) == expected.reason, (cell, got)
                results.append((cell, got))
    # Nothing was changed by thousands of refusals.
    for state, item in items.items():
        assert wf.engine.get(item.id) == item, state
        assert wf.engine.verify(item.id) == []
    return results, items


def _available_within_allowed(
    wf: Harness, results: list[tuple[Cell, Outcome]], items: Mapping[str, ItemSnapshot]
) -> None:
    """What the engine offers an actor is a subset of what it lets the actor fire."""
    allowed: dict[tuple[str, str], set[str]] = {}
    actors: dict[str, Actor] = {}
    for cell, outcome in results:
        key = (cell.state, f"{cell.role}/{cell.bound}")
        actors[key[1]] = cell.actor
        names = allowed.setdefault(key, set())
        if outcome.verdict == "allowed":
            names.add(cell.event)
    for (state, who), names in allowed.items():
        offered = {e.name for e in wf.engine.available_events(items[state].id, actors[who])}
        assert offered <= names, (state, who, offered - names)


def _table(results: list[tuple[Cell, Outcome]], definition: Definition) -> str:
    """Render the matrix: counts, what is allowed, every denial with its reason."""
    allowed = [c for c, o in results if o.verdict == "allowed"]
    denied = [(c, o) for c, o in results if o.verdict == "denied"]
    not_allowed = [c for c, o in results if o.verdict == "not_allowed"]
    lines = [
        "# Authorization matrix of the shipped 'enterprise_issue' definition.",
        "# Generated by tests/integration/test_authorization_matrix.py;",
        "# regenerate with WORKFLOW_WRITE_MATRIX=1 after a deliberate change.",
        "#",
        f"# leaf states: {len(definition.leaves())}, events: {len(_event_names(definition))}, "
        f"actors per event: {len(_actors(definition))} (each role bound and unbound, and no role)",
        f"# probes: {len(results)}; allowed: {len(allowed)}; "
        f"denied (NotAuthorized): {len(denied)}; not allowed in the state (EventNotAllowed): "
        f"{len(not_allowed)}",
        "#",
        "# actors (bound / unbound to the items):",
        *(f"#   {role:<13} {b} / {u}" for role, (b, u) in ROLE_ACTORS.items()),
        f"#   {'no role':<13} {NO_ROLE.id}",
        "",
        "== allowed ==",
        f"{'state':<18} {'event':<18} {'role':<13} actor",
    ]
    lines += [f"{c.state:<18} {c.event:<18} {c.role:<13} {c.actor.id}" for c in allowed]
    lines += [
        "",
        "== denied: the event fires from the state, but not for this actor ==",
        f"{'state':<18} {'event':<18} {'role':<13} {'binding':<8} {'actor':<7} reason",
    ]
    lines += [
        f"{c.state:<18} {c.event:<18} {c.role:<13} {c.bound:<8} {c.actor.id:<7} {o.reason}"
        for c, o in denied
    ]
    lines += ["", "== not allowed in the state: refused to every actor (EventNotAllowed) =="]
    by_state: dict[str, list[str]] = {}
    for c in not_allowed:
        names = by_state.setdefault(c.state, [])
        if c.event not in names:
            names.append(c.event)
    lines += [f"{state:<18} {', '.join(names)}" for state, names in by_state.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_authorization_matrix(wf: Harness) -> None:
    definition = wf.engine.catalog.get("enterprise_issue")
    results, items = _run(wf, only_allowed_here=False)
    expected_size = (
        len(definition.leaves()) * len(_event_names(definition)) * len(_actors(definition))
    )
    assert len(results) == expected_size == 13 * 26 * 13
    denials = [
        (c.event, c.state, c.role, c.actor.id, o.reason)
        for c, o in results
        if o.verdict != "allowed"
    ]
    assert len(denials) == expected_size - sum(o.verdict == "allowed" for _, o in results)
    # Every event fires for someone from some state, and every role can do something.
    allowed = [c for c, o in results if o.verdict == "allowed"]
    assert {c.event for c in allowed} == set(_event_names(definition))
    assert {c.role for c in allowed} == set(definition.spec.roles)
    assert all(c.bound == "bound" for c in allowed)
    _available_within_allowed(wf, results, items)

    table = _table(results, definition)
    if os.environ.get("WORKFLOW_WRITE_MATRIX") == "1":
        MATRIX_FILE.write_text(table, encoding="utf-8")
    assert MATRIX_FILE.read_text(encoding="utf-8") == table, (
        "the authorization matrix changed: review it, then regenerate "
        "authorization_matrix.txt with WORKFLOW_WRITE_MATRIX=1"
    )


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_authorization_matrix_where_events_fire(wf: Harness) -> None:
    """A smaller pass on a server: only the events that fire from each state."""
    results, _ = _run(wf, only_allowed_here=True)
    # 59 (state, event) pairs where the event fires, times 13 actors; 93 of them allowed.
    assert len(results) == 59 * 13
    assert sum(o.verdict == "allowed" for _, o in results) == 93
