"""The district circular (通報): figures per district, unit or sector, ranked.

For any period and grouping, each group's figures (see
:mod:`workflow.reports.figures`) are ranked and compared with the previous
period of the same kind. The ranking is by on-time rate (higher first), then
median working days to closure (fewer first), then items closed (more
first), then the group's id; a group with no closure ranks after those with
one. ``rank change`` is the previous rank minus this one (+2: up two
places); a group not ranked in the previous period has none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from workflow.definition.compiled import Definition
from workflow.reports.facts import ItemFacts, WorkingDays, by_group, item_facts
from workflow.reports.figures import GroupFigures, figures, overdue_levels
from workflow.reports.labels import level_label
from workflow.reports.model import Cell, Chart, Column, Report, Section, Text
from workflow.reports.names import Lang, Names
from workflow.reports.periods import Period
from workflow.reports.query import ReportRows
from workflow.reports.rules import ReportRules

__all__ = ["GROUP_TITLES", "circular", "group_figures", "ranked"]

GROUP_TITLES = {
    "district": Text("區", "District"),
    "unit": Text("承辦單位", "Responsible unit"),
    "sector": Text("行業領域", "Sector"),
    "enterprise": Text("企業", "Enterprise"),
}
TOTAL = Text("合計", "Total")


def group_figures(
    facts: Sequence[ItemFacts],
    by: str,
    period: Period,
    calendar: WorkingDays,
    levels: Sequence[str],
    rules: ReportRules,
) -> dict[str | None, GroupFigures]:
    """Return each group's figures for ``period`` (groups where something happened only)."""
    found = {}
    for group, members in by_group(facts, rules.fields.get(by, by)).items():
        result = figures(members, period, calendar, levels, rules.sign_for_within)
        if result.active:
            found[group] = result
    return found


def ranked(groups: dict[str | None, GroupFigures]) -> list[tuple[str | None, GroupFigures]]:
    """Order groups by on-time rate, median days to closure, closures, then id."""

    def key(entry: tuple[str | None, GroupFigures]) -> tuple[float, float, int, str]:
        group, result = entry
        rate = -result.on_time_rate if result.on_time_rate is not None else 1.0
        days = result.closure_median if result.closure_median is not None else float("inf")
        return (rate, days, -result.closed, group or "")

    return sorted(groups.items(), key=key)


def circular(
    rows: ReportRows,
    period: Period,
    by: str,
    calendar: WorkingDays,
    names: Names,
    rules: ReportRules,
    definition: Definition | None,
    lang: Lang,
    as_of: dt.datetime,
) -> Report:
    """Compute the circular for ``period`` by ``by``, compared with the previous period.

    ``rows`` must hold the activity of both periods (``active_rows`` from the
    previous period's start to ``as_of``).
    """
    levels = overdue_levels(definition)
    facts = item_facts(rows, rules)
    previous = period.previous()
    now = group_figures(facts, by, period, calendar, levels, rules)
    before = group_figures(facts, by, previous, calendar, levels, rules)
    before_rank = {group: place for place, (group, _) in enumerate(ranked(before), start=1)}
    columns = (
        Column("rank", Text("排名", "Rank"), "int"),
        Column("group", GROUP_TITLES.get(by, Text(by, by))),
        Column("received", Text("受理", "Received"), "int"),
        Column("closed", Text("辦結", "Closed"), "int"),
        Column("closed_on_time", Text("按時辦結", "Closed on time"), "int"),
        Column("on_time_rate", Text("按時辦結率", "On-time rate"), "percent"),
        Column("sign_for_median", Text("簽收用時中位數(工作日)", "Sign-for median (wd)"), "float"),
        Column("sign_for_p90", Text("簽收用時P90(工作日)", "Sign-for p90 (wd)"), "int"),
        Column("closure_median", Text("辦結用時中位數(工作日)", "Closure median (wd)"), "float"),
        Column("closure_p90", Text("辦結用時P90(工作日)", "Closure p90 (wd)"), "int"),
        Column("reopen_rate", Text("重辦率", "Reopen rate"), "percent"),
        Column("satisfaction_rate", Text("滿意率", "Satisfaction rate"), "percent"),
        *(
            Column(
                f"overdue_{level}",
                Text(level_label(definition, level, "zh"), level_label(definition, level, "en")),
                "int",
            )
            for level in levels
        ),
        Column("rank_change", Text("名次變化", "Rank change"), "change"),
        Column("received_change", Text("受理增減", "Received change"), "change"),
        Column("closed_change", Text("辦結增減", "Closed change"), "change"),
        Column(
            "on_time_rate_change",
            Text("按時辦結率增減(百分點)", "On-time rate change (pp)"),
            "float",
        ),
    )
    lines: list[tuple[Cell, ...]] = []
    for place, (group, result) in enumerate(ranked(now), start=1):
        prior = before.get(group)
        prior_place = before_rank.get(group)
        lines.append(
            (
                place,
                names.name(by, group, lang),
                *_cells(result),
                None if prior_place is None else prior_place - place,
                result.received - (prior.received if prior else 0),
                result.closed - (prior.closed if prior else 0),
                _points(result.on_time_rate, prior.on_time_rate if prior else None),
            )
        )
    total = figures(facts, period, calendar, levels, rules.sign_for_within)
    prior_total = figures(facts, previous, calendar, levels, rules.sign_for_within)
    lines.append(
        (
            None,
            TOTAL.get(lang),
            *_cells(total),
            None,
            total.received - prior_total.received,
            total.closed - prior_total.closed,
            _points(total.on_time_rate, prior_total.on_time_rate),
        )
    )
    section = Section(
        key="groups",
        title=Text(f"按{GROUP_TITLES.get(by, Text(by, by)).zh}排名", f"Ranked by {by}"),
        columns=columns,
        rows=tuple(lines),
        chart=Chart(Text("按時辦結率", "On-time rate"), label="group", value="on_time_rate"),
        notes=NOTES,
    )
    return Report(
        lang=lang,
        name="circular",
        title=Text("服務企業工作情況通報", "District circular on serving enterprises"),
        period=period.label,
        workflow_id=rows.items[0].workflow_id if rows.items else "",
        as_of=as_of,
        timezone=period.timezone,
        sections=(section,),
        grouping=by,
    )


def _cells(result: GroupFigures) -> tuple[Cell, ...]:
    return (
        result.received,
        result.closed,
        result.closed_on_time,
        result.on_time_rate,
        result.sign_for_median,
        result.sign_for_p90,
        result.closure_median,
        result.closure_p90,
        result.reopen_rate,
        result.satisfaction_rate,
        *result.overdue,
    )


def _points(now: float | None, before: float | None) -> float | None:
    """Return the change of a rate in percentage points (None unless both periods have one)."""
    if now is None or before is None:
        return None
    return round((now - before) * 100, 1)


NOTES = (
    Text(
        "受理:本期新增的問題;辦結:本期辦結銷號的問題;按時辦結:承辦時限(含批準延期、掛起)內辦結。",
        "Received: items raised in the period. Closed: items struck off in the period. "
        "On time: every time limit of the unit (with approved extensions and suspensions) "
        "was met.",
    ),
    Text(
        "簽收用時:自問題提出至承辦單位首次簽收的工作日數;辦結用時:自提出至辦結的工作日數;"
        "P90 取最近秩。",
        "Days to sign-for: working days from raising to the unit's first sign-for. Days to "
        "closure: working days from raising to closure. p90 by nearest rank.",
    ),
    Text(
        "重辦率:本期辦結問題中曾被重辦(回訪不滿意或企業異議)的比例;"
        "滿意率:本期回訪中滿意和基本滿意的比例。",
        "Reopen rate: share of the period's closures that were reopened at least once "
        "(unsatisfied revisit or objection). Satisfaction rate: share of the period's "
        "revisits that were satisfied or basically satisfied.",
    ),
    Text(
        "逾期各級(逾期催辦、提交月度例會等):本期督辦升級至該級別的問題數。排名依按時辦結率、辦結用時中位數、辦結數。",
        "Overdue levels (reminder, monthly review...): items that reached the level in the "
        "period. Ranked by on-time rate, then "
        "median days to closure, then closures.",
    ),
)
