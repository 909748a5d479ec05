"""Shared pieces of the engine's integration tests.

A directory with everyone the shipped ``enterprise_issue`` definition needs
(and someone unbound for every role), named actors, the ``wf`` fixture (an
upgraded :class:`~workflow.app.Engine` on the ``backend`` fixture with a
:class:`~workflow.core.clock.ManualClock`), and helpers that drive an item to
any leaf state and compare everything stored about an item before and after
a refusal.

Test modules import the fixture by name (``from tests.integration.engine_fixtures
import wf``): pytest finds fixtures in a test module's namespace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine

from tests.backends import Backend
from workflow.app import Engine, load_definitions
from workflow.core.clock import ManualClock
from workflow.core.values import Actor, Branch, HistoryEntry, ItemSnapshot
from workflow.definition.loader import Catalog, load_definition
from workflow.directory.static import StaticDirectory
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

__all__ = [
    "ACTORS",
    "DIRECTORY",
    "GROUPS",
    "MEMBERS",
    "PATHS",
    "RELATIONS",
    "START_DATA",
    "Harness",
    "Snapshot",
    "Step",
    "actor",
    "catalog_from_yaml",
    "shipped_catalog",
    "wf",
]

WORKFLOW = "enterprise_issue"

# -- who is who ----------------------------------------------------------------------------

GROUPS: dict[str, list[str]] = {
    "coordinating_office": ["li", "office.gao"],
    "task_force_leaders": ["wu"],
}
MEMBERS: dict[tuple[str, str], list[str]] = {
    ("unit", "u_culture"): ["chen"],
    ("unit", "u_finance"): ["qian"],
    ("unit", "u_hr"): ["zhou"],
    ("unit", "u_tax"): ["ma"],
    ("unit", "u_land"): ["he"],
    ("enterprise", "e_pixel"): ["zhao"],
    ("enterprise", "e_other"): ["qiao"],
}
RELATIONS: dict[tuple[str, str, str], list[str]] = {
    ("enterprise", "e_pixel", "commissioners"): ["sun"],
    ("enterprise", "e_other", "commissioners"): ["lin"],
}
DIRECTORY = StaticDirectory(groups=GROUPS, members=MEMBERS, relations=RELATIONS)


def actor(actor_id: str, *roles: str) -> Actor:
    """Return an actor claiming ``roles``."""
    return Actor(actor_id, frozenset(roles))


ACTORS: dict[str, Actor] = {
    # bound for the items the helpers make (enterprise e_pixel, lead u_culture,
    # co-units u_finance and u_hr)
    "enterprise": actor("zhao", "enterprise"),
    "commissioner": actor("sun", "commissioner"),
    "office": actor("li", "office"),
    "leader": actor("wu", "leader"),
    "unit": actor("chen", "unit"),
    "co_unit": actor("qian", "co_unit"),
    "co_unit2": actor("zhou", "co_unit"),
    # the same roles, unbound
    "other_enterprise": actor("qiao", "enterprise"),
    "other_commissioner": actor("lin", "commissioner"),
    "not_office": actor("nobody", "office"),
    "not_leader": actor("nobody", "leader"),
    "other_unit": actor("ma", "unit"),
    "other_co_unit": actor("ma", "co_unit"),
    "no_role": actor("zhao"),
}

START_DATA: dict[str, Any] = {
    "enterprise": "e_pixel",
    "district": "d_jianghan",
    "sector": "animation_games",
    "title": "Need a shooting venue",
    "description": "We need a venue for a motion-capture shoot next month.",
    "category": "venues",
}


@dataclass(frozen=True)
class Step:
    """One event of a path: who fires what, with which input and reason."""

    event: str
    actor: str
    data: Mapping[str, Any] | None = None
    reason: str | None = None


_HANDLING = [
    Step("accept", "office", {"lead_unit": "u_culture"}),
    Step("sign_for", "unit"),
]
_REPLIED = [
    *_HANDLING,
    Step("reply", "unit", {"result": "A venue was found at the park.", "resolution": "solved"}),
]
_SIGN_OFF = [*_REPLIED, Step("record_revisit", "commissioner", {"satisfaction": "satisfied"})]

PATHS: dict[str, list[Step]] = {
    "collected": [],
    "dispatched": [Step("accept", "office", {"lead_unit": "u_culture"})],
    "disputed": [
        Step("accept", "office", {"lead_unit": "u_culture"}),
        Step("return_to_office", "unit", reason="Venues belong to the land bureau."),
    ],
    "handling": _HANDLING,
    "joint_handling": [
        *_HANDLING,
        Step("request_joint", "unit", {"co_units": ["u_finance", "u_hr"]}),
    ],
    "suspended": [*_HANDLING, Step("suspend", "unit", reason="Waiting for the district's plan.")],
    "replied": _REPLIED,
    "awaiting_sign_off": _SIGN_OFF,
    "closing": [*_SIGN_OFF, Step("sign_off", "enterprise")],
    "closed": [*_SIGN_OFF, Step("sign_off", "enterprise"), Step("strike_off", "office")],
    "rejected": [Step("reject", "office", reason="Not a problem the task force handles.")],
    "merged": [Step("merge_duplicate", "office", {"duplicate_of": "EI-2026-0001"})],
    "withdrawn": [Step("withdraw", "enterprise", reason="Solved it ourselves.")],
}
"""How to reach every leaf state of the shipped definition from a fresh item."""


@dataclass(frozen=True)
class Snapshot:
    """Everything stored about one item: the row, its history and its branches."""

    item: ItemSnapshot
    history: list[HistoryEntry]
    branches: list[Branch]


@functools.cache
def shipped_catalog() -> Catalog:
    """The shipped definitions, loaded once per test session (loading takes a while)."""
    return load_definitions(None)


def catalog_from_yaml(folder: Path, *texts: str) -> Catalog:
    """Write each YAML text to a file under ``folder``, load it, and return a catalog of all."""
    definitions = []
    for number, text in enumerate(texts):
        path = folder / f"definition_{number}.yaml"
        path.write_text(text, encoding="utf-8")
        definitions.append(load_definition(str(path)))
    return Catalog(definitions)


@dataclass
class Harness:
    """An upgraded engine on one backend, with helpers to drive and inspect items."""

    backend: Backend
    sa: SqlEngine
    engine: Engine
    clock: ManualClock

    def start(self, by: str = "enterprise", **overrides: Any) -> ItemSnapshot:
        """Start an ``enterprise_issue`` item with the standard data (``overrides`` replace)."""
        return self.engine.start(WORKFLOW, ACTORS[by], {**START_DATA, **overrides})

    def step(self, item: ItemSnapshot, step: Step) -> ItemSnapshot:
        """Fire one path step on an item."""
        return self.engine.fire(
            item.id, step.event, ACTORS[step.actor], step.data, reason=step.reason
        )

    def drive(self, state: str, item: ItemSnapshot | None = None) -> ItemSnapshot:
        """Drive a new item (or ``item``, in collected) into ``state`` along :data:`PATHS`."""
        current = item or self.start()
        for step in PATHS[state]:
            current = self.step(current, step)
        assert current.state == state, (current.state, state)
        return current

    def snapshot(self, item_id: int) -> Snapshot:
        """Read everything stored about an item."""
        return Snapshot(
            self.engine.get(item_id), self.engine.history(item_id), self.engine.branches(item_id)
        )

    def verified(self, item_id: int) -> ItemSnapshot:
        """Assert the item's history replays to its stored state; return the item."""
        assert self.engine.verify(item_id) == []
        return self.engine.get(item_id)

    def engine_with(self, definitions: Catalog) -> Engine:
        """Another engine on the same tables and pool, with other definitions."""
        return Engine.from_engine(
            self.sa,
            definitions=definitions,
            directory=DIRECTORY,
            clock=self.clock,
            prefix=self.backend.prefix,
        )

    def refused(self, item_id: int, expected: type[Exception], call: Callable[[], object]) -> Any:
        """Run ``call``, expect ``expected``, and check nothing about the item changed."""
        before = self.snapshot(item_id)
        with pytest.raises(expected) as caught:
            call()
        assert self.snapshot(item_id) == before
        assert self.engine.verify(item_id) == []
        return caught.value


@pytest.fixture
def wf(backend: Backend) -> Iterator[Harness]:
    """An upgraded engine for the shipped definitions on ``backend``, with a manual clock."""
    # Not backend.engine: the store's own engine factory sets SQLite up (WAL, BEGIN IMMEDIATE).
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        clock = ManualClock()
        engine = Engine.from_engine(
            sa,
            definitions=shipped_catalog(),
            directory=DIRECTORY,
            clock=clock,
            prefix=backend.prefix,
        )
        harness = Harness(backend, sa, engine, clock)
        yield harness
    finally:
        sa.dispose()
