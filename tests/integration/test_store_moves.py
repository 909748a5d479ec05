"""A move's compare-and-swap sets only the columns the move changed, on every backend.

An index is rewritten when a statement sets one of its columns, even to the
value it had (SQLite rewrites the entry and logs its page, PostgreSQL cannot
make the update HOT). So the store leaves out of the SET clause every item
column the move did not change; ``version`` and ``updated_at`` change with
every move. Checked on the per-transition path that runs on the DB-API
cursor and on SQLAlchemy's own execution (taken when something listens to
the statements), and with the stored rows replaying from history after each
step.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.integration.engine_fixtures import ACTORS, Harness, catalog_from_yaml, wf
from workflow.app import Engine
from workflow.core.values import ItemSnapshot
from workflow.store import sql

__all__ = ["wf"]

DEFINITION = """\
id: moves
version: 1
title: {zh: 移動, en: Moves}
initial: open
started_by: office
fields:
  title: {type: string, required: true}
  note: {type: string}
roles:
  office: {group: coordinating_office, label: {zh: 辦公室, en: Office}}
states:
  open: {label: {zh: 開, en: Open}}
  pong: {label: {zh: 乒, en: Pong}}
  done: {label: {zh: 完, en: Done}, final: true}
events:
  - {name: hit, label: {zh: 擊, en: Hit}, from: open, to: pong, roles: office}
  - {name: back, label: {zh: 回, en: Back}, from: pong, to: open, roles: office}
  - name: note
    label: {zh: 記, en: Note}
    from: open
    roles: office
    input: {text: {type: string, required: true}}
    effects:
      - set: {note: input.text}
  - {name: close, label: {zh: 結, en: Close}, from: open, to: done, roles: office}
"""

_SET = re.compile(r"UPDATE \S*items SET (.*?) WHERE", re.DOTALL)


def _columns(statement: str) -> set[str] | None:
    """The columns an UPDATE of the items table sets (None for any other statement)."""
    found = _SET.search(statement)
    if found is None:
        return None
    return {part.split("=")[0].strip().strip('"`') for part in found.group(1).split(",")}


@pytest.fixture(params=["driver", "core"])
def recorded(
    request: pytest.FixtureRequest, wf: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, list[set[str]]]]:
    """An engine for the definition above, and the SET columns of each item update it sends."""
    engine = wf.engine_with(catalog_from_yaml(tmp_path, DEFINITION))
    sets: list[set[str]] = []

    def keep(statement: str) -> None:
        columns = _columns(statement)
        if columns is not None:
            sets.append(columns)

    if request.param == "core":
        # A statement listener makes the store run everything through SQLAlchemy.
        def listener(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
            keep(statement)

        event.listen(wf.sa, "before_cursor_execute", listener)
        try:
            yield engine, sets
        finally:
            event.remove(wf.sa, "before_cursor_execute", listener)
        return
    run = sql._SqlTransaction._run

    def recording(self: Any, prepared: Any, values: Any, **options: Any) -> Any:
        keep(prepared.sql)
        return run(self, prepared, values, **options)

    monkeypatch.setattr(sql._SqlTransaction, "_run", recording)
    yield engine, sets


def _fire(engine: Engine, item: ItemSnapshot, name: str, **data: Any) -> ItemSnapshot:
    moved = engine.fire(item.id, name, ACTORS["office"], data or None)
    assert engine.verify(item.id) == []
    stored = engine.get(item.id)
    assert stored == moved
    return moved


def test_each_move_sets_only_what_it_changed(recorded: tuple[Engine, list[set[str]]]) -> None:
    engine, sets = recorded
    item = engine.start("moves", ACTORS["office"], {"title": "Venue"})
    always = {"version", "updated_at"}

    item = _fire(engine, item, "hit")
    assert sets.pop() == always | {"state"}
    item = _fire(engine, item, "back")
    assert sets.pop() == always | {"state"}

    item = _fire(engine, item, "note", text="300 seats")
    assert sets.pop() == always | {"data"}
    assert item.data["note"] == "300 seats"

    item = _fire(engine, item, "close")
    assert sets.pop() == always | {"state", "is_open", "closed_at"}
    assert not item.is_open
    assert item.closed_at == item.updated_at
    assert sets == []


def test_changed_columns_compare_with_the_row_read_at_the_expected_version() -> None:
    at = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    before = ItemSnapshot(
        id=1,
        workflow_id="moves",
        definition_hash="h1",
        state="open",
        data={"title": "Venue", "ok": True},
        version=3,
        is_open=True,
        created_by="office:li",
        created_at=at,
        updated_at=at,
    )
    moved = replace(before, version=4, updated_at=at + dt.timedelta(seconds=1))
    assert sql._changed_columns(before, moved) == ("version", "updated_at")
    migrated = replace(moved, definition_hash="h2", data={"title": "Venue", "ok": True, "n": 1})
    assert sql._changed_columns(before, migrated) == (
        "data",
        "version",
        "updated_at",
        "definition_hash",
    )
    # Nothing read to compare with: every column.
    assert sql._changed_columns(None, moved) == sql._ITEM_WRITES
