"""Which items the reports read: open now, or closed since the window began (every backend).

The reports choose items through ``items_by_close`` (open now, or closed at
or after a moment), not through the time of their last move, which is no
longer indexed. An item closed before the window is not read; an item open
now is read even if nothing happened to it in the window (its figures then
count nothing); the problem list keeps the items open at its moment.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.integration.engine_fixtures import ACTORS, Harness, catalog_from_yaml, wf
from tests.integration.test_store_moves import DEFINITION
from workflow.reports import query

__all__ = ["wf"]


def test_items_open_or_closed_since_are_read_and_no_others(wf: Harness, tmp_path: Path) -> None:
    engine = wf.engine_with(catalog_from_yaml(tmp_path, DEFINITION))
    office = ACTORS["office"]
    march = wf.clock.now()  # a day of the harness's choosing; the rest is months after it
    day = dt.timedelta(days=1)
    closed_early = engine.start("moves", office, {"title": "closed at once"})
    engine.fire(closed_early.id, "close", office)
    untouched = engine.start("moves", office, {"title": "never moved"})
    later = engine.start("moves", office, {"title": "closed 100 days in"})
    wf.clock.set(march + 100 * day)
    engine.fire(later.id, "close", office)
    created_after = march + 120 * day
    wf.clock.set(created_after)
    engine.start("moves", office, {"title": "created after the window"})

    since, until = march + 90 * day, created_after
    with engine.store.read() as tx:
        active = query.active_rows(tx.connection, tx.t, "moves", since, until)
        in_may = query.open_rows(tx.connection, tx.t, "moves", march + 60 * day)

    assert [item.id for item in active.items] == [untouched.id, later.id]
    assert {step.item_id for step in active.history} <= {untouched.id, later.id}
    # Two months in, the first item was closed; the one closed later was still open.
    assert [item.id for item in in_may.items] == [untouched.id, later.id]
