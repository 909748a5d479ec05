"""Authorization: whether an actor may fire an event on an item.

Two things must hold for some role the event allows: the actor claims the
role (the host vouches for that), and the actor holds the role *for this
item* according to the definition's binding, checked through the directory:
a group role needs membership; a field role needs the actor to act for the
entry in that field (or, with a relation, for someone related to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workflow.core.ports import Directory
from workflow.core.values import Actor
from workflow.definition.compiled import Definition

__all__ = ["holds_role", "resolve_role"]


def holds_role(
    definition: Definition, role: str, actor: Actor, data: Mapping[str, Any], directory: Directory
) -> bool:
    """Tell whether ``actor`` holds ``role`` for an item with ``data``."""
    spec = definition.spec.roles.get(role)
    if spec is None:
        return False
    if spec.group is not None:
        return directory.is_member(actor.id, spec.group)
    if spec.field is None:
        return False
    field = definition.spec.fields[spec.field]
    kind = field.ref or "person"
    value = data.get(spec.field)
    entries: Sequence[Any] = value if isinstance(value, list) else ([value] if value else [])
    for entry in entries:
        if not isinstance(entry, str):
            continue
        if spec.relation is not None:
            if actor.id in directory.related(kind, entry, spec.relation):
                return True
        elif directory.represents(actor.id, kind, entry):
            return True
    return False


def resolve_role(
    definition: Definition,
    allowed: Sequence[str],
    actor: Actor,
    data: Mapping[str, Any],
    directory: Directory,
) -> tuple[str | None, str]:
    """Pick the first allowed role the actor claims and holds for the item.

    Returns ``(role, "")`` on success, else ``(None, why)`` where ``why`` says
    which check failed, for the refusal message.
    """
    claimed = [role for role in allowed if role in actor.roles]
    if not claimed:
        mine = ", ".join(sorted(actor.roles)) or "no role"
        return None, f"it needs one of the roles {', '.join(allowed)}; the actor acts as {mine}"
    for role in claimed:
        if holds_role(definition, role, actor, data, directory):
            return role, ""
    misses = []
    for role in claimed:
        spec = definition.spec.roles[role]
        if spec.group is not None:
            misses.append(f"not a member of group {spec.group!r} (role {role!r})")
        elif spec.relation is not None:
            misses.append(
                f"not among the {spec.relation} of the item's {spec.field} (role {role!r})"
            )
        else:
            misses.append(f"does not act for the item's {spec.field} (role {role!r})")
    return None, "; ".join(misses)
