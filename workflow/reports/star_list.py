"""The half-yearly star-enterprise list (明星企業榜單), ranked by weighted total.

One line per nomination of the round (the items of ``star_enterprises``
whose ``round`` field is the period, e.g. ``2026-H1``), ranked by the
weighted total the judges' marks gave (``total``: the sum over the four
criteria of the average mark times the criterion's weight, divided by 100 —
see definitions/star_enterprises.yaml). Each line shows the four average
marks, the weights the nomination was scored with, the total, where the
nomination stands (listed and published, awaiting publication, not listed,
still being scored) and when it was published. Nominations without a total
yet come last.

A round is usually published after its half-year has ended (the H1 list in
July), so the list describes the round as of the report's moment, not the
period's end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from workflow.definition.compiled import Definition
from workflow.reports.labels import state_label
from workflow.reports.model import Cell, Chart, Column, Report, Section, Text
from workflow.reports.names import Lang, Names
from workflow.reports.periods import Period
from workflow.reports.query import ReportRows

__all__ = ["CRITERIA", "STAR_WORKFLOW", "star_list"]

STAR_WORKFLOW = "star_enterprises"
"""The workflow whose items the star list ranks."""

CRITERIA: tuple[tuple[str, Text], ...] = (
    ("social", Text("社會貢獻", "Social contribution")),
    ("business", Text("經營業績", "Business results")),
    ("technology", Text("技術產品創新", "Technology and product innovation")),
    ("model", Text("模式創新", "Business-model innovation")),
)
"""The four criteria of the plan, as the definition's ``score_*``/``weight_*`` fields name them."""

_PUBLISH = "publish"


def star_list(
    rows: ReportRows, period: Period, names: Names, definition: Definition | None, lang: Lang
) -> Report:
    """Rank the nominations of the round ``period`` by their weighted total."""
    published: dict[int, dt.datetime] = {
        step.item_id: step.at for step in rows.history if step.event == _PUBLISH
    }
    nominations = [item for item in rows.items if item.data.get("round") == period.label]
    nominations.sort(key=lambda item: (_number(item.data.get("total")) is None, -_total(item.data)))
    lines: list[tuple[Cell, ...]] = []
    weights_seen: set[tuple[int | None, ...]] = set()
    for rank, item in enumerate(nominations, start=1):
        data = item.data
        total = _number(data.get("total"))
        weights = tuple(_int(data.get(f"weight_{key}")) for key, _ in CRITERIA)
        weights_seen.add(weights)
        lines.append(
            (
                rank if total is not None else None,
                names.name("enterprise", data.get("enterprise"), lang),
                names.name("district", data.get("district"), lang),
                names.name("sector", data.get("sector"), lang),
                *(_number(data.get(f"score_{key}")) for key, _ in CRITERIA),
                *(w / 100 if w is not None else None for w in weights),
                total,
                state_label(definition, item.state, lang),
                published.get(item.id),
                item.id,
            )
        )
    notes = [
        Text(
            "總分 = Σ(各項評委平均分 × 該項權重) ÷ 100,滿分100;按總分排名,未評完的提名列于最后。",  # noqa: RUF001
            "Total = Σ(average mark of a criterion × its weight) ÷ 100, out of 100; ranked by "  # noqa: RUF001
            "total, nominations not yet scored last.",
        )
    ]
    if len(weights_seen) > 1:
        notes.append(
            Text(
                "本期提名的權重不盡相同:各行按其評分時確定的權重計算。",
                "The nominations of this round were not all scored with the same weights: "
                "each line's total uses its own.",
            )
        )
    return Report(
        lang=lang,
        name="star-list",
        title=Text("明星企業榜單", "Star-enterprise list"),
        period=period.label,
        workflow_id=STAR_WORKFLOW,
        as_of=rows.until,
        timezone=period.timezone,
        sections=(
            Section(
                key="ranking",
                title=Text("提名企業得分排名", "Nominations ranked by weighted total"),
                columns=(
                    Column("rank", Text("排名", "Rank"), "int"),
                    Column("enterprise", Text("企業", "Enterprise")),
                    Column("district", Text("區", "District")),
                    Column("sector", Text("行業領域", "Sector")),
                    *(
                        Column(
                            f"score_{key}", Text(f"{t.zh}(平均分)", f"{t.en} (average)"), "float"
                        )
                        for key, t in CRITERIA
                    ),
                    *(
                        Column(f"weight_{key}", Text(f"{t.zh}權重", f"{t.en} weight"), "percent")
                        for key, t in CRITERIA
                    ),
                    Column("total", Text("加權總分", "Weighted total"), "float"),
                    Column("state", Text("狀態", "Stands")),
                    Column("published_at", Text("發布時間", "Published"), "datetime"),
                    Column("item", Text("編號", "Item"), "int"),
                ),
                rows=tuple(lines),
                chart=Chart(Text("加權總分", "Weighted total"), "enterprise", "total"),
                notes=tuple(notes),
            ),
        ),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), 2)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _total(data: Mapping[str, Any]) -> float:
    return _number(data.get("total")) or 0.0
