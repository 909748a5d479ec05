"""`workflow diff --db`: running items counted by state, and the dry run of migrate, per backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS, REPO
from tests.integration.engine_fixtures import ACTORS, START_DATA, Harness, wf
from workflow.cli.diff import migration_impact
from workflow.definition.compiled import Definition
from workflow.definition.loader import Catalog, load_definition

__all__ = ["wf"]

V2_FIXTURE = REPO / "tests" / "fixtures" / "enterprise_issue_v2.yaml"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("diff") / "definitions"
    shutil.copytree(DEFINITIONS, target)
    shutil.copy(V2_FIXTURE, target / "enterprise_issue_v2.yaml")
    # Version 3 is version 1 again: it has no `awaiting_info` state.
    v1 = (DEFINITIONS / "enterprise_issue.yaml").read_text(encoding="utf-8")
    (target / "enterprise_issue_v3.yaml").write_text(
        v1.replace("version: 1\n", "version: 3\n", 1), encoding="utf-8"
    )
    return target


def load(folder: Path, name: str) -> Definition:
    return load_definition(str(folder / name))


def test_items_pinned_to_v1_counted_by_state_with_what_they_meet(wf: Harness, folder: Path) -> None:
    for state in ("collected", "collected", "handling", "suspended", "replied", "closed"):
        wf.drive(state)
    old, new = load(folder, "enterprise_issue.yaml"), load(folder, "enterprise_issue_v2.yaml")
    assert old.hash == wf.engine.catalog.get("enterprise_issue", 1).hash
    impact = migration_impact(wf.engine_with(Catalog([old, new])), old, new)
    counts = {c.impact.state: (c.items, c.notes()) for c in impact.states}
    assert counts == {
        "collected": (2, ["ladder changed", "loses amend", "gains ask_for_info"]),
        "handling": (1, ["time limit changed", "ladder changed"]),
        "suspended": (1, ["time limit changed", "ladder changed"]),
        "replied": (1, ["ladder changed"]),
    }
    # The closed item is not running; every running one can move.
    assert (impact.total, impact.affected) == (5, 5)
    assert impact.refused == ()
    assert impact.plan == {
        "collected->collected": 2,
        "handling->handling": 1,
        "suspended->suspended": 1,
        "replied->replied": 1,
    }
    assert impact.other_versions == {}


def test_items_in_a_state_the_new_version_drops_are_refused_until_mapped(
    wf: Harness, folder: Path
) -> None:
    v1, v2, v3 = (
        load(folder, name)
        for name in (
            "enterprise_issue.yaml",
            "enterprise_issue_v2.yaml",
            "enterprise_issue_v3.yaml",
        )
    )
    wf.drive("dispatched")
    engine = wf.engine_with(Catalog([v1, v2, v3]))
    asking = engine.start("enterprise_issue", ACTORS["enterprise"], START_DATA, version=2)
    engine.fire(asking.id, "ask_for_info", ACTORS["office"], {"question": "Which venue size?"})
    impact = migration_impact(engine, v2, v3)
    [count] = impact.states
    assert (count.impact.state, count.items, count.impact.removed) == ("awaiting_info", 1, True)
    assert count.notes()[0] == "state removed: cannot migrate without --map"
    assert impact.other_versions == {1: 1}
    assert impact.plan is None
    assert impact.refused == (
        "1 item(s): state 'awaiting_info' does not exist in version 3 (give a state mapping)",
    )
    mapped = migration_impact(engine, v2, v3, {"awaiting_info": "collected"})
    assert mapped.states[0].notes()[0] == "state removed: mapped to collected"
    assert mapped.plan == {"awaiting_info->collected": 1, "dispatched->dispatched": 1}
    # Nothing moved: it was a dry run.
    assert engine.get(asking.id).state == "awaiting_info"


def test_no_dry_run_towards_an_older_version(wf: Harness, folder: Path) -> None:
    old, new = load(folder, "enterprise_issue_v2.yaml"), load(folder, "enterprise_issue.yaml")
    wf.drive("collected")
    impact = migration_impact(wf.engine_with(Catalog([old, new])), old, new)
    assert impact.states == ()
    assert impact.other_versions == {1: 1}
    assert impact.not_checked == "NEW's version 1 is not above OLD's 2"
    assert impact.plan is None
