"""Copies of stored items, row for row: many items quickly, each exactly as the engine stores it.

Tests that need hundreds of items in one state start a few through the
engine, read everything stored for them (:func:`snapshot`) and insert copies
(:func:`clone`): the item, its history, its deadlines and what escalations
wrote, ids remapped. A copy is what the engine would have stored for an item
that went through the same steps at the same moments, at a fraction of the
cost (a few bulk inserts instead of a transaction per step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import func, insert, select

from workflow.store.schema import Tables

__all__ = ["Snapshot", "clone", "rows_of", "snapshot"]


def rows_of(conn: Any, table: Any, *where: Any) -> list[dict[str, Any]]:
    """The rows of ``table`` that match, in primary key order (the order they were written)."""
    query = select(table).where(*where).order_by(*table.primary_key.columns)
    return [dict(row) for row in conn.execute(query).mappings()]


def _insert_copies(conn: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (ids left to the database) and return their new ids, in order.

    The test is the only writer, so the new ids are the ``len(rows)`` ids
    above the highest one before, in the order the rows were given.
    """
    if not rows:
        return []
    before = conn.execute(select(func.max(table.c.id))).scalar() or 0
    conn.execute(insert(table), rows)
    ids = list(
        conn.execute(
            select(table.c.id).where(table.c.id > before).order_by(table.c.id).limit(len(rows))
        ).scalars()
    )
    assert len(ids) == len(rows)
    return ids


@dataclass(frozen=True)
class Snapshot:
    """Everything stored for one item (no branches), to copy it with :func:`clone`."""

    item: dict[str, Any]
    history: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    deadlines: list[tuple[dict[str, Any], list[dict[str, Any]], list[list[dict[str, Any]]]]]
    """Per deadline: its row, its escalation rows, and each escalation's outbox intents."""


def snapshot(sa: SqlEngine, t: Tables, item_id: int) -> Snapshot:
    """Read everything stored for ``item_id``: item, history, deadlines and escalations."""
    with sa.connect() as conn:
        assert not rows_of(conn, t.branches, t.branches.c.item_id == item_id)
        (item,) = rows_of(conn, t.items, t.items.c.id == item_id)
        deadlines = []
        for deadline in rows_of(conn, t.deadlines, t.deadlines.c.item_id == item_id):
            assert deadline["lease_token"] is None
            escalations = rows_of(
                conn, t.escalations, t.escalations.c.deadline_id == deadline["id"]
            )
            intents = [
                rows_of(
                    conn,
                    t.outbox,
                    t.outbox.c.item_id == item_id,
                    t.outbox.c.history_seq == e["seq"],
                )
                for e in escalations
            ]
            deadlines.append((deadline, escalations, intents))
        # Every notification intent of the item is one a copy gets (an escalation's).
        copied = sum(len(level) for _, _, per_level in deadlines for level in per_level)
        assert copied == len(rows_of(conn, t.outbox, t.outbox.c.item_id == item_id))
        return Snapshot(
            item=item,
            history=rows_of(conn, t.history, t.history.c.item_id == item_id),
            reviews=rows_of(conn, t.review_entries, t.review_entries.c.item_id == item_id),
            deadlines=deadlines,
        )


def _clone_key(key: str, old_deadline: int, deadline: int, old_item: int, item: int) -> str:
    """The idempotency key a copy's intent gets (its own deadline or item in it)."""
    if key.startswith("escalation:"):
        return key.replace(f":{old_deadline}:", f":{deadline}:", 1)
    kind, review, period, owner, rest = key.split(":", 4)
    assert int(owner) == old_item, key
    return f"{kind}:{review}:{period}:{item}:{rest}"


def _without_id(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def clone(sa: SqlEngine, t: Tables, snapshots: Sequence[Snapshot], copies: int) -> list[int]:
    """Store ``copies`` copies of each snapshot, ids remapped; return the new item ids.

    A copy is exactly what the engine would have stored for an item started
    at the same moment and escalated the same way: the item, its history,
    its deadlines, and what escalations wrote (escalation rows, outbox
    intents keyed ``escalation:<deadline>:<level>:<role>``, agenda entries).
    """
    made: list[int] = []
    with sa.begin() as conn:
        for snap in snapshots:
            new_items = _insert_copies(conn, t.items, [_without_id(snap.item)] * copies)
            made.extend(new_items)
            conn.execute(
                insert(t.history),
                [{**h, "item_id": new} for new in new_items for h in snap.history],
            )
            for review in snap.reviews:
                conn.execute(
                    insert(t.review_entries),
                    [{**_without_id(review), "item_id": new} for new in new_items],
                )
            for deadline, escalations, intents in snap.deadlines:
                old = deadline["id"]
                new_deadlines = _insert_copies(
                    conn,
                    t.deadlines,
                    [{**_without_id(deadline), "item_id": new} for new in new_items],
                )
                pairs = list(zip(new_items, new_deadlines, strict=True))
                for escalation, level_intents in zip(escalations, intents, strict=True):
                    conn.execute(
                        insert(t.escalations),
                        [
                            {**_without_id(escalation), "deadline_id": d, "item_id": i}
                            for i, d in pairs
                        ],
                    )
                    for intent in level_intents:
                        key = str(intent["idempotency_key"])
                        kind = key.split(":", 1)[0]
                        # escalation:<deadline>:... and review:<name>:<period>:<item>:...
                        assert kind in ("escalation", "review"), key
                        if kind == "escalation":
                            assert key.startswith(f"escalation:{old}:"), key
                        conn.execute(
                            insert(t.outbox),
                            [
                                {
                                    **_without_id(intent),
                                    "item_id": i,
                                    "idempotency_key": _clone_key(key, old, d, snap.item["id"], i),
                                    "payload": {
                                        **intent["payload"],
                                        "item": {**intent["payload"]["item"], "id": i},
                                    },
                                }
                                for i, d in pairs
                            ],
                        )
    return made
