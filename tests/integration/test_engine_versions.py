"""Definition versions: items stay pinned to theirs, and migrate only when asked and possible."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.engine_fixtures import ACTORS, Harness, catalog_from_yaml, wf
from workflow.app import Engine
from workflow.core.values import ItemSnapshot
from workflow.errors import MigrationRefused, UnknownEvent

__all__ = ["wf"]

OFFICE = ACTORS["office"]

V1 = """\
id: permit
version: 1
title: {zh: 許可, en: Permit}
initial: draft
started_by: office
fields:
  title: {type: string, required: true}
  legacy_code: {type: string}
roles:
  office: {group: coordinating_office}
states:
  draft: {label: {zh: 草稿, en: Draft}}
  review: {label: {zh: 審核, en: Review}}
  done: {label: {zh: 完成, en: Done}, final: true}
events:
  - name: submit
    label: {zh: 提交, en: Submit}
    from: draft
    to: review
    roles: office
  - name: approve
    label: {zh: 批準, en: Approve}
    from: review
    to: done
    roles: office
"""

# Version 2 renames `review` to `checking`, drops `legacy_code`, adds `note` (no
# default) and `priority` (with one), and adds the `annotate` event.
V2 = """\
id: permit
version: 2
title: {zh: 許可, en: Permit}
initial: draft
started_by: office
fields:
  title: {type: string, required: true}
  note: {type: text}
  priority:
    type: enum
    default: normal
    options: {normal: {zh: 普通, en: Normal}, high: {zh: 緊急, en: High}}
roles:
  office: {group: coordinating_office}
states:
  draft: {label: {zh: 草稿, en: Draft}}
  checking: {label: {zh: 審核, en: Checking}}
  done: {label: {zh: 完成, en: Done}, final: true}
events:
  - name: submit
    label: {zh: 提交, en: Submit}
    from: draft
    to: checking
    roles: office
  - name: annotate
    label: {zh: 批注, en: Annotate}
    from: checking
    roles: office
    input:
      note: {type: text, required: true}
    effects:
      - set: {note: input.note}
  - name: approve
    label: {zh: 批準, en: Approve}
    from: checking
    to: done
    roles: office
"""

# Another version 2: the same states, but a new required field without a default.
V2_REQUIRED = V1.replace("version: 1", "version: 2").replace(
    "  legacy_code: {type: string}\n", "  owner: {type: string, required: true}\n"
)


# Another version 2: the titles of running items no longer fit.
V2_NARROW = V1.replace("version: 1", "version: 2").replace(
    "  title: {type: string, required: true}\n",
    "  title: {type: string, required: true, max_length: 5}\n",
)


def _engine(wf: Harness, tmp_path: Path, name: str, *texts: str) -> Engine:
    folder = tmp_path / name
    folder.mkdir()
    return wf.engine_with(catalog_from_yaml(folder, *texts))


def _start(engine: Engine, title: str = "Stall permit", **data: object) -> ItemSnapshot:
    return engine.start("permit", OFFICE, {"title": title, **data})


def test_running_items_stay_on_their_version(wf: Harness, tmp_path: Path) -> None:
    old = _engine(wf, tmp_path, "v1", V1)
    v1 = old.catalog.get("permit")
    draft = _start(old)
    review = old.fire(_start(old).id, "submit", OFFICE)

    both = _engine(wf, tmp_path, "v1v2", V1, V2)
    v2 = both.catalog.get("permit")
    assert (v1.hash != v2.hash, v2.version) == (True, 2)
    # Pinned: version 1's events and states, though version 2 is the latest.
    assert both.get(draft.id).definition_hash == v1.hash
    done = both.fire(review.id, "approve", OFFICE)
    assert (done.state, done.definition_hash) == ("done", v1.hash)
    moved = both.fire(draft.id, "submit", OFFICE)
    assert moved.state == "review"
    # New items start on version 2.
    new = _start(both)
    assert new.definition_hash == v2.hash
    assert "priority" in new.data
    new = both.fire(new.id, "submit", OFFICE)
    assert new.state == "checking"
    with pytest.raises(UnknownEvent):
        both.fire(moved.id, "annotate", OFFICE, {"note": "v2 only"})
    # An engine that only knows version 2 still runs version-1 items from the stored source.
    fresh = _engine(wf, tmp_path, "v2", V2)
    assert fresh.catalog.by_hash(v1.hash) is None
    assert fresh.definition(moved).version == 1
    finished = fresh.fire(moved.id, "approve", OFFICE)
    assert (finished.state, finished.definition_hash) == ("done", v1.hash)
    assert fresh.start("permit", OFFICE, {"title": "x"}).definition_hash == v2.hash
    for item in (draft, review, new):
        assert wf.engine.verify(item.id) == []


def test_migrate_needs_a_state_map_then_moves_running_items(wf: Harness, tmp_path: Path) -> None:
    old = _engine(wf, tmp_path, "v1", V1)
    draft = _start(old, "Draft one", legacy_code="L-1")
    review = old.fire(_start(old, "In review").id, "submit", OFFICE)
    closed = old.fire(old.fire(_start(old, "Closed").id, "submit", OFFICE).id, "approve", OFFICE)
    items = (draft, review, closed)

    # Version 1 lives only in the database from here on.
    engine = _engine(wf, tmp_path, "v2", V2)
    v2 = engine.catalog.get("permit")
    before = [wf.snapshot(i.id) for i in items]
    with pytest.raises(MigrationRefused) as refused:
        engine.migrate("permit")
    assert refused.value.workflow_id == "permit"
    assert refused.value.reasons == (
        "1 item(s): state 'review' does not exist in version 2 (give a state mapping)",
    )
    plan = engine.migrate("permit", state_map={"review": "checking"}, dry_run=True)
    assert plan == {"draft->draft": 1, "review->checking": 1}
    assert [wf.snapshot(i.id) for i in items] == before  # refused and dry runs change nothing

    moved = engine.migrate("permit", state_map={"review": "checking"})
    assert moved == plan
    draft, review = engine.get(draft.id), engine.get(review.id)
    assert (review.state, review.definition_hash, review.version) == ("checking", v2.hash, 3)
    assert (draft.state, draft.definition_hash, draft.version) == ("draft", v2.hash, 2)
    assert dict(draft.data) == {"title": "Draft one", "note": None, "priority": "normal"}
    row = engine.history(review.id)[-1]
    assert (row.kind, row.event, row.from_state, row.to_state, row.actor_id) == (
        "migrate",
        "@migrate",
        "review",
        "checking",
        "engine",
    )
    assert (row.input or {}).get("from_version") == 1
    assert (row.input or {}).get("to_version") == 2
    assert (row.input or {}).get("dropped") == {"legacy_code": None}
    assert (engine.history(draft.id)[-1].input or {}).get("dropped") == {"legacy_code": "L-1"}
    assert row.definition_hash == v2.hash
    assert engine.history(review.id)[0].definition_hash != v2.hash
    assert wf.snapshot(closed.id) == before[2]  # closed items stay where they ended
    for item in items:
        assert engine.verify(item.id) == []

    # Now on version 2: its events fire.
    review = engine.fire(review.id, "annotate", OFFICE, {"note": "Checked the stall."})
    review = engine.fire(review.id, "approve", OFFICE)
    assert review.state == "done"
    assert engine.migrate("permit") == {}  # nothing left to move
    assert engine.verify(review.id) == []


def test_migrate_refuses_a_required_field_without_a_value(wf: Harness, tmp_path: Path) -> None:
    old = _engine(wf, tmp_path, "v1", V1)
    item = _start(old)
    engine = _engine(wf, tmp_path, "v2", V1, V2_REQUIRED)
    before = wf.snapshot(item.id)
    for dry_run in (True, False):
        with pytest.raises(MigrationRefused) as refused:
            engine.migrate("permit", dry_run=dry_run)
        assert refused.value.reasons == (
            "1 item(s): field 'owner' is required in version 2 and has no value",
        )
    assert wf.snapshot(item.id) == before
    # Items started on version 2 must give it.
    assert _start(engine, owner="li").data["owner"] == "li"


def test_migrate_refuses_data_that_no_longer_fits(wf: Harness, tmp_path: Path) -> None:
    old = _engine(wf, tmp_path, "v1", V1)
    long_title = _start(old, "Stall permit")
    short_title = _start(old, "Stall")
    engine = _engine(wf, tmp_path, "v2", V1, V2_NARROW)
    before = [wf.snapshot(i.id) for i in (long_title, short_title)]
    with pytest.raises(MigrationRefused) as refused:
        engine.migrate("permit")
    (reason,) = refused.value.reasons
    assert reason.startswith("1 item(s): field 'title' does not fit version 2:")
    assert "Stall permit" not in reason  # values are never echoed
    assert [wf.snapshot(i.id) for i in (long_title, short_title)] == before
