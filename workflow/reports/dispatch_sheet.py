"""The quarterly dispatch sheet (季調度): items put before the city leaders, with history.

The items on the agendas of the rules' dispatch review (``quarterly`` for
``enterprise_issue``) for the quarters of the period, one line per agenda
entry: how it got there (escalated, or carried over from an earlier
meeting), the decisions recorded on it since it joined (the review's
``decisions:`` events, with their reasons), and whether a decision resolved
it. A second section gives the full history of each of these items up to the
report's moment.
"""

from __future__ import annotations

from collections import defaultdict

from workflow.definition.compiled import Definition
from workflow.reports.errors import BadReportPeriod
from workflow.reports.labels import event_label, level_label, state_label
from workflow.reports.model import Cell, Column, Report, Section, Text
from workflow.reports.names import Lang, Names, as_text
from workflow.reports.periods import Period
from workflow.reports.query import ReportRows, StepRow
from workflow.reports.rules import ReportRules

__all__ = ["agenda_periods", "dispatch_sheet"]


def agenda_periods(period: Period, review_period: str) -> tuple[str, ...]:
    """Name the review's occurrences within ``period`` (a quarterly review: its quarters)."""
    if review_period == "quarter":
        if period.kind == "month":
            raise BadReportPeriod(
                f"period {period.label!r}: the dispatch sheet covers quarters; "
                "give a quarter (2026-Q3), a half-year (2026-H2) or a year (2026)"
            )
        return period.quarters()
    if review_period == "month":
        months = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}[period.kind]
        return tuple(
            f"{period.year}-{m:02d}" for m in range(period.first_month, period.first_month + months)
        )
    return (period.label,)


def dispatch_sheet(
    rows: ReportRows,
    period: Period,
    names: Names,
    rules: ReportRules,
    definition: Definition | None,
    lang: Lang,
) -> Report:
    """List the dispatch review's agenda entries for ``period`` with decisions and history."""
    decisions: tuple[str, ...] = ()
    if definition is not None and rules.dispatch_review in definition.spec.reviews:
        decisions = tuple(definition.spec.reviews[rules.dispatch_review].decisions)
    items = {item.id: item for item in rows.items}
    steps: dict[int, list[StepRow]] = defaultdict(list)
    for step in rows.history:
        steps[step.item_id].append(step)
    lines: list[tuple[Cell, ...]] = []
    order: list[int] = []
    for entry in rows.entries:
        item = items.get(entry.item_id)
        if item is None:
            continue
        if entry.item_id not in order:
            order.append(entry.item_id)
        history = steps[item.id]
        state = history[-1].to_state if history else item.state
        taken = [s for s in history if s.event in decisions and s.at >= entry.added_at]
        data = item.data
        lines.append(
            (
                item.id,
                as_text(data.get(rules.fields.get("title", "title"))),
                names.name("enterprise", data.get(rules.fields["enterprise"]), lang),
                names.name("district", data.get(rules.fields["district"]), lang),
                names.name("unit", data.get(rules.fields["unit"]), lang),
                state_label(definition, state, lang),
                entry.period,
                level_label(definition, entry.level, lang),
                entry.added_at,
                _reason(entry.reason, lang),
                "; ".join(_decision(definition, s, lang) for s in taken) or None,
                entry.resolved_at,
            )
        )
    history_lines: list[tuple[Cell, ...]] = [
        (
            item_id,
            step.at,
            event_label(definition, step.event, lang),
            step.actor_id,
            state_label(definition, step.to_state, lang),
            step.reason,
        )
        for item_id in order
        for step in steps[item_id]
    ]
    return Report(
        lang=lang,
        name="dispatch-sheet",
        title=Text("市領導季調度事項", "Quarterly dispatch sheet"),
        period=period.label,
        workflow_id=rows.items[0].workflow_id if rows.items else "",
        as_of=rows.until,
        timezone=period.timezone,
        sections=(
            Section(
                key="items",
                title=Text("提請季調度的問題", "Items before the city leaders"),
                columns=(
                    Column("item", Text("編號", "Item"), "int"),
                    Column("title", Text("問題", "Title")),
                    Column("enterprise", Text("企業", "Enterprise")),
                    Column("district", Text("區", "District")),
                    Column("unit", Text("承辦單位", "Responsible unit")),
                    Column("state", Text("狀態", "State")),
                    Column("agenda", Text("調度期次", "Agenda")),
                    Column("level", Text("督辦級別", "Level")),
                    Column("added_at", Text("列入時間", "Added"), "datetime"),
                    Column("reason", Text("列入原因", "Why")),
                    Column("decisions", Text("調度決定", "Decisions")),
                    Column("resolved_at", Text("決定時間", "Decided"), "datetime"),
                ),
                rows=tuple(lines),
            ),
            Section(
                key="history",
                title=Text("辦理過程", "History"),
                columns=(
                    Column("item", Text("編號", "Item"), "int"),
                    Column("at", Text("時間", "When"), "datetime"),
                    Column("event", Text("環節", "Step")),
                    Column("actor", Text("辦理人", "By")),
                    Column("state", Text("辦理后狀態", "State after")),
                    Column("reason", Text("說明", "Reason")),
                ),
                rows=tuple(history_lines),
            ),
        ),
    )


def _decision(definition: Definition | None, step: StepRow, lang: Lang) -> str:
    label = event_label(definition, step.event, lang)
    return (
        f"{label}({step.reason})"
        if lang == "zh" and step.reason
        else (f"{label} ({step.reason})" if step.reason else label)
    )


def _reason(reason: str, lang: Lang) -> str:
    known = {"escalated": ("督辦升級", "escalated"), "carried": ("上期結轉", "carried over")}
    zh, en = known.get(reason, (reason, reason))
    return zh if lang == "zh" else en
