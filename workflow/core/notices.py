"""Notification intents: what the core writes to the outbox when something needs people.

An event, a ladder level or an item joining a review's agenda may name
roles to notify (``notify:`` in the definition). In the same transaction as
that change, the core writes one intent per (cause, role, template): who
(a role of the item, resolved to people later by the dispatcher), which
template, an idempotency key that makes a second write of the same cause a
no-op, and a payload of plain data for the template.

The payload carries what the message needs and no more: of the item's
data, only the fields the template reads (the template index says which);
labels travel in both languages so the dispatcher renders each recipient's
locale without reading the definition again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from workflow.core.ports import TemplateIndex
from workflow.core.values import Deadline, HistoryEntry, ItemSnapshot, NotificationIntent
from workflow.definition.compiled import Definition
from workflow.definition.model import DEFAULT_TEMPLATES, LevelSpec, LocalText, NotifySpec

__all__ = ["event_intents", "level_intents", "review_intents"]

Kind = Literal["event", "escalation", "review"]


def event_intents(
    definition: Definition,
    item: ItemSnapshot,
    row: HistoryEntry,
    notify: Sequence[NotifySpec],
    templates: TemplateIndex | None,
    deadline: Deadline | None,
) -> list[NotificationIntent]:
    """Intents for an event's ``notify``; ``item`` is the item after the event."""
    spec = next((e for e in definition.spec.events if e.name == row.event), None)
    event = {
        "name": row.event,
        "label": _text(spec.label) if spec is not None else row.event,
        "actor": row.actor_id,
        "role": row.actor_role,
        "reason": row.reason,
        "at": row.at.isoformat(),
    }
    return list(
        _intents(
            "event",
            f"event:{item.id}:{row.seq}",
            definition,
            item,
            row.seq,
            notify,
            templates,
            {"event": event, "deadline": _deadline(deadline)},
        )
    )


def level_intents(
    definition: Definition,
    item: ItemSnapshot,
    seq: int,
    deadline: Deadline,
    level: LevelSpec,
    templates: TemplateIndex | None,
) -> list[NotificationIntent]:
    """Intents for a ladder level's ``notify``."""
    return list(
        _intents(
            "escalation",
            f"escalation:{deadline.id}:{level.name}",
            definition,
            item,
            seq,
            level.notify,
            templates,
            {
                "level": {"name": level.name, "label": _text(level.label)},
                "deadline": _deadline(deadline),
            },
        )
    )


def review_intents(
    definition: Definition,
    item: ItemSnapshot,
    seq: int,
    review: str,
    period: str,
    level: LevelSpec,
    deadline: Deadline,
    templates: TemplateIndex | None,
) -> list[NotificationIntent]:
    """Intents for a review's ``notify`` when ``item`` joins the agenda of ``period``."""
    spec = definition.spec.reviews[review]
    return list(
        _intents(
            "review",
            f"review:{review}:{period}:{item.id}",
            definition,
            item,
            seq,
            spec.notify,
            templates,
            {
                "review": {"name": review, "label": _text(spec.label), "period": period},
                "level": {"name": level.name, "label": _text(level.label)},
                "deadline": _deadline(deadline),
            },
        )
    )


def _intents(
    kind: Kind,
    key: str,
    definition: Definition,
    item: ItemSnapshot,
    seq: int,
    notify: Sequence[NotifySpec],
    templates: TemplateIndex | None,
    extra: Mapping[str, Any],
) -> Iterable[NotificationIntent]:
    for spec in notify:
        template = spec.template or DEFAULT_TEMPLATES[kind]
        payload = {
            "kind": kind,
            "workflow": {
                "id": definition.spec.id,
                "version": definition.spec.version,
                "title": _text(definition.spec.title),
            },
            "item": _item(definition, item, template, templates),
            "event": None,
            "level": None,
            "deadline": None,
            "review": None,
            "urgent": spec.urgent,
            **extra,
        }
        for role in spec.to:
            yield NotificationIntent(
                item_id=item.id,
                history_seq=seq,
                role=role,
                template=template,
                # One row per cause, role and template: a replayed cause adds nothing.
                key=f"{key}:{role}:{template}",
                payload=payload,
            )


def _item(
    definition: Definition, item: ItemSnapshot, template: str, templates: TemplateIndex | None
) -> dict[str, Any]:
    wanted = templates.fields_used(template) if templates is not None else frozenset()
    if wanted is None:
        data = dict(item.data)
    else:
        data = {name: item.data[name] for name in sorted(wanted) if name in item.data}
    state = definition.states.get(item.state)
    return {
        "id": item.id,
        "state": item.state,
        "state_label": _text(state.label) if state is not None else item.state,
        "created_at": item.created_at.isoformat(),
        "data": data,
    }


def _deadline(deadline: Deadline | None) -> dict[str, Any] | None:
    if deadline is None:
        return None
    return {
        "due_at": deadline.due_at.astimezone(dt.UTC).isoformat(),
        "state": deadline.scope,
        "provisional": deadline.provisional,
    }


def _text(text: LocalText | str) -> dict[str, str] | str:
    if isinstance(text, LocalText):
        return {"zh": text.zh, "en": text.en}
    return text
