"""The star list (明星企業榜單) report, against figures computed by hand, on every backend.

Four nominations of the 2026-H2 round of the shipped ``star_enterprises``
workflow (and one of another round, which must not appear) are admitted,
scored, reviewed and published through the real engine; the report ranks
them by the weighted total the definition computes.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl
import pytest

from tests.integration.shipped_walks import Walk, person, walk
from workflow.reports import BadReportPeriod, build_report, render_report

__all__ = ["walk"]

OFFICE = person("office.li", "office")
LEADER = person("leader.wu", "leader")
JUDGES = [person(f"judge.{n}", "judge") for n in ("fang", "shi", "yuan")]
SUN = person("comm.sun", "commissioner")  # e_pixel, e_inkmotion, e_lumen
GUO = person("comm.guo", "commissioner")  # e_soundwave, e_cloudcraft

ENTERPRISES = {
    "e_pixel": ("d_jianghan", "animation_games"),
    "e_inkmotion": ("d_wuchang", "animation_games"),
    "e_lumen": ("d_donghu", "smart_manufacturing"),
    "e_soundwave": ("d_hanyang", "online_audiovisual"),
}


def _nominate(walk: Walk, who: Any, enterprise: str, round_: str = "2026-H2") -> int:
    district, sector = ENTERPRISES[enterprise]
    return walk.start(
        "star_enterprises",
        who,
        {
            "title": f"{enterprise} {round_}",
            "round": round_,
            "recommendation": "Strong half-year.",
            "enterprise": enterprise,
            "district": district,
            "sector": sector,
        },
    ).id


def _score(walk: Walk, item_id: int, marks: list[tuple[int, int, int, int]]) -> None:
    for judge, (social, business, technology, model) in zip(JUDGES, marks, strict=False):
        walk.clock.advance(dt.timedelta(minutes=10))
        walk.engine.fire(
            item_id,
            "score",
            judge,
            {"social": social, "business": business, "technology": technology, "model": model},
        )


def test_the_star_list_ranks_a_round_by_weighted_total(walk: Walk) -> None:
    pixel = _nominate(walk, SUN, "e_pixel")
    ink = _nominate(walk, SUN, "e_inkmotion")
    lumen = _nominate(walk, SUN, "e_lumen")
    sound = _nominate(walk, GUO, "e_soundwave")
    _nominate(walk, SUN, "e_pixel", "2026-H1")  # another round: not on this list
    for item_id in (pixel, lumen):
        walk.engine.fire(item_id, "admit", OFFICE, {})
    weights = {"weight_social": 40, "weight_business": 20, "weight_technology": 20}
    walk.engine.fire(ink, "admit", OFFICE, {**weights, "weight_model": 20})
    # pixel: averages 80/80/80/60 at 30/30/20/20 -> 76.0
    _score(walk, pixel, [(90, 80, 70, 60), (80, 70, 90, 50), (70, 90, 80, 70)])
    # inkmotion: averages 85/85/85/65 at 40/20/20/20 -> 81.0
    _score(walk, ink, [(95, 85, 75, 65), (85, 75, 95, 55), (75, 95, 85, 75)])
    # lumen: one judge so far, 60 everywhere -> 60.0, still being scored
    _score(walk, lumen, [(60, 60, 60, 60)])
    for item_id in (pixel, ink):
        walk.engine.fire(item_id, "close_scoring", OFFICE)
    walk.engine.fire(ink, "approve_listing", LEADER, {"note": "Listed."})
    walk.engine.fire(pixel, "decline_listing", LEADER, reason="Below this round's bar.")
    walk.clock.advance(dt.timedelta(hours=2))
    published_at = walk.clock.now()
    walk.engine.fire(ink, "publish", OFFICE, {"channels": ["Changjiang Daily"]})
    walk.clock.advance(dt.timedelta(minutes=1))

    report = build_report(walk.engine, "star-list", "2026-H2", lang="en")

    (section,) = report.sections
    rows = [dict(zip([c.key for c in section.columns], row, strict=True)) for row in section.rows]
    assert [(r["item"], r["rank"], r["total"]) for r in rows] == [
        (ink, 1, 81.0),
        (pixel, 2, 76.0),
        (lumen, 3, 60.0),
        (sound, None, None),
    ]
    first = rows[0]
    assert (first["score_social"], first["score_model"]) == (85.0, 65.0)
    assert (first["weight_social"], first["weight_model"]) == (0.4, 0.2)
    assert rows[1]["weight_social"] == 0.3
    assert first["published_at"] == published_at
    assert [r["published_at"] for r in rows[1:]] == [None, None, None]
    assert [r["state"] for r in rows] == [
        "Listed and published",
        "Not listed",
        "Scoring",
        "Nominated, awaiting the eligibility check",
    ]
    assert first["sector"] == "Digital animation and games"
    assert any("not all scored with the same weights" in n.en for n in section.notes)

    book = openpyxl.load_workbook(io.BytesIO(render_report(report, "xlsx")))
    sheet = book.worksheets[0]
    totals = [c.value for row in sheet.iter_rows() for c in row if c.value == 81.0]
    assert totals == [81.0]  # a number, not text
    html = render_report(report, "html").decode("utf-8")
    assert "<svg" in html


def test_the_star_list_is_half_yearly(walk: Walk) -> None:
    with pytest.raises(BadReportPeriod, match="half-yearly"):
        build_report(walk.engine, "star-list", "2026-Q3")
    assert build_report(walk.engine, "star-list", "2026-H1").sections[0].rows == ()
