"""Values that effects compute are stored in the data's own form, on every backend.

The expression language works with real dates and times (an input of type
``date`` is a ``datetime.date`` inside an expression); what an effect sets
must reach the stored JSON as ISO text, and read back
the same. Found by the star-list walk: a ``set`` from a date input crashed
the save with a TypeError.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.engine_fixtures import ACTORS, Harness, catalog_from_yaml, wf

__all__ = ["wf"]

DEFINITION = """\
id: dated
version: 1
title: {zh: 日期, en: Dates}
initial: open
started_by: office
fields:
  title: {type: string, required: true}
  published_on: {type: date}
  met_at: {type: datetime}
roles:
  office: {group: coordinating_office, label: {zh: 辦公室, en: Office}}
states:
  open: {label: {zh: 辦理, en: Open}}
  done: {label: {zh: 完成, en: Done}, final: true}
events:
  - name: publish
    label: {zh: 發布, en: Publish}
    from: open
    to: done
    roles: office
    input:
      on: {type: date, required: true}
      at: {type: datetime, required: true}
    effects:
      - set: {published_on: input.on, met_at: input.at}
"""


def test_dates_set_from_input_are_stored_as_iso_text(wf: Harness, tmp_path: Path) -> None:
    engine = wf.engine_with(catalog_from_yaml(tmp_path, DEFINITION))
    office = ACTORS["office"]
    item = engine.start("dated", office, {"title": "List"})

    done = engine.fire(
        item.id, "publish", office, {"on": "2026-07-08", "at": "2026-07-08T10:00:00+08:00"}
    )

    assert done.data["published_on"] == "2026-07-08"
    assert done.data["met_at"] == "2026-07-08T10:00:00+08:00"
    stored = engine.get(item.id)
    assert stored.data == done.data
    assert engine.verify(item.id) == []
