"""The year-end assessment (年考核): a score per unit and per district.

The score is a weighted mean of four rates from the circular's figures, on a
0-100 scale::

    score = 100 * sum(weight * rate) / sum(weight)   (over the rates the group has)

* ``on_time``: the on-time rate of the period's closures;
* ``satisfaction``: the satisfaction rate of the period's revisits;
* ``no_reopen``: 1 - the reopen rate of the period's closures;
* ``prompt_sign_for``: the share of first sign-fors within the rules'
  ``sign_for_within`` working days (1 for ``enterprise_issue``).

A rate the group has no data for (no closure, no revisit, no sign-for) is
left out and the other weights count in full, so a unit is not marked down
for what it was never asked to do; a group with none of the four has no
score. The default weights are 0.4, 0.3, 0.15 and 0.15.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from workflow.definition.compiled import Definition
from workflow.reports.circular import GROUP_TITLES, group_figures
from workflow.reports.errors import ReportError
from workflow.reports.facts import ItemFacts, WorkingDays, item_facts
from workflow.reports.figures import GroupFigures, overdue_levels
from workflow.reports.model import Cell, Chart, Column, Report, Section, Text
from workflow.reports.names import Lang, Names
from workflow.reports.periods import Period
from workflow.reports.query import ReportRows
from workflow.reports.rules import ReportRules

__all__ = ["AssessmentWeights", "assessment", "parse_weights", "score"]


@dataclass(frozen=True)
class AssessmentWeights:
    """How much each rate counts in the score (any non-negative numbers; they are normalised)."""

    on_time: float = 0.4
    satisfaction: float = 0.3
    no_reopen: float = 0.15
    prompt_sign_for: float = 0.15

    def __post_init__(self) -> None:
        values = (self.on_time, self.satisfaction, self.no_reopen, self.prompt_sign_for)
        if any(v < 0 for v in values) or not any(values):
            raise ReportError(
                "assessment weights must be non-negative and not all zero "
                f"(on_time={self.on_time}, satisfaction={self.satisfaction}, "
                f"no_reopen={self.no_reopen}, prompt_sign_for={self.prompt_sign_for})"
            )


def parse_weights(text: str) -> AssessmentWeights:
    """Read ``on_time=0.5,satisfaction=0.3`` (unnamed weights keep their defaults)."""
    names = ("on_time", "satisfaction", "no_reopen", "prompt_sign_for")
    given: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, value = part.partition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not equals or name not in names or number < 0:
            raise ReportError(
                f"weights: {part!r} is not NAME=NUMBER with NAME one of {', '.join(names)}"
            )
        given[name] = number
    return AssessmentWeights(**given)


def score(result: GroupFigures, weights: AssessmentWeights) -> float | None:
    """Return the group's score (0-100, one decimal), or None if it has none of the rates."""
    parts = [
        (weights.on_time, result.on_time_rate),
        (weights.satisfaction, result.satisfaction_rate),
        (weights.no_reopen, None if result.reopen_rate is None else 1 - result.reopen_rate),
        (weights.prompt_sign_for, result.prompt_sign_for_rate),
    ]
    counted = [(w, rate) for w, rate in parts if rate is not None and w > 0]
    total = sum(w for w, _ in counted)
    if not total:
        return None
    return round(100 * sum(w * rate for w, rate in counted) / total, 1)


def assessment(
    rows: ReportRows,
    period: Period,
    calendar: WorkingDays,
    names: Names,
    rules: ReportRules,
    definition: Definition | None,
    lang: Lang,
    as_of: dt.datetime,
    weights: AssessmentWeights | None = None,
) -> Report:
    """Compute the assessment for ``period``: one ranked section per unit, one per district."""
    chosen = weights or AssessmentWeights()
    levels = overdue_levels(definition)
    facts = item_facts(rows, rules)
    sections = tuple(
        _section(facts, period, calendar, names, rules, levels, lang, chosen, by)
        for by in ("unit", "district")
    )
    return Report(
        lang=lang,
        name="assessment",
        title=Text("年度考核指標", "Year-end assessment figures"),
        period=period.label,
        workflow_id=rows.items[0].workflow_id if rows.items else "",
        as_of=as_of,
        timezone=period.timezone,
        sections=sections,
        grouping="unit,district",
    )


def _section(
    facts: Sequence[ItemFacts],
    period: Period,
    calendar: WorkingDays,
    names: Names,
    rules: ReportRules,
    levels: tuple[str, ...],
    lang: Lang,
    weights: AssessmentWeights,
    by: str,
) -> Section:
    groups = group_figures(facts, by, period, calendar, levels, rules)
    scored = [(group, result, score(result, weights)) for group, result in groups.items()]
    scored.sort(key=lambda e: (-(e[2] if e[2] is not None else -1.0), -e[1].closed, e[0] or ""))
    lines: list[tuple[Cell, ...]] = [
        (
            place,
            names.name(by, group, lang),
            result.received,
            result.closed,
            result.on_time_rate,
            result.satisfaction_rate,
            result.reopen_rate,
            result.prompt_sign_for_rate,
            value,
        )
        for place, (group, result, value) in enumerate(scored, start=1)
    ]
    title = GROUP_TITLES[by]
    return Section(
        key=f"{by}s",
        title=Text(f"{title.zh}考核", f"By {title.en.lower()}"),
        columns=(
            Column("rank", Text("排名", "Rank"), "int"),
            Column("group", title),
            Column("received", Text("受理", "Received"), "int"),
            Column("closed", Text("辦結", "Closed"), "int"),
            Column("on_time_rate", Text("按時辦結率", "On-time rate"), "percent"),
            Column("satisfaction_rate", Text("滿意率", "Satisfaction rate"), "percent"),
            Column("reopen_rate", Text("重辦率", "Reopen rate"), "percent"),
            Column("prompt_sign_for_rate", Text("及時簽收率", "Prompt sign-for rate"), "percent"),
            Column("score", Text("得分", "Score"), "float"),
        ),
        rows=tuple(lines),
        chart=Chart(Text("得分", "Score"), label="group", value="score"),
        notes=(
            Text(
                f"得分 = 100 * 加權平均(按時辦結率 {weights.on_time}、滿意率 "
                f"{weights.satisfaction}、1-重辦率 {weights.no_reopen}、及時簽收率 "
                f"{weights.prompt_sign_for});無數據的指標不計入,其權重不參與平均。",
                f"Score = 100 * weighted mean of on-time rate ({weights.on_time}), "
                f"satisfaction rate ({weights.satisfaction}), 1 - reopen rate "
                f"({weights.no_reopen}) and prompt sign-for rate ({weights.prompt_sign_for}); "
                "a rate without data is left out with its weight.",
            ),
        ),
    )
