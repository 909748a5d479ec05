"""The monthly problem list (問題清單): every item open at a moment, by responsible unit.

For each item open at the report's moment (the end of the period, or now
while the period runs): its group (the responsible unit by default), age in
working days since it was raised, the due time of its earliest running
deadline, working days overdue (none while its clock is stopped by a
suspension), the highest escalation level it reached, and its last step.
A second section counts open and overdue items per group.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from workflow.definition.compiled import Definition
from workflow.reports.circular import GROUP_TITLES
from workflow.reports.facts import WorkingDays
from workflow.reports.labels import event_label, level_label, state_label
from workflow.reports.model import Cell, Chart, Column, Report, Section, Text
from workflow.reports.names import Lang, Names, as_text
from workflow.reports.periods import Period
from workflow.reports.query import ReportRows, StepRow
from workflow.reports.rules import ReportRules

__all__ = ["ladder_rank", "problem_list"]


def ladder_rank(definition: Definition | None) -> Mapping[str, int]:
    """Rank each ladder level by its place on the ladder (higher is more serious)."""
    if definition is None:
        return {}
    ladders = [definition.spec.escalation]
    ladders += [state.escalation for state in definition.states.values()]
    rank: dict[str, int] = {}
    for ladder in ladders:
        for place, level in enumerate(ladder.levels if ladder is not None else ()):
            rank[level.name] = max(rank.get(level.name, place), place)
    return rank


def problem_list(
    rows: ReportRows,
    period: Period,
    by: str,
    calendar: WorkingDays,
    names: Names,
    rules: ReportRules,
    definition: Definition | None,
    lang: Lang,
) -> Report:
    """List the items open at ``rows.until``, grouped by ``by`` (most overdue first)."""
    moment = rows.until
    # Working days are counted up to the last instant the report covers: a
    # period's end is the first moment of the next day, which is not in it.
    counted = moment - dt.timedelta(microseconds=1)
    field = rules.fields.get(by, by)
    steps: dict[int, list[StepRow]] = defaultdict(list)
    for step in rows.history:
        steps[step.item_id].append(step)
    due: dict[int, dt.datetime] = {}
    for timer in rows.timers:
        if timer.ended_at is None and (
            timer.item_id not in due or timer.due_at < due[timer.item_id]
        ):
            due[timer.item_id] = timer.due_at
    rank = ladder_rank(definition)
    highest: dict[int, str] = {}
    for escalation in rows.escalations:
        known = highest.get(escalation.item_id)
        if known is None or rank.get(escalation.level, -1) >= rank.get(known, -1):
            highest[escalation.item_id] = escalation.level
    paused = _pausing_states(definition)
    entries = []
    for item in rows.items:
        history = steps[item.id]
        last = history[-1] if history else None
        state = last.to_state if last is not None else item.state
        due_at = due.get(item.id)
        overdue = 0
        if due_at is not None and counted > due_at and state not in paused:
            overdue = calendar.working_days_between(due_at, counted)
        group = item.data.get(field)
        entries.append(
            (
                names.name(by, None if group is None else str(group), lang),
                -overdue,
                item.id,
                (
                    names.name(by, None if group is None else str(group), lang),
                    item.id,
                    as_text(item.data.get(rules.fields.get("title", "title"))),
                    names.name("enterprise", item.data.get(rules.fields["enterprise"]), lang),
                    names.name("district", item.data.get(rules.fields["district"]), lang),
                    state_label(definition, state, lang),
                    item.created_at.astimezone(ZoneInfo(period.timezone)).date(),
                    calendar.working_days_between(item.created_at, counted),
                    due_at,
                    overdue,
                    level_label(definition, highest.get(item.id), lang),
                    event_label(definition, last.event, lang) if last else None,
                    last.at if last else None,
                ),
            )
        )
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    title = GROUP_TITLES.get(by, Text(by, by))
    items = Section(
        key="items",
        title=Text("未辦結問題", "Open items"),
        columns=(
            Column("group", title),
            Column("item", Text("編號", "Item"), "int"),
            Column("title", Text("問題", "Title")),
            Column("enterprise", Text("企業", "Enterprise")),
            Column("district", Text("區", "District")),
            Column("state", Text("狀態", "State")),
            Column("received", Text("提出日期", "Raised"), "date"),
            Column("age", Text("已歷時(工作日)", "Age (wd)"), "int"),
            Column("due", Text("辦理時限", "Due"), "datetime"),
            Column("overdue", Text("逾期(工作日)", "Overdue (wd)"), "int"),
            Column("level", Text("督辦級別", "Escalation level")),
            Column("last_action", Text("最近辦理", "Last action")),
            Column("last_at", Text("最近辦理時間", "Last action at"), "datetime"),
        ),
        rows=tuple(e[3] for e in entries),
        notes=(
            Text(
                "已歷時:自提出之日起的工作日數;逾期:超過當前時限的工作日數(掛起期間不計);"
                "督辦級別:該問題達到的最高督辦級別。",
                "Age: working days since the item was raised. Overdue: working days past "
                "the current time limit (none while suspended). Level: the highest "
                "escalation level the item reached.",
            ),
        ),
    )
    return Report(
        lang=lang,
        name="problem-list",
        title=Text("問題清單", "Monthly problem list"),
        period=period.label,
        workflow_id=rows.items[0].workflow_id if rows.items else "",
        as_of=moment,
        timezone=period.timezone,
        sections=(items, _summary(items, title)),
        grouping=by,
    )


def _summary(items: Section, title: Text) -> Section:
    """Count open and overdue items per group."""
    counts: dict[str, list[int]] = {}
    group_at, overdue_at = items.column("group"), items.column("overdue")
    for row in items.rows:
        name = str(row[group_at])
        late = row[overdue_at]
        entry = counts.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += isinstance(late, int) and late > 0
    lines: Sequence[tuple[Cell, ...]] = [(name, n, late) for name, (n, late) in counts.items()]
    return Section(
        key="summary",
        title=Text("分組匯總", "Per group"),
        columns=(
            Column("group", title),
            Column("open", Text("未辦結", "Open"), "int"),
            Column("overdue", Text("其中逾期", "Of which overdue"), "int"),
        ),
        rows=tuple(lines),
        chart=Chart(Text("未辦結問題數", "Open items"), label="group", value="open"),
    )


def _pausing_states(definition: Definition | None) -> frozenset[str]:
    if definition is None:
        return frozenset()
    return frozenset(name for name, state in definition.states.items() if state.pauses_clock)
