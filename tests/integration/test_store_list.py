"""``Engine.list`` on every backend: filters, order and paging by ``after_id``.

The store selects a page's ids first and then their rows (``list_items`` in
``workflow/store/sql.py``); these tests pin what a page holds, whatever
the statement looks like.
"""

from __future__ import annotations

from tests.integration.engine_fixtures import Harness, wf
from workflow.core.values import ItemSnapshot

__all__ = ["wf"]


def _stored(wf: Harness) -> dict[str, list[ItemSnapshot]]:
    """Seven items, interleaved by id: four collected, two dispatched, one rejected."""
    plan = ["collected", "dispatched", "collected", "rejected", "collected", "dispatched"]
    plan.append("collected")
    found: dict[str, list[ItemSnapshot]] = {}
    for state in plan:
        item = wf.drive(state)
        found.setdefault(state, []).append(item)
    return found


def _pages(wf: Harness, limit: int, **filters: object) -> list[list[int]]:
    """Walk every page of a listing; return the ids of each page."""
    pages: list[list[int]] = []
    after: int | None = None
    while True:
        page = wf.engine.list(after_id=after, limit=limit, **filters)  # type: ignore[arg-type]
        if not page:
            return pages
        ids = [item.id for item in page]
        assert ids == sorted(ids)
        pages.append(ids)
        after = ids[-1]


def test_list_by_state_pages_in_id_order(wf: Harness) -> None:
    stored = _stored(wf)
    collected = [item.id for item in stored["collected"]]
    assert _pages(wf, 3, workflow_id="enterprise_issue", state="collected") == [
        collected[:3],
        collected[3:],
    ]
    # A page is whole rows, as stored.
    page = wf.engine.list(workflow_id="enterprise_issue", state="dispatched", limit=10)
    assert page == [wf.engine.get(item.id) for item in stored["dispatched"]]
    assert page == stored["dispatched"]


def test_list_combines_filters(wf: Harness) -> None:
    stored = _stored(wf)
    everything = sorted(item.id for items in stored.values() for item in items)
    assert _pages(wf, 2) == [everything[i : i + 2] for i in range(0, len(everything), 2)]
    assert [i.id for i in wf.engine.list(is_open=False)] == [stored["rejected"][0].id]
    assert wf.engine.list(workflow_id="enterprise_issue", state="closed") == []
    assert wf.engine.list(workflow_id="no_such_workflow") == []
    lead = wf.engine.list(state="dispatched", data={"lead_unit": "u_culture"}, limit=1)
    assert lead == stored["dispatched"][:1]
    assert wf.engine.list(state="collected", data={"lead_unit": "u_culture"}) == []
    last = stored["collected"][-1].id
    assert wf.engine.list(state="collected", after_id=last) == []
