"""`workflow graph ID --item N`: the path one item's history took, on its own definition version."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import DEFINITIONS, REPO
from tests.e2e.test_cli_items import (
    CULTURE,
    OFFICE,
    PIXEL,
    VENUE,
    assert_one_line_error,
    database_at,
    ok,
    run_all,
)

V2_FIXTURE = REPO / "tests" / "fixtures" / "enterprise_issue_v2.yaml"


def test_graph_highlights_an_items_path_on_its_own_version(tmp_path: Path) -> None:
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, folder, ignore=shutil.ignore_patterns("*.json"))
    shutil.copy(V2_FIXTURE, folder / "enterprise_issue_v2.yaml")
    with database_at(tmp_path / "graph.db", folder) as db:
        item = db.engine.start("enterprise_issue", PIXEL, VENUE, version=1)
        db.engine.fire(item.id, "accept", OFFICE, {"lead_unit": "u_culture"})
        db.engine.fire(item.id, "sign_for", CULTURE)
        db.engine.fire(
            item.id, "reply", CULTURE, {"result": "A hall was found.", "resolution": "solved"}
        )
        defs = ("--definitions", str(folder))
        number = str(item.id)
        mermaid, dot, by_global_db, other, missing = run_all(
            [
                (*defs, "graph", "enterprise_issue", "--item", number, "--db", db.url),
                (
                    *defs,
                    "--db",
                    db.url,
                    "graph",
                    "enterprise_issue",
                    "--item",
                    number,
                    "--format",
                    "dot",
                ),
                (*defs, "--db", db.url, "graph", "enterprise_issue", "--item", number),
                (*defs, "graph", "whistle_summons", "--item", number, "--db", db.url),
                (*defs, "graph", "enterprise_issue", "--item", "999", "--db", db.url),
            ]
        )
    drawn = ok(mermaid)
    # The item is pinned to version 1, although the catalog's newest is version 2.
    assert 'title: "Enterprise problem handling · v1"' in drawn
    assert "awaiting_info" not in drawn
    lines = drawn.splitlines()
    assert (
        "        collected --> dispatched : ▶ 2 Accept and dispatch [Coordinating office]" in lines
    )
    assert "    dispatched --> handling : ▶ 3 Sign for [Responsible unit]" in lines
    assert "    handling --> replied : ▶ 4 Reply with the result [Responsible unit]" in lines
    assert lines[-2:] == [
        "    class collected,dispatched,handling visited",
        "    class replied current",
    ]
    assert ok(by_global_db) == drawn
    graphviz = ok(dot)
    assert (
        '"replied" [label=<Replied, awaiting revisit<BR/><FONT POINT-SIZE="10">⏱ 5 working days'
        in graphviz
    )
    assert "<B>▶ 3 Sign for [Responsible unit]</B>" in graphviz
    assert_one_line_error(
        other, 3, f"item {number} is a 'enterprise_issue' item, not 'whistle_summons'"
    )
    assert_one_line_error(missing, 3, "999")
