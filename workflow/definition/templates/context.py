"""What a template sees: the context built from a notification's stored payload.

The core stores plain data (texts in both languages, UTC timestamps as ISO
strings); :func:`context_for` turns it into one recipient's view, in their
language and the calendar's time zone. :func:`digest_context` does the same
for the ``digest`` template over messages already rendered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["context_for", "digest_context"]


def context_for(
    payload: Mapping[str, Any],
    *,
    locale: str,
    recipient: object,
    link_base: str | None,
    timezone: dt.tzinfo | str,
    now: dt.datetime,
    fallback_locale: str = "zh",
) -> dict[str, Any]:
    """Build what a message template sees from an intent's stored payload.

    Texts given in several languages (``{"zh": ..., "en": ...}``) become the
    one for ``locale`` (its language, then ``fallback_locale``, then any);
    ISO timestamps become aware datetimes in ``timezone`` (the calendar's
    zone). ``recipient`` is a mapping with ``id``, ``name`` and ``role``, or
    an object with those attributes (or ``person`` and ``contact.name``).
    ``item.link`` is ``link_base`` followed by the item id, or None.
    """
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone

    def text(value: Any) -> Any:
        return _local_text(value, locale, fallback_locale)

    def moment(value: Any) -> Any:
        return _moment(value, zone)

    workflow = payload.get("workflow") or {}
    item = payload.get("item") or {}
    event = payload.get("event")
    level = payload.get("level")
    deadline = payload.get("deadline")
    review = payload.get("review")
    item_id = item.get("id")
    return {
        "kind": payload.get("kind"),
        "workflow": {
            "id": workflow.get("id"),
            "version": workflow.get("version"),
            "title": text(workflow.get("title")),
        },
        "item": {
            "id": item_id,
            "state": item.get("state"),
            "state_label": text(item.get("state_label")),
            "created_at": moment(item.get("created_at")),
            "data": dict(item.get("data") or {}),
            "link": f"{link_base}{item_id}" if link_base and item_id is not None else None,
        },
        "event": None
        if event is None
        else {
            "name": event.get("name"),
            "label": text(event.get("label")),
            "actor": event.get("actor"),
            "role": event.get("role"),
            "reason": event.get("reason"),
            "at": moment(event.get("at")),
        },
        "level": None
        if level is None
        else {"name": level.get("name"), "label": text(level.get("label"))},
        "deadline": None
        if deadline is None
        else {
            "due_at": moment(deadline.get("due_at")),
            "state": deadline.get("state"),
            "provisional": bool(deadline.get("provisional")),
        },
        "review": None
        if review is None
        else {
            "name": review.get("name"),
            "label": text(review.get("label")),
            "period": review.get("period"),
        },
        "recipient": _recipient(recipient),
        "urgent": bool(payload.get("urgent")),
        "locale": locale,
        "now": _aware(now).astimezone(zone),
    }


def digest_context(
    messages: Iterable[Mapping[str, Any]],
    *,
    locale: str,
    recipient: object,
    channel: str,
    timezone: dt.tzinfo | str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Build what the ``digest`` template sees: the messages (already rendered) and who gets them.

    Each message is a mapping with ``subject``, ``body``, ``link``, ``urgent``
    and ``item_id``.
    """
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    listed = [
        {
            "subject": m.get("subject", ""),
            "body": m.get("body", ""),
            "link": m.get("link"),
            "urgent": bool(m.get("urgent")),
            "item_id": m.get("item_id"),
        }
        for m in messages
    ]
    return {
        "recipient": _recipient(recipient),
        "locale": locale,
        "channel": channel,
        "messages": listed,
        "count": len(listed),
        "now": _aware(now).astimezone(zone),
    }


def _local_text(value: Any, locale: str, fallback: str) -> Any:
    if not isinstance(value, Mapping):
        return value
    for key in (
        locale,
        locale.split("-", maxsplit=1)[0],
        fallback,
        fallback.split("-", maxsplit=1)[0],
    ):
        if value.get(key):
            return value[key]
    return next((value[k] for k in sorted(value) if value[k]), "")


def _aware(moment: dt.datetime) -> dt.datetime:
    # Stored timestamps without a zone are UTC (the store writes UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _moment(value: Any, zone: dt.tzinfo) -> Any:
    if isinstance(value, str):
        try:
            return _aware(dt.datetime.fromisoformat(value)).astimezone(zone)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return _aware(value).astimezone(zone)
    return value


def _recipient(recipient: object) -> dict[str, Any]:
    if isinstance(recipient, Mapping):
        person = recipient.get("id") or recipient.get("person")
        return {
            "id": person,
            "name": recipient.get("name") or person,
            "role": recipient.get("role"),
        }
    person = getattr(recipient, "id", None) or getattr(recipient, "person", None)
    contact = getattr(recipient, "contact", None)
    name = getattr(recipient, "name", None) or getattr(contact, "name", None) or person
    return {"id": person, "name": name, "role": getattr(recipient, "role", None)}
