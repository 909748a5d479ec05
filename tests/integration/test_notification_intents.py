"""Notification intents are written with the change that causes them, on every backend.

An event whose declaration has ``notify:`` writes one outbox intent per role
in the fire's own transaction: a refused or rolled-back fire writes none,
and the payload carries only the item fields the template reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.integration.engine_fixtures import ACTORS, START_DATA, Harness, wf
from workflow.app import Engine
from workflow.errors import NotAuthorized

__all__ = ["wf"]


class _Fields:
    """A template index: which item fields each template reads."""

    def __init__(self, used: dict[str, frozenset[str] | None]) -> None:
        self.used = used

    def fields_used(self, name: str) -> frozenset[str] | None:
        return self.used.get(name, frozenset())


def _intents(wf: Harness, item_id: int) -> list[dict[str, Any]]:
    t = wf.engine.store.tables
    with wf.sa.connect() as conn:
        rows = conn.execute(
            select(t.outbox).where(t.outbox.c.item_id == item_id).order_by(t.outbox.c.id)
        )
        return [dict(row._mapping) for row in rows]


def _with_templates(wf: Harness, used: dict[str, frozenset[str] | None]) -> Engine:
    engine = wf.engine_with(wf.engine.catalog)
    engine.templates = _Fields(used)
    return engine


def test_an_event_writes_one_intent_per_role_with_a_minimal_payload(wf: Harness) -> None:
    engine = _with_templates(wf, {"event": frozenset({"title", "lead_unit"})})
    item = engine.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
    item = engine.fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})

    (intent,) = _intents(wf, item.id)
    assert intent["status"] == "intent"
    assert intent["recipient"] == "role:unit"
    assert intent["template"] == "event"
    assert intent["history_seq"] == item.version
    assert intent["idempotency_key"] == f"event:{item.id}:{item.version}:unit:event"
    payload = intent["payload"]
    assert payload["kind"] == "event"
    assert payload["workflow"]["id"] == "enterprise_issue"
    assert payload["item"]["id"] == item.id
    assert payload["item"]["state"] == "dispatched"
    assert payload["item"]["state_label"]["zh"]
    # Only what the template reads: not the description, not the enterprise.
    assert payload["item"]["data"] == {"title": item.data["title"], "lead_unit": "u_culture"}
    assert payload["event"]["name"] == "accept"
    assert payload["event"]["actor"] == "li"
    assert payload["event"]["role"] == "office"
    assert payload["urgent"] is False
    # The clock the event started: the unit has one working day to sign for it.
    assert payload["deadline"]["state"] == "dispatched"
    assert payload["deadline"]["due_at"] > item.updated_at.isoformat()


def test_the_shipped_templates_decide_what_travels(wf: Harness) -> None:
    # The shipped `event` template reads the title only.
    assert wf.engine.catalog.templates.fields_used("event") == frozenset({"title"})
    item = wf.start()
    item = wf.engine.fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
    (intent,) = _intents(wf, item.id)
    assert intent["payload"]["item"]["data"] == {"title": item.data["title"]}


def test_without_a_template_index_no_item_data_travels(wf: Harness) -> None:
    engine = wf.engine_with(wf.engine.catalog)
    engine.templates = None
    item = engine.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
    item = engine.fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
    (intent,) = _intents(wf, item.id)
    assert intent["payload"]["item"]["data"] == {}


def test_a_template_reading_item_data_dynamically_gets_all_of_it(wf: Harness) -> None:
    engine = _with_templates(wf, {"event": None})
    item = engine.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
    item = engine.fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
    (intent,) = _intents(wf, item.id)
    assert intent["payload"]["item"]["data"] == dict(item.data)


def test_events_without_notify_write_nothing(wf: Harness) -> None:
    item = wf.start()
    wf.engine.fire(item.id, "amend", ACTORS["enterprise"], {"description": "More detail."})
    assert _intents(wf, item.id) == []


def test_a_refused_event_writes_no_intent(wf: Harness) -> None:
    item = wf.start()
    with pytest.raises(NotAuthorized):
        wf.engine.fire(item.id, "accept", ACTORS["not_office"], {"lead_unit": "u_culture"})
    assert _intents(wf, item.id) == []


def test_several_roles_and_several_intents(wf: Harness) -> None:
    item = wf.drive("handling")
    item = wf.engine.fire(
        item.id, "request_joint", ACTORS["unit"], {"co_units": ["u_finance", "u_hr"]}
    )
    intents = _intents(wf, item.id)
    assert [i["recipient"] for i in intents if i["history_seq"] == item.version] == ["role:co_unit"]
    # accept → unit, reject none on this path; sign_for has no notify.
    assert [i["recipient"] for i in intents] == ["role:unit", "role:co_unit"]
    item = wf.drive("awaiting_sign_off")
    item = wf.engine.fire(item.id, "object", ACTORS["enterprise"], reason="Not solved.")
    last = [i for i in _intents(wf, item.id) if i["history_seq"] == item.version]
    assert sorted(i["recipient"] for i in last) == ["role:office", "role:unit"]


def test_a_host_rollback_takes_the_intent_with_it(wf: Harness) -> None:
    item = wf.start()
    with wf.sa.connect() as conn:
        trans = conn.begin()
        wf.engine.using(conn).fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
        trans.rollback()
    assert _intents(wf, item.id) == []
    assert wf.engine.get(item.id).state == "collected"
